//! ACTIVATE FILE and TERMINATE CARD USAGE: the commands that move the life cycle (ISO 7816-9 §6.5, §6.8).
//! Which commands each life-cycle state admits is decided once, by the gate in `command.rs`.

use crate::image::{LC_OFF, VALIDITY_OFF, encode};
use crate::nvm::Patch;
use crate::platform::{Clock, Platform};
use crate::state::{CardState, Session};
use crate::status::Status;
use crate::types::{Date, LifeCycle, PinRef, Validity};

/// ACTIVATE FILE on the MF (ISO 7816-9 §6.5): end of personalisation. Records the validity window from the host
/// clock's date. Needs the PIN and PUK set.
pub fn activate<P: Platform>(state: &mut CardState, platform: &mut P) -> Result<(), Status> {
    if !state.meta.pin(PinRef::User).initialised || !state.meta.pin(PinRef::Puk).initialised {
        return Err(Status::ConditionsOfUseNotSatisfied);
    }
    let validity = Validity::from_issue(Date::from_unix(platform.clock().now()));
    let record = encode::validity(&validity);
    let patches = [
        Patch { offset: VALIDITY_OFF, bytes: &record },
        Patch { offset: LC_OFF, bytes: &[LifeCycle::Operational.to_byte()] },
    ];
    state.commit_meta(platform, &patches)
}

/// TERMINATE CARD USAGE (ISO 7816-9 §6.8): revocation, final. Needs the user PIN (or a card still in
/// personalisation, which a personaliser may scrap).
pub fn terminate<P: Platform>(state: &mut CardState, platform: &mut P) -> Result<(), Status> {
    if !state.meta.life_cycle().is_personalisation() && !state.session.pin_verified {
        return Err(Status::SecurityStatusNotSatisfied);
    }
    state.commit_meta(platform, &[Patch { offset: LC_OFF, bytes: &[LifeCycle::Terminated.to_byte()] }])?;
    state.session = Session::default();
    Ok(())
}
