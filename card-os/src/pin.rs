//! PIN and PUK objects: the RAM view of a counter, the stored value for one compare, and the constant-time compare.
//!
//! ISO 7816-4 §11.5.6 (VERIFY), §11.5.7 (CHANGE REFERENCE DATA), §11.5.10 (RESET RETRY COUNTER). The UZI-register
//! CPS: PIN 6+ characters, 3 tries; PUK at least 6 digits, 3 tries; a blocked PUK is final. The handlers in
//! `handlers/pin.rs` decrement and persist the counter *before* calling [`matches()`], so a power cut never gives a
//! try back.
//! PIN values are read from the image only for the compare and never held in the card's RAM state.

use core::fmt;

use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use crate::status::Status;
use crate::types::{MAX_PIN_LEN, PinPolicy};

/// The RAM view of one PIN object: policy and counter, never the value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PinState {
    /// Length, character set and tries.
    pub policy: PinPolicy,
    /// A value has been set (personalisation).
    pub initialised: bool,
    /// Tries left before it blocks.
    pub tries_left: u8,
    /// Length of the stored value; needed to split `old‖new` and `PUK‖new PIN`.
    pub len: u8,
}

impl PinState {
    /// The counter is at zero.
    pub fn is_blocked(&self) -> bool {
        self.initialised && self.tries_left == 0
    }

    /// `63Cx`, or `6983` when nothing is left (ISO 7816-4 §11.5.6).
    pub fn wrong_answer(&self) -> Status {
        if self.tries_left == 0 { Status::AuthenticationBlocked } else { Status::RemainingRetries(self.tries_left) }
    }
}

/// A PIN or PUK value: zeroed when dropped (`zeroize`), printed as `***`, no `Display`. The one secret type of the
/// workspace: the card holds a stored value in a fixed array for one compare (the default `B`, no heap), the host
/// holds what the holder typed, or a PUK it drew, in a `Vec<u8>` (`Secret<Vec<u8>>`), whose whole capacity is
/// wiped on drop. The bytes are only reached through [`Secret::expose`], so every use of a value is visible.
pub struct Secret<B: AsRef<[u8]> + Zeroize = [u8; MAX_PIN_LEN]> {
    bytes: B,
    len: usize,
}

impl Secret {
    /// A stored value: the first `len` bytes of `bytes` (at most [`MAX_PIN_LEN`]).
    pub(crate) fn stored(bytes: [u8; MAX_PIN_LEN], len: usize) -> Self {
        Secret { bytes, len: len.min(MAX_PIN_LEN) }
    }
}

impl<B: AsRef<[u8]> + Zeroize> Secret<B> {
    /// All of `bytes` is the value.
    pub fn new(bytes: B) -> Self {
        let len = bytes.as_ref().len();
        Secret { bytes, len }
    }

    /// The value, for the one place that sends, stores or compares it.
    pub fn expose(&self) -> &[u8] {
        self.bytes.as_ref().get(..self.len).unwrap_or(&[])
    }

    /// Its length in bytes (not secret: the card's PIN record and the policy checks use it).
    pub fn len(&self) -> usize {
        self.len
    }

    /// No value at all.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl<B: AsRef<[u8]> + Zeroize + Clone> Clone for Secret<B> {
    fn clone(&self) -> Self {
        Secret { bytes: self.bytes.clone(), len: self.len }
    }
}

impl<B: AsRef<[u8]> + Zeroize> Drop for Secret<B> {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

impl<B: AsRef<[u8]> + Zeroize> fmt::Debug for Secret<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Constant-time compare of a presented value with the stored one: the time does not depend on where they differ
/// (both are padded to [`MAX_PIN_LEN`]; the lengths are compared in constant time too).
pub fn matches(stored: &Secret, presented: &[u8]) -> bool {
    let mut padded = [0u8; MAX_PIN_LEN];
    for (p, b) in padded.iter_mut().zip(presented) {
        *p = *b;
    }
    let same_len = (stored.len as u64).ct_eq(&(presented.len() as u64));
    let same_bytes = stored.bytes.ct_eq(&padded);
    padded.zeroize();
    bool::from(same_len & same_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(v: &[u8]) -> Secret {
        let mut b = [0u8; MAX_PIN_LEN];
        b[..v.len()].copy_from_slice(v);
        Secret::stored(b, v.len())
    }

    #[test]
    fn compare_needs_same_length_and_bytes() {
        let s = secret(b"123456");
        assert!(matches(&s, b"123456"));
        assert!(!matches(&s, b"123457"));
        assert!(!matches(&s, b"1234560"));
        assert!(!matches(&s, b"12345"));
        assert!(!matches(&s, b"123456\0"));
        assert!(!matches(&s, &[b'1'; 40]));
    }

    #[test]
    fn secret_debug_is_masked() {
        extern crate std;
        assert_eq!(std::format!("{:?}", secret(b"123456")), "***");
        assert_eq!(std::format!("{:?}", Secret::new(*b"24681357")), "***");
    }

    #[test]
    fn a_stored_secret_exposes_only_its_length() {
        let s = secret(b"123456");
        assert_eq!(s.expose(), b"123456");
        assert_eq!(s.len(), 6);
        assert!(Secret::new([0u8; 0]).is_empty());
    }
}
