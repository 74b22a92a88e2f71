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
//!
//! Why this file is just over 600 lines: it holds the script format's types with a doc comment per field (the
//! reference for script authors); patterns, variables and the step parser are its submodules.

use std::fmt;
use std::path::{Path, PathBuf};

use card_os::Status;
use card_os::types::FileId;
use serde::Deserialize;
use toml::Spanned;

use fixtures::format::{self, FixtureError, FixtureFormat, FixtureText};
use issuance::profile::{CardKind, DisplayPath, KeyType, PROFILE_NAMES, Profile};

mod patterns;
mod step;
mod vars;

/// The script file format this module reads.
pub const FORMAT_VERSION: i64 = 1;

/// Where the scripts of the fixture set live ([`fixtures::active`]): `fixtures/scripts`, embedded unless
/// `--fixtures DIR`.
pub fn scripts_dir() -> PathBuf {
    fixtures::active().folder(fixtures::FixtureKind::Script)
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

    /// The file as shown in reports: `fixtures/scripts/x.toml` for an embedded script
    /// ([`fixtures::report_name`]).
    pub fn display_file(&self) -> String {
        fixtures::report_name(&self.file)
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

pub use self::patterns::{DataPattern, SwPattern, parse_path, path_text};
use self::step::{RawStep, parse_step};
pub use self::vars::{Field, VARIABLES, Vars};
pub use fixtures::format::parse_hex;

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

/// Load every `*.toml` in `dir` (not `README.md`), sorted by file name; `dir` is embedded or on disk
/// ([`fixtures::list`]).
pub fn load_dir(dir: &Path) -> Result<Vec<Script>, ScriptError> {
    let entries =
        fixtures::list(dir).map_err(|source| ScriptError::Dir { path: DisplayPath(dir.to_owned()), source })?;
    let files: Vec<PathBuf> = entries.into_iter().filter(|p| p.extension().is_some_and(|e| e == "toml")).collect();
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
    let text = format::read(FixtureFormat::Script, path)?;
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

#[cfg(test)]
mod tests;
