//! Data-driven APDU check scripts: `fixtures/scripts/*.toml`, the card-conformance checks as data.
//!
//! A script is a name, a description, the profiles it applies to and ordered steps; each step sends a command (raw
//! hex, or a named helper such as `verify`, `read_file` or `sign` that reads better than hex) and says what the card
//! must answer. Being data, the same file runs against the in-process reader and a card in pcscd (the runner is
//! [`crate::suite`]). The format is documented for script authors in `fixtures/scripts/README.md`; this module
//! parses it and refuses a bad file with the file, the line and the field.
//!
//! Secrets stay out of reports: `${PIN}`, `${PUK}` and friends ([`Vars`]) are expanded only when a command is
//! built, and step labels are made from the unexpanded text.

use std::fmt;
use std::path::{Path, PathBuf};

use card_os::Status;
use card_os::types::FileId;
use serde::Deserialize;
use toml::Spanned;

use crate::fixture_format::{self, FixtureError, FixtureFormat, FixtureText};
use crate::issuance::profile::{CardKind, DisplayPath, KeyType, PROFILE_NAMES, Profile};

/// The script file format this module reads.
pub const FORMAT_VERSION: i64 = 1;

/// Where the shipped scripts live: `<workspace>/fixtures/scripts`.
pub fn scripts_dir() -> PathBuf {
    crate::issuance::profile::fixtures_dir().join("scripts")
}

/// A loaded, checked script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Script {
    /// Unique name, e.g. `pin-counters`.
    pub name: String,
    /// One line saying what it checks.
    pub description: String,
    /// The file it came from.
    pub file: PathBuf,
    /// The profiles it applies to: it runs when any selector matches.
    pub applies_to: Vec<Selector>,
    /// Leaves the card unusable for good (PUK blocked, terminated): only run on a fresh simulated card.
    pub destructive: bool,
    /// What to do after a failed step.
    pub on_failure: OnFailure,
    /// The checks, in order.
    pub steps: Vec<Step>,
    /// Run only after a failed step, to put a real card back as it was (e.g. unblock the PIN with the PUK).
    pub restore: Vec<Step>,
}

/// Which cards a script is for (`applies_to`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selector {
    /// `all`: every card.
    All,
    /// `personalised`: cards with keys, certificates and a PIN.
    Personalised,
    /// `blank`: cards not yet personalised.
    Blank,
    /// `uzi`: any UZI-pas.
    Uzi,
    /// `zorg-id`: any ZORG-ID Smartcard (personalised or blank).
    ZorgId,
    /// `signature-key`: personalised cards with key `02` (non-repudiation).
    SignatureKey,
    /// `no-signature-key`: personalised cards without key `02` (UZI-pas M).
    NoSignatureKey,
    /// `uzi-with-signature-key`: UZI-pas Z and N.
    UziWithSignatureKey,
    /// `rsa-key:N`: personalised cards whose key `N` is RSA-2048.
    RsaKey(u8),
    /// `p256-key:N`: personalised cards whose key `N` is P-256.
    P256Key(u8),
    /// `decipher`: personalised cards whose encryption key `03` is RSA-2048, so PSO DECIPHER works.
    Decipher,
    /// A profile by name: a shipped one (`uzi-medewerker`) or `profile:NAME` for any other.
    Profile(String),
}

impl Selector {
    /// The selector words, for messages.
    pub const WORDS: [&'static str; 11] = [
        "all",
        "personalised",
        "blank",
        "uzi",
        "zorg-id",
        "signature-key",
        "no-signature-key",
        "uzi-with-signature-key",
        "rsa-key:N",
        "p256-key:N",
        "decipher",
    ];

    fn parse(s: &str) -> Option<Selector> {
        Some(match s {
            "all" => Selector::All,
            "personalised" => Selector::Personalised,
            "blank" => Selector::Blank,
            "uzi" => Selector::Uzi,
            "zorg-id" => Selector::ZorgId,
            "signature-key" => Selector::SignatureKey,
            "no-signature-key" => Selector::NoSignatureKey,
            "uzi-with-signature-key" => Selector::UziWithSignatureKey,
            "decipher" => Selector::Decipher,
            typed if typed.starts_with("rsa-key:") || typed.starts_with("p256-key:") => {
                let (kind, n) = typed.split_once(':')?;
                let key = n.trim().parse::<u8>().ok().filter(|k| (1..=3).contains(k))?;
                if kind == "rsa-key" { Selector::RsaKey(key) } else { Selector::P256Key(key) }
            }
            name if PROFILE_NAMES.contains(&name) => Selector::Profile(name.to_owned()),
            other => Selector::Profile(other.strip_prefix("profile:").filter(|n| !n.is_empty())?.to_owned()),
        })
    }

    /// Whether this selector takes `profile`.
    pub fn matches(&self, profile: &Profile) -> bool {
        let signature = profile.personalised && profile.keys.contains(&2);
        let typed = |key: u8, kind: KeyType| {
            profile.personalised && profile.keys.contains(&key) && profile.key_type(key) == kind
        };
        match self {
            Selector::All => true,
            Selector::Personalised => profile.personalised,
            Selector::Blank => !profile.personalised,
            Selector::Uzi => matches!(profile.kind, CardKind::Uzi(_)),
            Selector::ZorgId => profile.kind == CardKind::ZorgId,
            Selector::SignatureKey => signature,
            Selector::NoSignatureKey => profile.personalised && !signature,
            Selector::UziWithSignatureKey => signature && matches!(profile.kind, CardKind::Uzi(_)),
            Selector::RsaKey(key) => typed(*key, KeyType::Rsa2048),
            Selector::P256Key(key) => typed(*key, KeyType::P256),
            Selector::Decipher => typed(3, KeyType::Rsa2048),
            Selector::Profile(name) => profile.name == *name,
        }
    }
}

impl Script {
    /// Whether the script runs against a card of `profile`.
    pub fn applies_to_profile(&self, profile: &Profile) -> bool {
        self.applies_to.iter().any(|s| s.matches(profile))
    }

    /// The file as shown in reports: `fixtures/scripts/x.toml` for shipped scripts.
    pub fn display_file(&self) -> String {
        DisplayPath(self.file.clone()).to_string()
    }
}

/// After a failed step: stop (the default: a card in an unexpected state must not be sent more PINs) or go on
/// (for scripts of independent checks, such as malformed commands).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnFailure {
    /// Skip the remaining steps, then run the `[[restore]]` steps.
    #[default]
    Stop,
    /// Run every step anyway.
    Continue,
}

/// One step: what to send and what to expect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// Line of the step's `[[step]]` header in the file.
    pub line: usize,
    /// The step's `name`, or a label made from the unexpanded command.
    pub label: String,
    /// What to do.
    pub action: Action,
    /// What the card must answer.
    pub expect: Expect,
}

