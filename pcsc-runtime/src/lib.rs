//! The PC/SC client API, loaded at run time.
//!
//! What it is: a safe, typed front to the dozen `SCard*` functions of the PC/SC resource manager's client library
//! (pcsc-lite's `libpcsclite.so.1` on Linux and the BSDs, the PCSC framework on macOS, `winscard.dll` on Windows),
//! which it opens with `dlopen` the first time a [`Context`] is established. The `pcsc` crate links the library at
//! build time through `pcsc-sys`, whose build script needs `pkg-config` and `libpcsclite.pc`
//! (`libpcsclite-dev`); that made every build of zorgcard need PC/SC packages, although its main job (the in-process
//! reader) never talks to PC/SC. Here the build needs nothing, and a machine without PC/SC gets
//! [`Error::NotInstalled`], whose message says what to install; after that install the same binary works.
//!
//! What it is not: a full binding. It has what zorgcard and its tests use: contexts, reader lists, status changes,
//! connect/reconnect/disconnect, transmit and status. The names follow the `pcsc` crate's, so code reads the same.
//!
//! Modules:
//! - `ffi`: the C types and the loaded function table; the only `unsafe` code of the crate.
//! - [`error`]: [`Error`], one variant per PC/SC return code (pcsc-lite's `pcsclite.h`).
//! - [`flags`]: [`Scope`], [`ShareMode`], [`Protocol`], [`Protocols`], [`Disposition`], [`State`].
//! - [`context`]: [`Context`], [`ReaderState`].
//! - [`card`]: [`Card`], [`CardStatus`].

pub mod card;
pub mod context;
pub mod error;
mod ffi;
pub mod flags;

pub use card::{Card, CardStatus};
pub use context::{Context, ReaderState};
pub use error::Error;
pub use flags::{Disposition, Protocol, Protocols, Scope, ShareMode, State};

/// The largest response buffer an extended-length APDU can need: 4 header bytes, 3 Lc bytes, 65,536 data bytes, 3
/// Le bytes and 2 status bytes (pcsc-lite's `MAX_BUFFER_SIZE_EXTENDED`, `pcsclite.h`).
pub const MAX_BUFFER_SIZE_EXTENDED: usize = 4 + 3 + (1 << 16) + 3 + 2;

/// The longest answer-to-reset (ISO/IEC 7816-3 §8.2.1: TS plus at most 32 bytes; pcsc-lite's `MAX_ATR_SIZE`).
pub const MAX_ATR_SIZE: usize = 33;

/// What to install when no PC/SC library can be opened, in one line (Debian and Ubuntu package names).
pub const HOW_TO_INSTALL: &str = "apt-get install pcscd libpcsclite1 vsmartcard-vpcd";

/// Whether the PC/SC client library can be opened on this machine (it is opened once, on the first call).
pub fn is_installed() -> bool {
    ffi::api().is_ok()
}
