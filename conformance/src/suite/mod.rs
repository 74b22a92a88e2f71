//! The conformance suite runner: is this card an ISO 7816 PKI card of the profile it claims?
//!
//! [`run_suite`] runs the scripts of `fixtures/scripts` ([`crate::suite::script`]) against a [`Target`]: the in-process
//! reader (every script gets a fresh copy of a card of the profile made by [`crate::issuance::card_new::new_card`], so scripts cannot
//! disturb each other), or any reader behind [`Transmit`] — a vpcd slot in pcscd or a real card in a real reader —
//! where the claimed profile decides which scripts apply, the card is reset before each script, and scripts marked
//! `destructive` are skipped with the reason in the report, never silently. Everything a script checks goes
//! through the card's own commands: the signature of a `sign` step is verified with the certificate read from the
//! card, not with anything the host knows, and a `decipher` step encrypts to that certificate's key.
//!
//! Key types: the profile says what each key is (RSA-2048 by default, P-256 by choice), and the runner talks to
//! each key in its dialect. An RSA key is sent a DigestInfo (`MSE SET 80 01 11`, PKCS#1 v1.5 signatures of 256
//! bytes, verified with the `rsa` crate); a P-256 key the bare hash (DER ECDSA signatures). Public keys are read
//! with `00 46 01 <ref>`, a `61xx` fetched with GET RESPONSE, and parsed with
//! [`crate::issuance::key_import::public_key_from_template`].
//!
//! [`conformance_main`] is `zorgcard conformance`: progress on stderr, the summary on stdout, JUnit on request, and
//! the exit code.

pub mod report;
pub mod script;

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Instant;

use der::{Decode, Reader as _, SliceReader, Tagged as _};
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use p256::ecdsa::{DerSignature, VerifyingKey};
use reader_sim::platform::{HostPlatform, nvm_from_bytes};
use reader_sim::reader::{InProcessReader, Transmit};
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::traits::PublicKeyParts;
use rsa::{Pkcs1v15Encrypt, Pkcs1v15Sign};
use sha2::{Digest, Sha224, Sha256, Sha384, Sha512};

use self::report::{CheckResult, Outcome, ProfileReport, Progress, ProgressPrinter, ProgressState, ScriptReport};
use self::report::{StepReport, SuiteReport};
use self::script::{
    Action, CertCheck, Challenge, Content, DataPattern, DecipherInput, Field, HashAlg, HashInput, OnFailure, Retries,
    Script, ScriptError, Step, SwExpect, SwPattern, Vars,
};
use crate::issuance::card_new::{CardNewError, NewCardOptions, new_card};
use crate::issuance::inspect::utc;
use crate::issuance::key_import::public_key_from_template;
use crate::issuance::pkcs15::{self, asn1};
use crate::issuance::pki::{CertSummary, HolderPublicKey, PkiError, TestPki, add_three_years, certificate_summary};
use crate::issuance::profile::{self, CardKind, KeyType, PROFILE_NAMES, Profile, ProfileError};
use crate::pcsc_reader::PcscReader;

/// Where the cards under test are.
pub enum Target {
    /// Fresh simulated cards in the in-process reader, one per script. Empty `profiles`: all five shipped ones.
    InProcess {
        /// Profile names or paths to profile files.
        profiles: Vec<String>,
    },
    /// One card in a reader the caller opened (pcscd, vpcd, a real reader).
    Reader {
        /// The exchange with the card.
        transmit: Box<dyn Transmit>,
        /// The profile the card claims (name or path): decides which scripts apply and the PIN/PUK values.
        profile: String,
        /// Resets the card (PIN verification lost), e.g. `SCardReconnect(SCARD_RESET_CARD)`.
        reset: Box<dyn FnMut() -> Result<(), String>>,
    },
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::InProcess { profiles } => f.debug_struct("InProcess").field("profiles", profiles).finish(),
            Target::Reader { profile, .. } => {
                f.debug_struct("Reader").field("profile", profile).finish_non_exhaustive()
            }
        }
    }
}

/// Choices for a run.
#[derive(Clone, Debug, Default)]
pub struct SuiteOptions {
    /// Script files or directories; empty: every script in `fixtures/scripts`.
    pub scripts: Vec<PathBuf>,
    /// The reader's name, for the report (`Target::Reader` only).
    pub reader_name: Option<String>,
}

/// Why the suite could not run at all. (A card that fails checks is not an error: it is a report with failures.)
#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    /// A script file is unreadable or malformed.
    #[error(transparent)]
    Script(#[from] ScriptError),
    /// A profile could not be loaded.
    #[error(transparent)]
    Profile(#[from] ProfileError),
    /// The test PKI could not be loaded (in-process cards need it).
    #[error(transparent)]
    Pki(#[from] PkiError),
    /// A fresh in-process card could not be made.
    #[error(transparent)]
    CardNew(#[from] CardNewError),
    /// The in-process reader would not power the fresh card.
    #[error("profile `{profile}`: the in-process reader could not power the fresh card: {problem}")]
    PowerOn {
        /// The profile.
        profile: String,
        /// What the reader said.
        problem: String,
    },
    /// The PC/SC reader could not be opened.
    #[error("reader `{reader}`: {problem}")]
    Reader {
        /// The reader name.
        reader: String,
        /// What went wrong and what to do.
        problem: String,
    },
    /// `--reader` without exactly one `--profile`.
    #[error(
        "reader `{reader}`: say which profile the card in it claims with exactly one --profile (got {count}), e.g. \
         --profile uzi-zorgverlener; the profile decides which scripts apply and the PIN and PUK to use"
    )]
    ReaderProfile {
        /// The reader name.
        reader: String,
        /// How many profiles were given.
        count: usize,
    },
    /// The JUnit file could not be written.
    #[error("cannot write the JUnit report `{path}`: {source}: check the directory exists and is writable")]
    Junit {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// Run the suite. `progress` hears of every script starting and finishing (see [`ProgressPrinter`]).
pub fn run_suite(
    target: Target,
    options: &SuiteOptions,
    progress: &mut dyn FnMut(&Progress),
) -> Result<SuiteReport, SuiteError> {
    let scripts = if options.scripts.is_empty() {
        script::load_dir(&script::scripts_dir())?
    } else {
        script::load_files(&options.scripts)?
    };
    match target {
        Target::InProcess { profiles } => run_in_process(&profiles, &scripts, progress),
        Target::Reader { mut transmit, profile, mut reset } => {
            let profile = profile::load(&profile)?;
            let label = match &options.reader_name {
                Some(name) => format!("reader \"{name}\""),
                None => "reader".to_owned(),
            };
            let mut link = ReaderLink { transmit: transmit.as_mut(), reset: reset.as_mut() };
            let (applicable, not_applicable) = split_applicable(&scripts, &profile);
            let total = applicable.len();
            let vars = Vars::for_profile(&profile);
            let mut report = ProfileReport { profile: profile.name.clone(), not_applicable, scripts: Vec::new() };
            for (i, script) in applicable.into_iter().enumerate() {
                let mut event = Progress {
                    index: i + 1,
                    total,
                    profile: profile.name.clone(),
                    script: script.name.clone(),
                    state: ProgressState::Started,
                };
                let result = if script.destructive {
                    skipped_script(script, "destructive, needs a fresh simulated card")
                } else {
                    progress(&event);
                    run_on_reset_card(&mut link, &profile, &vars, script)
                };
                event.state = finished_state(&result);
                progress(&event);
                report.scripts.push(result);
            }
            Ok(SuiteReport { target: label, profiles: vec![report] })
        }
    }
}

fn run_in_process(
    names: &[String],
    scripts: &[Script],
    progress: &mut dyn FnMut(&Progress),
) -> Result<SuiteReport, SuiteError> {
    let names: Vec<String> =
        if names.is_empty() { PROFILE_NAMES.iter().map(|n| (*n).to_owned()).collect() } else { names.to_vec() };
    let profiles = names.iter().map(|n| profile::load(n)).collect::<Result<Vec<_>, _>>()?;
    let pki = TestPki::fixtures()?;
    let total: usize = profiles.iter().map(|p| split_applicable(scripts, p).0.len()).sum();
    let mut index = 0;
    let mut report = SuiteReport { target: "in-process reader".into(), profiles: Vec::new() };
    for profile in &profiles {
        let (applicable, not_applicable) = split_applicable(scripts, profile);
        let vars = Vars::for_profile(profile);
        let mut profile_report = ProfileReport { profile: profile.name.clone(), not_applicable, scripts: Vec::new() };
        // One card of the profile is made (keys, certificates), and every script gets a fresh copy of its image:
        // the same card, without paying for RSA key generation and RSA-4096 certificate signatures per script.
        let made = new_card(profile, &pki, &NewCardOptions::default())?;
        let image = card_os::Platform::nvm(made.card.platform()).as_bytes().to_vec();
        for script in applicable {
            index += 1;
            let mut event = Progress {
                index,
                total,
                profile: profile.name.clone(),
                script: script.name.clone(),
                state: ProgressState::Started,
            };
            progress(&event);
            // A fresh card per script: a destructive script (PUK blocked, card terminated) harms nothing after it.
            let copy = nvm_from_bytes(image.clone())
                .map_err(|e| SuiteError::PowerOn { profile: profile.name.clone(), problem: e.to_string() })?;
            let card = card_os::Card::boot(HostPlatform::with_nvm(copy))
                .map_err(|e| SuiteError::PowerOn { profile: profile.name.clone(), problem: e.to_string() })?;
            let mut reader = InProcessReader::with_card(card);
            reader
                .power_on()
                .map_err(|e| SuiteError::PowerOn { profile: profile.name.clone(), problem: e.to_string() })?;
            let result = run_script(&mut InProcessLink(&mut reader), profile, &vars, script);
            event.state = finished_state(&result);
            progress(&event);
            profile_report.scripts.push(result);
        }
        report.profiles.push(profile_report);
    }
    Ok(report)
}

fn split_applicable<'a>(scripts: &'a [Script], profile: &Profile) -> (Vec<&'a Script>, Vec<String>) {
    let (yes, no): (Vec<&Script>, Vec<&Script>) = scripts.iter().partition(|s| s.applies_to_profile(profile));
    (yes, no.into_iter().map(|s| s.name.clone()).collect())
}

fn finished_state(report: &ScriptReport) -> ProgressState {
    match report.outcome() {
        Outcome::Pass => ProgressState::Passed,
        Outcome::Fail => ProgressState::Failed(report.steps.iter().filter(|s| s.outcome() == Outcome::Fail).count()),
        Outcome::Skipped(reason) => ProgressState::Skipped(reason),
    }
}

/// A report of `script` with no steps yet.
fn empty_report(script: &Script) -> ScriptReport {
    ScriptReport {
        script: script.name.clone(),
        file: script.display_file(),
        description: script.description.clone(),
        ..ScriptReport::default()
    }
}

fn skipped_script(script: &Script, reason: &str) -> ScriptReport {
    ScriptReport { skipped: Some(reason.to_owned()), ..empty_report(script) }
}

/// Through a shared reader each script starts from a reset card, so no verification or security environment left by
/// the previous script (or another application) leaks into it.
fn run_on_reset_card(link: &mut dyn Link, profile: &Profile, vars: &Vars, script: &Script) -> ScriptReport {
    if let Err(e) = link.reset() {
        let mut report = empty_report(script);
        report.steps.push(StepReport {
            number: 0,
            label: "reset before the script".into(),
            line: 0,
            checks: vec![CheckResult::new("card reset", "the reader resets the card", format!("failed: {e}"), false)],
            ..StepReport::default()
        });
        return report;
    }
    run_script(link, profile, vars, script)
}

/// How the runner reaches a card: exchange and reset.
trait Link {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, String>;
    fn reset(&mut self) -> Result<(), String>;
}

struct InProcessLink<'a>(&'a mut InProcessReader);

impl Link for InProcessLink<'_> {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, String> {
        self.0.transmit(apdu).map_err(|e| e.to_string())
    }

    fn reset(&mut self) -> Result<(), String> {
        self.0.reset().map(|_| ()).map_err(|e| e.to_string())
    }
}

