//! Life cycle (ISO 7816-4 §5.3.3 table 13, ISO 7816-9) and the 3-year validity of a ZORG-ID Smartcard.
//!
//! Blank → personalised → operational; from operational the card may become blocked (PUK counter at zero, for
//! good) or terminated (TERMINATE CARD USAGE, revocation; final). Blocked is derived from the PUK counter, so the
//! same write that spends the last PUK try blocks the card: no separate state can disagree with it.

use core::fmt;

/// The life cycle of the card as a whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LifeCycle {
    /// Fresh from the factory: only the MF.
    Blank,
    /// Personalisation under way: files, keys or secrets written, not yet activated.
    Personalised,
    /// In use.
    Operational,
    /// The PUK counter reached zero: no PIN can ever be verified again.
    Blocked,
    /// TERMINATE CARD USAGE: the card refuses everything but status queries.
    Terminated,
}

impl LifeCycle {
    /// Life-cycle status byte (ISO 7816-4 table 13): `01` creation, `03` initialisation, `05` operational
    /// activated, `06` operational deactivated (blocked here), `0C` termination.
    pub const fn to_byte(self) -> u8 {
        match self {
            LifeCycle::Blank => 0x01,
            LifeCycle::Personalised => 0x03,
            LifeCycle::Operational => 0x05,
            LifeCycle::Blocked => 0x06,
            LifeCycle::Terminated => 0x0C,
        }
    }

    /// Personalisation commands (CREATE FILE, key generation and import, setting PIN/PUK) are allowed.
    pub const fn is_personalisation(self) -> bool {
        matches!(self, LifeCycle::Blank | LifeCycle::Personalised)
    }
}

impl fmt::Display for LifeCycle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LifeCycle::Blank => "blank",
            LifeCycle::Personalised => "personalised",
            LifeCycle::Operational => "operational",
            LifeCycle::Blocked => "blocked",
            LifeCycle::Terminated => "terminated",
        })
    }
}

/// A calendar date (proleptic Gregorian, UTC).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    pub year: u16,
    pub month: u8,
    pub day: u8,
}

impl Date {
    /// The UTC date of a Unix time (seconds). Howard Hinnant's `civil_from_days`.
    pub fn from_unix(seconds: u64) -> Date {
        let z = (seconds / 86_400) as i64 + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
        let year = (yoe + era * 400 + i64::from(month <= 2)) as u16;
        Date { year, month, day }
    }

