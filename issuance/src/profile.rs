//! Card profiles as data: `fixtures/profiles/<name>.toml`.
//!
//! A profile says what kind of card a fixture is (UZI-pas Z/N/M or ZORG-ID Smartcard), its ATR
//! and serial, whether it leaves the factory personalised, where its keys come from, which key
//! references it carries, who holds it, and its PIN/PUK policy. [`load`] reads one, checks
//! every field against the UZI-register CPS and ISO/IEC 7816-3, and reports a problem with the
//! file, the field and the fix.
//!
//! The file format (`format = 1`):
//!
//! ```toml
//! format = 1
//! description = "UZI-pas zorgverlenerpas (Z) of a fictitious GP"
//! kind = "uzi"                # "uzi" or "zorg-id"
//! holder_type = "Z"           # UZI only: "Z", "N" or "M"
//! atr = "3B DC 18 FF 81 91 FE 1F C3 06 0A 2B 06 01 04 01 E9 10 05 02 03 D1"
//! serial = "9000000000000001" # printable ASCII, at most 16 characters
//! personalised = true
//! key_source = "injected"     # UZI: "injected" (CPS 6.1.1); ZORG-ID: "on-card"
//! keys = [1, 2, 3]            # key references: 1 authentication, 2 signature, 3 encryption
//! key_type = "rsa-2048"       # optional: "rsa-2048" (default, CPS 6.1.4) or "p-256", for every key
//! oid_ca = "test"             # optional, UZI only: "test" (default, 2.16.528.1.1007.99.217 on a Z pass) or
//!                             # "production" (2.16.528.1.1003.1.3.5.5.2, CPS 7.1.5 Table 11), the 2.5.5.5 OID CA
//!
//! [key_types]                 # optional: one key of another type, by reference
//! 3 = "p-256"
//!
//! [pin]
//! value = "123456"
//! min_len = 6
//! max_len = 8
//! max_tries = 3
//!
//! [puk]
//! value = "12345678"
//! min_len = 6
//! max_len = 16
//! max_tries = 3
//!
//! [holder]                    # absent on a card that is not personalised
//! uzi_number = "900016528"
//! given_name = "Jan"
//! surname = "Test"
//! common_name = "Jan Test"
//! title = "Huisarts"          # Z cards only
//! organisation = "Test Zorginstelling 01"
//! subscriber_number = "90000001"
//! role = "01.015"
//! agb_code = "00000000"
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use fixtures::format::DisplayPath;
use fixtures::format::{self, FixtureError, FixtureFormat, FixtureText};
use fixtures::{self, FixtureKind};

pub use crate::pki::{HolderType, OidCa};

/// The profile file format this module reads.
pub const FORMAT_VERSION: i64 = 1;

/// The fixture profiles shipped in `fixtures/profiles/`, in the order the suite checks them.
pub const PROFILE_NAMES: [&str; 6] =
    ["uzi-zorgverlener", "uzi-medewerker", "uzi-medewerker-niet-op-naam", "zorg-id", "zorg-id-ec", "zorg-id-blank"];

/// A card profile, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// The profile's name: the file stem, e.g. `uzi-zorgverlener`.
    pub name: String,
    /// One line saying what card this is.
    pub description: String,
    /// UZI-pas (with its holder type) or ZORG-ID Smartcard.
    pub kind: CardKind,
    /// Answer-to-reset, checked per ISO/IEC 7816-3 §8.
    pub atr: Vec<u8>,
    /// Card serial number (GET DATA `DF32`, PKCS#15 TokenInfo), printable ASCII, ≤ 16
    /// characters (the PKCS#11 `serialNumber` width).
    pub serial: String,
    /// `false` for a blank card that leaves the factory unpersonalised (`zorg-id-blank`).
    pub personalised: bool,
    /// Where the private keys come from.
    pub key_source: KeySource,
    /// Key references present: UZI Z/N and ZORG-ID `1, 2, 3`; UZI M `1, 3` (no signature
    /// key); none on a blank card.
    pub keys: Vec<u8>,
    /// The key type of each key reference in [`Profile::keys`], in the same order.
    pub key_types: Vec<KeyType>,
    /// The card holder; `None` exactly when the card is not personalised.
    pub holder: Option<HolderSpec>,
    /// Which UZI-register OID CA the 2.5.5.5 otherName starts with (CPS UZI-register v10.2 §7.1.5 Table 11):
    /// TEST unless the profile says `oid_ca = "production"`; always TEST for a ZORG-ID Smartcard.
    pub oid_ca: OidCa,
    /// User PIN value and policy.
    pub pin: PinSettings,
    /// PUK value and policy.
    pub puk: PinSettings,
}