struct ReaderLink<'a> {
    transmit: &'a mut dyn Transmit,
    reset: &'a mut dyn FnMut() -> Result<(), String>,
}

impl Link for ReaderLink<'_> {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, String> {
        self.transmit.transmit(apdu).map_err(|e| e.to_string())
    }

    fn reset(&mut self) -> Result<(), String> {
        (self.reset)()
    }
}

/// Run one script's steps, and its restore steps if a step failed.
fn run_script(link: &mut dyn Link, profile: &Profile, vars: &Vars, script: &Script) -> ScriptReport {
    let start = Instant::now();
    let mut runner = Runner { link, profile, vars };
    let mut steps = Vec::new();
    let mut failed_at = None;
    for (i, step) in script.steps.iter().enumerate() {
        let mut report =
            StepReport { number: i + 1, label: step.label.clone(), line: step.line, ..StepReport::default() };
        match (failed_at, script.on_failure) {
            (Some(first), OnFailure::Stop) => report.skipped = Some(format!("not run: step {first:02} failed")),
            _ => {
                report.checks = runner.run_step(step);
                if failed_at.is_none() && report.outcome() == Outcome::Fail {
                    failed_at = Some(i + 1);
                }
            }
        }
        steps.push(report);
    }
    if failed_at.is_some() {
        for (i, step) in script.restore.iter().enumerate() {
            steps.push(StepReport {
                number: script.steps.len() + i + 1,
                label: step.label.clone(),
                line: step.line,
                restore: true,
                skipped: None,
                checks: runner.run_step(step),
            });
        }
    }
    ScriptReport { steps, duration: start.elapsed(), ..empty_report(script) }
}

/// A response APDU split into data and status word.
struct Answer {
    data: Vec<u8>,
    sw: u16,
}

/// Why a whole-file read stopped.
enum ReadError {
    /// A command answered this status word.
    Status { sw: u16, during: String },
    /// The answer made no sense (no size in the FCP, a short read).
    Malformed(String),
    /// The reader failed.
    Reader(String),
}

impl ReadError {
    fn describe(&self) -> String {
        match self {
            ReadError::Status { sw, during } => format!("{during} answered {}", sw_words(*sw)),
            ReadError::Malformed(m) => m.clone(),
            ReadError::Reader(e) => format!("no answer: {e}"),
        }
    }
}

struct Runner<'a> {
    link: &'a mut dyn Link,
    profile: &'a Profile,
    vars: &'a Vars,
}

/// The SW words a step's expectation stands for.
fn sw_words(sw: u16) -> String {
    let [sw1, sw2] = sw.to_be_bytes();
    let words = match (sw1, sw2) {
        (0x63, n) if n & 0xF0 == 0xC0 => format!("verification failed, {} tries left", n & 0x0F),
        (0x61, n) => format!("{n} more bytes with GET RESPONSE"),
        (0x6C, n) => format!("wrong Le, resend with Le {n:02X}"),
        _ => card_os::Status::from_sw(sw).description().to_owned(),
    };
    format!("{sw:04X} ({words})")
}

fn pattern_words(p: SwPattern) -> String {
    match p.as_exact() {
        Some(sw) => sw_words(sw),
        None => p.to_string(),
    }
}

/// Hex bytes for a report, long answers cut.
fn hex_words(data: &[u8]) -> String {
    const SHOWN: usize = 48;
    if data.is_empty() {
        return "no data".into();
    }
    let shown: Vec<String> = data.iter().take(SHOWN).map(|b| format!("{b:02X}")).collect();
    if data.len() > SHOWN { format!("{} … ({} bytes)", shown.join(" "), data.len()) } else { shown.join(" ") }
}

/// Short-length command APDU with data (case 3) or with data and `Le = 00` (case 4).
fn command(header: [u8; 4], data: &[u8], le: bool) -> Result<Vec<u8>, String> {
    let lc = u8::try_from(data.len()).map_err(|_| format!("{} data bytes do not fit a short APDU", data.len()))?;
    let mut apdu = header.to_vec();
    if !data.is_empty() {
        apdu.push(lc);
        apdu.extend_from_slice(data);
    }
    if le {
        apdu.push(0x00);
    }
    Ok(apdu)
}

/// Command APDU with data: short (case 3/4) when the data fits, else extended (`00 Lc1 Lc2`, Le `00 00`).
fn command_any_length(header: [u8; 4], data: &[u8]) -> Result<Vec<u8>, String> {
    if data.len() <= 255 {
        return command(header, data, true);
    }
    let lc = u16::try_from(data.len()).map_err(|_| format!("{} data bytes do not fit an APDU", data.len()))?;
    let mut apdu = header.to_vec();
    apdu.push(0x00);
    apdu.extend_from_slice(&lc.to_be_bytes());
    apdu.extend_from_slice(data);
    apdu.extend_from_slice(&[0x00, 0x00]);
    Ok(apdu)
}

/// Command chaining (ISO 7816-4 §5.3.3), as OpenSC sends long data to a reader without extended APDUs: parts of
/// at most 255 bytes, CLA `10` on all but the last, Le `00` on the last.
fn chained_commands(header: [u8; 4], data: &[u8]) -> Vec<Vec<u8>> {
    let parts: Vec<&[u8]> = data.chunks(255).collect();
    let last = parts.len().saturating_sub(1);
    parts
        .iter()
        .enumerate()
        .map(|(i, part)| {
            let mut apdu = header.to_vec();
            if i < last {
                apdu[0] |= 0x10;
            }
            apdu.push(part.len() as u8);
            apdu.extend_from_slice(part);
            if i == last {
                apdu.push(0x00);
            }
            apdu
        })
        .collect()
}

