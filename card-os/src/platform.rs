//! What the host supplies: persistent memory, time and randomness.
//!
//! A chip has EEPROM, a clock it trusts only as far as the terminal does, and a TRNG; a PC has files, the system
//! clock and the OS RNG. `card-os` makes no OS call: everything comes through [`Platform`].

pub use crate::nvm::Nvm;

/// Wall-clock time, as Unix seconds (UTC). A harness may move it to show an application an expired card.
pub trait Clock {
    /// Now, in Unix seconds.
    fn now(&self) -> u64;
}

/// The host's side of the card: NVM, clock, RNG.
pub trait Platform {
    /// The persistent memory.
    type Nvm: Nvm;
    /// The clock.
    type Clock: Clock;
    /// The random number generator (a TRNG on a chip).
    type Rng: rand_core::CryptoRng;
    /// Read access to the NVM.
    fn nvm(&self) -> &Self::Nvm;
    /// Write access to the NVM.
    fn nvm_mut(&mut self) -> &mut Self::Nvm;
    /// The clock.
    fn clock(&self) -> &Self::Clock;
    /// The RNG.
    fn rng(&mut self) -> &mut Self::Rng;
}
