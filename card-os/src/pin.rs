//! PIN and PUK: references, policies, retry counters and the constant-time compare.
//!
//! ISO 7816-4 §11.5.6 (VERIFY), §11.5.7 (CHANGE REFERENCE DATA), §11.5.10 (RESET RETRY COUNTER). The UZI-register
//! CPS: PIN 6+ characters, 3 tries; PUK at least 6 digits, 3 tries; a blocked PUK is final. The card handlers
//! (`card.rs`) decrement and persist the counter *before* calling [`matches()`], so a power cut never gives a try back.
//! PIN values are read from the image only for the compare and never held in the card's RAM state.

use core::fmt;

use subtle::ConstantTimeEq;

use crate::status::Status;

/// Longest PIN or PUK stored.
pub const MAX_PIN_LEN: usize = 16;

/// Which secret a command names (P2 of VERIFY, CHANGE REFERENCE DATA, RESET RETRY COUNTER).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PinRef {
    /// `01`: the user PIN.
    User,
    /// `02`: the PUK (unblocking PIN).
    Puk,
}

impl PinRef {
    /// ISO 7816-4 table 65: P2 b8 = 0 global reference; `81`/`82` (specific) are accepted as the same objects.
    pub fn from_p2(p2: u8) -> Result<Self, Status> {
        match p2 {
            0x01 | 0x81 => Ok(PinRef::User),
            0x02 | 0x82 => Ok(PinRef::Puk),
            _ => Err(Status::ReferenceNotFound),
        }
    }

    /// Slot in the image.
    pub const fn index(self) -> usize {
        match self {
            PinRef::User => 0,
            PinRef::Puk => 1,
        }
    }
}

/// Which characters a PIN may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Charset {
    /// ASCII digits only (PUK).
    Digits,
    /// Printable ASCII, `0x20`–`0x7E` (UZI PIN: "6 or more characters").
    Printable,
}

/// Length, character set and tries of a PIN or PUK.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PinPolicy {
    pub min_len: u8,
    pub max_len: u8,
    pub max_tries: u8,
    pub charset: Charset,
}

impl PinPolicy {
    /// UZI CPS PIN policy: 6–8 characters, 3 tries.
    pub const UZI_PIN: PinPolicy = PinPolicy { min_len: 6, max_len: 8, max_tries: 3, charset: Charset::Printable };
    /// UZI CPS PUK policy: at least 6 digits (up to 16 here), 3 tries.
    pub const UZI_PUK: PinPolicy = PinPolicy { min_len: 6, max_len: 16, max_tries: 3, charset: Charset::Digits };

    /// Does a new value meet the policy? (Checked before any counter is touched: not a secret compare.)
    pub fn accepts(&self, value: &[u8]) -> bool {
        let len_ok = (self.min_len as usize..=self.max_len as usize).contains(&value.len());
        let chars_ok = value.iter().all(|b| match self.charset {
            Charset::Digits => b.is_ascii_digit(),
            Charset::Printable => (0x20..=0x7E).contains(b),
        });
        len_ok && chars_ok
    }

    /// A policy the image may hold: lengths within the card's capacity, 1–15 tries (they show in `63Cx`).
    pub fn is_valid(&self) -> bool {
        self.min_len >= 1
            && self.min_len <= self.max_len
            && self.max_len as usize <= MAX_PIN_LEN
            && (1..=15).contains(&self.max_tries)
    }
}

/// The RAM view of one PIN object: policy and counter, never the value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PinState {
    pub policy: PinPolicy,
    /// A value has been set (personalisation).
    pub initialised: bool,
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
    let n = presented.len().min(MAX_PIN_LEN);
    padded[..n].copy_from_slice(&presented[..n]);
    let same_len = (stored.len as u64).ct_eq(&(presented.len() as u64));
    let same_bytes = stored.bytes.ct_eq(&padded);
    zeroize::Zeroize::zeroize(&mut padded);
    bool::from(same_len & same_bytes)
}

use crate::apdu::{ChangeMode, ResetMode, VerifyAction};
use crate::card::CardState;
use crate::image::encode;
use crate::lifecycle::LifeCycle;
use crate::nvm::Patch;
use crate::platform::Platform;

impl CardState {
    /// Read a stored value for one compare.
    fn stored<P: Platform>(&self, platform: &P, r: PinRef) -> Result<Secret, Status> {
        let mut bytes = [0u8; MAX_PIN_LEN];
        self.read_body(platform, encode::pin_value_offset(r), &mut bytes)?;
        Ok(Secret::new(bytes, self.meta.pin(r).len as usize))
    }

    /// Spend one try and persist it before anything is compared: a power cut after this never gives it back.
    fn spend_try<P: Platform>(&mut self, platform: &mut P, r: PinRef) -> Result<u8, Status> {
        let left = self.meta.pin(r).tries_left.saturating_sub(1);
        self.commit_meta(platform, &[Patch { offset: encode::pin_tries_offset(r), bytes: &[left] }])?;
        Ok(left)
    }

    /// Checks before a PIN or PUK is presented: set, not blocked, card not blocked for good.
    fn presentable(&self, r: PinRef) -> Result<(), Status> {
        let pin = self.meta.pin(r);
        if self.meta.life_cycle() == LifeCycle::Blocked {
            return Err(Status::AuthenticationBlocked);
        }
        if !pin.initialised {
            return Err(Status::ReferenceDataNotUsable);
        }
        if pin.tries_left == 0 {
            return Err(Status::AuthenticationBlocked);
        }
        Ok(())
    }

    fn log_out(&mut self) {
        self.session.pin_verified = false;
        self.session.signature_armed = false;
    }