/// The hash of `data`.
fn digest(alg: HashAlg, data: &[u8]) -> Vec<u8> {
    match alg {
        HashAlg::Sha1 => sha1::Sha1::digest(data).to_vec(),
        HashAlg::Sha224 => Sha224::digest(data).to_vec(),
        HashAlg::Sha256 => Sha256::digest(data).to_vec(),
        HashAlg::Sha384 => Sha384::digest(data).to_vec(),
        HashAlg::Sha512 => Sha512::digest(data).to_vec(),
    }
}

/// The `rsa` crate's PKCS#1 v1.5 signature scheme of a hash function; its prefix is the DigestInfo header.
fn pkcs1v15(alg: HashAlg) -> Pkcs1v15Sign {
    match alg {
        HashAlg::Sha1 => Pkcs1v15Sign::new::<sha1::Sha1>(),
        HashAlg::Sha224 => Pkcs1v15Sign::new::<Sha224>(),
        HashAlg::Sha256 => Pkcs1v15Sign::new::<Sha256>(),
        HashAlg::Sha384 => Pkcs1v15Sign::new::<Sha384>(),
        HashAlg::Sha512 => Pkcs1v15Sign::new::<Sha512>(),
    }
}

/// `DigestInfo ::= SEQUENCE { digestAlgorithm, digest }` of a hash (RFC 8017 §9.2): what an RSA key is sent.
pub fn digest_info(alg: HashAlg, hash: &[u8]) -> Vec<u8> {
    [&*pkcs1v15(alg).prefix, hash].concat()
}

/// What the card was asked to sign, for verification: a hash (sent to an RSA key in its DigestInfo), or bytes
/// sent as they are (`hash = "hex:…"`).
struct Signed {
    /// The hash function, or `None` for bytes sent as they are.
    alg: Option<HashAlg>,
    /// The hash, or the bytes sent.
    bytes: Vec<u8>,
}

/// What kind of key a public key is.
fn key_type_of(key: &HolderPublicKey) -> KeyType {
    match key {
        HolderPublicKey::Rsa { .. } => KeyType::Rsa2048,
        HolderPublicKey::P256 { .. } => KeyType::P256,
    }
}

fn type_words(kind: KeyType) -> &'static str {
    match kind {
        KeyType::Rsa2048 => "RSA-2048",
        KeyType::P256 => "P-256",
    }
}

/// A public key for a report: `RSA-2048 n 97 E4 22 E3 73 9E 81 E7 …, e 01 00 01` or `P-256 04 …`.
fn key_words(key: &HolderPublicKey) -> String {
    match key {
        HolderPublicKey::Rsa { modulus, exponent } => {
            let n = modulus.iter().take(8).map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(" ");
            format!("RSA-{} n {n} …, e {}", key.bits(), hex_words(exponent))
        }
        HolderPublicKey::P256 { sec1 } => format!("P-256 {}", hex_words(sec1)),
    }
}

/// Whether a public key is what the profile says the card's key is: RSA-2048 with e = 65537 (CPS UZI-register
/// §6.1.4; the chip makes and takes no other), or a point on P-256.
fn key_fits(key: &HolderPublicKey, kind: KeyType) -> bool {
    match (key, kind) {
        (HolderPublicKey::Rsa { exponent, .. }, KeyType::Rsa2048) => {
            key.bits() == 2048 && exponent.as_slice() == [0x01, 0x00, 0x01]
        }
        (HolderPublicKey::P256 { sec1 }, KeyType::P256) => VerifyingKey::from_sec1_bytes(sec1).is_ok(),
        _ => false,
    }
}

/// The `rsa` crate's public key of an RSA [`HolderPublicKey`].
fn rsa_public_key(key: &HolderPublicKey) -> Result<rsa::PublicKey, String> {
    match key.rsa_public_key_der() {
        Some(Ok(der)) => rsa::PublicKey::from_pkcs1_der(&der).map_err(|e| format!("an unusable RSA key ({e})")),
        Some(Err(e)) => Err(format!("an unusable RSA key ({e})")),
        None => Err("a P-256 key, not an RSA key".into()),
    }
}

/// A cryptogram below any 2048-bit modulus (first byte `00`) that the host did not make with PKCS#1 v1.5
/// padding: deciphered, its padding is bad (but for a chance of about 2⁻¹⁶ per key, which the check survives).
fn bad_padding_cryptogram(len: usize) -> Vec<u8> {
    let fill = Sha256::digest(b"zorgcard conformance: not a cryptogram");
    let mut out: Vec<u8> = fill.iter().copied().cycle().take(len).collect();
    if let Some(first) = out.first_mut() {
        *first = 0x00;
    }
    out
}

fn cannot_run(problem: String) -> Vec<CheckResult> {
    vec![CheckResult::new("command", "a command to send", format!("cannot build it: {problem}"), false)]
}

/// The FCP size (tag `80`) of a SELECT answer `62 L { … }` (ISO 7816-4 §7.4.3, table 12).
fn fcp_size(fcp: &[u8]) -> Option<usize> {
    let body = match fcp {
        [0x62 | 0x6F, len, rest @ ..] if usize::from(*len) <= rest.len() => &rest[..usize::from(*len)],
        _ => return None,
    };
    let mut rest = body;
    while let [tag, len, tail @ ..] = rest {
        let len = usize::from(*len);
        let value = tail.get(..len)?;
        if *tag == 0x80 && (1..=4).contains(&len) {
            return Some(value.iter().fold(0usize, |acc, b| acc << 8 | usize::from(*b)));
        }
        rest = &tail[len..];
    }
    None
}

/// FIDs of a PKCS#15 Path (`3F00 5015 4401`) as a path from the MF.
fn fids(path: &[u8]) -> Vec<u16> {
    let mut out: Vec<u16> = path.chunks_exact(2).map(|p| u16::from_be_bytes([p[0], p[1]])).collect();
    if out.first() == Some(&0x3F00) {
        out.remove(0);
    }
    out
}

/// Every DER object in an EF, stopping at `00`/`FF` padding after the last one (real cards allocate EFs larger
/// than their content; PKCS#15 v1.1 §5.5.1 allows it).
fn decode_all<'a, T: Decode<'a>>(bytes: &'a [u8]) -> Result<Vec<T>, String> {
    let mut reader = SliceReader::new(bytes).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    while let Some(first) = reader.peek_byte() {
        if first == 0x00 || first == 0xFF {
            break;
        }
        out.push(T::decode(&mut reader).map_err(|e| format!("object {} does not decode: {e}", out.len() + 1))?);
    }
    Ok(out)
}

/// The date three years after `date` (29 February → 28 February), via the same rule the test PKI issues with.
fn three_years_after(date: time::Date) -> time::Date {
    let midnight = date.midnight().assume_utc().unix_timestamp();
    time::OffsetDateTime::from_unix_timestamp(add_three_years(midnight)).map(|t| t.date()).unwrap_or(date)
}

/// GET DATA `DF30` (DIALECT.md): `YYYYMMDD` first usable day, `YYYYMMDD` the anniversary from which the card is
/// expired. Two checks: the window is three years with the 29-February rule, and today is inside it.
pub fn validity_checks(data: &[u8], today: time::Date) -> Vec<CheckResult> {
    let parse = |s: &[u8]| -> Option<time::Date> {
        let s = std::str::from_utf8(s).ok()?;
        if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let year: i32 = s[..4].parse().ok()?;
        let month = time::Month::try_from(s[4..6].parse::<u8>().ok()?).ok()?;
        time::Date::from_calendar_date(year, month, s[6..].parse().ok()?).ok()
    };
    let (from, until) = match (data.get(..8).and_then(parse), data.get(8..).and_then(parse)) {
        (Some(from), Some(until)) if data.len() == 16 => (from, until),
        _ => {
            return vec![CheckResult::new(
                "validity format",
                "16 ASCII digits YYYYMMDDYYYYMMDD",
                format!("{} ({:?})", hex_words(data), String::from_utf8_lossy(data)),
                false,
            )];
        }
    };
    let anniversary = three_years_after(from);
    vec![
        CheckResult::new(
            "validity is three years",
            format!("from {from} until {anniversary} (3 years, 29 February → 28 February)"),
            format!("from {from} until {until}"),
            until == anniversary,
        ),
        CheckResult::new(
            "card valid today",
            format!("{from} ≤ {today} < {until}"),
            format!("today is {today}"),
            from <= today && today < until,
        ),
    ]
}

