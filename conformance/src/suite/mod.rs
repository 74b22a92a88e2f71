//! The conformance suite runner: is this card an ISO 7816 PKI card of the profile it claims?
//!
//! [`run_suite`] runs the scripts of `fixtures/scripts` ([`crate::suite::script`]) against a [`Target`]: the in-process
//! reader (every script gets a fresh copy of a card of the profile made by [`issuance::card_new::new_card`], so scripts cannot
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
//! [`issuance::key_import::public_key_from_template`].
//!
//! [`conformance_main`] is `zorgcard conformance`: progress on stderr, the summary on stdout, JUnit on request, and
//! the exit code.

mod commands;
mod content;
mod crypto;
pub mod report;
mod runner;
pub mod script;

use self::commands::*;
pub use self::content::validity_checks;
use self::content::*;
pub use self::crypto::digest_info;
use self::crypto::*;
use self::runner::*;

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Instant;

use card_os::Status;
use card_os::types::FileId;
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
use issuance::card_new::{NewCardOptions, new_card};
use issuance::inspect::utc;
use issuance::key_import::public_key_from_template;
use issuance::pkcs15::{self, asn1};
use issuance::pki::{CertSummary, HolderPublicKey, TestPki, add_three_years, certificate_summary};
use issuance::profile::{self, CardKind, KeyType, PROFILE_NAMES, Profile};
use reader_sim::pcsc::PcscReader;

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
    /// A card could not be made from its profile (the profile, the TEST PKI, or the personalisation).
    #[error(transparent)]
    Card(#[from] issuance::CardError),
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

issuance::from_card_errors!(SuiteError);

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
    /// The reader itself, for [`reader_sim::exchange`].
    fn reader(&mut self) -> &mut dyn Transmit;
}

struct InProcessLink<'a>(&'a mut InProcessReader);

impl Link for InProcessLink<'_> {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, String> {
        self.0.transmit(apdu).map_err(|e| e.to_string())
    }

    fn reset(&mut self) -> Result<(), String> {
        self.0.reset().map(|_| ()).map_err(|e| e.to_string())
    }

    fn reader(&mut self) -> &mut dyn Transmit {
        self.0
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

    fn reader(&mut self) -> &mut dyn Transmit {
        self.transmit
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
mod tests;
