//! PIN and PUK objects: the RAM view of a counter, the stored value for one compare, and the constant-time compare.
//!
//! ISO 7816-4 §11.5.6 (VERIFY), §11.5.7 (CHANGE REFERENCE DATA), §11.5.10 (RESET RETRY COUNTER). The UZI-register
//! CPS: PIN 6+ characters, 3 tries; PUK at least 6 digits, 3 tries; a blocked PUK is final. The handlers in
//! `handlers/pin.rs` decrement and persist the counter *before* calling [`matches()`], so a power cut never gives a
//! try back.
//! PIN values are read from the image only for the compare and never held in the card's RAM state.

use core::fmt;

use subtle::ConstantTimeEq;

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

/// A stored PIN value as read from the image for one compare; zeroed on drop, never printed.
pub struct Secret {
    bytes: [u8; MAX_PIN_LEN],
    len: usize,
}

impl Secret {
    pub(crate) fn new(bytes: [u8; MAX_PIN_LEN], len: usize) -> Self {
        Secret { bytes, len: len.min(MAX_PIN_LEN) }
    }

    /// The stored value, for rewriting it in a new PIN record (RESET RETRY COUNTER without a new PIN).
    pub(crate) fn value(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&[])
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.bytes);
    }
}

impl fmt::Debug for Secret {
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
    zeroize::Zeroize::zeroize(&mut padded);
    bool::from(same_len & same_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(v: &[u8]) -> Secret {
        let mut b = [0u8; MAX_PIN_LEN];
        b[..v.len()].copy_from_slice(v);
        Secret::new(b, v.len())
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
    }
}