impl Runner<'_> {
    fn send_raw(&mut self, apdu: &[u8]) -> Result<Answer, String> {
        let mut r = self.link.transmit(apdu)?;
        if r.len() < 2 {
            return Err(format!("the reader returned {} bytes, no status word", r.len()));
        }
        let sw = r.split_off(r.len() - 2);
        Ok(Answer { data: r, sw: u16::from_be_bytes([sw[0], sw[1]]) })
    }

    /// As a client does (ISO 7816-4 §5.3.4): resend a `6Cxx` with Le = xx, fetch `61xx` with GET RESPONSE.
    fn send(&mut self, apdu: &[u8]) -> Result<Answer, String> {
        let mut answer = self.send_raw(apdu)?;
        if answer.sw >> 8 == 0x6C && apdu.len() >= 5 {
            let mut again = apdu.to_vec();
            if let Some(le) = again.last_mut() {
                *le = answer.sw as u8;
            }
            answer = self.send_raw(&again)?;
        }
        let mut data = std::mem::take(&mut answer.data);
        for _ in 0..64 {
            if answer.sw >> 8 != 0x61 {
                break;
            }
            answer = self.send_raw(&[0x00, 0xC0, 0x00, 0x00, answer.sw as u8])?;
            data.append(&mut answer.data);
        }
        Ok(Answer { data, sw: answer.sw })
    }

    fn expected_sw(&self, step: &Step) -> SwPattern {
        match step.expect.sw {
            SwExpect::Default => SwPattern::OK,
            SwExpect::Pattern(p) => p,
            SwExpect::Retries(r) => {
                let n = match r {
                    Retries::Exactly(n) => n,
                    Retries::BelowMax { below, puk } => self.vars.max_tries(puk).saturating_sub(below),
                };
                SwPattern::exact(0x63C0 | u16::from(n.min(15)))
            }
        }
    }

    fn data_checks(&self, step: &Step, data: &[u8], out: &mut Vec<CheckResult>) {
        if let Some(template) = &step.expect.data {
            match self.vars.expand(template, Field::Hex).and_then(|s| DataPattern::parse(&s)) {
                Ok(p) => out.push(CheckResult::new("data", p.to_string(), hex_words(data), p.matches(data))),
                Err(e) => out.push(CheckResult::new("data", template, format!("cannot build the pattern: {e}"), false)),
            }
        }
        if let Some(n) = step.expect.len {
            out.push(CheckResult::new(
                "data length",
                format!("{n} bytes"),
                format!("{} bytes", data.len()),
                data.len() == n,
            ));
        }
    }

    /// Send `apdu` and check the status word; the answer is returned when it matched.
    fn exchange(
        &mut self,
        what: &str,
        apdu: &[u8],
        expected: SwPattern,
        follow: bool,
        out: &mut Vec<CheckResult>,
    ) -> Option<Answer> {
        let result = if follow { self.send(apdu) } else { self.send_raw(apdu) };
        match result {
            Ok(answer) => {
                let passed = expected.matches(answer.sw);
                out.push(CheckResult::new(what, pattern_words(expected), sw_words(answer.sw), passed));
                passed.then_some(answer)
            }
            Err(e) => {
                out.push(CheckResult::new(what, pattern_words(expected), format!("no answer: {e}"), false));
                None
            }
        }
    }

    /// The command of a step that only checks a status word (VERIFY, RESET RETRY COUNTER, CHANGE REFERENCE DATA,
    /// SELECT by path); `None` for the others.
    fn status_only_command(&self, action: &Action) -> Option<Result<Vec<u8>, String>> {
        let text = |t: &str| self.vars.expand(t, Field::Text).map(String::into_bytes);
        Some(match action {
            Action::Verify(pin) => text(pin).and_then(|p| command([0x00, 0x20, 0x00, 0x01], &p, false)),
            Action::Unblock { puk, new_pin } => text(puk).and_then(|mut data| {
                let p1 = match new_pin {
                    Some(n) => {
                        data.extend(text(n)?);
                        0x00
                    }
                    None => 0x01,
                };
                command([0x00, 0x2C, p1, 0x01], &data, false)
            }),
            Action::ChangePin { old, new } => text(old).and_then(|mut data| {
                data.extend(text(new)?);
                command([0x00, 0x24, 0x00, 0x01], &data, false)
            }),
            Action::SelectPath(path) if path.is_empty() => Ok(vec![0x00, 0xA4, 0x00, 0x0C]),
            Action::SelectPath(path) => {
                let bytes: Vec<u8> = path.iter().flat_map(|f| f.to_be_bytes()).collect();
                command([0x00, 0xA4, 0x08, 0x0C], &bytes, false)
            }
            _ => return None,
        })
    }

    fn run_step(&mut self, step: &Step) -> Vec<CheckResult> {
        let expected = self.expected_sw(step);
        let mut out = Vec::new();
        if let Some(built) = self.status_only_command(&step.action) {
            match built {
                Ok(apdu) => {
                    self.exchange("status word", &apdu, expected, false, &mut out);
                }
                Err(e) => return cannot_run(e),
            }
            return out;
        }
        match &step.action {
            Action::Apdu(template) => {
                let apdu = match self.vars.expand(template, Field::Hex).and_then(|s| script::parse_hex(&s)) {
                    Ok(a) => a,
                    Err(e) => return cannot_run(e),
                };
                if let Some(answer) = self.exchange("status word", &apdu, expected, false, &mut out) {
                    self.data_checks(step, &answer.data, &mut out);
                }
            }
            // Handled by `status_only_command` above.
            Action::Verify(_) | Action::Unblock { .. } | Action::ChangePin { .. } | Action::SelectPath(_) => {}
            Action::ReadFile(path) => self.read_file_step(step, path, expected, &mut out),
            Action::GetData(tag) => {
                let [p1, p2] = tag.to_be_bytes();
                if let Some(answer) =
                    self.exchange("status word", &[0x00, 0xCA, p1, p2, 0x00], expected, true, &mut out)
                {
                    self.data_checks(step, &answer.data, &mut out);
                    if step.expect.content == Some(Content::Validity) {
                        out.extend(validity_checks(&answer.data, time::OffsetDateTime::now_utc().date()));
                    }
                }
            }
            Action::Sign { key, hash } => self.sign_step(*key, hash, expected, &mut out),
            Action::InternalAuthenticate { key, challenge } => {
                self.internal_authenticate_step(*key, challenge, expected, &mut out)
            }
            Action::Decipher { key, input, mse, chained } => {
                self.decipher_step(*key, input, *mse, *chained, expected, &mut out)
            }
            Action::PublicKey(key) => self.public_key_step(step, *key, expected, &mut out),
            Action::Reset => {
                let got = self.link.reset();
                out.push(CheckResult::new(
                    "card reset",
                    "the reader resets the card",
                    match &got {
                        Ok(()) => "reset".to_owned(),
                        Err(e) => format!("failed: {e}"),
                    },
                    got.is_ok(),
                ));
            }
            Action::Pkcs15Structure => self.pkcs15_checks(&mut out),
        }
        out
    }

    /// SELECT with FCP by path from the MF, then READ BINARY of the whole EF in pieces of at most 256 bytes.
    fn read_ef(&mut self, path: &[u16]) -> Result<Vec<u8>, ReadError> {
        let bytes: Vec<u8> = path.iter().flat_map(|f| f.to_be_bytes()).collect();
        let select = command([0x00, 0xA4, 0x08, 0x04], &bytes, true).map_err(ReadError::Malformed)?;
        let fcp = self.send(&select).map_err(ReadError::Reader)?;
        if fcp.sw != 0x9000 {
            return Err(ReadError::Status { sw: fcp.sw, during: format!("SELECT {}", script::path_text(path)) });
        }
        let size = fcp_size(&fcp.data).ok_or_else(|| {
            ReadError::Malformed(format!(
                "the FCP of {} has no size (tag 80): {}",
                script::path_text(path),
                hex_words(&fcp.data)
            ))
        })?;
        let mut data = Vec::with_capacity(size);
        while data.len() < size {
            let n = (size - data.len()).min(256);
            let [p1, p2] = u16::try_from(data.len()).unwrap_or(u16::MAX).to_be_bytes();
            let answer = self.send_raw(&[0x00, 0xB0, p1, p2, n as u8]).map_err(ReadError::Reader)?;
            if answer.sw != 0x9000 {
                return Err(ReadError::Status {
                    sw: answer.sw,
                    during: format!("READ BINARY at offset {}", data.len()),
                });
            }
            if answer.data.is_empty() {
                return Err(ReadError::Malformed(format!("READ BINARY at offset {} answered no data", data.len())));
            }
            data.extend_from_slice(&answer.data);
        }
        Ok(data)
    }

    fn read_file_step(&mut self, step: &Step, path: &[u16], expected: SwPattern, out: &mut Vec<CheckResult>) {
        let data = match self.read_ef(path) {
            Ok(data) => {
                out.push(CheckResult::new(
                    "status word",
                    pattern_words(expected),
                    sw_words(0x9000),
                    expected.matches(0x9000),
                ));
                if !expected.matches(0x9000) {
                    return;
                }
                data
            }
            Err(ReadError::Status { sw, during }) => {
                out.push(CheckResult::new(
                    format!("status word ({during})"),
                    pattern_words(expected),
                    sw_words(sw),
                    expected.matches(sw),
                ));
                return;
            }
            Err(e) => {
                out.push(CheckResult::new("read the file", pattern_words(expected), e.describe(), false));
                return;
            }
        };
        self.data_checks(step, &data, out);
        match &step.expect.content {
            Some(Content::Der) => {
                let parsed = der::Any::from_der(&data);
                out.push(CheckResult::new(
                    "DER",
                    "one complete DER value",
                    match &parsed {
                        Ok(any) => format!("a DER value with tag {}", any.tag()),
                        Err(e) => format!("not DER: {e}"),
                    },
                    parsed.is_ok(),
                ));
            }
            Some(Content::Certificate { key, checks }) => match certificate_summary(&data) {
                Ok(cert) => {
                    out.push(CheckResult::new(
                        "X.509 certificate",
                        "a DER X.509 certificate",
                        cert.subject.clone(),
                        true,
                    ));
                    for check in checks {
                        let result = self.certificate_check(&cert, *key, *check);
                        out.push(result);
                    }
                }
                Err(e) => out.push(CheckResult::new(
                    "X.509 certificate",
                    "a DER X.509 certificate",
                    format!("{} bytes that do not parse: {e}", data.len()),
                    false,
                )),
            },
            Some(Content::Validity) | None => {}
        }
    }

    fn certificate_check(&mut self, cert: &CertSummary, key: Option<u8>, check: CertCheck) -> CheckResult {
        let holder = self.profile.holder.as_ref();
        match check {
            CertCheck::UziNumber => {
                let expected = holder.map(|h| h.uzi_number.clone());
                CheckResult::new(
                    "subject serialNumber (UZI number)",
                    expected.clone().unwrap_or_else(|| "(the profile has no holder)".into()),
                    cert.uzi_number.clone().unwrap_or_else(|| "none".into()),
                    expected.is_some() && expected == cert.uzi_number,
                )
            }
            CertCheck::San => {
                let got = cert.san_uzi.clone().unwrap_or_else(|| "no 2.5.5.5 otherName".into());
                let Some(h) = holder else {
                    return CheckResult::new("SAN 2.5.5.5", "(the profile has no holder)", got, false);
                };
                let (letter, ca_oid) = match self.profile.kind {
                    CardKind::Uzi(t) => (t.letter(), Some(t.uzi_ca_oid())),
                    CardKind::ZorgId => ('N', None),
                };
                let tail = format!("1-{}-{letter}-{}-{}-{}", h.uzi_number, h.subscriber_number, h.role, h.agb_code);
                let expected = format!("{}-{tail}", ca_oid.unwrap_or("<CA OID>"));
                let passed = cert.san_uzi.as_deref().and_then(|s| s.split_once('-')).is_some_and(|(oid, rest)| {
                    let oid_ok = match ca_oid {
                        Some(want) => oid == want,
                        None => {
                            !oid.is_empty()
                                && oid.split('.').all(|a| !a.is_empty() && a.bytes().all(|b| b.is_ascii_digit()))
                        }
                    };
                    oid_ok && rest == tail
                });
                CheckResult::new("SAN 2.5.5.5", expected, got, passed)
            }
            CertCheck::KeyUsage => {
                let expected: &[&str] = match key {
                    Some(1) => &["digitalSignature"],
                    Some(2) => &["nonRepudiation"],
                    _ => &["keyEncipherment", "dataEncipherment"],
                };
                CheckResult::new(
                    "keyUsage",
                    expected.join(", "),
                    if cert.key_usage.is_empty() { "none".into() } else { cert.key_usage.join(", ") },
                    cert.key_usage == expected,
                )
            }
            CertCheck::Validity => {
                let limit = add_three_years(cert.not_before) - 1;
                CheckResult::new(
                    "certificate validity",
                    format!(
                        "notAfter after notBefore and at most {} (3 years − 1 s, 29 February → 28 February)",
                        utc(limit)
                    ),
                    format!("{} .. {}", utc(cert.not_before), utc(cert.not_after)),
                    cert.not_before < cert.not_after && cert.not_after <= limit,
                )
            }
            CertCheck::PublicKey => {
                let key = key.unwrap_or(1);
                let expected = format!("the public key of card key {key} (00 46 01 {key:02X})");
                match self.card_public_key(key) {
                    Ok(public) => {
                        let same = cert.public_key.as_ref() == Some(&public);
                        let got = if same {
                            format!("the same {} key", type_words(key_type_of(&public)))
                        } else {
                            format!(
                                "card key {}, certificate key {}",
                                key_words(&public),
                                cert.public_key.as_ref().map_or_else(|| "neither RSA nor P-256".to_owned(), key_words)
                            )
                        };
                        CheckResult::new("certificate key is the card's key", expected, got, same)
                    }
                    Err(e) => CheckResult::new("certificate key is the card's key", expected, e, false),
                }
            }
            CertCheck::NoEmail => CheckResult::new(
                "no e-mail address",
                "no e-mail address in subject or SAN (CPS UZI-register §7.1)",
                if cert.has_email { "an e-mail address" } else { "none" },
                !cert.has_email,
            ),
        }
    }

    /// The public key of a card key: `00 46 01 <ref> 00`, a `61xx` (an RSA template is 270 bytes) fetched with GET
    /// RESPONSE, the template `7F49 { 81 n, 82 e }` or `7F49 { 86 point }` parsed.
    fn card_public_key(&mut self, key: u8) -> Result<HolderPublicKey, String> {
        let answer = self.send(&[0x00, 0x46, 0x01, key, 0x00])?;
        if answer.sw != 0x9000 {
            return Err(format!("00 46 01 {key:02X} answered {}", sw_words(answer.sw)));
        }
        public_key_from_template(&answer.data)
            .ok_or_else(|| format!("no public key template: {}", hex_words(&answer.data)))
    }

    /// The public key of the certificate of card key `key`, read from `5015/430<key>`.
    fn certificate_key(&mut self, key: u8) -> Result<HolderPublicKey, String> {
        let path = [pkcs15::DF_PKCS15, pkcs15::certificate_fid(key)];
        let der =
            self.read_ef(&path).map_err(|e| format!("cannot read {}: {}", script::path_text(&path), e.describe()))?;
        let cert =
            certificate_summary(&der).map_err(|e| format!("{} is no certificate: {e}", script::path_text(&path)))?;
        cert.public_key.ok_or_else(|| {
            format!("the certificate in {} has neither an RSA nor a P-256 key", script::path_text(&path))
        })
    }

    /// The certificate key of `key` as an `rsa` crate key, for encrypting to it.
    fn certificate_rsa_key(&mut self, key: u8) -> Result<rsa::PublicKey, String> {
        let public = self.certificate_key(key)?;
        rsa_public_key(&public).map_err(|e| {
            let path = script::path_text(&[pkcs15::DF_PKCS15, pkcs15::certificate_fid(key)]);
            format!("the certificate in {path} has {e}")
        })
    }

    /// Verify a signature of card key `key` with the key of its certificate read from the card: DER ECDSA for a
    /// P-256 key, PKCS#1 v1.5 (`rsa` crate) for an RSA key.
    fn verify_signature(&mut self, key: u8, signed: &Signed, signature: &[u8]) -> CheckResult {
        let path = script::path_text(&[pkcs15::DF_PKCS15, pkcs15::certificate_fid(key)]);
        let expected = match self.profile.key_type(key) {
            KeyType::P256 => format!("a DER ECDSA signature that verifies with the certificate of key {key} ({path})"),
            KeyType::Rsa2048 => {
                let of = signed.alg.map_or("the bytes sent".to_owned(), |a| format!("a {} DigestInfo", a.title()));
                format!(
                    "a 256-byte PKCS#1 v1.5 signature of {of} that verifies with the certificate of key {key} ({path})"
                )
            }
        };
        let claimed = self.profile.key_type(key);
        let got = self.certificate_key(key).and_then(|public| match &public {
            _ if key_type_of(&public) != claimed => Err(format!(
                "the certificate's key is {}, the profile's {} (the card answered {} bytes)",
                type_words(key_type_of(&public)),
                type_words(claimed),
                signature.len()
            )),
            HolderPublicKey::P256 { sec1 } => {
                let vk = VerifyingKey::from_sec1_bytes(sec1)
                    .map_err(|_| format!("the certificate in {path} has no usable P-256 key"))?;
                let sig = DerSignature::try_from(signature)
                    .map_err(|e| format!("not a DER SEQUENCE{{r, s}} ({e}): {}", hex_words(signature)))?;
                vk.verify_prehash(&signed.bytes, &sig).map_err(|_| "a signature that does not verify".to_owned())
            }
            HolderPublicKey::Rsa { .. } => {
                let pk = rsa_public_key(&public).map_err(|e| format!("the certificate in {path} has {e}"))?;
                if signature.len() != pk.size() {
                    return Err(format!(
                        "{} bytes, not the {} of the modulus: {}",
                        signature.len(),
                        pk.size(),
                        hex_words(signature)
                    ));
                }
                let scheme = signed.alg.map_or_else(Pkcs1v15Sign::new_unprefixed, pkcs1v15);
                pk.verify(scheme, &signed.bytes, signature).map_err(|_| "a signature that does not verify".to_owned())
            }
        });
        CheckResult::new(
            "signature",
            expected,
            match &got {
                Ok(()) => "verifies".to_owned(),
                Err(e) => e.clone(),
            },
            got.is_ok(),
        )
    }

    /// Send an MSE SET; a status word other than `9000` is the step's, checked against `expected`. Returns
    /// whether the step goes on.
    fn mse(&mut self, apdu: &[u8], expected: SwPattern, out: &mut Vec<CheckResult>) -> bool {
        match self.send_raw(apdu) {
            Ok(a) if a.sw == 0x9000 => true,
            Ok(a) => {
                out.push(CheckResult::new(
                    "status word (MSE SET)",
                    pattern_words(expected),
                    sw_words(a.sw),
                    expected.matches(a.sw),
                ));
                false
            }
            Err(e) => {
                out.push(CheckResult::new(
                    "status word (MSE SET)",
                    pattern_words(expected),
                    format!("no answer: {e}"),
                    false,
                ));
                false
            }
        }
    }

    /// MSE SET DST with the key, PSO COMPUTE DIGITAL SIGNATURE, then verification against the card's certificate.
    /// `expected` is the status word of the first command that does not answer `9000`, or `9000`.
    ///
    /// An RSA key gets `80 01 11` (PKCS#1 v1.5, as OpenSC names it) and the DigestInfo of the hash; a P-256 key no
    /// algorithm reference and the bare hash. `hex:` bytes go to either as they are.
    fn sign_step(&mut self, key: u8, hash: &HashInput, expected: SwPattern, out: &mut Vec<CheckResult>) {
        let rsa = self.profile.key_type(key) == KeyType::Rsa2048;
        let mse: &[u8] = if rsa {
            &[0x00, 0x22, 0x41, 0xB6, 0x06, 0x80, 0x01, 0x11, 0x84, 0x01, key]
        } else {
            &[0x00, 0x22, 0x41, 0xB6, 0x03, 0x84, 0x01, key]
        };
        if !self.mse(mse, expected, out) {
            return;
        }
        let signed = match hash {
            HashInput::Of { alg, text } => Signed { alg: Some(*alg), bytes: digest(*alg, text.as_bytes()) },
            HashInput::Raw(bytes) => Signed { alg: None, bytes: bytes.clone() },
        };
        let input = match signed.alg {
            Some(alg) if rsa => digest_info(alg, &signed.bytes),
            _ => signed.bytes.clone(),
        };
        let pso = match command([0x00, 0x2A, 0x9E, 0x9A], &input, true) {
            Ok(apdu) => apdu,
            Err(e) => {
                out.extend(cannot_run(e));
                return;
            }
        };
        if let Some(answer) = self.exchange("status word (PSO)", &pso, expected, true, out)
            && answer.sw == 0x9000
        {
            let check = self.verify_signature(key, &signed, &answer.data);
            out.push(check);
        }
    }

    /// INTERNAL AUTHENTICATE. A P-256 key is sent the challenge and signs its SHA-256 (ECDSA); an RSA key is sent
    /// the SHA-256 DigestInfo of the challenge, which it pads (PKCS#1 v1.5). Both verify as a signature of
    /// SHA-256(challenge) with the authentication certificate.
    fn internal_authenticate_step(
        &mut self,
        key: u8,
        challenge: &Challenge,
        expected: SwPattern,
        out: &mut Vec<CheckResult>,
    ) {
        let challenge = match challenge {
            Challenge::Fixed(bytes) => bytes.clone(),
            Challenge::Random => {
                let mut bytes = [0u8; 32];
                if let Err(e) = getrandom::fill(&mut bytes) {
                    out.extend(cannot_run(format!("no random challenge: {e}")));
                    return;
                }
                bytes.to_vec()
            }
        };
        // P2 00: the key of MSE SET AT, which only the authentication key may be.
        let signer = if key == 0 { 1 } else { key };
        let signed = Signed { alg: Some(HashAlg::Sha256), bytes: Sha256::digest(&challenge).to_vec() };
        let data = match self.profile.key_type(signer) {
            KeyType::Rsa2048 => digest_info(HashAlg::Sha256, &signed.bytes),
            KeyType::P256 => challenge,
        };
        let apdu = match command([0x00, 0x88, 0x00, key], &data, true) {
            Ok(apdu) => apdu,
            Err(e) => {
                out.extend(cannot_run(e));
                return;
            }
        };
        if let Some(answer) = self.exchange("status word", &apdu, expected, true, out)
            && answer.sw == 0x9000
        {
            let check = self.verify_signature(signer, &signed, &answer.data);
            out.push(check);
        }
    }

    /// Send the parts of one command: every part but the last must answer `9000` (else its answer is the
    /// command's); the last is sent as a client does ([`Runner::send`]).
    fn send_parts(&mut self, parts: &[Vec<u8>]) -> Result<Answer, String> {
        let Some((last, first)) = parts.split_last() else {
            return Err("no command to send".into());
        };
        for part in first {
            let answer = self.send_raw(part)?;
            if answer.sw != 0x9000 {
                return Ok(answer);
            }
        }
        self.send(last)
    }

    /// MSE SET CT (`80 01 11`, PKCS#1 v1.5) with the key, then PSO DECIPHER of `00 ‖ cryptogram`. A secret is
    /// encrypted to the key's certificate read from the card and must come back; a bad padding must answer `9000`
    /// with the same message twice (implicit rejection). `expected` is the status word of the first command that
    /// does not answer `9000`, or `9000`.
    fn decipher_step(
        &mut self,
        key: u8,
        input: &DecipherInput,
        mse: bool,
        chained: bool,
        expected: SwPattern,
        out: &mut Vec<CheckResult>,
    ) {
        let path = script::path_text(&[pkcs15::DF_PKCS15, pkcs15::certificate_fid(key)]);
        let cryptogram = match input {
            DecipherInput::Raw(bytes) => Ok(bytes.clone()),
            DecipherInput::Secret(text) => self.certificate_rsa_key(key).and_then(|pk| {
                pk.encrypt(&mut getrandom::SysRng, Pkcs1v15Encrypt, text.as_bytes())
                    .map_err(|e| format!("cannot encrypt to the certificate in {path}: {e}"))
            }),
            DecipherInput::Modulus => self.certificate_rsa_key(key).map(|pk| {
                let n = pk.n_bytes();
                let mut out = vec![0u8; pk.size().saturating_sub(n.len())];
                out.extend_from_slice(&n);
                out
            }),
            DecipherInput::BadPadding => self.certificate_rsa_key(key).map(|pk| bad_padding_cryptogram(pk.size())),
        };
        let cryptogram = match cryptogram {
            Ok(c) => c,
            Err(e) => {
                out.extend(cannot_run(e));
                return;
            }
        };
        if mse && !self.mse(&[0x00, 0x22, 0x41, 0xB8, 0x06, 0x80, 0x01, 0x11, 0x84, 0x01, key], expected, out) {
            return;
        }
        let data = [&[0x00u8][..], &cryptogram].concat();
        let header = [0x00, 0x2A, 0x80, 0x86];
        let parts = if chained {
            chained_commands(header, &data)
        } else {
            match command_any_length(header, &data) {
                Ok(apdu) => vec![apdu],
                Err(e) => {
                    out.extend(cannot_run(e));
                    return;
                }
            }
        };
        let what = "status word (PSO DECIPHER)";
        let answer = match self.send_parts(&parts) {
            Ok(answer) => {
                let passed = expected.matches(answer.sw);
                out.push(CheckResult::new(what, pattern_words(expected), sw_words(answer.sw), passed));
                if !passed || answer.sw != 0x9000 {
                    return;
                }
                answer
            }
            Err(e) => {
                out.push(CheckResult::new(what, pattern_words(expected), format!("no answer: {e}"), false));
                return;
            }
        };
        match input {
            DecipherInput::Secret(text) => {
                let same = answer.data == text.as_bytes();
                out.push(CheckResult::new(
                    "plaintext",
                    format!("the {}-byte secret encrypted to the certificate of key {key} ({path})", text.len()),
                    if same { "the same bytes".to_owned() } else { hex_words(&answer.data) },
                    same,
                ));
            }
            DecipherInput::BadPadding => {
                let again = self.send_parts(&parts);
                let expected = "9000 with a message of at most 245 bytes, the same message again (implicit rejection: \
                                no status word or answer tells a bad padding)";
                let (got, passed) = match again {
                    Ok(a) if a.sw == 0x9000 && a.data == answer.data && answer.data.len() <= script::MAX_SECRET => {
                        (format!("9000 and the same {}-byte message twice", answer.data.len()), true)
                    }
                    Ok(a) if a.sw == 0x9000 && a.data == answer.data => {
                        (format!("the same {}-byte message twice, longer than any message", answer.data.len()), false)
                    }
                    Ok(a) if a.sw == 0x9000 => {
                        (format!("{} then {}", hex_words(&answer.data), hex_words(&a.data)), false)
                    }
                    Ok(a) => (format!("9000, then {}", sw_words(a.sw)), false),
                    Err(e) => (format!("9000, then no answer: {e}"), false),
                };
                out.push(CheckResult::new("implicit rejection", expected, got, passed));
            }
            DecipherInput::Modulus | DecipherInput::Raw(_) => {}
        }
    }

    /// `00 46 01 <ref> 00` with GET RESPONSE after `61xx`: a public-key template of the profile's key type.
    fn public_key_step(&mut self, step: &Step, key: u8, expected: SwPattern, out: &mut Vec<CheckResult>) {
        let Some(answer) = self.exchange("status word", &[0x00, 0x46, 0x01, key, 0x00], expected, true, out) else {
            return;
        };
        if answer.sw != 0x9000 {
            return;
        }
        self.data_checks(step, &answer.data, out);
        let kind = self.profile.key_type(key);
        let want = match kind {
            KeyType::Rsa2048 => "7F49 { 81 n, 82 e }: an RSA-2048 key, e = 65537",
            KeyType::P256 => "7F49 { 86 04‖X‖Y }: a point on P-256",
        };
        let (got, passed) = match public_key_from_template(&answer.data) {
            Some(public) => (key_words(&public), key_fits(&public, kind)),
            None => (format!("no public key template: {}", hex_words(&answer.data)), false),
        };
        out.push(CheckResult::new(format!("public key template of key {key}"), want, got, passed));
    }

    fn read_checked(&mut self, label: &str, path: &[u16], out: &mut Vec<CheckResult>) -> Option<Vec<u8>> {
        match self.read_ef(path) {
            Ok(data) => Some(data),
            Err(e) => {
                out.push(CheckResult::new(
                    format!("{label} {}", script::path_text(path)),
                    "present and readable",
                    e.describe(),
                    false,
                ));
                None
            }
        }
    }

    /// The PKCS#15 files OpenSC reads (see [`crate::issuance::pkcs15`]): present, decoding with the typed ASN.1 of
    /// [`asn1`], pointing at each other consistently and matching the card (serial, keys, certificates).
    fn pkcs15_checks(&mut self, out: &mut Vec<CheckResult>) {
        let aid = hex::encode_upper(pkcs15::PKCS15_AID);
        if let Some(dir) = self.read_checked("EF.DIR", &[pkcs15::EF_DIR], out) {
            let expected = format!("an application template with the PKCS#15 AID {aid}");
            match decode_all::<asn1::DirRecord>(&dir) {
                Ok(records) => {
                    let aids: Vec<String> = records
                        .iter()
                        .map(|r| match r {
                            asn1::DirRecord::Application(t) => hex::encode_upper(t.aid.as_bytes()),
                        })
                        .collect();
                    out.push(CheckResult::new(
                        "EF.DIR 2F00",
                        expected,
                        format!("applications {}", aids.join(", ")),
                        aids.contains(&aid),
                    ));
                }
                Err(e) => out.push(CheckResult::new("EF.DIR 2F00", expected, e, false)),
            }
        }

        let odf_path = [pkcs15::DF_PKCS15, pkcs15::EF_ODF];
        let mut paths: Vec<(&str, Vec<u16>)> = Vec::new();
        if let Some(odf) = self.read_checked("ODF", &odf_path, out) {
            let expected = "entries for the PrKDF, CDF and AODF";
            match decode_all::<asn1::OdfEntry>(&odf) {
                Ok(entries) => {
                    for entry in entries {
                        let (kind, path) = match entry {
                            asn1::OdfEntry::PrivateKeys(p) => ("PrKDF", p),
                            asn1::OdfEntry::PublicKeys(p) => ("PuKDF", p),
                            asn1::OdfEntry::Certificates(p) => ("CDF", p),
                            asn1::OdfEntry::AuthObjects(p) => ("AODF", p),
                        };
                        paths.push((kind, fids(path.efid_or_path.as_bytes())));
                    }
                    let got: Vec<String> = paths.iter().map(|(k, p)| format!("{k} {}", script::path_text(p))).collect();
                    let has = |k: &str| paths.iter().any(|(kind, _)| *kind == k);
                    out.push(CheckResult::new(
                        "ODF 5015/5031",
                        expected,
                        got.join(", "),
                        has("PrKDF") && has("CDF") && has("AODF"),
                    ));
                }
                Err(e) => out.push(CheckResult::new("ODF 5015/5031", expected, e, false)),
            }
        }

        let token_path = [pkcs15::DF_PKCS15, pkcs15::EF_TOKEN_INFO];
        if let Some(token) = self.read_checked("TokenInfo", &token_path, out) {
            let serial = self.send(&[0x00, 0xCA, 0xDF, 0x32, 0x00]).ok().filter(|a| a.sw == 0x9000).map(|a| a.data);
            let want = serial.map(|s| pkcs15::serial_octets(&String::from_utf8_lossy(&s)));
            let expected = match &want {
                Some(w) => format!("TokenInfo with the card serial (GET DATA DF32) as {}", hex_words(w)),
                None => "TokenInfo with the card serial (GET DATA DF32 did not answer)".to_owned(),
            };
            match asn1::TokenInfo::from_der(&token) {
                Ok(info) => {
                    let got = info.serial_number.as_ref().map(|s| s.as_bytes().to_vec());
                    out.push(CheckResult::new(
                        "TokenInfo 5015/5032",
                        expected,
                        got.as_deref().map_or("no serialNumber".into(), hex_words),
                        want.is_some() && got == want,
                    ));
                }
                Err(e) => {
                    out.push(CheckResult::new("TokenInfo 5015/5032", expected, format!("does not decode: {e}"), false))
                }
            }
        }

        let path_of = |kind: &str, default: u16| {
            paths.iter().find(|(k, _)| *k == kind).map(|(_, p)| p.clone()).unwrap_or(vec![pkcs15::DF_PKCS15, default])
        };
        let aodf_path = path_of("AODF", pkcs15::EF_AODF);
        if let Some(aodf) = self.read_checked("AODF", &aodf_path, out) {
            let expected = "PIN objects for the user PIN (reference 1) and the PUK (reference 2)";
            let what = format!("AODF {}", script::path_text(&aodf_path));
            match decode_all::<asn1::PinObject>(&aodf) {
                Ok(pins) => {
                    let refs: Vec<u8> = pins.iter().map(|p| p.pin_attributes.pin_reference.unwrap_or(0)).collect();
                    out.push(CheckResult::new(
                        what,
                        expected,
                        format!("references {refs:?}"),
                        refs.contains(&1) && refs.contains(&2),
                    ));
                }
                Err(e) => out.push(CheckResult::new(what, expected, e, false)),
            }
        }

        let mut keys = self.profile.keys.clone();
        keys.sort_unstable();
        // Each key with its type: `1 RSA-2048`, as the profile says and as the PrKDF must say.
        let typed = |refs: &[(u8, KeyType)]| -> String {
            refs.iter().map(|(r, t)| format!("{r} {}", type_words(*t))).collect::<Vec<_>>().join(", ")
        };
        let want: Vec<(u8, KeyType)> = keys.iter().map(|k| (*k, self.profile.key_type(*k))).collect();
        let prkdf_path = path_of("PrKDF", pkcs15::EF_PRKDF);
        if let Some(prkdf) = self.read_checked("PrKDF", &prkdf_path, out) {
            let expected = format!("private keys with the card's key references and types [{}]", typed(&want));
            let what = format!("PrKDF {}", script::path_text(&prkdf_path));
            match decode_all::<asn1::PrivateKeyChoice>(&prkdf) {
                Ok(entries) => {
                    let mut refs: Vec<(u8, KeyType)> = entries
                        .iter()
                        .map(|e| {
                            let kind = match e {
                                asn1::PrivateKeyChoice::Rsa(_) => KeyType::Rsa2048,
                                asn1::PrivateKeyChoice::Ec(_) => KeyType::P256,
                            };
                            (e.common_key().key_reference.unwrap_or(0), kind)
                        })
                        .collect();
                    refs.sort_unstable_by_key(|(r, _)| *r);
                    out.push(CheckResult::new(what, expected, format!("keys [{}]", typed(&refs)), refs == want));
                }
                Err(e) => out.push(CheckResult::new(what, expected, e, false)),
            }
        }

        if let Some((_, pukdf_path)) = paths.iter().find(|(k, _)| *k == "PuKDF").cloned()
            && let Some(pukdf) = self.read_checked("PuKDF", &pukdf_path, out)
        {
            let what = format!("PuKDF {}", script::path_text(&pukdf_path));
            let decoded = decode_all::<asn1::PublicKeyChoice>(&pukdf);
            out.push(CheckResult::new(
                what,
                "public key objects (RSA or EC)",
                match &decoded {
                    Ok(v) => format!("{} public keys", v.len()),
                    Err(e) => e.clone(),
                },
                decoded.is_ok(),
            ));
        }

        let cdf_path = path_of("CDF", pkcs15::EF_CDF);
        if let Some(cdf) = self.read_checked("CDF", &cdf_path, out) {
            let expected =
                format!("every entry points at an X.509 certificate; user certificates with the iDs of keys {keys:?}");
            let what = format!("CDF {}", script::path_text(&cdf_path));
            match decode_all::<asn1::CertificateObject>(&cdf) {
                Ok(entries) => {
                    let mut problems = Vec::new();
                    let mut user_ids = Vec::new();
                    for entry in &entries {
                        let path = fids(entry.type_attributes.value.efid_or_path.as_bytes());
                        match self.read_ef(&path) {
                            Ok(der) => {
                                if let Err(e) = certificate_summary(&der) {
                                    problems.push(format!("{} is no certificate ({e})", script::path_text(&path)));
                                }
                            }
                            Err(e) => problems.push(format!("{}: {}", script::path_text(&path), e.describe())),
                        }
                        if !entry.common_certificate.authority {
                            user_ids.extend(entry.common_certificate.id.as_bytes().first().copied());
                        }
                    }
                    user_ids.sort_unstable();
                    let got = if problems.is_empty() {
                        format!("{} certificates, user certificates with iDs {user_ids:?}", entries.len())
                    } else {
                        problems.join("; ")
                    };
                    out.push(CheckResult::new(what, expected, got, problems.is_empty() && user_ids == keys));
                }
                Err(e) => out.push(CheckResult::new(what, expected, e, false)),
            }
        }
    }
}