/// What kind of card a profile describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CardKind {
    /// UZI-pas of the given holder type (CPS UZI-register §1.3).
    Uzi(HolderType),
    /// ZORG-ID Smartcard.
    ZorgId,
}

/// Where a card's private keys are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeySource {
    /// Generated off-card and injected by the personaliser (UZI-pas, CPS UZI-register §6.1.1);
    /// DIALECT.md PUT DATA `00 DA 01 <ref>`.
    Injected,
    /// Generated on the chip (ZORG-ID); DIALECT.md GENERATE ASYMMETRIC KEY PAIR.
    OnCard,
}

/// The type of a key pair on the card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Default)]
pub enum KeyType {
    /// RSA-2048, e = 65537: the real UZI-pas (CPS UZI-register §6.1.4, §7.1.1) and the ZORG-ID default.
    #[default]
    #[serde(rename = "rsa-2048")]
    Rsa2048,
    /// ECDSA P-256: a project choice for EC cards, not on a real UZI-pas.
    #[serde(rename = "p-256")]
    P256,
}

impl Profile {
    /// The type of the key with this reference (RSA-2048 for a reference the card does not carry).
    pub fn key_type(&self, key_ref: u8) -> KeyType {
        self.keys.iter().position(|k| *k == key_ref).and_then(|i| self.key_types.get(i).copied()).unwrap_or_default()
    }
}

/// The card holder as the certificates name them (CPS UZI-register §3.1, §7.1).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HolderSpec {
    /// UZI number: 9 digits.
    pub uzi_number: String,
    /// givenName; required for Z, N and ZORG-ID, absent for M.
    #[serde(default)]
    pub given_name: Option<String>,
    /// surname; required for Z, N and ZORG-ID, absent for M.
    #[serde(default)]
    pub surname: Option<String>,
    /// commonName: the full name, or for an M card the function.
    pub common_name: String,
    /// title (the profession); required for Z, absent otherwise.
    #[serde(default)]
    pub title: Option<String>,
    /// organizationName: the subscriber.
    pub organisation: String,
    /// Subscriber number (URA): 8 digits.
    pub subscriber_number: String,
    /// Role code `NN.NNN`, e.g. `01.015`.
    pub role: String,
    /// AGB code: 8 digits (`00000000` when the holder has none).
    pub agb_code: String,
}

/// A PIN or PUK: the value a fixture card is personalised with, and the chip's policy.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PinSettings {
    /// The value set at personalisation.
    pub value: String,
    /// Shortest allowed value.
    pub min_len: u8,
    /// Longest allowed value.
    pub max_len: u8,
    /// Wrong tries before blocking.
    pub max_tries: u8,
}

/// Why a profile could not be loaded. Every message names the file, the problem and the fix.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// Neither a profile of the fixture set ([`fixtures::active`]) nor a path to a `.toml` file.
    #[error("no profile named `{name}`: use one of {known} (the profiles in {folder}) or a path to a .toml file")]
    UnknownName {
        /// What was asked for.
        name: String,
        /// The known names, comma-separated.
        known: String,
        /// The folder of profiles searched, as shown in messages.
        folder: String,
    },
    /// The file is unreadable, not TOML, not the profile format, or a field has a value this card cannot have.
    #[error(transparent)]
    Fixture(#[from] FixtureError),
}

