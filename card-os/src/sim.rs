//! FOR TESTING ONLY: a deterministic platform (RAM NVM that can cut power at the k-th write, settable clock,
//! fixed-seed RNG). Not for production: the RNG is predictable by design, for reproducible tests.

use core::cell::Cell;

use crate::nvm::{Nvm, NvmError};
use crate::platform::{Clock, Platform};

impl<B> core::fmt::Debug for SimNvm<B> {
    /// The bytes hold PINs and keys: only the counters are shown.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "SimNvm {{ writes: {}, powered: {} }}", self.writes, self.powered)
    }
}

/// RAM-backed NVM over any byte buffer. `cut_after(k)` makes the k-th following write tear (half written) and
/// every write after it fail, as when power is lost; [`SimNvm::restore_power`] ends the outage.
pub struct SimNvm<B> {
    /// The memory.
    pub bytes: B,
    writes_left: Option<u32>,
    powered: bool,
    /// Writes done since creation.
    pub writes: u32,
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> SimNvm<B> {
    /// Powered NVM over `bytes`.
    pub fn new(bytes: B) -> Self {
        SimNvm { bytes, writes_left: None, powered: true, writes: 0 }
    }

    /// Lose power during the k-th write from now (k = 0: the next one).
    pub fn cut_after(&mut self, k: u32) {
        self.writes_left = Some(k);
    }

    /// End the power outage.
    pub fn restore_power(&mut self) {
        self.writes_left = None;
        self.powered = true;
    }

    /// Power was cut and not restored.
    pub fn power_lost(&self) -> bool {
        !self.powered
    }
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> Nvm for SimNvm<B> {
    fn capacity(&self) -> usize {
        self.bytes.as_ref().len()
    }

    fn read(&self, offset: usize, buf: &mut [u8]) -> Result<(), NvmError> {
        let src = self.bytes.as_ref().get(offset..offset + buf.len()).ok_or(NvmError::OutOfRange)?;
        buf.copy_from_slice(src);
        Ok(())
    }

    fn write(&mut self, offset: usize, data: &[u8]) -> Result<(), NvmError> {
        if !self.powered {
            return Err(NvmError::PowerLost);
        }
        let dst = self.bytes.as_mut().get_mut(offset..offset + data.len()).ok_or(NvmError::OutOfRange)?;
        self.writes += 1;
        match self.writes_left {
            Some(0) => {
                // A torn write: the first half lands, the rest keeps its old bytes.
                let half = data.len() / 2;
                for (d, b) in dst.iter_mut().zip(data).take(half) {
                    *d = *b;
                }
                self.powered = false;
                Err(NvmError::PowerLost)
            }
            Some(ref mut k) => {
                *k -= 1;
                dst.copy_from_slice(data);
                Ok(())
            }
            None => {
                dst.copy_from_slice(data);
                Ok(())
            }
        }
    }
}

/// A clock that says what it is told.
#[derive(Debug)]
pub struct SimClock(pub Cell<u64>);

impl Clock for SimClock {
    fn now(&self) -> u64 {
        self.0.get()
    }
}

/// xorshift64* with a fixed seed. PREDICTABLE: marked `CryptoRng` only so tests can drive the card.
#[derive(Debug)]
pub struct SimRng(pub u64);

impl rand_core::TryRng for SimRng {
    type Error = core::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok((self.step() >> 32) as u32)
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        Ok(self.step())
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for chunk in dst.chunks_mut(8) {
            let v = self.step().to_le_bytes();
            for (c, b) in chunk.iter_mut().zip(v) {
                *c = b;
            }
        }
        Ok(())
    }
}

impl rand_core::TryCryptoRng for SimRng {}

impl SimRng {
    fn step(&mut self) -> u64 {
        let mut x = self.0.max(1);
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// The deterministic platform.
#[derive(Debug)]
pub struct SimPlatform<B> {
    /// The NVM.
    pub nvm: SimNvm<B>,
    /// The clock.
    pub clock: SimClock,
    /// The RNG.
    pub rng: SimRng,
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> SimPlatform<B> {
    /// A platform over `bytes` (at least [`crate::NVM_SIZE`]), its clock at `now` (Unix seconds).
    pub fn new(bytes: B, now: u64, seed: u64) -> Self {
        SimPlatform { nvm: SimNvm::new(bytes), clock: SimClock(Cell::new(now)), rng: SimRng(seed) }
    }
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> Platform for SimPlatform<B> {
    type Nvm = SimNvm<B>;
    type Clock = SimClock;
    type Rng = SimRng;

    fn nvm(&self) -> &SimNvm<B> {
        &self.nvm
    }

    fn nvm_mut(&mut self) -> &mut SimNvm<B> {
        &mut self.nvm
    }

    fn clock(&self) -> &SimClock {
        &self.clock
    }

    fn rng(&mut self) -> &mut SimRng {
        &mut self.rng
    }
}
