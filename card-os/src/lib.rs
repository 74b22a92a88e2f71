//! The chip of the simulated UZI-pas and ZORG-ID Smartcard: an ISO/IEC 7816-4/-8/-9 card OS.
//!
//! `#![no_std]`, no heap, no OS call: time, randomness and persistent memory come from the host through
//! [`Platform`]. It is the card, not a reader and not a host: it answers command APDUs with response APDUs,
//! keeps its whole state in a versioned, checksummed, power-cut-safe byte image, and never lets a private key,
//! PIN or PUK out. The APDU dialect is in `DIALECT.md`.
//!
//! Modules, from the leaves up (each imports only modules above it in this list, never one below):
//! - [`status`] (status words), [`types`] (file IDs, PIN and key references, PIN policy, life cycle, dates),
//!   [`nvm`] (the [`Nvm`] trait and the double-bank image), [`platform`] (what the host supplies), [`profile`]
//!   (what a blank chip is made with).
//! - [`fs`] (the file table and SELECT resolution), [`pin`] (PIN counters, the constant-time compare),
//!   [`keys`] (key slots, key material, public keys), [`apdu`] (framing).
//! - [`ecc`] (ECDSA P-256) and `rsa` (RSA-2048, feature `rsa`: the only module that uses `alloc`).
//! - [`image`]: the layout of the image body and its RAM view.
//! - [`state`]: [`CardState`](state::CardState), the session, and the commit to NVM.
//! - [`handlers`]: one module per command family (file, pin, security, admin, data), free functions on the state.
//! - [`command`]: the typed [`Command`], the life-cycle gate, the dispatch to the handlers.
//! - [`card`]: the transport — [`Card::transmit`], chaining, GET RESPONSE, fitting the answer to Ne.
//! - `virt` (feature `virt`): the one RAM-backed NVM, with the power cut the tests use.
//! - `sim` (feature `sim`): a deterministic test platform on it, not for production.
//!
//! To follow VERIFY from the parser to the NVM write, read three files: `command.rs` (`Command::parse`,
//! `ins::VERIFY`, and its dispatch), `handlers/pin.rs` (`verify`: spend a try, compare, give the tries back) and
//! `state.rs` (`CardState::commit`, which writes the new image through `Banks::commit`).
#![no_std]
#![warn(missing_debug_implementations)]
// The chip never panics on input: bytes are taken with `get`, or their bounds are proved in the type (fixed-size
// arrays with constant indices). Unit tests may unwrap.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]

pub mod apdu;
pub mod card;
pub mod command;
pub mod ecc;
pub mod fs;
pub mod handlers;
pub mod image;
pub mod keys;
pub mod nvm;
pub mod pin;
pub mod platform;
pub mod profile;
#[cfg(feature = "rsa")]
pub mod rsa;
#[cfg(feature = "sim")]
pub mod sim;
pub mod state;
pub mod status;
pub mod types;
#[cfg(feature = "virt")]
pub mod virt;

pub use card::Card;
pub use command::Command;
pub use keys::{KeyInfo, PublicKey};
pub use nvm::{ImageError, NVM_SIZE, Nvm, NvmError};
pub use platform::{Clock, Platform};
pub use profile::ChipProfile;
pub use state::CardInfo;
pub use status::Status;
pub use types::{Charset, Date, KeyAlgorithm, KeyOrigin, KeyRef, LifeCycle, PinPolicy, PinRef, Tries, Validity};