/// The file of the profile `name` in the fixture set ([`fixtures::active`]), whether or not it exists.
pub fn profile_path(name: &str) -> PathBuf {
    fixtures::active().path(FixtureKind::Profile, name)
}

/// Load a profile: the name of one in the fixture set ([`PROFILE_NAMES`] for the embedded set) or a path to a
/// `.toml` file, read from disk. Never writes to the file.
pub fn load(name_or_path: &str) -> Result<Profile, ProfileError> {
    let set = fixtures::active();
    let is_path = name_or_path.ends_with(".toml") || name_or_path.contains(['/', '\\']);
    let path = if is_path {
        PathBuf::from(name_or_path)
    } else if set.contains(FixtureKind::Profile, name_or_path) {
        profile_path(name_or_path)
    } else {
        return Err(ProfileError::UnknownName {
            name: name_or_path.to_owned(),
            known: set.names(FixtureKind::Profile).iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", "),
            folder: fixtures::display(&set.folder(FixtureKind::Profile)),
        });
    };
    load_path(&path)
}

/// Load the profile in the file at `path`.
pub fn load_path(path: &Path) -> Result<Profile, ProfileError> {
    let text = format::read(FixtureFormat::Profile, path)?;
    let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    parse(&name, path, &text)
}

/// Parse and validate profile text; `path` is only used in messages.
pub fn parse(name: &str, path: &Path, text: &str) -> Result<Profile, ProfileError> {
    let ctx = Ctx { file: FixtureText::new(FixtureFormat::Profile, path, text) };
    ctx.file.check_version(FORMAT_VERSION)?;
    let raw: RawProfile = ctx.file.deserialize()?;
    ctx.validate(name, raw)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    #[allow(dead_code)]
    format: i64,
    description: String,
    kind: RawKind,
    #[serde(default)]
    holder_type: Option<HolderType>,
    atr: String,
    serial: String,
    personalised: bool,
    key_source: KeySource,
    keys: Vec<u8>,
    #[serde(default)]
    key_type: KeyType,
    #[serde(default)]
    key_types: std::collections::BTreeMap<String, KeyType>,
    #[serde(default)]
    holder: Option<HolderSpec>,
    #[serde(default)]
    oid_ca: OidCa,
    pin: PinSettings,
    puk: PinSettings,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "kebab-case")]
enum RawKind {
    Uzi,
    ZorgId,
}

/// Longest PIN or PUK OpenSC handles (`SC_MAX_PIN_SIZE`).
const MAX_SECRET_LEN: u8 = 16;

struct Ctx<'a> {
    file: FixtureText<'a>,
}

