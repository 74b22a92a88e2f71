//! What the host supplies: persistent memory, time and randomness.
//!
//! A chip has EEPROM, a clock it trusts only as far as the terminal does, and a TRNG; a PC has files, the system
//! clock and the OS RNG. `card-os` makes no OS call: everything comes through [`Platform`].

pub use crate::nvm::Nvm;

/// Wall-clock time, as Unix seconds (UTC). A harness may move it to show an application an expired card.
pub trait Clock {
    fn now(&self) -> u64;
}

/// The host's side of the card: NVM, clock, RNG.
pub trait Platform {
    type Nvm: Nvm;
    type Clock: Clock;
    type Rng: rand_core::CryptoRng;
    fn nvm(&self) -> &Self::Nvm;
    fn nvm_mut(&mut self) -> &mut Self::Nvm;
    fn clock(&self) -> &Self::Clock;
    fn rng(&mut self) -> &mut Self::Rng;
}