    fn is_leap(year: u16) -> bool {
        (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
    }

    /// The same date `years` later; 29 February becomes 28 February in a common year.
    pub fn add_years(self, years: u16) -> Date {
        let year = self.year.saturating_add(years);
        let day = if self.month == 2 && self.day == 29 && !Self::is_leap(year) { 28 } else { self.day };
        Date { year, month: self.month, day }
    }

    /// `YYYYMMDD` in ASCII.
    pub fn to_ascii(self) -> [u8; 8] {
        let mut out = [b'0'; 8];
        let digits = [
            self.year / 1000 % 10,
            self.year / 100 % 10,
            self.year / 10 % 10,
            self.year % 10,
            u16::from(self.month / 10),
            u16::from(self.month % 10),
            u16::from(self.day / 10),
            u16::from(self.day % 10),
        ];
        for (o, d) in out.iter_mut().zip(digits) {
            *o = b'0' + d as u8;
        }
        out
    }

    pub(crate) fn to_bytes(self) -> [u8; 4] {
        let [hi, lo] = self.year.to_be_bytes();
        [hi, lo, self.month, self.day]
    }

    pub(crate) fn from_bytes(b: [u8; 4]) -> Option<Date> {
        let date = Date { year: u16::from_be_bytes([b[0], b[1]]), month: b[2], day: b[3] };
        ((1..=12).contains(&date.month) && (1..=31).contains(&date.day)).then_some(date)
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// The card's validity window, recorded at activation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Validity {
    /// The issue date: the first day the card can sign.
    pub from: Date,
    /// The same date three years later: from this day on the card is expired.
    pub until: Date,
}

/// The maximum validity of a ZORG-ID Smartcard and a UZI-pas (CPS §6.3.2; VZVZ: "vanaf nu drie jaar geldig").
pub const VALIDITY_YEARS: u16 = 3;

impl Validity {
    /// From the issue date to the same date three years later.
    pub fn from_issue(issued: Date) -> Validity {
        Validity { from: issued, until: issued.add_years(VALIDITY_YEARS) }
    }

    /// The card may use its private keys on this date.
    pub fn contains(&self, today: Date) -> bool {
        self.from <= today && today < self.until
    }
}

use heapless::Vec;

use crate::apdu::DataObject;
use crate::card::{CardState, MAX_ANSWER};
use crate::image::{LC_OFF, VALIDITY_OFF, encode};
use crate::nvm::Patch;
use crate::pin::PinRef;
use crate::platform::{Clock, Platform};
use crate::profile::APPLET_INFO;
use crate::status::Status;

impl CardState {
    /// ACTIVATE FILE on the MF (ISO 7816-9 §6.5): end of personalisation. Records the validity window from the
    /// host clock's date. Needs the PIN and PUK set.
    pub(crate) fn activate<P: Platform>(&mut self, platform: &mut P) -> Result<(), Status> {
        self.require_personalisation()?;
        if !self.meta.pin(PinRef::User).initialised || !self.meta.pin(PinRef::Puk).initialised {
            return Err(Status::ConditionsOfUseNotSatisfied);
        }
        let validity = Validity::from_issue(Date::from_unix(platform.clock().now()));
        let record = encode::validity(&validity);
        let patches = [
            Patch { offset: VALIDITY_OFF, bytes: &record },
            Patch { offset: LC_OFF, bytes: &[LifeCycle::Operational.to_byte()] },
        ];
        self.commit_meta(platform, &patches)
    }

    /// TERMINATE CARD USAGE (ISO 7816-9 §6.8): revocation, final. Needs the user PIN (or a card still in
    /// personalisation, which a personaliser may scrap).
    pub(crate) fn terminate<P: Platform>(&mut self, platform: &mut P) -> Result<(), Status> {
        if !self.meta.life_cycle().is_personalisation() && !self.session.pin_verified {
            return Err(Status::SecurityStatusNotSatisfied);
        }
        self.commit_meta(platform, &[Patch { offset: LC_OFF, bytes: &[LifeCycle::Terminated.to_byte()] }])?;
        self.session = Default::default();
        Ok(())
    }

    /// GET DATA (ISO 7816-4 §11.4.3): card status objects, readable in every life-cycle state.
    pub(crate) fn get_data(&self, object: DataObject, answer: &mut Vec<u8, MAX_ANSWER>) -> Result<(), Status> {
        fn full<E>(_: E) -> Status {
            Status::NoPreciseDiagnosis
        }
        match object {
            DataObject::AppletInfo => answer.extend_from_slice(&APPLET_INFO).map_err(full),
            DataObject::Validity => {
                let v = self.meta.validity.ok_or(Status::ReferenceNotFound)?;
                answer.extend_from_slice(&v.from.to_ascii()).map_err(full)?;
                answer.extend_from_slice(&v.until.to_ascii()).map_err(full)
            }
            DataObject::LifeCycle => answer.push(self.meta.life_cycle().to_byte()).map_err(full),
            DataObject::Serial => answer.extend_from_slice(&self.meta.serial).map_err(full),
            DataObject::Tries => {
                let (pin, puk) = (self.meta.pin(PinRef::User), self.meta.pin(PinRef::Puk));
                answer
                    .extend_from_slice(&[pin.tries_left, pin.policy.max_tries, puk.tries_left, puk.policy.max_tries])
                    .map_err(full)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_from_unix() {
        assert_eq!(Date::from_unix(0), Date { year: 1970, month: 1, day: 1 });
        // 2024-02-29T12:00:00Z
        assert_eq!(Date::from_unix(1_709_208_000), Date { year: 2024, month: 2, day: 29 });
        // 2026-11-23T00:00:00Z
        assert_eq!(Date::from_unix(1_795_392_000), Date { year: 2026, month: 11, day: 23 });
    }

    #[test]
    fn leap_day_plus_three_years_is_28_february() {
        let v = Validity::from_issue(Date { year: 2024, month: 2, day: 29 });
        assert_eq!(v.until, Date { year: 2027, month: 2, day: 28 });
        assert!(v.contains(Date { year: 2027, month: 2, day: 27 }));
        assert!(!v.contains(Date { year: 2027, month: 2, day: 28 }));
        assert!(!v.contains(Date { year: 2024, month: 2, day: 28 }));
        assert_eq!(Date { year: 2028, month: 2, day: 29 }.add_years(4).day, 29);
    }
}