/// What a step does. Text fields are templates: `${VAR}` is expanded per profile ([`Vars`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// `apdu = "00 A4 …"`: send these bytes as they are (no GET RESPONSE follows a `61xx`).
    Apdu(String),
    /// `verify = "${PIN}"`: VERIFY `00 20 00 01` with this PIN.
    Verify(String),
    /// `unblock = "${PUK}"` (and optional `new_pin`): RESET RETRY COUNTER `00 2C 01 01` / `00 2C 00 01`.
    Unblock {
        /// PUK template.
        puk: String,
        /// New PIN template (P1 `00`), or keep the PIN (P1 `01`).
        new_pin: Option<String>,
    },
    /// `change_pin = { old, new }`: CHANGE REFERENCE DATA `00 24 00 01 old‖new`.
    ChangePin {
        /// Current PIN template.
        old: String,
        /// New PIN template.
        new: String,
    },
    /// `select_path = "5015/4301"`: SELECT by path from the MF, no answer data (`00 A4 08 0C`).
    SelectPath(Vec<u16>),
    /// `read_file = "5015/4301"`: SELECT with FCP, then READ BINARY of the whole EF.
    ReadFile(Vec<u16>),
    /// `get_data = "DF33"`: GET DATA `00 CA P1 P2 00` (a `6Cxx` is resent with the exact Le).
    GetData(u16),
    /// `sign = { key, hash }`: MSE SET DST, PSO COMPUTE DIGITAL SIGNATURE, then verify the signature with the
    /// public key of that key's certificate read from the card. For an RSA key (the profile's key type) the card
    /// is sent a DigestInfo and answers a PKCS#1 v1.5 signature; for a P-256 key the bare hash, and a DER ECDSA
    /// signature comes back.
    Sign {
        /// Key reference `1`–`3`.
        key: u8,
        /// The hash sent to the card.
        hash: HashInput,
    },
    /// `internal_authenticate = { challenge, key }`: INTERNAL AUTHENTICATE, verified with the authentication
    /// certificate read from the card. P-256: the card signs SHA-256 of the challenge (ECDSA). RSA: the host sends
    /// the SHA-256 DigestInfo of the challenge and the card pads it (PKCS#1 v1.5).
    InternalAuthenticate {
        /// P2: key reference, `0` = the key chosen by MSE SET AT.
        key: u8,
        /// The challenge.
        challenge: Challenge,
    },
    /// `decipher = { key, secret | cryptogram }`: MSE SET CT, then PSO DECIPHER of `00 ‖ cryptogram` in one
    /// extended APDU (or a command chain); a `secret` is encrypted by the host to the key's certificate read from
    /// the card (RSA PKCS#1 v1.5) and must come back byte for byte.
    Decipher {
        /// Key reference `1`–`3` (the encryption key is `3`).
        key: u8,
        /// What to decipher.
        input: DecipherInput,
        /// Send MSE SET CT first (`mse = false`: rely on the security environment as it is).
        mse: bool,
        /// Send PSO DECIPHER as a command chain of short APDUs instead of one extended APDU.
        chained: bool,
    },
    /// `public_key = N`: `00 46 01 N 00` (GET RESPONSE after `61xx`), the answer a public-key template of the
    /// profile's key type (RSA-2048 with e = 65537, or a P-256 point).
    PublicKey(u8),
    /// `reset = true`: the reader resets the card; verification is lost.
    Reset,
    /// `pkcs15_structure = true`: EF.DIR, ODF, TokenInfo, AODF, PrKDF, CDF (and PuKDF) present and decoding.
    Pkcs15Structure,
}

/// The longest secret a `decipher` step encrypts: PKCS#1 v1.5 with a 2048-bit modulus (256 − 11 bytes).
pub const MAX_SECRET: usize = 245;

/// The hash of a `sign` step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HashInput {
    /// `sha256:TEXT` (or `sha1:`, `sha224:`, `sha384:`, `sha512:`): the hash of the UTF-8 text, computed by the
    /// host; sent bare to a P-256 key, wrapped in its DigestInfo for an RSA key.
    Of {
        /// The hash function.
        alg: HashAlg,
        /// The text hashed.
        text: String,
    },
    /// `hex:BYTES`: these bytes sent as they are, to any key (to check the card's length and DigestInfo rules).
    Raw(Vec<u8>),
}

/// The hash functions of `sign` steps: those an RSA key takes a DigestInfo of (RFC 8017 §9.2 note 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashAlg {
    /// SHA-1 (20 bytes).
    Sha1,
    /// SHA-224 (28 bytes).
    Sha224,
    /// SHA-256 (32 bytes).
    Sha256,
    /// SHA-384 (48 bytes).
    Sha384,
    /// SHA-512 (64 bytes).
    Sha512,
}

impl HashAlg {
    /// Every hash function, in the order of the `hash = "…"` prefixes.
    pub const ALL: [HashAlg; 5] = [HashAlg::Sha1, HashAlg::Sha224, HashAlg::Sha256, HashAlg::Sha384, HashAlg::Sha512];

    /// The prefix word: `sha256`.
    pub fn name(self) -> &'static str {
        match self {
            HashAlg::Sha1 => "sha1",
            HashAlg::Sha224 => "sha224",
            HashAlg::Sha256 => "sha256",
            HashAlg::Sha384 => "sha384",
            HashAlg::Sha512 => "sha512",
        }
    }

    /// The usual name: `SHA-256`.
    pub fn title(self) -> &'static str {
        match self {
            HashAlg::Sha1 => "SHA-1",
            HashAlg::Sha224 => "SHA-224",
            HashAlg::Sha256 => "SHA-256",
            HashAlg::Sha384 => "SHA-384",
            HashAlg::Sha512 => "SHA-512",
        }
    }
}

/// What a `decipher` step sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecipherInput {
    /// `secret = "TEXT"`: encrypted by the host to the key's certificate; the answer must be TEXT.
    Secret(String),
    /// `cryptogram = "bad-padding"`: 256 bytes below the modulus that are no PKCS#1 v1.5 cryptogram of the host's;
    /// sent twice, the card must answer `9000` both times with the same message (implicit rejection).
    BadPadding,
    /// `cryptogram = "modulus"`: the certificate's modulus itself, not below the modulus.
    Modulus,
    /// `cryptogram = "hex:BYTES"`: these bytes after the padding indicator, as they are.
    Raw(Vec<u8>),
}

/// The challenge of an `internal_authenticate` step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Challenge {
    /// `random`: 32 fresh random bytes from the host.
    Random,
    /// Hex bytes.
    Fixed(Vec<u8>),
}

/// What a step expects.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Expect {
    /// The status word.
    pub sw: SwExpect,
    /// `expect_data`: pattern template over the answer data ([`DataPattern`]).
    pub data: Option<String>,
    /// `expect_len`: number of answer data bytes.
    pub len: Option<usize>,
    /// `expect = "certificate" | "der" | "validity"`: what the answer must be.
    pub content: Option<Content>,
}

/// The status-word expectation of a step.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SwExpect {
    /// Nothing said: `9000` (a `reset` or `pkcs15_structure` step checks no status word).
    #[default]
    Default,
    /// `expect_sw = "63C2"`, `"61xx"`, or `expect = "ok" | "blocked" | "not-set"`.
    Pattern(SwPattern),
    /// `retries = 2` or `retries = "max-1"`: `63Cx`.
    Retries(Retries),
}

/// `retries`: how many tries the card must say are left.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retries {
    /// `retries = 2`.
    Exactly(u8),
    /// `retries = "max"` or `"max-N"`: relative to the profile's `max_tries`, so one script fits every PIN
    /// policy. Of the PUK for `unblock` steps and for `"puk-max"`/`"puk-max-N"`, of the PIN otherwise.
    BelowMax {
        /// N.
        below: u8,
        /// The PUK's counter rather than the PIN's.
        puk: bool,
    },
}

