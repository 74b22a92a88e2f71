//! GET DATA (ISO 7816-4 §11.4.3): the card's status objects, readable in every life-cycle state; and GET
//! CHALLENGE (§11.5.3).

use crate::platform::Platform;
use crate::profile::APPLET_INFO_V1;
use crate::state::{Answer, CardState};
use crate::status::Status;
use crate::types::{ApiVersion, PinRef};

/// GET DATA objects (P1-P2; tags in the `DF` proprietary range).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataObject {
    /// `0101`: IsoApplet API version and features (v1; switches the session to v1).
    AppletInfo,
    /// `DF30`: validity window.
    Validity,
    /// `DF31`: life cycle.
    LifeCycle,
    /// `DF32`: serial number.
    Serial,
    /// `DF33`: PIN and PUK tries.
    Tries,
}

impl TryFrom<(u8, u8)> for DataObject {
    type Error = Status;

    /// Unknown objects answer `6A88`.
    fn try_from(p1p2: (u8, u8)) -> Result<Self, Status> {
        match p1p2 {
            (0x01, 0x01) => Ok(DataObject::AppletInfo),
            (0xDF, 0x30) => Ok(DataObject::Validity),
            (0xDF, 0x31) => Ok(DataObject::LifeCycle),
            (0xDF, 0x32) => Ok(DataObject::Serial),
            (0xDF, 0x33) => Ok(DataObject::Tries),
            _ => Err(Status::ReferenceNotFound),
        }
    }
}

/// GET DATA (ISO 7816-4 §11.4.3). `0101` answers IsoApplet API v1 and switches the session to v1.
pub fn get_data(state: &mut CardState, object: DataObject, answer: &mut Answer) -> Result<(), Status> {
    fn full<E>(_: E) -> Status {
        Status::NoPreciseDiagnosis
    }
    let meta = &state.meta;
    match object {
        DataObject::AppletInfo => {
            answer.extend_from_slice(&APPLET_INFO_V1).map_err(full)?;
            state.session.api = ApiVersion::V1;
            Ok(())
        }
        DataObject::Validity => {
            let v = meta.validity.ok_or(Status::ReferenceNotFound)?;
            answer.extend_from_slice(&v.from.to_ascii()).map_err(full)?;
            answer.extend_from_slice(&v.until.to_ascii()).map_err(full)
        }
        DataObject::LifeCycle => answer.push(meta.life_cycle().to_byte()).map_err(full),
        DataObject::Serial => answer.extend_from_slice(&meta.serial).map_err(full),
        DataObject::Tries => {
            let (pin, puk) = (meta.pin(PinRef::User), meta.pin(PinRef::Puk));
            answer
                .extend_from_slice(&[pin.tries_left, pin.policy.max_tries, puk.tries_left, puk.policy.max_tries])
                .map_err(full)
        }
    }
}

/// GET CHALLENGE (ISO 7816-4 §11.5.3): `len` bytes from the platform's RNG.
pub fn get_challenge<P: Platform>(platform: &mut P, len: usize, answer: &mut Answer) -> Result<(), Status> {
    let start = answer.len();
    answer.resize(start + len, 0).map_err(|_| Status::WrongLength)?;
    let fresh = answer.get_mut(start..).ok_or(Status::WrongLength)?;
    rand_core::Rng::fill_bytes(platform.rng(), fresh);
    Ok(())
}