impl Ctx<'_> {
    fn field(&self, field: &str, problem: impl Into<String>, fix: impl Into<String>) -> ProfileError {
        self.file.field(field, problem, fix).into()
    }

    fn validate(&self, name: &str, raw: RawProfile) -> Result<Profile, ProfileError> {
        if raw.description.trim().is_empty() {
            return Err(self.field("description", "is empty", "say in one line what card this is"));
        }

        let kind = match (raw.kind, raw.holder_type) {
            (RawKind::Uzi, Some(t)) => CardKind::Uzi(t),
            (RawKind::Uzi, None) => {
                return Err(self.field(
                    "holder_type",
                    "missing for a UZI-pas",
                    "add holder_type = \"Z\", \"N\" or \"M\"",
                ));
            }
            (RawKind::ZorgId, None) => CardKind::ZorgId,
            (RawKind::ZorgId, Some(_)) => {
                return Err(self.field(
                    "holder_type",
                    "a ZORG-ID Smartcard has no UZI holder type",
                    "remove holder_type",
                ));
            }
        };

        let atr = self.atr(&raw.atr)?;
        self.serial(&raw.serial)?;
        if kind == CardKind::ZorgId && raw.oid_ca == OidCa::Production {
            return Err(self.field(
                "oid_ca",
                "the ZORG-ID Smartcard CA has no production OID CA, only this project's TEST one (2.16.528.1.1007.99.400)",
                "remove oid_ca, or set oid_ca = \"test\"",
            ));
        }
        self.key_source(kind, raw.key_source)?;
        self.keys(kind, raw.personalised, &raw.keys)?;
        let mut key_types = vec![raw.key_type; raw.keys.len()];
        for (reference, key_type) in &raw.key_types {
            let index = reference.parse::<u8>().ok().and_then(|r| raw.keys.iter().position(|k| *k == r));
            let Some(index) = index else {
                return Err(self.field(
                    "key_types",
                    format!("`{reference}` is not one of the card's key references {:?}", raw.keys),
                    "name a key reference from `keys`, e.g. `3 = \"p-256\"`",
                ));
            };
            key_types[index] = *key_type;
        }
        self.secret("pin", &raw.pin, false)?;
        self.secret("puk", &raw.puk, true)?;

        match (&raw.holder, raw.personalised) {
            (Some(h), true) => self.holder(kind, h)?,
            (None, true) => {
                return Err(self.field(
                    "holder",
                    "a personalised card needs a holder",
                    "add a [holder] table, or set personalised = false",
                ));
            }
            (Some(_), false) => {
                return Err(self.field(
                    "holder",
                    "a card that is not personalised has no holder yet",
                    "remove the [holder] table, or set personalised = true",
                ));
            }
            (None, false) => {}
        }

        Ok(Profile {
            name: name.to_owned(),
            description: raw.description,
            kind,
            atr,
            serial: raw.serial,
            personalised: raw.personalised,
            key_source: raw.key_source,
            keys: raw.keys,
            key_types,
            holder: raw.holder,
            oid_ca: raw.oid_ca,
            pin: raw.pin,
            puk: raw.puk,
        })
    }

    fn atr(&self, text: &str) -> Result<Vec<u8>, ProfileError> {
        let bytes = format::parse_hex(text).map_err(|e| {
            self.field(
                "atr",
                format!("`{text}` is not hex bytes ({e})"),
                "write the ATR as hex bytes, e.g. \"3B 8C 80 01 …\"",
            )
        })?;
        check_atr(&bytes).map_err(|problem| self.field("atr", problem, "fix the ATR"))?;
        Ok(bytes)
    }

    fn serial(&self, serial: &str) -> Result<(), ProfileError> {
        if serial.is_empty() || serial.len() > 16 || !serial.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(self.field(
                "serial",
                format!(
                    "`{serial}` is not 1 to 16 printable ASCII characters without spaces (PKCS#11 serialNumber is 16 characters)"
                ),
                "use e.g. 16 digits such as \"9000000000000001\"",
            ));
        }
        Ok(())
    }

    fn key_source(&self, kind: CardKind, source: KeySource) -> Result<(), ProfileError> {
        match (kind, source) {
            (CardKind::Uzi(_), KeySource::Injected) | (CardKind::ZorgId, KeySource::OnCard) => {
                Ok(())
            }
            (CardKind::Uzi(_), KeySource::OnCard) => Err(self.field(
                "key_source",
                "UZI-pas keys are generated by the UZI-register and injected at personalisation (CPS UZI-register 6.1.1)",
                "set key_source = \"injected\"",
            )),
            (CardKind::ZorgId, KeySource::Injected) => Err(self.field(
                "key_source",
                "ZORG-ID Smartcard keys are generated on the card",
                "set key_source = \"on-card\"",
            )),
        }
    }

    fn keys(&self, kind: CardKind, personalised: bool, keys: &[u8]) -> Result<(), ProfileError> {
        let expected: &[u8] = match (personalised, kind) {
            (false, _) => &[],
            (true, CardKind::Uzi(HolderType::M)) => &[1, 3],
            (true, _) => &[1, 2, 3],
        };
        if keys == expected {
            return Ok(());
        }
        let problem = match (personalised, kind) {
            (false, _) => format!("{keys:?}: a card that is not personalised has no keys yet"),
            (true, CardKind::Uzi(HolderType::M)) if keys.contains(&2) => format!(
                "{keys:?}: an UZI-pas medewerker niet op naam (M) has no signature key (key 2): it is bound to a function, not a person"
            ),
            (true, CardKind::Uzi(t)) => format!(
                "{keys:?}: an UZI-pas of type {} carries keys {expected:?} (1 authentication, 2 signature, 3 encryption)",
                t.letter()
            ),
            (true, CardKind::ZorgId) => format!(
                "{keys:?}: a ZORG-ID Smartcard carries keys {expected:?} (1 authentication, 2 signature, 3 encryption)"
            ),
        };
        Err(self.field("keys", problem, format!("set keys = {expected:?}")))
    }

    fn secret(&self, table: &str, s: &PinSettings, is_puk: bool) -> Result<(), ProfileError> {
        let name = if is_puk { "PUK" } else { "PIN" };
        let lowest = if is_puk { 6 } else { 1 };
        if s.min_len < lowest || s.min_len > s.max_len || s.max_len > MAX_SECRET_LEN {
            return Err(self.field(
                &format!("{table}.min_len"),
                format!(
                    "lengths {}..={} are not a {name} policy ({lowest} <= min_len <= max_len <= {MAX_SECRET_LEN})",
                    s.min_len, s.max_len
                ),
                if is_puk { "use e.g. min_len = 6, max_len = 16" } else { "use e.g. min_len = 6, max_len = 8" },
            ));
        }
        if !(1..=15).contains(&s.max_tries) {
            return Err(self.field(
                &format!("{table}.max_tries"),
                format!("{} tries does not fit the 63Cx status word (1 to 15)", s.max_tries),
                "use max_tries = 3",
            ));
        }
        let field = format!("{table}.value");
        if is_puk && !s.value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(self.field(
                &field,
                format!("the PUK `{}` has characters other than digits", s.value),
                "use digits only, e.g. \"12345678\"",
            ));
        }
        if !is_puk && !s.value.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
            return Err(self.field(
                &field,
                format!("the PIN `{}` has characters other than printable ASCII", s.value),
                "use printable characters, e.g. \"123456\"",
            ));
        }
        let len = s.value.len();
        if len < usize::from(s.min_len) || len > usize::from(s.max_len) {
            return Err(self.field(
                &field,
                format!(
                    "the {name} `{}` has {len} characters, outside its own policy {}..={}",
                    s.value, s.min_len, s.max_len
                ),
                if is_puk {
                    "use the test PUK \"12345678\" or change min_len/max_len"
                } else {
                    "use the test PIN \"123456\" or change min_len/max_len"
                },
            ));
        }
        Ok(())
    }

    fn holder(&self, kind: CardKind, h: &HolderSpec) -> Result<(), ProfileError> {
        let digits = |field: &str, value: &str, n: usize, what: &str, example: &str| {
            if value.len() == n && value.bytes().all(|b| b.is_ascii_digit()) {
                Ok(())
            } else {
                Err(self.field(
                    field,
                    format!("`{value}` is not {n} digits ({what})"),
                    format!("use {n} digits, e.g. \"{example}\""),
                ))
            }
        };
        digits("holder.uzi_number", &h.uzi_number, 9, "an UZI number", "900016528")?;
        digits("holder.subscriber_number", &h.subscriber_number, 8, "a URA subscriber number", "90000001")?;
        digits("holder.agb_code", &h.agb_code, 8, "an AGB code; 00000000 when there is none", "00000000")?;
        let role = h.role.as_bytes();
        let role_ok =
            role.len() == 6 && role[2] == b'.' && role.iter().enumerate().all(|(i, b)| i == 2 || b.is_ascii_digit());
        if !role_ok {
            return Err(self.field(
                "holder.role",
                format!("`{}` is not a role code NN.NNN", h.role),
                "use e.g. \"01.015\"",
            ));
        }
        for (field, value) in [("holder.common_name", &h.common_name), ("holder.organisation", &h.organisation)] {
            if value.trim().is_empty() {
                return Err(self.field(field, "is empty", "fill it in"));
            }
        }

        let named = !matches!(kind, CardKind::Uzi(HolderType::M));
        let who = match kind {
            CardKind::Uzi(t) => format!("an UZI-pas of type {}", t.letter()),
            CardKind::ZorgId => "a ZORG-ID Smartcard".to_owned(),
        };
        for (field, value) in [("holder.given_name", &h.given_name), ("holder.surname", &h.surname)] {
            match (named, value) {
                (true, None) => {
                    return Err(self.field(field, format!("missing: {who} is issued to a named person"), "add it"));
                }
                (true, Some(v)) if v.trim().is_empty() => {
                    return Err(self.field(field, "is empty", "fill it in"));
                }
                (false, Some(_)) => {
                    return Err(self.field(
                        field,
                        "an UZI-pas medewerker niet op naam (M) names a function, not a person",
                        "remove it and put the function in common_name",
                    ));
                }
                _ => {}
            }
        }
        match (kind, &h.title) {
            (CardKind::Uzi(HolderType::Z), None) => Err(self.field(
                "holder.title",
                "missing: a zorgverlenerpas (Z) carries the holder's profession",
                "add e.g. title = \"Huisarts\"",
            )),
            (CardKind::Uzi(HolderType::Z), Some(t)) if t.trim().is_empty() => {
                Err(self.field("holder.title", "is empty", "fill it in"))
            }
            (CardKind::Uzi(HolderType::Z), Some(_)) | (_, None) => Ok(()),
            (_, Some(_)) => Err(self.field(
                "holder.title",
                format!("only a zorgverlenerpas (Z) carries a title, not {who}"),
                "remove it",
            )),
        }
    }
}

