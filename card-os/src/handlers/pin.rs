//! VERIFY, CHANGE REFERENCE DATA and RESET RETRY COUNTER (ISO 7816-4 §11.5.6, §11.5.7, §11.5.10).
//!
//! The one rule that matters: a try is spent and persisted (`spend_try` → `CardState::commit_meta`) *before*
//! the constant-time compare ([`matches`](fn@matches)), so neither a power cut nor a timing difference gives a try back.

use crate::image::encode;
use crate::nvm::Patch;
use crate::pin::{Secret, matches};
use crate::platform::Platform;
use crate::state::CardState;
use crate::status::Status;
use crate::types::{LifeCycle, MAX_PIN_LEN, PinRef};

/// VERIFY's three forms (ISO 7816-4 §11.5.6).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum VerifyMode<'a> {
    /// Empty data: ask the tries left.
    Status,
    /// Present the PIN.
    Present(&'a [u8]),
    /// P1 `FF`: reset the verification status.
    LogOut,
}

impl<'a> VerifyMode<'a> {
    /// P1 `00` presents (or, with no data, asks); P1 `FF` logs out (no data allowed).
    pub fn parse(p1: u8, data: &'a [u8]) -> Result<Self, Status> {
        match (p1, data.is_empty()) {
            (0x00, true) => Ok(VerifyMode::Status),
            (0x00, false) => Ok(VerifyMode::Present(data)),
            (0xFF, true) => Ok(VerifyMode::LogOut),
            (0xFF, false) => Err(Status::WrongLength),
            _ => Err(Status::IncorrectP1P2),
        }
    }
}

/// CHANGE REFERENCE DATA (ISO 7816-4 §11.5.7).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum ChangeMode<'a> {
    /// P1 `00`: old value followed by the new value.
    OldAndNew(&'a [u8]),
    /// P1 `01`: the new value only (personalisation).
    NewOnly(&'a [u8]),
}

impl<'a> ChangeMode<'a> {
    /// P1 `00` or `01`; the data must not be empty.
    pub fn parse(p1: u8, data: &'a [u8]) -> Result<Self, Status> {
        if data.is_empty() {
            return Err(Status::WrongLength);
        }
        match p1 {
            0x00 => Ok(ChangeMode::OldAndNew(data)),
            0x01 => Ok(ChangeMode::NewOnly(data)),
            _ => Err(Status::IncorrectP1P2),
        }
    }
}

/// RESET RETRY COUNTER (ISO 7816-4 §11.5.10).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum ResetMode<'a> {
    /// P1 `00`: PUK followed by the new PIN.
    PukAndNewPin(&'a [u8]),
    /// P1 `01`: PUK only; the PIN keeps its value.
    PukOnly(&'a [u8]),
}

impl<'a> ResetMode<'a> {
    /// P1 `00` or `01`; `02`/`03` (reset without the PUK) are not offered: this card always wants the PUK.
    pub fn parse(p1: u8, data: &'a [u8]) -> Result<Self, Status> {
        let mode = match p1 {
            0x00 => ResetMode::PukAndNewPin(data),
            0x01 => ResetMode::PukOnly(data),
            0x02 | 0x03 => return Err(Status::FunctionNotSupported),
            _ => return Err(Status::IncorrectP1P2),
        };
        if data.is_empty() {
            return Err(Status::WrongLength);
        }
        Ok(mode)
    }
}

macro_rules! masked_debug {
    ($($t:ident),*) => {$(
        impl core::fmt::Debug for $t<'_> {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(concat!(stringify!($t), "(***)"))
            }
        }
    )*};
}
// PINs and PUKs never reach Debug output.
masked_debug!(VerifyMode, ChangeMode, ResetMode);

/// Read a stored value for one compare.
fn stored<P: Platform>(state: &CardState, platform: &P, r: PinRef) -> Result<Secret, Status> {
    let mut bytes = [0u8; MAX_PIN_LEN];
    state.read_body(platform, encode::pin_value_offset(r), &mut bytes)?;
    Ok(Secret::stored(bytes, state.meta.pin(r).len as usize))
}

/// Spend one try and persist it before anything is compared: a power cut after this never gives it back.
fn spend_try<P: Platform>(state: &mut CardState, platform: &mut P, r: PinRef) -> Result<u8, Status> {
    let left = state.meta.pin(r).tries_left.saturating_sub(1);
    state.commit_meta(platform, &[Patch { offset: encode::pin_tries_offset(r), bytes: &[left] }])?;
    Ok(left)
}