/// What the answer (or the file read) must be, beyond its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Content {
    /// An X.509 certificate, optionally checked against the profile.
    Certificate {
        /// Whose certificate: key reference `1`–`3` (default: from the FID `430x`).
        key: Option<u8>,
        /// Checks beyond "parses".
        checks: Vec<CertCheck>,
    },
    /// One complete DER value.
    Der,
    /// GET DATA `DF30`: `YYYYMMDDYYYYMMDD`, three years with the 29-February rule, today inside.
    Validity,
}

/// A certificate-profile check (CPS UZI-register §7.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertCheck {
    /// `uzi-number`: subject serialNumber is the profile's UZI number.
    UziNumber,
    /// `san`: the 2.5.5.5 otherName is `<CA OID>-1-<UZI no>-<Z|N|M>-<URA>-<role>-<AGB>` of the profile.
    San,
    /// `key-usage`: keyUsage of the key's role (1 digitalSignature, 2 nonRepudiation, 3 keyEncipherment +
    /// dataEncipherment).
    KeyUsage,
    /// `validity`: notAfter ≤ notBefore + 3 years − 1 s, 29 February → 28 February (CPS §6.3.2).
    Validity,
    /// `public-key`: the certificate's key is the card's key (read with `00 46 01 <ref>`).
    PublicKey,
    /// `no-email`: no e-mail address in subject or SAN.
    NoEmail,
}

impl CertCheck {
    /// The words of `checks = [...]`.
    pub const WORDS: [&'static str; 6] = ["uzi-number", "san", "key-usage", "validity", "public-key", "no-email"];

    fn parse(s: &str) -> Option<CertCheck> {
        Some(match s {
            "uzi-number" => CertCheck::UziNumber,
            "san" => CertCheck::San,
            "key-usage" => CertCheck::KeyUsage,
            "validity" => CertCheck::Validity,
            "public-key" => CertCheck::PublicKey,
            "no-email" => CertCheck::NoEmail,
            _ => return None,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Status-word and data patterns
// ---------------------------------------------------------------------------------------------

/// A status word with per-nibble wildcards: `9000`, `63C2`, `61xx`, `6Cxx`, `xxxx` (anything).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SwPattern([Option<u8>; 4]);

impl SwPattern {
    /// Exactly this status word.
    pub const fn exact(status: Status) -> SwPattern {
        let sw = status.to_u16();
        SwPattern([
            Some((sw >> 12) as u8 & 0xF),
            Some((sw >> 8) as u8 & 0xF),
            Some((sw >> 4) as u8 & 0xF),
            Some(sw as u8 & 0xF),
        ])
    }

    /// `9000`.
    pub const OK: SwPattern = SwPattern::exact(Status::Success);

    /// Parse four hex digits or `x`; spaces are ignored (`"63 C2"`).
    pub fn parse(s: &str) -> Option<SwPattern> {
        let chars: Vec<char> = s.chars().filter(|c| !c.is_whitespace()).collect();
        if chars.len() != 4 {
            return None;
        }
        let mut out = [None; 4];
        for (o, c) in out.iter_mut().zip(chars) {
            *o = match c {
                'x' | 'X' => None,
                c => Some(c.to_digit(16)? as u8),
            };
        }
        Some(SwPattern(out))
    }

    /// Whether `sw` fits.
    pub fn matches(&self, status: Status) -> bool {
        let sw = status.to_u16();
        let nibbles = [(sw >> 12) as u8 & 0xF, (sw >> 8) as u8 & 0xF, (sw >> 4) as u8 & 0xF, sw as u8 & 0xF];
        self.0.iter().zip(nibbles).all(|(p, n)| p.is_none_or(|p| p == n))
    }

    /// The exact word, if the pattern has no wildcard.
    pub fn as_exact(&self) -> Option<Status> {
        self.0.iter().try_fold(0u16, |acc, n| n.map(|n| acc << 4 | u16::from(n))).map(Status::from_sw)
    }
}

impl fmt::Display for SwPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for n in self.0 {
            match n {
                Some(n) => write!(f, "{n:X}")?,
                None => f.write_str("x")?,
            }
        }
        Ok(())
    }
}

impl fmt::Debug for SwPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SwPattern({self})")
    }
}

/// A pattern over answer bytes: hex bytes, `..` for any one byte, `*` for any number of bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataPattern(Vec<DataToken>);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DataToken {
    Byte(u8),
    AnyByte,
    AnyRun,
}

impl DataPattern {
    /// Parse an expanded pattern; the error says what is wrong.
    pub fn parse(s: &str) -> Result<DataPattern, String> {
        let chars: Vec<char> = s.chars().filter(|c| !c.is_whitespace()).collect();
        let mut tokens = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            match (chars[i], chars.get(i + 1)) {
                ('*', _) => {
                    tokens.push(DataToken::AnyRun);
                    i += 1;
                }
                ('.', Some('.')) => {
                    tokens.push(DataToken::AnyByte);
                    i += 2;
                }
                (hi, Some(lo)) if hi.is_ascii_hexdigit() && lo.is_ascii_hexdigit() => {
                    let byte = (hi.to_digit(16).unwrap_or(0) << 4 | lo.to_digit(16).unwrap_or(0)) as u8;
                    tokens.push(DataToken::Byte(byte));
                    i += 2;
                }
                (c, _) => {
                    return Err(format!(
                        "`{c}` at character {} is not part of a hex byte, `..` (any byte) or `*` (any bytes)",
                        i + 1
                    ));
                }
            }
        }
        Ok(DataPattern(tokens))
    }

    /// Whether `data` fits the whole pattern.
    pub fn matches(&self, data: &[u8]) -> bool {
        // Glob matching with one backtrack point per `*` (linear in practice for these short patterns).
        let (mut p, mut d) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while d < data.len() {
            match self.0.get(p) {
                Some(DataToken::Byte(b)) if *b == data[d] => {
                    p += 1;
                    d += 1;
                }
                Some(DataToken::AnyByte) => {
                    p += 1;
                    d += 1;
                }
                Some(DataToken::AnyRun) => {
                    star = Some((p, d));
                    p += 1;
                }
                _ => match star {
                    Some((sp, sd)) => {
                        p = sp + 1;
                        d = sd + 1;
                        star = Some((sp, sd + 1));
                    }
                    None => return false,
                },
            }
        }
        self.0[p.min(self.0.len())..].iter().all(|t| *t == DataToken::AnyRun)
    }
}

impl fmt::Display for DataPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let words: Vec<String> = self
            .0
            .iter()
            .map(|t| match t {
                DataToken::Byte(b) => format!("{b:02X}"),
                DataToken::AnyByte => "..".into(),
                DataToken::AnyRun => "*".into(),
            })
            .collect();
        f.write_str(&words.join(" "))
    }
}

pub use crate::fixture_format::parse_hex;

/// `5015/4301`, `3F00/5015`, `2F00` → FIDs from the MF (a leading `3F00` is dropped; `3F00` alone is the MF).
pub fn parse_path(s: &str) -> Result<Vec<u16>, String> {
    let mut fids = Vec::new();
    for part in s.split('/') {
        let part = part.trim();
        if part.len() != 4 || !part.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(format!("`{part}` is not a 4-hex-digit file identifier"));
        }
        fids.push(u16::from_str_radix(part, 16).map_err(|e| e.to_string())?);
    }
    if fids.first() == Some(&FileId::MF.0) {
        fids.remove(0);
    }
    Ok(fids)
}