    /// VERIFY (ISO 7816-4 §11.5.6).
    pub(crate) fn verify<P: Platform>(
        &mut self,
        platform: &mut P,
        r: PinRef,
        action: VerifyAction<'_>,
    ) -> Result<(), Status> {
        match action {
            VerifyAction::LogOut => {
                if r == PinRef::User {
                    self.log_out();
                }
                Ok(())
            }
            VerifyAction::Status => {
                let pin = self.meta.pin(r);
                if !pin.initialised {
                    Err(Status::ReferenceDataNotUsable)
                } else if self.meta.life_cycle() == LifeCycle::Blocked {
                    Err(Status::AuthenticationBlocked)
                } else if r == PinRef::User && self.session.pin_verified {
                    Ok(())
                } else {
                    Err(pin.wrong_answer())
                }
            }
            // The PUK is presented only with RESET RETRY COUNTER.
            VerifyAction::Present(_) if r == PinRef::Puk => Err(Status::ConditionsOfUseNotSatisfied),
            VerifyAction::Present(value) => {
                self.presentable(r)?;
                self.log_out();
                let left = self.spend_try(platform, r)?;
                if !matches(&self.stored(platform, r)?, value) {
                    return Err(Status::RemainingRetries(left));
                }
                let max = self.meta.pin(r).policy.max_tries;
                self.commit_meta(platform, &[Patch { offset: encode::pin_tries_offset(r), bytes: &[max] }])?;
                self.session.pin_verified = true;
                self.session.signature_armed = true;
                Ok(())
            }
        }
    }

    /// CHANGE REFERENCE DATA (ISO 7816-4 §11.5.7): `old‖new` for the user PIN, or the first value of the PIN or
    /// PUK during personalisation.
    pub(crate) fn change_reference_data<P: Platform>(
        &mut self,
        platform: &mut P,
        r: PinRef,
        mode: ChangeMode<'_>,
    ) -> Result<(), Status> {
        let pin = *self.meta.pin(r);
        match mode {
            ChangeMode::NewOnly(new) => {
                self.require_personalisation()?;
                if !pin.policy.accepts(new) {
                    return Err(Status::IncorrectData);
                }
                let record = encode::pin_record(&pin.policy, true, pin.policy.max_tries, new);
                let lc = self.personalised_lc();
                let patches = [
                    Patch { offset: encode::pin_offset(r), bytes: &record },
                    Patch { offset: crate::image::LC_OFF, bytes: &lc },
                ];
                self.commit_meta(platform, &patches)
            }
            ChangeMode::OldAndNew(_) if r == PinRef::Puk => Err(Status::ConditionsOfUseNotSatisfied),
            ChangeMode::OldAndNew(data) => {
                self.presentable(r)?;
                let split = (pin.len as usize).min(data.len());
                let (old, new) = data.split_at(split);
                if !pin.policy.accepts(new) {
                    return Err(Status::IncorrectData);
                }
                self.log_out();
                let left = self.spend_try(platform, r)?;
                if !matches(&self.stored(platform, r)?, old) {
                    return Err(Status::RemainingRetries(left));
                }
                let record = encode::pin_record(&pin.policy, true, pin.policy.max_tries, new);
                self.commit_meta(platform, &[Patch { offset: encode::pin_offset(r), bytes: &record }])?;
                self.session.pin_verified = true;
                self.session.signature_armed = true;
                Ok(())
            }
        }
    }

    /// RESET RETRY COUNTER (ISO 7816-4 §11.5.10) with the PUK. The last wrong PUK blocks the card for good.
    pub(crate) fn reset_retry_counter<P: Platform>(
        &mut self,
        platform: &mut P,
        r: PinRef,
        mode: ResetMode<'_>,
    ) -> Result<(), Status> {
        let puk = *self.meta.pin(PinRef::Puk);
        let pin = *self.meta.pin(r);
        self.presentable(PinRef::Puk)?;
        if !pin.initialised {
            return Err(Status::ReferenceDataNotUsable);
        }
        let (presented, new) = match mode {
            ResetMode::PukOnly(data) => (data, None),
            ResetMode::PukAndNewPin(data) => {
                let (p, n) = data.split_at((puk.len as usize).min(data.len()));
                if !pin.policy.accepts(n) {
                    return Err(Status::IncorrectData);
                }
                (p, Some(n))
            }
        };
        let left = self.spend_try(platform, PinRef::Puk)?;
        if !matches(&self.stored(platform, PinRef::Puk)?, presented) {
            if left == 0 {
                // The card is now blocked for good: no verification survives, not even one made before.
                self.log_out();
            }
            return Err(Status::RemainingRetries(left));
        }
        let record = match new {
            Some(value) => encode::pin_record(&pin.policy, true, pin.policy.max_tries, value),
            None => {
                let stored = self.stored(platform, r)?;
                encode::pin_record(&pin.policy, true, pin.policy.max_tries, &stored.bytes[..stored.len])
            }
        };
        let patches = [
            Patch { offset: encode::pin_offset(r), bytes: &record },
            Patch { offset: encode::pin_tries_offset(PinRef::Puk), bytes: &[puk.policy.max_tries] },
        ];
        let result = self.commit_meta(platform, &patches);
        let mut record = record;
        zeroize::Zeroize::zeroize(&mut record[..]);
        result
    }
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

    #[test]
    fn policy() {
        assert!(PinPolicy::UZI_PIN.accepts(b"123456"));
        assert!(PinPolicy::UZI_PIN.accepts(b"abc def!"));
        assert!(!PinPolicy::UZI_PIN.accepts(b"12345"));
        assert!(!PinPolicy::UZI_PIN.accepts(b"123456789"));
        assert!(PinPolicy::UZI_PUK.accepts(b"12345678"));
        assert!(!PinPolicy::UZI_PUK.accepts(b"1234567a"));
    }
}
