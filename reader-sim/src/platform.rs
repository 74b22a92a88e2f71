//! The host side of the chip: NVM in a `Vec`, the system clock with a settable offset, and the OS RNG.
//!
//! `card-os` is `no_std` and takes its persistent memory, time and randomness as traits (see `card_os::Platform`);
//! this module is the production implementation on a PC. The deterministic one (fixed seed, fixed clock) lives behind
//! card-os's `sim` feature and is for tests only.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use card_os::{Clock, NVM_SIZE, Nvm, NvmError, Platform};
use getrandom::SysRng;
use rand_core::UnwrapErr;

/// The card's persistent memory: a `Vec<u8>` of exactly [`NVM_SIZE`] bytes.
///
/// Every successful write sets the dirty flag; whoever persists the bytes (the reader's saver) clears it with
/// [`VecNvm::take_dirty`], so an exchange that wrote nothing costs no disk I/O.
#[derive(Clone)]
pub struct VecNvm {
    bytes: Vec<u8>,
    dirty: bool,
    /// Bytes that may still be written before the power "fails" (tearing tests); `None` = power is stable.
    power_budget: Option<usize>,
}

/// The bytes given to [`VecNvm::from_bytes`] are not exactly [`NVM_SIZE`] long.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an NVM image must be exactly {expected} bytes, got {actual}")]
pub struct NvmSizeError {
    /// The length that was given.
    pub actual: usize,
    /// [`NVM_SIZE`].
    pub expected: usize,
}

impl VecNvm {
    /// Blank memory, every byte `FF` like erased flash. Only `Card::format` makes a card out of it.
    pub fn blank() -> Self {
        Self { bytes: vec![0xFF; NVM_SIZE], dirty: false, power_budget: None }
    }

    /// Memory holding a saved image (see [`crate::image::load`]); not dirty.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, NvmSizeError> {
        if bytes.len() != NVM_SIZE {
            return Err(NvmSizeError { actual: bytes.len(), expected: NVM_SIZE });
        }
        Ok(Self { bytes, dirty: false, power_budget: None })
    }

    /// The whole image, as [`crate::image::save_atomic`] writes it.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Whether a write happened since the last [`VecNvm::take_dirty`].
    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// Returns the dirty flag and clears it. Call it only once the bytes are safely stored.
    pub fn take_dirty(&mut self) -> bool {
        std::mem::replace(&mut self.dirty, false)
    }

    /// Marks the memory dirty again, e.g. after a failed save so the next exchange retries it.
    pub fn mark_dirty(&mut self) {
        self.dirty = true;
    }

    /// Simulates a power cut for tearing tests: after `bytes` more bytes have been written, the write in progress
    /// stops half-way and it and every later write fail with [`NvmError::PowerLost`], until
    /// [`VecNvm::restore_power`]. This is how card-os's "atomic against power loss" claim is checked.
    pub fn cut_power_after(&mut self, bytes: usize) {
        self.power_budget = Some(bytes);
    }

    /// Ends a simulated power cut.
    pub fn restore_power(&mut self) {
        self.power_budget = None;
    }
}

impl Default for VecNvm {
    fn default() -> Self {
        Self::blank()
    }
}

impl std::fmt::Debug for VecNvm {
    /// The NVM holds PINs and private keys: never print its content.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VecNvm").field("len", &self.bytes.len()).field("dirty", &self.dirty).finish_non_exhaustive()
    }
}

impl Nvm for VecNvm {
    fn capacity(&self) -> usize {
        self.bytes.len()
    }

    fn read(&self, offset: usize, buf: &mut [u8]) -> Result<(), NvmError> {
        let end = offset.checked_add(buf.len()).ok_or(NvmError::OutOfRange)?;
        let src = self.bytes.get(offset..end).ok_or(NvmError::OutOfRange)?;
        buf.copy_from_slice(src);
        Ok(())
    }

    fn write(&mut self, offset: usize, data: &[u8]) -> Result<(), NvmError> {
        let end = offset.checked_add(data.len()).ok_or(NvmError::OutOfRange)?;
        let dst = self.bytes.get_mut(offset..end).ok_or(NvmError::OutOfRange)?;
        if let Some(budget) = self.power_budget {
            let n = budget.min(data.len());
            dst[..n].copy_from_slice(&data[..n]);
            self.power_budget = Some(budget - n);
            if n > 0 {
                self.dirty = true;
            }
            if n < data.len() {
                return Err(NvmError::PowerLost);
            }
            return Ok(());
        }
        dst.copy_from_slice(data);
        self.dirty = true;
        Ok(())
    }
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
        Self::with_nvm(VecNvm::blank())
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
    use super::*;

    #[test]
    fn writes_set_dirty_and_take_clears_it() {
        let mut nvm = VecNvm::blank();
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
        let mut nvm = VecNvm::blank();
        assert_eq!(nvm.write(NVM_SIZE - 1, &[0, 0]), Err(NvmError::OutOfRange));
        assert_eq!(nvm.read(usize::MAX, &mut [0u8; 2]), Err(NvmError::OutOfRange));
        assert!(!nvm.is_dirty());
    }

    #[test]
    fn power_cut_tears_the_write_in_progress() {
        let mut nvm = VecNvm::blank();
        nvm.cut_power_after(2);
        assert_eq!(nvm.write(0, &[1, 2, 3, 4]), Err(NvmError::PowerLost));
        assert_eq!(&nvm.as_bytes()[..4], &[1, 2, 0xFF, 0xFF]);
        assert_eq!(nvm.write(8, &[9]), Err(NvmError::PowerLost));
        nvm.restore_power();
        nvm.write(8, &[9]).unwrap();
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
        assert_eq!(VecNvm::from_bytes(vec![0; 10]).unwrap_err(), NvmSizeError { actual: 10, expected: NVM_SIZE });
    }
}