/// A path as written in scripts: `5015/4301`, or `3F00` for the MF.
pub fn path_text(fids: &[u16]) -> String {
    if fids.is_empty() {
        return "3F00".into();
    }
    fids.iter().map(|f| format!("{f:04X}")).collect::<Vec<_>>().join("/")
}

// ---------------------------------------------------------------------------------------------
// Variables
// ---------------------------------------------------------------------------------------------

/// The values of `${VAR}` for one card profile.
///
/// Text variables: `PIN`, `PUK`, `WRONG_PIN` (same length as the PIN, one character different), `WRONG_PUK`,
/// `NEW_PIN` (another PIN within the policy), `SERIAL`, `UZI_NUMBER`. In hex fields (`apdu`, `expect_data`) a
/// text variable becomes the hex of its ASCII bytes; in text fields (`verify`, `unblock`, …) its text.
/// Byte variables, two hex digits in hex fields and decimal in text: `NAME_LEN` for each text variable,
/// `PIN_MAX`, `PUK_MAX` (the profile's `max_tries`).
#[derive(Clone, PartialEq, Eq)]
pub struct Vars {
    pin: String,
    puk: String,
    wrong_pin: String,
    wrong_puk: String,
    new_pin: String,
    serial: String,
    uzi_number: Option<String>,
    pin_max: u8,
    puk_max: u8,
    profile: String,
}

impl fmt::Debug for Vars {
    /// Values can be a real card's PIN and PUK: never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Vars {{ profile: {:?}, values: *** }}", self.profile)
    }
}

/// Expansion context: hex fields get hex, text fields get text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    /// `apdu`, `expect_data`.
    Hex,
    /// `verify`, `unblock`, `new_pin`, `change_pin`.
    Text,
}

/// The variable names, for messages.
pub const VARIABLES: [&str; 9] =
    ["PIN", "PUK", "WRONG_PIN", "WRONG_PUK", "NEW_PIN", "SERIAL", "UZI_NUMBER", "PIN_MAX", "PUK_MAX"];

impl Vars {
    /// The variables of `profile`'s card.
    pub fn for_profile(profile: &Profile) -> Vars {
        let pin = profile.pin.value.clone();
        let puk = profile.puk.value.clone();
        Vars {
            wrong_pin: wrong_value(&pin),
            wrong_puk: wrong_value(&puk),
            new_pin: new_pin(&pin, profile.pin.min_len, profile.pin.max_len),
            pin,
            puk,
            serial: profile.serial.clone(),
            uzi_number: profile.holder.as_ref().map(|h| h.uzi_number.clone()),
            pin_max: profile.pin.max_tries,
            puk_max: profile.puk.max_tries,
            profile: profile.name.clone(),
        }
    }

    /// Stand-in values, used to check a script's syntax when it is loaded.
    fn sample() -> Vars {
        Vars {
            pin: "123456".into(),
            puk: "12345678".into(),
            wrong_pin: "123457".into(),
            wrong_puk: "12345679".into(),
            new_pin: "975318".into(),
            serial: "9000000000000001".into(),
            uzi_number: Some("900016528".into()),
            pin_max: 3,
            puk_max: 3,
            profile: "(sample)".into(),
        }
    }

    /// The profile's `max_tries` of the PIN, or of the PUK.
    pub fn max_tries(&self, puk: bool) -> u8 {
        if puk { self.puk_max } else { self.pin_max }
    }

    fn text(&self, name: &str) -> Result<Option<&str>, String> {
        Ok(Some(match name {
            "PIN" => &self.pin,
            "PUK" => &self.puk,
            "WRONG_PIN" => &self.wrong_pin,
            "WRONG_PUK" => &self.wrong_puk,
            "NEW_PIN" => &self.new_pin,
            "SERIAL" => &self.serial,
            "UZI_NUMBER" => {
                return self.uzi_number.as_deref().map(Some).ok_or_else(|| {
                    format!("profile `{}` has no holder, so `${{UZI_NUMBER}}` has no value", self.profile)
                });
            }
            _ => return Ok(None),
        }))
    }