/// Check an ATR per ISO/IEC 7816-3 §8.2: TS, the interface bytes announced by T0 and TDi,
/// the historical byte count, and TCK (present, and XOR of T0..TCK = 0, whenever a protocol
/// other than T=0 is indicated). Returns what is wrong.
pub fn check_atr(atr: &[u8]) -> Result<(), String> {
    let ts = *atr.first().ok_or("the ATR is empty")?;
    if ts != 0x3B && ts != 0x3F {
        return Err(format!("TS is 0x{ts:02X}; it must be 0x3B (direct convention) or 0x3F (inverse convention)"));
    }
    if atr.len() > 33 {
        return Err(format!("{} bytes; an ATR has at most 33 (ISO/IEC 7816-3 §8.2.1)", atr.len()));
    }
    let t0 = *atr.get(1).ok_or("T0 is missing after TS")?;
    let historical = usize::from(t0 & 0x0F);
    let mut y = t0 >> 4;
    let mut i = 2;
    let mut needs_tck = false;
    let mut level = 1;
    loop {
        let interface = (y & 0x07).count_ones() as usize;
        i += interface;
        if y & 0x08 == 0 {
            break;
        }
        let td =
            *atr.get(i).ok_or_else(|| format!("TD{level} is announced but the ATR ends after {} bytes", atr.len()))?;
        if td & 0x0F != 0 {
            needs_tck = true;
        }
        y = td >> 4;
        i += 1;
        level += 1;
    }
    let expected = i + historical + usize::from(needs_tck);
    if atr.len() != expected {
        return Err(format!(
            "{} bytes, but T0 (0x{t0:02X}: {historical} historical bytes) and the interface bytes announce {expected}{}",
            atr.len(),
            if needs_tck { " including TCK" } else { " (T=0 only, no TCK)" }
        ));
    }
    if needs_tck {
        let tck = atr[atr.len() - 1];
        let xor = atr[1..atr.len() - 1].iter().fold(0u8, |a, b| a ^ b);
        if xor != tck {
            return Err(format!("TCK byte is 0x{tck:02X} but the XOR of T0..last is 0x{xor:02X}"));
        }
    }
    Ok(())
}