/// What `zorgcard conformance` takes (the CLI parses into this).
#[derive(Clone, Debug, Default)]
pub struct ConformanceArgs {
    /// `--reader NAME`: a PC/SC reader (e.g. `Virtual PCD 00 00`); absent: the in-process reader.
    pub reader: Option<String>,
    /// `--profile NAME` (repeatable): in-process, the profiles to check (default: all); with `--reader`, exactly
    /// one: what the card claims to be.
    pub profiles: Vec<String>,
    /// `--script FILE` (repeatable; a directory adds its scripts): default, every script in `fixtures/scripts`.
    pub scripts: Vec<PathBuf>,
    /// `--junit FILE`: also write JUnit XML there.
    pub junit: Option<PathBuf>,
}

/// A [`PcscReader`] shared between the exchange and the reset of [`Target::Reader`].
struct SharedPcsc(Rc<RefCell<PcscReader>>);

impl Transmit for SharedPcsc {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, reader_sim::reader::ReaderError> {
        self.0.borrow_mut().transmit(apdu)
    }
}

/// `zorgcard conformance`: run the suite, progress on stderr, summary on stdout, JUnit to `--junit`. Returns the
/// exit code ([`SuiteReport::exit_code`]: non-zero on any failure).
pub fn conformance_main(args: &ConformanceArgs) -> Result<i32, SuiteError> {
    let options = SuiteOptions { scripts: args.scripts.clone(), reader_name: args.reader.clone() };
    let target = match &args.reader {
        None => Target::InProcess { profiles: args.profiles.clone() },
        Some(name) => {
            let [profile] = args.profiles.as_slice() else {
                return Err(SuiteError::ReaderProfile { reader: name.clone(), count: args.profiles.len() });
            };
            let reader = PcscReader::connect(name)
                .map_err(|e| SuiteError::Reader { reader: name.clone(), problem: e.to_string() })?;
            let shared = Rc::new(RefCell::new(reader));
            let for_reset = Rc::clone(&shared);
            Target::Reader {
                transmit: Box::new(SharedPcsc(shared)),
                profile: profile.clone(),
                reset: Box::new(move || for_reset.borrow_mut().reset().map_err(|e| e.to_string())),
            }
        }
    };
    let mut printer = ProgressPrinter::stderr();
    let report = run_suite(target, &options, &mut |p| printer.show(p));
    printer.finish();
    let report = report?;
    // A closed stdout (`| head`) must not turn a finished run into a panic: the exit code still tells.
    let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), report.summary().as_bytes());
    if let Some(path) = &args.junit {
        let xml = report
            .junit_xml()
            .map_err(|e| SuiteError::Junit { path: path.clone(), source: std::io::Error::other(e) })?;
        std::fs::write(path, xml).map_err(|source| SuiteError::Junit { path: path.clone(), source })?;
    }
    Ok(report.exit_code())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u8, d: u8) -> time::Date {
        time::Date::from_calendar_date(y, time::Month::try_from(m).unwrap_or(time::Month::January), d)
            .unwrap_or(time::Date::MIN)
    }

    #[test]
    fn leap_day_validity_ends_on_28_february() {
        assert_eq!(three_years_after(date(2024, 2, 29)), date(2027, 2, 28));
        let ok = validity_checks(b"2024022920270228", date(2026, 11, 23));
        assert!(ok.iter().all(|c| c.passed), "{ok:?}");
        let wrong = validity_checks(b"2024022920270301", date(2026, 11, 23));
        assert!(!wrong[0].passed);
        let expired = validity_checks(b"2024022920270228", date(2027, 2, 28));
        assert!(!expired[1].passed);
        assert!(!validity_checks(b"20240229", date(2026, 1, 1))[0].passed);
    }

    #[test]
    fn digest_info_is_the_rsa_crates_prefix_and_the_hash() {
        let hash = [0x42u8; 32];
        let sha256 = [
            0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04,
            0x20,
        ];
        assert_eq!(digest_info(HashAlg::Sha256, &hash), [&sha256[..], &hash].concat());
        for alg in HashAlg::ALL {
            let hash = digest(alg, b"x");
            let info = digest_info(alg, &hash);
            assert_eq!(info.len(), usize::from(info[1]) + 2, "{alg:?}: one DER SEQUENCE");
            assert_eq!(Some(hash.len()), pkcs1v15(alg).hash_len, "{alg:?}");
        }
    }

    #[test]
    fn long_commands_are_extended_or_chained() {
        let data = vec![0x11u8; 257];
        let extended = command_any_length([0x00, 0x2A, 0x80, 0x86], &data).unwrap_or_default();
        assert_eq!(&extended[..7], &[0x00, 0x2A, 0x80, 0x86, 0x00, 0x01, 0x01]);
        assert_eq!((extended.len(), &extended[extended.len() - 2..]), (7 + 257 + 2, &[0x00, 0x00][..]));
        assert_eq!(
            command_any_length([0x00, 0x2A, 0x80, 0x86], &[0x00, 0x01]).ok(),
            Some(vec![0x00, 0x2A, 0x80, 0x86, 0x02, 0x00, 0x01, 0x00])
        );
        let parts = chained_commands([0x00, 0x2A, 0x80, 0x86], &data);
        assert_eq!(parts.len(), 2);
        assert_eq!(&parts[0][..5], &[0x10, 0x2A, 0x80, 0x86, 0xFF]);
        assert_eq!(parts[0].len(), 5 + 255);
        assert_eq!(parts[1], [0x00, 0x2A, 0x80, 0x86, 0x02, 0x11, 0x11, 0x00]);
    }

    #[test]
    fn fcp_size_is_found() {
        assert_eq!(fcp_size(&[0x62, 0x08, 0x80, 0x02, 0x01, 0x23, 0x82, 0x01, 0x01, 0x00]), Some(0x123));
        assert_eq!(fcp_size(&[0x62, 0x03, 0x82, 0x01, 0x38]), None);
    }
}
