//! The host side of the chip: card-os's RAM NVM in a `Vec`, the system clock with a settable offset, and the OS RNG.
//!
//! `card-os` is `no_std` and takes its persistent memory, time and randomness as traits (see `card_os::Platform`);
//! this module is the production implementation on a PC. The deterministic one (fixed seed, fixed clock) lives behind
//! card-os's `sim` feature and is for tests only.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use card_os::virt::RamNvm;
use card_os::{Clock, NVM_SIZE, Platform};
use getrandom::SysRng;
use rand_core::UnwrapErr;

/// The card's persistent memory on a PC: card-os's one RAM NVM ([`card_os::virt::RamNvm`]) over a `Vec<u8>` of
/// exactly [`NVM_SIZE`] bytes.
///
/// Every write sets its dirty flag; whoever persists the bytes (the reader's saver) clears it with
/// `take_dirty`, so an exchange that wrote nothing costs no disk I/O. Tearing tests cut its power with `cut_after`.
pub type VecNvm = RamNvm<Vec<u8>>;

/// The bytes given to [`nvm_from_bytes`] are not exactly [`NVM_SIZE`] long.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an NVM image must be exactly {expected} bytes, got {actual}")]
pub struct NvmSizeError {
    /// The length that was given.
    pub actual: usize,
    /// [`NVM_SIZE`].
    pub expected: usize,
}

/// Blank memory, every byte `FF` like erased flash. Only `Card::format` makes a card out of it.
pub fn blank_nvm() -> VecNvm {
    RamNvm::new(vec![0xFF; NVM_SIZE])
}

/// Memory holding a saved image (see [`crate::image::load`]); not dirty.
pub fn nvm_from_bytes(bytes: Vec<u8>) -> Result<VecNvm, NvmSizeError> {
    if bytes.len() != NVM_SIZE {
        return Err(NvmSizeError { actual: bytes.len(), expected: NVM_SIZE });
    }
    Ok(RamNvm::new(bytes))
}

/// A handle on a running card's clock offset, shared with its [`HostClock`] through an `Arc`.
///
/// A harness keeps one to move a card, while it runs, past the end of its validity (three years after issue,
/// DIALECT.md "Life cycle") without touching the system clock.
#[derive(Debug, Clone, Default)]
pub struct ClockHandle {
    offset_secs: Arc<AtomicI64>,
}

impl ClockHandle {
    /// A fresh handle with offset zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the offset to whole days (negative goes back in time).
    pub fn set_offset_days(&self, days: i64) {
        self.set_offset_secs(days.saturating_mul(86_400));
    }

    /// Sets the offset in seconds.
    pub fn set_offset_secs(&self, secs: i64) {
        self.offset_secs.store(secs, Ordering::Relaxed);
    }

    /// The current offset in seconds.
    pub fn offset_secs(&self) -> i64 {
        self.offset_secs.load(Ordering::Relaxed)
    }

    /// A clock reading through this handle.
    pub fn clock(&self) -> HostClock {
        HostClock { handle: self.clone() }
    }
}

/// System time (UTC unix seconds) plus the offset of its [`ClockHandle`].
#[derive(Debug, Clone, Default)]
pub struct HostClock {
    handle: ClockHandle,
}

impl HostClock {
    /// The handle that moves this clock.
    pub fn handle(&self) -> ClockHandle {
        self.handle.clone()
    }
}

impl Clock for HostClock {
    /// Saturates at 0 rather than wrap: a system clock before 1970 or an offset before it reads as 1970-01-01.
    fn now(&self) -> u64 {
        let system = match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            Err(_) => 0,
        };
        u64::try_from(system.saturating_add(self.handle.offset_secs())).unwrap_or(0)
    }
}

/// The OS random source (`getrandom`, i.e. `getrandom(2)` on Linux) as a rand_core 0.10 `CryptoRng`.
///
/// Chosen over a ChaCha seeded once from the OS: there is no user-space state to fork, clone or leak, and the cost
/// (one syscall per request, microseconds) is far below the transport floor of a vpcd APDU. `UnwrapErr` panics if
/// the OS cannot supply entropy, which on a PC means the system is broken; a card must not sign with weak nonces.
pub type OsRng = UnwrapErr<SysRng>;

/// `card_os::Platform` for a card running on a PC: [`VecNvm`], [`HostClock`], [`OsRng`].
#[derive(Debug)]
pub struct HostPlatform {
    nvm: VecNvm,
    clock: HostClock,
    rng: OsRng,
}

impl HostPlatform {
    /// Blank NVM, the system clock, the OS RNG: what `Card::format` needs.
    pub fn blank() -> Self {
        Self::with_nvm(blank_nvm())
    }

    /// A platform around given memory (from an image on disk, see [`crate::image`]).
    pub fn with_nvm(nvm: VecNvm) -> Self {
        Self { nvm, clock: HostClock::default(), rng: UnwrapErr(SysRng) }
    }

    /// The same platform with its clock driven by `handle` (share one handle among several cards if you like).
    pub fn with_clock(mut self, handle: ClockHandle) -> Self {
        self.clock = handle.clock();
        self
    }

    /// The handle that moves this card's clock.
    pub fn clock_handle(&self) -> ClockHandle {
        self.clock.handle()
    }
}

impl Default for HostPlatform {
    fn default() -> Self {
        Self::blank()
    }
}

impl Platform for HostPlatform {
    type Nvm = VecNvm;
    type Clock = HostClock;
    type Rng = OsRng;

    fn nvm(&self) -> &VecNvm {
        &self.nvm
    }

    fn nvm_mut(&mut self) -> &mut VecNvm {
        &mut self.nvm
    }

    fn clock(&self) -> &HostClock {
        &self.clock
    }

    fn rng(&mut self) -> &mut OsRng {
        &mut self.rng
    }
}

#[cfg(test)]
mod tests {
    use card_os::{Nvm, NvmError};

    use super::*;

    #[test]
    fn writes_set_dirty_and_take_clears_it() {
        let mut nvm = blank_nvm();
        assert!(!nvm.is_dirty());
        nvm.write(10, &[1, 2, 3]).unwrap();
        assert!(nvm.take_dirty());
        assert!(!nvm.is_dirty());
        let mut buf = [0u8; 3];
        nvm.read(10, &mut buf).unwrap();
        assert_eq!(buf, [1, 2, 3]);
    }

    #[test]
    fn out_of_range_is_an_error_not_a_panic() {
        let mut nvm = blank_nvm();
        assert_eq!(nvm.write(NVM_SIZE - 1, &[0, 0]), Err(NvmError::OutOfRange));
        assert_eq!(nvm.read(usize::MAX, &mut [0u8; 2]), Err(NvmError::OutOfRange));
        assert!(!nvm.is_dirty());
    }

    #[test]
    fn clock_offset_moves_a_shared_clock() {
        let platform = HostPlatform::blank();
        let handle = platform.clock_handle();
        let before = platform.clock().now();
        handle.set_offset_days(3 * 366);
        let after = platform.clock().now();
        assert!(after >= before + 3 * 366 * 86_400);
        handle.set_offset_secs(i64::MIN);
        assert_eq!(platform.clock().now(), 0);
    }

    #[test]
    fn wrong_size_is_refused() {
        assert_eq!(nvm_from_bytes(vec![0; 10]).unwrap_err(), NvmSizeError { actual: 10, expected: NVM_SIZE });
    }
}
