//! What a host may know of a key slot: its reference, origin and public key.
//!
//! Private keys live only in the card image and are loaded for one operation at a time (`handlers/security.rs`);
//! no command ever reads one out.

use crate::types::{KeyOrigin, KeyRef};

/// What a host may know of a key slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyInfo {
    /// The slot.
    pub key: KeyRef,
    /// Generated on the card or injected.
    pub origin: KeyOrigin,
    /// Uncompressed SEC1 point `04‖X‖Y`.
    pub public: [u8; 65],
}
