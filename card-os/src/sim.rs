//! FOR TESTING ONLY: a deterministic platform (the RAM NVM of [`crate::virt`], a settable clock, a fixed-seed RNG).
//! Not for production: the RNG is predictable by design, for reproducible tests.

use core::cell::Cell;

use crate::platform::{Clock, Platform};
use crate::virt::RamNvm;

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
    pub nvm: RamNvm<B>,
    /// The clock.
    pub clock: SimClock,
    /// The RNG.
    pub rng: SimRng,
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> SimPlatform<B> {
    /// A platform over `bytes` (at least [`crate::NVM_SIZE`]), its clock at `now` (Unix seconds).
    pub fn new(bytes: B, now: u64, seed: u64) -> Self {
        SimPlatform { nvm: RamNvm::new(bytes), clock: SimClock(Cell::new(now)), rng: SimRng(seed) }
    }
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> Platform for SimPlatform<B> {
    type Nvm = RamNvm<B>;
    type Clock = SimClock;
    type Rng = SimRng;

    fn nvm(&self) -> &RamNvm<B> {
        &self.nvm
    }

    fn nvm_mut(&mut self) -> &mut RamNvm<B> {
        &mut self.nvm
    }

    fn clock(&self) -> &SimClock {
        &self.clock
    }

    fn rng(&mut self) -> &mut SimRng {
        &mut self.rng
    }
}
