//! Proof that `card-os` (default features) needs neither `std` nor an allocator: this crate is `#![no_std]`, brings
//! its own `#[panic_handler]` and is built as a `staticlib` with `panic = "abort"`. If anything in the dependency
//! graph linked `std`, the build would fail with a duplicate `panic_impl` lang item.
//!
//! `cargo build --release --manifest-path nostd-check/Cargo.toml` (the no-heap core), and with `--features rsa`
//! (card-os with RSA-2048, which needs `alloc`): then this crate brings the global allocator a chip would, a
//! fixed-size arena (`ARENA_SIZE` bytes of static RAM, `linked_list_allocator`), and nothing else changes.
//!
//! It exports a C entry point, as a chip's firmware would: `zorgcard_transmit` runs one APDU on a card whose NVM is
//! card-os's one RAM NVM (`card_os::virt`, feature `virt`, no std) over a static array (formatted on first use), its clock fixed and its "TRNG" a counter — a link check, not a product.
#![no_std]

use core::convert::Infallible;
use core::panic::PanicInfo;

use card_os::profile::UZI_ATR;
use card_os::virt::RamNvm;
use card_os::{Card, ChipProfile, Clock, NVM_SIZE, PinPolicy, Platform};

/// EEPROM: card-os's RAM NVM over a static array (the power cut of `virt` is never set here).
pub type StaticNvm = RamNvm<&'static mut [u8; NVM_SIZE]>;

/// A clock stuck on 2026-11-23.
pub struct FixedClock;

impl Clock for FixedClock {
    fn now(&self) -> u64 {
        1_795_424_400
    }
}

/// Stands in for a TRNG. NOT random.
pub struct CounterRng(u64);

impl rand_core::TryRng for CounterRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        self.try_next_u64().map(|v| v as u32)
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        Ok(self.0)
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for chunk in dst.chunks_mut(8) {
            let v = self.try_next_u64()?.to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
        Ok(())
    }
}

impl rand_core::TryCryptoRng for CounterRng {}

/// The board: NVM, clock, RNG.
pub struct Board {
    nvm: StaticNvm,
    clock: FixedClock,
    rng: CounterRng,
}

impl Platform for Board {
    type Nvm = StaticNvm;
    type Clock = FixedClock;
    type Rng = CounterRng;

    fn nvm(&self) -> &StaticNvm {
        &self.nvm
    }

    fn nvm_mut(&mut self) -> &mut StaticNvm {
        &mut self.nvm
    }

    fn clock(&self) -> &FixedClock {
        &self.clock
    }

    fn rng(&mut self) -> &mut CounterRng {
        &mut self.rng
    }
}

static mut NVM: [u8; NVM_SIZE] = [0; NVM_SIZE];
static mut CARD: Option<Card<Board>> = None;

/// Run one command APDU (`apdu`, `apdu_len` bytes); write the response APDU to `out` (at most `out_cap` bytes,
/// cut if longer) and return its full length; 0 if the NVM cannot hold a card.
///
/// # Safety
/// `apdu` must be valid for `apdu_len` bytes and `out` for `out_cap` bytes. Not reentrant: one caller at a time,
/// like the I/O line of a chip.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zorgcard_transmit(apdu: *const u8, apdu_len: usize, out: *mut u8, out_cap: usize) -> usize {
    // SAFETY: single-threaded by contract; these are the only references made to the statics.
    #[cfg(feature = "rsa")]
    arena::init();
    let card = unsafe { &mut *core::ptr::addr_of_mut!(CARD) };
    if card.is_none() {
        // SAFETY: as above; the NVM reference lives in the card from now on.
        let nvm = unsafe { &mut *core::ptr::addr_of_mut!(NVM) };
        let board = Board { nvm: RamNvm::new(nvm), clock: FixedClock, rng: CounterRng(0x5EED) };
        let profile =
            ChipProfile { atr: &UZI_ATR, serial: b"NOSTD001", pin: PinPolicy::UZI_PIN, puk: PinPolicy::UZI_PUK };
        *card = Card::format(board, &profile).ok();
    }
    let Some(card) = card.as_mut() else { return 0 };
    // SAFETY: the caller vouches for both buffers.
    let (command, response) =
        unsafe { (core::slice::from_raw_parts(apdu, apdu_len), core::slice::from_raw_parts_mut(out, out_cap)) };
    let answer = card.transmit(command);
    let n = answer.len().min(response.len());
    response[..n].copy_from_slice(&answer[..n]);
    answer.len()
}

/// Bytes of static RAM the heap arena has with `rsa` (the benchmark measures one RSA signature's peak heap).
#[cfg(feature = "rsa")]
pub const ARENA_SIZE: usize = 48 * 1024;

#[cfg(feature = "rsa")]
mod arena {
    use linked_list_allocator::LockedHeap;

    static mut ARENA: [u8; super::ARENA_SIZE] = [0; super::ARENA_SIZE];
    static mut READY: bool = false;

    #[global_allocator]
    static HEAP: LockedHeap = LockedHeap::empty();

    /// Hand the arena to the allocator once, before the first command.
    pub fn init() {
        // SAFETY: single-threaded by the contract of `zorgcard_transmit`; the arena is handed over exactly once.
        unsafe {
            if !READY {
                HEAP.lock().init(core::ptr::addr_of_mut!(ARENA).cast::<u8>(), super::ARENA_SIZE);
                READY = true;
            }
        }
    }
}

#[cfg(not(feature = "panic-never"))]
#[panic_handler]
fn panic(_: &PanicInfo<'_>) -> ! {
    loop {}
}

#[cfg(feature = "panic-never")]
unsafe extern "C" {
    /// Defined nowhere: a reference to it that survives LTO is a panic path left in the chip.
    fn zorgcard_panic_path_left_in_the_binary() -> !;
}

#[cfg(feature = "panic-never")]
#[panic_handler]
fn panic(_: &PanicInfo<'_>) -> ! {
    // SAFETY: never defined, so never called: the link fails first.
    unsafe { zorgcard_panic_path_left_in_the_binary() }
}
