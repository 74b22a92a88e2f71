//! The shared types every other module speaks: file identifiers, PIN and key references, PIN policies, the life
//! cycle, dates and the validity window, the algorithm references of MSE.
//!
//! This is the leaf of card-os: it imports nothing of the crate but [`Status`], so every layer above (the file
//! system, the image, the state, the handlers, the dispatcher and the transport) can use it without a circle.

use core::fmt;

use heapless::Vec;

use crate::status::Status;

/// Longest DF name (ISO 7816-4 §8.2.1.2: 1 to 16 bytes).
pub const MAX_DF_NAME: usize = 16;
/// Deepest path SELECT accepts.
pub const MAX_PATH: usize = 8;
/// Longest PIN or PUK stored.
pub const MAX_PIN_LEN: usize = 16;
/// How many key slots a card has.
pub const KEY_SLOTS: usize = 3;

/// A file identifier (ISO 7816-4 §7.1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct FileId(pub u16);

impl FileId {
    /// The master file.
    pub const MF: FileId = FileId(0x3F00);
    /// `FFFF` is reserved (ISO 7816-4 §7.1.1).
    pub const RESERVED: FileId = FileId(0xFFFF);
    /// `3FFF` is reserved for "current DF" in paths.
    pub const CURRENT_DF: FileId = FileId(0x3FFF);

    /// The two bytes on the wire, big-endian.
    pub const fn to_bytes(self) -> [u8; 2] {
        self.0.to_be_bytes()
    }
}

/// A DF name (application identifier).
pub type DfName = Vec<u8, MAX_DF_NAME>;

/// A path of file identifiers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Path(pub Vec<FileId, MAX_PATH>);

impl Path {
    /// Pairs of bytes, each one FID; more than [`MAX_PATH`] answers `6700`.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Status> {
        let mut ids = Vec::new();
        for pair in bytes.chunks_exact(2) {
            let id = match pair {
                [hi, lo] => FileId(u16::from_be_bytes([*hi, *lo])),
                _ => return Err(Status::WrongLength),
            };
            ids.push(id).map_err(|_| Status::WrongLength)?;
        }
        Ok(Path(ids))
    }
}

/// Who may read or update a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// No condition.
    Always,
    /// The user PIN has been verified in this session.
    Pin,
    /// Only while the card is being personalised (blank or personalised, not yet operational).
    Personalisation,
    /// Nobody.
    Never,
}

impl Access {
    /// The byte of tag `86` (CREATE FILE) and of the image; unknown bytes answer `6A80`.
    pub fn from_byte(b: u8) -> Result<Access, Status> {
        match b {
            0x00 => Ok(Access::Always),
            0x01 => Ok(Access::Pin),
            0x02 => Ok(Access::Personalisation),
            0xFF => Ok(Access::Never),
            _ => Err(Status::IncorrectData),
        }
    }

    /// The byte of tag `86` and of the image.
    pub const fn to_byte(self) -> u8 {
        match self {
            Access::Always => 0x00,
            Access::Pin => 0x01,
            Access::Personalisation => 0x02,
            Access::Never => 0xFF,
        }
    }
}

/// Which secret a command names (P2 of VERIFY, CHANGE REFERENCE DATA, RESET RETRY COUNTER).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PinRef {
    /// `01`: the user PIN.
    User,
    /// `02`: the PUK (unblocking PIN).
    Puk,
}

impl TryFrom<u8> for PinRef {
    type Error = Status;

    /// ISO 7816-4 table 65: P2 b8 = 0 global reference; `81`/`82` (specific) are accepted as the same objects.
    fn try_from(p2: u8) -> Result<Self, Status> {
        match p2 {
            0x01 | 0x81 => Ok(PinRef::User),
            0x02 | 0x82 => Ok(PinRef::Puk),
            _ => Err(Status::ReferenceNotFound),
        }
    }
}

