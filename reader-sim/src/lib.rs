//! Virtual readers for `card-os` cards: the host side that only moves bytes between a card and whoever talks to it.
//!
//! A card (`card_os::Card`) runs on a [`platform::HostPlatform`] (NVM in memory, system clock with a settable
//! offset, OS randomness) and sits in a reader slot: the [`reader::InProcessReader`] for tests and the conformance
//! harness, served to pcscd over vsmartcard's vpcd protocol by [`vpcd::VpcdServer`], saved to an image file on disk
//! after every exchange that changed it, with every exchange traced. A change that cannot be saved (disk full,
//! read-only or removed folder) is undone and answered `6581`, as by a chip whose EEPROM write failed: the card
//! goes back to what its image file holds, which is never lost (see [`reader`]).
//!
//! It is not the card: what a card answers is decided in `card-os`. Nor does it decide what goes on a card: the
//! test PKI, personalisation, fixture cards and the conformance suite live in the `conformance` crate.
//!
//! Modules:
//! - [`platform`]: `HostPlatform` = [`platform::VecNvm`] + [`platform::HostClock`] (+ [`platform::ClockHandle`]) + OS RNG.
//! - [`image`]: card images on disk: checked load, atomic save.
//! - [`reader`]: [`reader::InProcessReader`], [`reader::SharedReader`], the [`reader::Transmit`] trait.
//! - [`trace`]: APDU traces with secrets masked, to stdout, a file or memory.
//! - [`vpcd`]: one slot per card over the vpcd protocol, connect or reverse mode, with reconnect.
//! - [`wait`]: [`wait::wait_until`], a condvar wait with a deadline, for the slot's control and its users.

#![warn(clippy::unwrap_used, clippy::expect_used)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod image;
pub mod platform;
pub mod reader;
pub mod trace;
pub mod vpcd;
pub mod wait;

pub use image::ImageFileError;
pub use platform::{ClockHandle, HostClock, HostPlatform, OsRng, VecNvm};
pub use reader::{HostCard, InProcessReader, ReaderError, SharedReader, Transmit};
pub use trace::{Trace, TraceEvent, Traced};
pub use vpcd::{SlotEvent, SlotEventKind, VpcdConfig, VpcdHandle, VpcdMode, VpcdServer};
pub mod exchange;
pub mod pcsc;
