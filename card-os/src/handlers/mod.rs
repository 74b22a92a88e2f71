//! The command handlers, one module per command family. Each is a set of free functions that take the
//! [`CardState`](crate::state::CardState) and the platform they need; none of them imports the dispatcher
//! (`command.rs`) or the transport (`card.rs`). Each module also owns the modes of its commands (P1/P2 parsed
//! with `TryFrom<u8>`), which the dispatcher uses to decode an APDU.
//!
//! - [`file`](mod@file): SELECT, READ BINARY, UPDATE BINARY, CREATE FILE (ISO 7816-4 §11.2–11.3, 7816-9 §6.1).
//! - [`pin`]: VERIFY, CHANGE REFERENCE DATA, RESET RETRY COUNTER (ISO 7816-4 §11.5).
//! - [`security`]: MSE, PSO COMPUTE DIGITAL SIGNATURE, INTERNAL AUTHENTICATE, key generation and import
//!   (ISO 7816-8).
//! - [`admin`]: ACTIVATE FILE and TERMINATE CARD USAGE: the life cycle (ISO 7816-9 §6.5, §6.8).
//! - [`data`]: GET DATA and GET CHALLENGE (ISO 7816-4 §11.4.3, §11.5.3).

pub mod admin;
pub mod data;
pub mod file;
pub mod pin;
pub mod security;