impl PinRef {
    /// The reference byte (P2 of VERIFY, CHANGE and RESET RETRY COUNTER; DIALECT.md): `01` PIN, `02` PUK.
    pub const fn to_byte(self) -> u8 {
        match self {
            PinRef::User => 0x01,
            PinRef::Puk => 0x02,
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
    /// Shortest value accepted.
    pub min_len: u8,
    /// Longest value accepted (at most [`MAX_PIN_LEN`]).
    pub max_len: u8,
    /// Tries before the counter blocks (1–15: they show in `63Cx`).
    pub max_tries: u8,
    /// Which characters a value may hold.
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

/// A private key reference (`84` in MSE, P2 of GENERATE / PUT DATA / INTERNAL AUTHENTICATE). The UZI-pas carries
/// three key pairs (CPS §1, table 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum KeyRef {
    /// `01`: authentication ("authenticiteit"): client authentication and signatures within a session.
    Authentication,
    /// `02`: non-repudiation signature ("handtekening"): a fresh PIN verification for every signature.
    Signature,
    /// `03`: encryption ("vertrouwelijkheid"): deciphers, never signs.
    Encryption,
}

impl TryFrom<u8> for KeyRef {
    type Error = Status;

    /// Unknown references answer `6A88`.
    fn try_from(b: u8) -> Result<Self, Status> {
        match b {
            0x01 => Ok(KeyRef::Authentication),
            0x02 => Ok(KeyRef::Signature),
            0x03 => Ok(KeyRef::Encryption),
            _ => Err(Status::ReferenceNotFound),
        }
    }
}

impl KeyRef {
    /// All references, in slot order.
    pub const ALL: [KeyRef; KEY_SLOTS] = [KeyRef::Authentication, KeyRef::Signature, KeyRef::Encryption];

    /// Unknown references answer `6A88`.
    pub fn from_byte(b: u8) -> Result<Self, Status> {
        Self::try_from(b)
    }

    /// The reference byte.
    pub const fn to_byte(self) -> u8 {
        match self {
            KeyRef::Authentication => 0x01,
            KeyRef::Signature => 0x02,
            KeyRef::Encryption => 0x03,
        }
    }

    /// Slot in the image.
    pub const fn index(self) -> usize {
        self.to_byte() as usize - 1
    }

    /// The key may sign with PSO COMPUTE DIGITAL SIGNATURE.
    pub const fn may_sign(self) -> bool {
        matches!(self, KeyRef::Authentication | KeyRef::Signature)
    }

    /// The key may answer INTERNAL AUTHENTICATE.
    pub const fn may_authenticate(self) -> bool {
        matches!(self, KeyRef::Authentication)
    }

    /// The key may decipher with PSO DECIPHER.
    pub const fn may_decipher(self) -> bool {
        matches!(self, KeyRef::Encryption)
    }
}

/// The kind of a key pair (image byte: `01` P-256, `02` RSA-2048).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyAlgorithm {
    /// ECDSA on NIST P-256 (FIPS 186-5), the key type of ZORG-ID cards that choose EC.
    P256,
    /// RSA with a 2048-bit modulus and e = 65537: the real UZI-pas (CPS UZI-register §6.1.4, §7.1.1).
    Rsa2048,
}

impl KeyAlgorithm {
    /// The image byte.
    pub const fn to_byte(self) -> u8 {
        match self {
            KeyAlgorithm::P256 => 0x01,
            KeyAlgorithm::Rsa2048 => 0x02,
        }
    }

    /// Decode the image byte.
    pub const fn from_byte(b: u8) -> Option<Self> {
        match b {
            0x01 => Some(KeyAlgorithm::P256),
            0x02 => Some(KeyAlgorithm::Rsa2048),
            _ => None,
        }
    }
}

/// The algorithm reference of MSE SET (tag `80`), in IsoApplet's numbering (OpenSC `card-isoApplet.c`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlgorithmRef {
    /// `11`: RSA with PKCS#1 v1.5 padding.
    RsaPkcs1,
    /// `12`: RSA-PSS (IsoApplet API v1 only).
    RsaPss,
    /// `21`: ECDSA.
    Ecdsa,
    /// `F3`: RSA-2048 key pair (generation and import).
    RsaGen2048,
    /// `EC`: EC key pair (generation and import).
    EcGen,
}

impl TryFrom<u8> for AlgorithmRef {
    type Error = Status;

    /// Unknown references answer `6A80`.
    fn try_from(b: u8) -> Result<Self, Status> {
        match b {
            0x11 => Ok(AlgorithmRef::RsaPkcs1),
            0x12 => Ok(AlgorithmRef::RsaPss),
            0x21 => Ok(AlgorithmRef::Ecdsa),
            0xF3 => Ok(AlgorithmRef::RsaGen2048),
            0xEC => Ok(AlgorithmRef::EcGen),
            _ => Err(Status::IncorrectData),
        }
    }
}