/// Checks before a PIN or PUK is presented: set, not blocked, card not blocked for good.
fn presentable(state: &CardState, r: PinRef) -> Result<(), Status> {
    let pin = state.meta.pin(r);
    if state.meta.life_cycle() == LifeCycle::Blocked {
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

fn log_out(state: &mut CardState) {
    state.session.pin_verified = false;
    state.session.signature_armed = false;
}

/// VERIFY (ISO 7816-4 §11.5.6).
pub fn verify<P: Platform>(
    state: &mut CardState,
    platform: &mut P,
    r: PinRef,
    mode: VerifyMode<'_>,
) -> Result<(), Status> {
    match mode {
        VerifyMode::LogOut => {
            if r == PinRef::User {
                log_out(state);
            }
            Ok(())
        }
        VerifyMode::Status => {
            let pin = state.meta.pin(r);
            if !pin.initialised {
                Err(Status::ReferenceDataNotUsable)
            } else if state.meta.life_cycle() == LifeCycle::Blocked {
                Err(Status::AuthenticationBlocked)
            } else if r == PinRef::User && state.session.pin_verified {
                Ok(())
            } else {
                Err(pin.wrong_answer())
            }
        }
        // The PUK is presented only with RESET RETRY COUNTER.
        VerifyMode::Present(_) if r == PinRef::Puk => Err(Status::ConditionsOfUseNotSatisfied),
        VerifyMode::Present(value) => {
            presentable(state, r)?;
            log_out(state);
            let left = spend_try(state, platform, r)?;
            if !matches(&stored(state, platform, r)?, value) {
                return Err(Status::RemainingRetries(left));
            }
            let max = state.meta.pin(r).policy.max_tries;
            state.commit_meta(platform, &[Patch { offset: encode::pin_tries_offset(r), bytes: &[max] }])?;
            state.session.pin_verified = true;
            state.session.signature_armed = true;
            Ok(())
        }
    }
}

/// CHANGE REFERENCE DATA (ISO 7816-4 §11.5.7): `old‖new` for the user PIN, or the first value of the PIN or
/// PUK during personalisation (the life-cycle gate admits `NewOnly` only then).
pub fn change_reference_data<P: Platform>(
    state: &mut CardState,
    platform: &mut P,
    r: PinRef,
    mode: ChangeMode<'_>,
) -> Result<(), Status> {
    let pin = *state.meta.pin(r);
    match mode {
        ChangeMode::NewOnly(new) => {
            if !pin.policy.accepts(new) {
                return Err(Status::IncorrectData);
            }
            let record = encode::pin_record(&pin.policy, true, pin.policy.max_tries, new);
            let patches = [Patch { offset: encode::pin_offset(r), bytes: &record }, state.personalised_lc()];
            state.commit_meta(platform, &patches)
        }
        ChangeMode::OldAndNew(_) if r == PinRef::Puk => Err(Status::ConditionsOfUseNotSatisfied),
        ChangeMode::OldAndNew(data) => {
            presentable(state, r)?;
            let split = (pin.len as usize).min(data.len());
            let (old, new) = data.split_at(split);
            if !pin.policy.accepts(new) {
                return Err(Status::IncorrectData);
            }
            log_out(state);
            let left = spend_try(state, platform, r)?;
            if !matches(&stored(state, platform, r)?, old) {
                return Err(Status::RemainingRetries(left));
            }
            let record = encode::pin_record(&pin.policy, true, pin.policy.max_tries, new);
            state.commit_meta(platform, &[Patch { offset: encode::pin_offset(r), bytes: &record }])?;
            state.session.pin_verified = true;
            state.session.signature_armed = true;
            Ok(())
        }
    }
}

/// RESET RETRY COUNTER (ISO 7816-4 §11.5.10) with the PUK. The last wrong PUK blocks the card for good.
pub fn reset_retry_counter<P: Platform>(
    state: &mut CardState,
    platform: &mut P,
    r: PinRef,
    mode: ResetMode<'_>,
) -> Result<(), Status> {
    let puk = *state.meta.pin(PinRef::Puk);
    let pin = *state.meta.pin(r);
    presentable(state, PinRef::Puk)?;
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
    let left = spend_try(state, platform, PinRef::Puk)?;
    if !matches(&stored(state, platform, PinRef::Puk)?, presented) {
        if left == 0 {
            // The card is now blocked for good: no verification survives, not even one made before.
            log_out(state);
        }
        return Err(Status::RemainingRetries(left));
    }
    let mut record = match new {
        Some(value) => encode::pin_record(&pin.policy, true, pin.policy.max_tries, value),
        None => encode::pin_record(&pin.policy, true, pin.policy.max_tries, stored(state, platform, r)?.expose()),
    };
    let patches = [
        Patch { offset: encode::pin_offset(r), bytes: &record },
        Patch { offset: encode::pin_tries_offset(PinRef::Puk), bytes: &[puk.policy.max_tries] },
    ];
    let result = state.commit_meta(platform, &patches);
    zeroize::Zeroize::zeroize(&mut record[..]);
    result
}
