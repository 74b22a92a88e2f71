//! The chip of the simulated UZI-pas and ZORG-ID Smartcard: an ISO/IEC 7816-4/-8/-9 card OS.
//!
//! `#![no_std]`, no heap, no OS call: time, randomness and persistent memory come from the host through
//! [`Platform`]. It is the card, not a reader and not a host: it answers command APDUs with response APDUs,
//! keeps its whole state in a versioned, checksummed, power-cut-safe byte image, and never lets a private key,
//! PIN or PUK out. The APDU dialect is in `DIALECT.md`.
//!
//! Modules:
//! - [`apdu`]: framing and the typed [`Command`]; [`status`]: status words.
//! - [`card`]: [`Card::transmit`], chaining, GET RESPONSE, dispatch.
//! - [`fs`]: MF, DFs, EFs, SELECT, READ/UPDATE BINARY, CREATE FILE.
//! - [`pin`]: PIN and PUK objects, counters, VERIFY, CHANGE REFERENCE DATA, RESET RETRY COUNTER.
//! - [`keys`], [`sign`]: key slots, MSE, PSO COMPUTE DIGITAL SIGNATURE, INTERNAL AUTHENTICATE, key generation.
//! - [`lifecycle`]: blank → personalised → operational → blocked/terminated, the 3-year validity.
//! - [`nvm`], [`image`]: the persistent image (double bank) and its layout.
//! - [`platform`], [`profile`]: what the host supplies; [`sim`] (feature `sim`): a deterministic test platform.
#![no_std]
#![deny(unsafe_code)]
#![warn(missing_debug_implementations, clippy::unwrap_used, clippy::expect_used)]

pub mod apdu;
pub mod card;
pub mod fs;
pub mod image;
pub mod keys;
pub mod lifecycle;
pub mod nvm;
pub mod pin;
pub mod platform;
pub mod profile;
pub mod sign;
#[cfg(feature = "sim")]
pub mod sim;
pub mod status;

pub use apdu::Command;
pub use card::{Card, CardInfo, Tries};
pub use keys::{KeyInfo, KeyOrigin, KeyRef};
pub use lifecycle::{Date, LifeCycle, Validity};
pub use nvm::{ImageError, NVM_SIZE, Nvm, NvmError};
pub use pin::{Charset, PinPolicy};
pub use platform::{Clock, Platform};
pub use profile::ChipProfile;
pub use status::Status;