/// What PSO COMPUTE DIGITAL SIGNATURE does with its input, as MSE SET chose it. Each variant says who hashes:
/// the card or the host (`DIALECT.md`, "Algorithm references: who hashes").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Algorithm {
    /// No algorithm reference with an EC key: ECDSA on a hash **the host computed** (32 bytes SHA-256; 20–64
    /// bytes accepted).
    #[default]
    EcdsaPrehashed,
    /// Reference `21` in IsoApplet API v0: ECDSA over SHA-1 of the input, **hashed on the card**.
    EcdsaSha1OnCard,
    /// Reference `11` (or none) with an RSA key: the input is a DigestInfo **the host hashed and wrapped**; the
    /// card adds the PKCS#1 v1.5 type-1 padding (RFC 8017 §9.2) and signs.
    RsaPkcs1,
    /// Reference `12` with an RSA key (API v1): the input is the bare SHA-1/224/256/384/512 hash **the host
    /// computed**; the card does EMSA-PSS (RFC 8017 §9.1) with MGF1 of the same hash and a salt as long as the hash.
    RsaPss,
}

/// The IsoApplet API a card session speaks (OpenSC `card-isoApplet.c`; DIALECT.md "API v0 and v1").
///
/// A session starts in v0, what OpenSC 0.23 needs (SELECT answers major `00`). GET DATA `00 CA 01 01` answers v1,
/// and from that answer until the next reset or power-off the session speaks v1: OpenSC 0.24+ asks for it, 0.23
/// never does. The one reference whose meaning differs is `21`: v0 hashes the input with SHA-1 on the card, v1
/// takes the hash from the host. `12` (RSA-PSS) exists only in v1.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ApiVersion {
    /// IsoApplet API 0.6: the SELECT answer.
    #[default]
    V0,
    /// IsoApplet API 1.0: after GET DATA `01 01`.
    V1,
}

/// Where a key came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyOrigin {
    /// GENERATE ASYMMETRIC KEY PAIR on the card (ZORG-ID Smartcard).
    Generated,
    /// Injected by the personaliser with PUT DATA (UZI-pas: CPS §6.1.1, keys made in the personaliser's HSM).
    Imported,
}

/// The life cycle of the card as a whole (ISO 7816-4 §5.3.3 table 13, ISO 7816-9).
///
/// Blank → personalised → operational; from operational the card may become blocked (PUK counter at zero, for
/// good) or terminated (TERMINATE CARD USAGE, revocation; final). Blocked is derived from the PUK counter, so the
/// same write that spends the last PUK try blocks the card: no separate state can disagree with it.
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

    /// The persisted life-cycle byte (blocked is derived, never stored).
    pub const fn from_stored_byte(b: u8) -> Option<LifeCycle> {
        match b {
            0x01 => Some(LifeCycle::Blank),
            0x03 => Some(LifeCycle::Personalised),
            0x05 => Some(LifeCycle::Operational),
            0x0C => Some(LifeCycle::Terminated),
            _ => None,
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

/// A PIN counter as seen from outside.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tries {
    /// A value has been set.
    pub initialised: bool,
    /// Tries left.
    pub left: u8,
    /// Tries a correct value gives back.
    pub max: u8,
}

/// A calendar date (proleptic Gregorian, UTC).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    /// The year, e.g. 2026.
    pub year: u16,
    /// 1–12.
    pub month: u8,
    /// 1–31.
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
        digits.map(|d| b'0' + d as u8)
    }

    /// The image encoding: year (2 bytes, big-endian), month, day.
    pub fn to_bytes(self) -> [u8; 4] {
        let [hi, lo] = self.year.to_be_bytes();
        [hi, lo, self.month, self.day]
    }

    /// Decode the image encoding; an impossible month or day is `None`.
    pub fn from_bytes(b: [u8; 4]) -> Option<Date> {
        let [hi, lo, month, day] = b;
        let date = Date { year: u16::from_be_bytes([hi, lo]), month, day };
        ((1..=12).contains(&date.month) && (1..=31).contains(&date.day)).then_some(date)
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// The maximum validity of a ZORG-ID Smartcard and a UZI-pas (CPS §6.3.2; VZVZ: "vanaf nu drie jaar geldig").
pub const VALIDITY_YEARS: u16 = 3;

/// The card's validity window, recorded at activation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Validity {
    /// The issue date: the first day the card can sign.
    pub from: Date,
    /// The same date three years later: from this day on the card is expired.
    pub until: Date,
}

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