    /// Expand every `${NAME}` in `template`.
    pub fn expand(&self, template: &str, field: Field) -> Result<String, String> {
        let mut out = String::with_capacity(template.len());
        let mut rest = template;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after.find('}').ok_or_else(|| format!("`${{` without a closing `}}` in `{template}`"))?;
            let name = &after[..end];
            let byte = |b: u8| match field {
                Field::Hex => format!("{b:02X}"),
                Field::Text => b.to_string(),
            };
            let value = if let Some(text) = self.text(name)? {
                match field {
                    Field::Hex => hex::encode_upper(text.as_bytes()),
                    Field::Text => text.to_owned(),
                }
            } else if let Some(text) = name.strip_suffix("_LEN").map(|base| self.text(base)).transpose()?.flatten() {
                byte(u8::try_from(text.len()).unwrap_or(u8::MAX))
            } else if name == "PIN_MAX" {
                byte(self.pin_max)
            } else if name == "PUK_MAX" {
                byte(self.puk_max)
            } else {
                return Err(format!(
                    "unknown variable `${{{name}}}`: use one of {} (and NAME_LEN for text variables)",
                    VARIABLES.map(|v| format!("${{{v}}}")).join(", ")
                ));
            };
            out.push_str(&value);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// The value with its last character changed, same length and character class, so a wrong try is a real try.
fn wrong_value(value: &str) -> String {
    let mut chars: Vec<char> = value.chars().collect();
    if let Some(last) = chars.last_mut() {
        *last = match *last {
            '0'..='8' => char::from(*last as u8 + 1),
            '9' => '0',
            'a'..='y' | 'A'..='Y' => char::from(*last as u8 + 1),
            _ => '0',
        };
    }
    chars.into_iter().collect()
}

/// A PIN within the policy that is not `pin`.
fn new_pin(pin: &str, min: u8, max: u8) -> String {
    let len = pin.chars().count().clamp(usize::from(min.max(1)), usize::from(max.max(min).max(1)));
    let candidate: String = "9753186420".chars().cycle().take(len).collect();
    if candidate == pin { wrong_value(&candidate) } else { candidate }
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// Why a script could not be loaded. Every message names the file, the line and the field, and the fix.
#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    /// The file is unreadable, not TOML, not the script format, or a field's value is not usable.
    #[error(transparent)]
    Fixture(#[from] FixtureError),
    /// The directory could not be listed.
    #[error("script directory `{path}`: cannot list it: {source}: check the path")]
    Dir {
        /// The directory.
        path: DisplayPath,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Two scripts share a name.
    #[error("scripts `{first}` and `{second}` are both named `{name}`: script names must be unique, rename one")]
    Duplicate {
        /// The shared name.
        name: String,
        /// One file.
        first: DisplayPath,
        /// The other.
        second: DisplayPath,
    },
    /// A directory without scripts.
    #[error("no script files (*.toml) in `{dir}`: give a directory of scripts or script files")]
    Empty {
        /// The directory.
        dir: DisplayPath,
    },
}

// ---------------------------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScript {
    #[allow(dead_code)]
    format: i64,
    name: Spanned<String>,
    description: String,
    applies_to: Spanned<Vec<String>>,
    #[serde(default)]
    destructive: bool,
    #[serde(default)]
    on_failure: Option<Spanned<String>>,
    #[serde(default, rename = "step")]
    steps: Vec<Spanned<RawStep>>,
    #[serde(default, rename = "restore")]
    restore: Vec<Spanned<RawStep>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    name: Option<String>,
    apdu: Option<String>,
    verify: Option<String>,
    unblock: Option<String>,
    new_pin: Option<String>,
    change_pin: Option<RawChangePin>,
    select_path: Option<String>,
    read_file: Option<String>,
    get_data: Option<String>,
    sign: Option<RawSign>,
    internal_authenticate: Option<RawAuth>,
    decipher: Option<RawDecipher>,
    public_key: Option<u8>,
    reset: Option<bool>,
    pkcs15_structure: Option<bool>,
    expect: Option<String>,
    expect_sw: Option<String>,
    retries: Option<RawRetries>,
    expect_data: Option<String>,
    expect_len: Option<usize>,
    checks: Option<Vec<String>>,
    key: Option<u8>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChangePin {
    old: String,
    new: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSign {
    key: u8,
    hash: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuth {
    challenge: String,
    #[serde(default)]
    key: Option<u8>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDecipher {
    key: u8,
    #[serde(default)]
    secret: Option<String>,
    #[serde(default)]
    cryptogram: Option<String>,
    #[serde(default)]
    mse: Option<bool>,
    #[serde(default)]
    chained: Option<bool>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawRetries {
    Count(u8),
    Relative(String),
}

/// Load every `*.toml` in `dir` (not `README.md`), sorted by file name.
pub fn load_dir(dir: &Path) -> Result<Vec<Script>, ScriptError> {
    let entries =
        std::fs::read_dir(dir).map_err(|source| ScriptError::Dir { path: DisplayPath(dir.to_owned()), source })?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(|source| ScriptError::Dir { path: DisplayPath(dir.to_owned()), source })?.path();
        if path.extension().is_some_and(|e| e == "toml") && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(ScriptError::Empty { dir: DisplayPath(dir.to_owned()) });
    }
    load_files(&files)
}

/// Load these files (a directory among them contributes its `*.toml`), in order, refusing duplicate names.
pub fn load_files(paths: &[PathBuf]) -> Result<Vec<Script>, ScriptError> {
    let mut scripts: Vec<Script> = Vec::new();
    for path in paths {
        let loaded = if path.is_dir() { load_dir(path)? } else { vec![load_file(path)?] };
        for script in loaded {
            if let Some(other) = scripts.iter().find(|s| s.name == script.name) {
                return Err(ScriptError::Duplicate {
                    name: script.name.clone(),
                    first: DisplayPath(other.file.clone()),
                    second: DisplayPath(script.file.clone()),
                });
            }
            scripts.push(script);
        }
    }
    Ok(scripts)
}

/// Load one script file.
pub fn load_file(path: &Path) -> Result<Script, ScriptError> {
    let text = fixture_format::read(FixtureFormat::Script, path)?;
    parse(path, &text)
}

struct Ctx<'a> {
    file: FixtureText<'a>,
}

impl Ctx<'_> {
    fn field(&self, offset: usize, place: &str, field: &str, problem: impl Into<String>, fix: &str) -> ScriptError {
        self.file.field_at(offset, place, field, problem, fix).into()
    }
}

/// Parse and check script text; `path` names the file in messages and in reports.
pub fn parse(path: &Path, text: &str) -> Result<Script, ScriptError> {
    let ctx = Ctx { file: FixtureText::new(FixtureFormat::Script, path, text) };
    ctx.file.check_version(FORMAT_VERSION)?;
    let raw: RawScript = ctx.file.deserialize()?;
    let name = raw.name.get_ref().trim().to_owned();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(ctx.field(
            raw.name.span().start,
            "",
            "name",
            format!("{:?} is not a script name", raw.name.get_ref()),
            "use letters, digits and `-`, e.g. `pin-counters`",
        ));
    }
    let mut applies_to = Vec::new();
    for word in raw.applies_to.get_ref() {
        let selector = Selector::parse(word.trim()).ok_or_else(|| {
            ctx.field(
                raw.applies_to.span().start,
                "",
                "applies_to",
                format!("`{word}` is neither a selector nor a shipped profile"),
                &format!("use {}, a profile name, or `profile:NAME` for another profile", Selector::WORDS.join(", ")),
            )
        })?;
        applies_to.push(selector);
    }
    if applies_to.is_empty() {
        return Err(ctx.field(
            raw.applies_to.span().start,
            "",
            "applies_to",
            "the list is empty, so the script would never run",
            "say which cards it is for, e.g. [\"all\"]",
        ));
    }
    let on_failure = match raw.on_failure.as_ref().map(|s| (s.get_ref().as_str(), s.span().start)) {
        None | Some(("stop", _)) => OnFailure::Stop,
        Some(("continue", _)) => OnFailure::Continue,
        Some((other, offset)) => {
            return Err(ctx.field(
                offset,
                "",
                "on_failure",
                format!("`{other}` is not a choice"),
                "use \"stop\" (the default) or \"continue\"",
            ));
        }
    };
    if raw.steps.is_empty() {
        return Err(ctx.field(0, "", "step", "the script has no [[step]]", "add at least one [[step]] table"));
    }
    let mut steps = Vec::new();
    for (i, raw_step) in raw.steps.into_iter().enumerate() {
        steps.push(parse_step(&ctx, &format!("step {}: ", i + 1), raw_step)?);
    }
    let mut restore = Vec::new();
    for (i, raw_step) in raw.restore.into_iter().enumerate() {
        restore.push(parse_step(&ctx, &format!("restore step {}: ", i + 1), raw_step)?);
    }
    Ok(Script {
        name,
        description: raw.description.trim().to_owned(),
        file: path.to_owned(),
        applies_to,
        destructive: raw.destructive,
        on_failure,
        steps,
        restore,
    })
}

fn parse_step(ctx: &Ctx<'_>, place: &str, raw: Spanned<RawStep>) -> Result<Step, ScriptError> {
    let offset = raw.span().start;
    let line = ctx.file.line_column(offset).0;
    let raw = raw.into_inner();
    let err = |field: &'static str, problem: String, fix: &str| ctx.field(offset, place, field, problem, fix);
    let sample = Vars::sample();
    let check_template = |field: &'static str, template: &str, kind: Field| -> Result<String, ScriptError> {
        sample.expand(template, kind).map_err(|e| err(field, e, "fix the variable name"))
    };

    let kinds: Vec<&str> = [
        ("apdu", raw.apdu.is_some()),
        ("verify", raw.verify.is_some()),
        ("unblock", raw.unblock.is_some()),
        ("change_pin", raw.change_pin.is_some()),
        ("select_path", raw.select_path.is_some()),
        ("read_file", raw.read_file.is_some()),
        ("get_data", raw.get_data.is_some()),
        ("sign", raw.sign.is_some()),
        ("internal_authenticate", raw.internal_authenticate.is_some()),
        ("decipher", raw.decipher.is_some()),
        ("public_key", raw.public_key.is_some()),
        ("reset", raw.reset.is_some()),
        ("pkcs15_structure", raw.pkcs15_structure.is_some()),
    ]
    .into_iter()
    .filter(|(_, present)| *present)
    .map(|(k, _)| k)
    .collect();
    let kind = match kinds.as_slice() {
        [one] => *one,
        [] => {
            return Err(err(
                "apdu",
                "the step has no command".into(),
                "give exactly one of apdu, verify, unblock, change_pin, select_path, read_file, get_data, sign, \
                 internal_authenticate, decipher, public_key, reset, pkcs15_structure",
            ));
        }
        [first, second, ..] => {
            return Err(err(second, format!("the step has both `{first}` and `{second}`"), "split it into two steps"));
        }
    };

    let action = match kind {
        "apdu" => {
            let t = raw.apdu.unwrap_or_default();
            let bytes = parse_hex(&check_template("apdu", &t, Field::Hex)?)
                .map_err(|e| err("apdu", e, "write the command as hex bytes, e.g. \"00 A4 00 0C\""))?;
            // Frames shorter than a header are legitimate malformed-command checks (6700); an empty one is a slip.
            if bytes.is_empty() {
                return Err(err("apdu", "the command is empty".into(), "write at least CLA INS"));
            }
            Action::Apdu(t)
        }
        "verify" => {
            let t = raw.verify.unwrap_or_default();
            check_template("verify", &t, Field::Text)?;
            Action::Verify(t)
        }
        "unblock" => {
            let puk = raw.unblock.unwrap_or_default();
            check_template("unblock", &puk, Field::Text)?;
            if let Some(n) = &raw.new_pin {
                check_template("new_pin", n, Field::Text)?;
            }
            Action::Unblock { puk, new_pin: raw.new_pin.clone() }
        }
        "change_pin" => {
            let c = raw.change_pin.unwrap_or(RawChangePin { old: String::new(), new: String::new() });
            check_template("change_pin", &c.old, Field::Text)?;
            check_template("change_pin", &c.new, Field::Text)?;
            Action::ChangePin { old: c.old, new: c.new }
        }
        "select_path" => Action::SelectPath(
            parse_path(raw.select_path.as_deref().unwrap_or_default())
                .map_err(|e| err("select_path", e, "write FIDs from the MF, e.g. \"5015/4301\""))?,
        ),
        "read_file" => {
            let path = parse_path(raw.read_file.as_deref().unwrap_or_default())
                .map_err(|e| err("read_file", e, "write FIDs from the MF, e.g. \"5015/4301\""))?;
            if path.is_empty() {
                return Err(err("read_file", "the MF is not a file to read".into(), "name an EF, e.g. \"2F00\""));
            }
            Action::ReadFile(path)
        }
        "get_data" => {
            let t = raw.get_data.as_deref().unwrap_or_default();
            let tag =
                parse_hex(t).ok().and_then(|b| <[u8; 2]>::try_from(b).ok()).map(u16::from_be_bytes).ok_or_else(
                    || err("get_data", format!("`{t}` is not a 2-byte tag"), "write P1 P2, e.g. \"DF33\""),
                )?;
            Action::GetData(tag)
        }
        "sign" => {
            let s = raw.sign.unwrap_or(RawSign { key: 0, hash: String::new() });
            if !(1..=3).contains(&s.key) {
                return Err(err("sign", format!("key {} is not a key reference", s.key), "use key = 1, 2 or 3"));
            }
            let of = HashAlg::ALL.into_iter().find_map(|alg| {
                let text = s.hash.strip_prefix(alg.name())?.strip_prefix(':')?;
                Some(HashInput::Of { alg, text: text.to_owned() })
            });
            let hash = if let Some(of) = of {
                of
            } else if let Some(h) = s.hash.strip_prefix("hex:") {
                HashInput::Raw(parse_hex(h).map_err(|e| err("sign", e, "write hex:<bytes>"))?)
            } else {
                return Err(err(
                    "sign",
                    format!(
                        "hash {:?} has no `sha1:`, `sha224:`, `sha256:`, `sha384:`, `sha512:` or `hex:` prefix",
                        s.hash
                    ),
                    "write hash = \"sha256:TEXT\" (SHA-256 of TEXT; sha1, sha224, sha384, sha512 likewise) or \
                     \"hex:BYTES\" (sent as they are)",
                ));
            };
            Action::Sign { key: s.key, hash }
        }
        "internal_authenticate" => {
            let a = raw.internal_authenticate.unwrap_or(RawAuth { challenge: String::new(), key: None });
            let key = a.key.unwrap_or(1);
            if key > 3 {
                return Err(err(
                    "internal_authenticate",
                    format!("key {key} is not a key reference"),
                    "use key = 1 (the authentication key), 2 or 3, or 0 for the key chosen by MSE SET AT",
                ));
            }
            let challenge = if a.challenge == "random" {
                Challenge::Random
            } else {
                Challenge::Fixed(
                    parse_hex(&a.challenge)
                        .map_err(|e| err("internal_authenticate", e, "write challenge = \"random\" or hex bytes"))?,
                )
            };
            Action::InternalAuthenticate { key, challenge }
        }
        "decipher" => {
            let d = raw.decipher.unwrap_or(RawDecipher {
                key: 0,
                secret: None,
                cryptogram: None,
                mse: None,
                chained: None,
            });
            if !(1..=3).contains(&d.key) {
                return Err(err(
                    "decipher",
                    format!("key {} is not a key reference", d.key),
                    "use key = 3 (the encryption key), 1 or 2",
                ));
            }
            let input = match (d.secret, d.cryptogram) {
                (Some(secret), None) if secret.len() <= MAX_SECRET => DecipherInput::Secret(secret),
                (Some(secret), None) => {
                    return Err(err(
                        "decipher",
                        format!("the secret is {} bytes, PKCS#1 v1.5 takes at most {MAX_SECRET}", secret.len()),
                        "shorten it",
                    ));
                }
                (None, Some(c)) => match c.as_str() {
                    "bad-padding" => DecipherInput::BadPadding,
                    "modulus" => DecipherInput::Modulus,
                    other => match other.strip_prefix("hex:") {
                        Some(h) => {
                            DecipherInput::Raw(parse_hex(h).map_err(|e| err("decipher", e, "write hex:<bytes>"))?)
                        }
                        None => {
                            return Err(err(
                                "decipher",
                                format!("cryptogram {other:?} is not a choice"),
                                "write cryptogram = \"bad-padding\", \"modulus\" or \"hex:BYTES\"",
                            ));
                        }
                    },
                },
                _ => {
                    return Err(err(
                        "decipher",
                        "give exactly one of `secret` and `cryptogram`".into(),
                        "write decipher = { key = 3, secret = \"TEXT\" } or { key = 3, cryptogram = \"bad-padding\" }",
                    ));
                }
            };
            Action::Decipher { key: d.key, input, mse: d.mse.unwrap_or(true), chained: d.chained.unwrap_or(false) }
        }
        "public_key" => {
            let key = raw.public_key.unwrap_or(0);
            if !(1..=3).contains(&key) {
                return Err(err(
                    "public_key",
                    format!("key {key} is not a key reference"),
                    "use public_key = 1, 2 or 3",
                ));
            }
            Action::PublicKey(key)
        }
        // `reset` or `pkcs15_structure`, the two flag steps.
        _ => {
            let value = raw.reset.or(raw.pkcs15_structure).unwrap_or(false);
            if !value {
                return Err(err(kind, format!("`{kind} = false` does nothing"), &format!("write `{kind} = true`")));
            }
            if kind == "reset" { Action::Reset } else { Action::Pkcs15Structure }
        }
    };

    if raw.new_pin.is_some() && kind != "unblock" {
        return Err(err("new_pin", "only an `unblock` step sets a new PIN".into(), "move it to an unblock step"));
    }
    let plain = matches!(action, Action::Reset | Action::Pkcs15Structure);
    if plain
        && (raw.expect.is_some()
            || raw.expect_sw.is_some()
            || raw.retries.is_some()
            || raw.expect_data.is_some()
            || raw.expect_len.is_some())
    {
        return Err(err(
            "expect",
            format!("a `{kind}` step makes its own checks"),
            "remove the expect* and retries fields",
        ));
    }
    let with_data = matches!(action, Action::Apdu(_) | Action::GetData(_) | Action::ReadFile(_) | Action::PublicKey(_));
    if !with_data && (raw.expect_data.is_some() || raw.expect_len.is_some()) {
        let field = if raw.expect_data.is_some() { "expect_data" } else { "expect_len" };
        return Err(err(
            field,
            format!("a `{kind}` step has no answer data to compare"),
            "use expect_data/expect_len with apdu, get_data, read_file or public_key",
        ));
    }

    let mut sw = SwExpect::Default;
    let mut content = None;
    let mut set_sw = |field: &'static str, value: SwExpect| -> Result<(), ScriptError> {
        if sw != SwExpect::Default {
            return Err(err(
                field,
                "the status word is given twice".into(),
                "give one of expect_sw, retries, expect = \"ok\"/\"blocked\"/\"not-set\"",
            ));
        }
        sw = value;
        Ok(())
    };
    if let Some(s) = &raw.expect_sw {
        let p = SwPattern::parse(s).ok_or_else(|| {
            err("expect_sw", format!("{s:?} is not a status word"), "write 4 hex digits, `x` for any, e.g. \"61xx\"")
        })?;
        set_sw("expect_sw", SwExpect::Pattern(p))?;
    }
    if let Some(r) = &raw.retries {
        let retries = match r {
            RawRetries::Count(n) if *n <= 15 => Retries::Exactly(*n),
            RawRetries::Relative(s) => {
                let text = s.trim();
                let (puk, rest) = match text.strip_prefix("puk-") {
                    Some(rest) => (true, rest),
                    None => (matches!(action, Action::Unblock { .. }), text),
                };
                let below = match rest.strip_prefix("max") {
                    Some("") => Some(0),
                    Some(tail) => tail.strip_prefix('-').and_then(|n| n.trim().parse::<u8>().ok()).filter(|n| *n <= 15),
                    None => None,
                };
                match below {
                    Some(below) => Retries::BelowMax { below, puk },
                    None => {
                        return Err(err(
                            "retries",
                            format!("{s:?} is not a number of tries"),
                            "write a number 0-15, \"max\", \"max-N\", \"puk-max\" or \"puk-max-N\"",
                        ));
                    }
                }
            }
            RawRetries::Count(n) => {
                return Err(err("retries", format!("{n} tries do not fit in 63Cx"), "use 0-15"));
            }
        };
        set_sw("retries", SwExpect::Retries(retries))?;
    }
    if let Some(e) = &raw.expect {
        match e.as_str() {
            "ok" => set_sw("expect", SwExpect::Pattern(SwPattern::OK))?,
            "blocked" => set_sw("expect", SwExpect::Pattern(SwPattern::exact(Status::AuthenticationBlocked)))?,
            "not-set" => set_sw("expect", SwExpect::Pattern(SwPattern::exact(Status::ReferenceDataNotUsable)))?,
            "certificate" | "der" if !matches!(action, Action::ReadFile(_)) => {
                return Err(err("expect", format!("`{e}` needs a read_file step"), "read the file with read_file"));
            }
            "certificate" => {
                let default_key = match &action {
                    Action::ReadFile(path) => match path.last() {
                        Some(0x4301) => Some(1),
                        Some(0x4302) => Some(2),
                        Some(0x4303) => Some(3),
                        _ => None,
                    },
                    _ => None,
                };
                let key = raw.key.or(default_key);
                if key.is_some_and(|k| !(1..=3).contains(&k)) {
                    return Err(err("key", "not a key reference".into(), "use key = 1, 2 or 3"));
                }
                let mut checks = Vec::new();
                for word in raw.checks.iter().flatten() {
                    let check = CertCheck::parse(word).ok_or_else(|| {
                        err("checks", format!("`{word}` is not a certificate check"), &CertCheck::WORDS.join(", "))
                    })?;
                    if matches!(check, CertCheck::KeyUsage | CertCheck::PublicKey) && key.is_none() {
                        return Err(err(
                            "key",
                            format!("check `{word}` needs to know whose certificate this is"),
                            "add key = 1, 2 or 3",
                        ));
                    }
                    checks.push(check);
                }
                content = Some(Content::Certificate { key, checks });
            }
            "der" => content = Some(Content::Der),
            "validity" if matches!(action, Action::GetData(0xDF30)) => content = Some(Content::Validity),
            "validity" => {
                return Err(err(
                    "expect",
                    "`validity` is the answer of GET DATA DF30".into(),
                    "use get_data = \"DF30\"",
                ));
            }
            other => {
                return Err(err(
                    "expect",
                    format!("`{other}` is not an expectation"),
                    "use ok, blocked, not-set, certificate, der or validity",
                ));
            }
        }
    }
    if (raw.checks.is_some() || raw.key.is_some()) && !matches!(content, Some(Content::Certificate { .. })) {
        let field = if raw.checks.is_some() { "checks" } else { "key" };
        return Err(err(field, "only certificate reads take checks and key".into(), "add expect = \"certificate\""));
    }
    if let Some(d) = &raw.expect_data {
        DataPattern::parse(&check_template("expect_data", d, Field::Hex)?).map_err(|e| {
            err("expect_data", e, "write hex bytes, `..` for any byte, `*` for any bytes, e.g. \"7F 49 * \"")
        })?;
    }

    let label = raw.name.clone().unwrap_or_else(|| default_label(&action));
    Ok(Step { line, label, action, expect: Expect { sw, data: raw.expect_data, len: raw.expect_len, content } })
}

/// A step title made from its command, variables unexpanded.
fn default_label(action: &Action) -> String {
    match action {
        Action::Apdu(t) => {
            let words = t.split_whitespace().collect::<Vec<_>>().join(" ");
            if words.chars().count() > 40 {
                format!("{}…", words.chars().take(40).collect::<String>())
            } else {
                words
            }
        }
        Action::Verify(p) => format!("VERIFY {p}"),
        Action::Unblock { puk, new_pin: None } => format!("RESET RETRY COUNTER {puk}"),
        Action::Unblock { puk, new_pin: Some(n) } => format!("RESET RETRY COUNTER {puk}, new PIN {n}"),
        Action::ChangePin { old, new } => format!("CHANGE REFERENCE DATA {old} → {new}"),
        Action::SelectPath(p) => format!("SELECT {}", path_text(p)),
        Action::ReadFile(p) => format!("READ {}", path_text(p)),
        Action::GetData(tag) => format!("GET DATA {tag:04X}"),
        Action::Sign { key, hash: HashInput::Of { alg, text } } => format!("SIGN key {key} {}:{text}", alg.name()),
        Action::Sign { key, hash: HashInput::Raw(b) } => format!("SIGN key {key} with a {}-byte hash", b.len()),
        Action::InternalAuthenticate { key, challenge: Challenge::Random } => {
            format!("INTERNAL AUTHENTICATE key {key}, random challenge")
        }
        Action::InternalAuthenticate { key, challenge: Challenge::Fixed(c) } => {
            format!("INTERNAL AUTHENTICATE key {key}, {}-byte challenge", c.len())
        }
        Action::Decipher { key, input, .. } => match input {
            DecipherInput::Secret(s) => format!("DECIPHER key {key}, a {}-byte secret", s.len()),
            DecipherInput::BadPadding => format!("DECIPHER key {key}, a cryptogram with a bad padding"),
            DecipherInput::Modulus => format!("DECIPHER key {key}, the modulus as cryptogram"),
            DecipherInput::Raw(b) => format!("DECIPHER key {key}, a {}-byte cryptogram", b.len()),
        },
        Action::PublicKey(key) => format!("public key {key}"),
        Action::Reset => "card reset".into(),
        Action::Pkcs15Structure => "PKCS#15 structure".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sw_patterns() {
        let p = SwPattern::parse("61xx").unwrap_or(SwPattern::OK);
        assert!(p.matches(Status::MoreAvailable(0x10)) && !p.matches(Status::WrongLe(0x10)));
        assert_eq!(p.to_string(), "61xx");
        assert_eq!(SwPattern::parse("63 c2").and_then(|p| p.as_exact()), Some(Status::RemainingRetries(2)));
        assert!(SwPattern::parse("900").is_none());
    }

    #[test]
    fn data_patterns() {
        let p = DataPattern::parse("7F 49 .. 86 *").unwrap_or(DataPattern(vec![]));
        assert!(p.matches(&[0x7F, 0x49, 0x43, 0x86]));
        assert!(p.matches(&[0x7F, 0x49, 0x43, 0x86, 1, 2, 3]));
        assert!(!p.matches(&[0x7F, 0x49, 0x43]));
        let q = DataPattern::parse("* 90").unwrap_or(DataPattern(vec![]));
        assert!(q.matches(&[1, 2, 0x90]) && !q.matches(&[0x90, 1]));
        assert!(DataPattern::parse("0G").is_err());
    }

    #[test]
    fn variables_expand_per_field() {
        let v = Vars::sample();
        assert_eq!(v.expand("00 20 00 01 ${PIN_LEN} ${PIN}", Field::Hex).as_deref(), Ok("00 20 00 01 06 313233343536"));
        assert_eq!(v.expand("${WRONG_PIN}", Field::Text).as_deref(), Ok("123457"));
        assert!(v.expand("${NOPE}", Field::Hex).is_err());
        assert_eq!(format!("{v:?}"), "Vars { profile: \"(sample)\", values: *** }");
    }

    #[test]
    fn key_type_selectors() {
        assert_eq!(Selector::parse("rsa-key:1"), Some(Selector::RsaKey(1)));
        assert_eq!(Selector::parse("p256-key:3"), Some(Selector::P256Key(3)));
        assert_eq!(Selector::parse("decipher"), Some(Selector::Decipher));
        assert_eq!(Selector::parse("rsa-key:4"), None);
        assert_eq!(Selector::parse("p256-key:"), None);

        let Ok(mut m) = crate::issuance::profile::load("uzi-medewerker-niet-op-naam") else {
            panic!("shipped profile")
        };
        assert!(Selector::RsaKey(1).matches(&m) && Selector::Decipher.matches(&m));
        assert!(!Selector::RsaKey(2).matches(&m), "an M card has no key 02");
        m.key_types = vec![KeyType::Rsa2048, KeyType::P256];
        assert!(Selector::P256Key(3).matches(&m) && !Selector::Decipher.matches(&m));
        let Ok(blank) = crate::issuance::profile::load("zorg-id-blank") else { panic!("shipped profile") };
        assert!(!Selector::RsaKey(1).matches(&blank) && !Selector::P256Key(1).matches(&blank));
    }

    fn one_step(body: &str) -> Result<Step, ScriptError> {
        let text =
            format!("format = 1\nname = \"t\"\ndescription = \"d\"\napplies_to = [\"all\"]\n\n[[step]]\n{body}\n");
        parse(Path::new("t.toml"), &text).map(|s| s.steps[0].clone())
    }

    fn action(body: &str) -> Option<Action> {
        one_step(body).ok().map(|s| s.action)
    }

    fn refusal(body: &str) -> String {
        one_step(body).err().map(|e| e.to_string()).unwrap_or_default()
    }

    #[test]
    fn sign_hash_prefixes() {
        assert_eq!(
            action("sign = { key = 1, hash = \"sha384:x\" }"),
            Some(Action::Sign { key: 1, hash: HashInput::Of { alg: HashAlg::Sha384, text: "x".into() } })
        );
        assert_eq!(
            action("sign = { key = 2, hash = \"hex:0102\" }"),
            Some(Action::Sign { key: 2, hash: HashInput::Raw(vec![1, 2]) })
        );
        assert!(refusal("sign = { key = 1, hash = \"sha3:x\" }").contains("no `sha1:`"));
        let label = one_step("sign = { key = 1, hash = \"sha1:t\" }").map(|s| s.label).unwrap_or_default();
        assert_eq!(label, "SIGN key 1 sha1:t");
    }

    #[test]
    fn decipher_and_public_key_steps() {
        assert_eq!(
            action("decipher = { key = 3, secret = \"geheim\" }"),
            Some(Action::Decipher { key: 3, input: DecipherInput::Secret("geheim".into()), mse: true, chained: false })
        );
        assert_eq!(
            action("decipher = { key = 3, cryptogram = \"bad-padding\", mse = false, chained = true }"),
            Some(Action::Decipher { key: 3, input: DecipherInput::BadPadding, mse: false, chained: true })
        );
        assert_eq!(
            action("decipher = { key = 3, cryptogram = \"hex:00 11\" }").map(|a| matches!(
                a,
                Action::Decipher { input: DecipherInput::Raw(b), .. } if b == [0x00, 0x11]
            )),
            Some(true)
        );
        assert!(refusal("decipher = { key = 3, secret = \"a\", cryptogram = \"modulus\" }").contains("exactly one"));
        assert!(refusal("decipher = { key = 3 }").contains("exactly one"));
        assert!(
            refusal(&format!("decipher = {{ key = 3, secret = \"{}\" }}", "x".repeat(246))).contains("at most 245")
        );
        assert!(refusal("decipher = { key = 4, secret = \"a\" }").contains("not a key reference"));
        assert!(refusal("decipher = { key = 3, cryptogram = \"random\" }").contains("not a choice"));
        assert!(refusal("decipher = { key = 3, secret = \"a\" }\nexpect_len = 3").contains("no answer data"));

        assert_eq!(action("public_key = 2\nexpect_data = \"7F 49 *\""), Some(Action::PublicKey(2)));
        assert!(refusal("public_key = 0").contains("not a key reference"));
    }

    #[test]
    fn wrong_and_new_values_differ() {
        assert_eq!(wrong_value("123459"), "123450");
        assert_ne!(new_pin("975318", 6, 8), "975318");
        assert_eq!(new_pin("1234", 6, 8).len(), 6);
    }
}
