//! The conformance suite runner: is this card an ISO 7816 PKI card of the profile it claims?
//!
//! [`run_suite`] runs the scripts of `fixtures/scripts` ([`crate::script`]) against a [`Target`]: the in-process
//! reader (every script gets a fresh card of the profile, made by [`crate::card_new::new_card`], so scripts cannot
//! disturb each other), or any reader behind [`Transmit`] — a vpcd slot in pcscd or a real card in a real reader —
//! where the claimed profile decides which scripts apply, the card is reset before each script, and scripts marked
//! `destructive` are skipped with the reason in the report, never silently. Everything a script checks goes
//! through the card's own commands: the signature of a `sign` step is verified with the certificate read from the
//! card, not with anything the host knows.
//!
//! [`conformance_main`] is `zorgcard conformance`: progress on stderr, the summary on stdout, JUnit on request, and
//! the exit code.

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Instant;

use der::{Decode, Reader as _, SliceReader, Tagged as _};
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use p256::ecdsa::{DerSignature, VerifyingKey};
use reader_sim::reader::{InProcessReader, Transmit};
use sha2::{Digest, Sha256};

use crate::card_new::{CardNewError, NewCardOptions, new_card};
use crate::inspect::utc;
use crate::pcsc_reader::PcscReader;
use crate::pkcs15::{self, asn1};
use crate::pki::{CertSummary, PkiError, TestPki, add_three_years, certificate_summary};
use crate::profile::{self, CardKind, PROFILE_NAMES, Profile, ProfileError};
use crate::report::{CheckResult, Outcome, ProfileReport, Progress, ProgressPrinter, ProgressState, ScriptReport};
use crate::report::{StepReport, SuiteReport};
use crate::script::{
    self, Action, CertCheck, Challenge, Content, DataPattern, Field, HashInput, OnFailure, Retries, Script,
    ScriptError, Step, SwExpect, SwPattern, Vars,
};

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
            let made = new_card(profile, &pki, &NewCardOptions::default())?;
            let mut reader = InProcessReader::with_card(made.card);
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
                    Ok(public) => CheckResult::new(
                        "certificate key is the card's key",
                        expected,
                        if public == cert.public_key_sec1 {
                            "the same key".to_owned()
                        } else {
                            format!(
                                "card key {}, certificate key {}",
                                hex_words(&public),
                                hex_words(&cert.public_key_sec1)
                            )
                        },
                        public == cert.public_key_sec1,
                    ),
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

    /// The public key of a card key, through `00 46 01 <ref>` (DIALECT.md: `7F49 43 86 41 04‖X‖Y`).
    fn card_public_key(&mut self, key: u8) -> Result<Vec<u8>, String> {
        let answer = self.send(&[0x00, 0x46, 0x01, key, 0x00])?;
        match (answer.sw, answer.data.as_slice()) {
            (0x9000, [0x7F, 0x49, 0x43, 0x86, 0x41, point @ ..]) if point.len() == 65 => Ok(point.to_vec()),
            (0x9000, other) => Err(format!("no public key template: {}", hex_words(other))),
            (sw, _) => Err(format!("00 46 01 {key:02X} answered {}", sw_words(sw))),
        }
    }

    /// The verifying key of the certificate of card key `key`, read from `5015/430<key>`.
    fn certificate_key(&mut self, key: u8) -> Result<VerifyingKey, String> {
        let path = [pkcs15::DF_PKCS15, pkcs15::certificate_fid(key)];
        let der =
            self.read_ef(&path).map_err(|e| format!("cannot read {}: {}", script::path_text(&path), e.describe()))?;
        let cert =
            certificate_summary(&der).map_err(|e| format!("{} is no certificate: {e}", script::path_text(&path)))?;
        VerifyingKey::from_sec1_bytes(&cert.public_key_sec1)
            .map_err(|_| format!("the certificate in {} has no P-256 key", script::path_text(&path)))
    }

    fn verify_signature(&mut self, key: u8, prehash: &[u8], signature: &[u8]) -> CheckResult {
        let expected = format!(
            "a DER ECDSA signature that verifies with the certificate of key {key} ({})",
            script::path_text(&[pkcs15::DF_PKCS15, pkcs15::certificate_fid(key)])
        );
        let got = match DerSignature::try_from(signature) {
            Err(e) => Err(format!("not a DER SEQUENCE{{r, s}} ({e}): {}", hex_words(signature))),
            Ok(sig) => self.certificate_key(key).and_then(|vk| {
                vk.verify_prehash(prehash, &sig).map_err(|_| "a signature that does not verify".to_owned())
            }),
        };
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

    /// MSE SET DST with the key, PSO COMPUTE DIGITAL SIGNATURE, then verification against the card's certificate.
    /// `expected` is the status word of the first command that does not answer `9000`, or `9000`.
    fn sign_step(&mut self, key: u8, hash: &HashInput, expected: SwPattern, out: &mut Vec<CheckResult>) {
        let mse = [0x00, 0x22, 0x41, 0xB6, 0x03, 0x84, 0x01, key];
        match self.send_raw(&mse) {
            Ok(a) if a.sw == 0x9000 => {}
            Ok(a) => {
                out.push(CheckResult::new(
                    "status word (MSE SET)",
                    pattern_words(expected),
                    sw_words(a.sw),
                    expected.matches(a.sw),
                ));
                return;
            }
            Err(e) => {
                out.push(CheckResult::new(
                    "status word (MSE SET)",
                    pattern_words(expected),
                    format!("no answer: {e}"),
                    false,
                ));
                return;
            }
        }
        let digest = match hash {
            HashInput::Sha256Of(text) => Sha256::digest(text.as_bytes()).to_vec(),
            HashInput::Raw(bytes) => bytes.clone(),
        };
        let pso = match command([0x00, 0x2A, 0x9E, 0x9A], &digest, true) {
            Ok(apdu) => apdu,
            Err(e) => {
                out.extend(cannot_run(e));
                return;
            }
        };
        if let Some(answer) = self.exchange("status word (PSO)", &pso, expected, true, out)
            && answer.sw == 0x9000
        {
            let check = self.verify_signature(key, &digest, &answer.data);
            out.push(check);
        }
    }

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
        let apdu = match command([0x00, 0x88, 0x00, key], &challenge, true) {
            Ok(apdu) => apdu,
            Err(e) => {
                out.extend(cannot_run(e));
                return;
            }
        };
        if let Some(answer) = self.exchange("status word", &apdu, expected, true, out)
            && answer.sw == 0x9000
        {
            // DIALECT.md: ECDSA-SHA256 over the challenge; only the authentication key answers.
            let digest = Sha256::digest(&challenge);
            let check = self.verify_signature(if key == 0 { 1 } else { key }, &digest, &answer.data);
            out.push(check);
        }
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

    /// The PKCS#15 files OpenSC reads (see [`crate::pkcs15`]): present, decoding with the typed ASN.1 of
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
        let prkdf_path = path_of("PrKDF", pkcs15::EF_PRKDF);
        if let Some(prkdf) = self.read_checked("PrKDF", &prkdf_path, out) {
            let expected = format!("EC private keys with the card's key references {keys:?}");
            let what = format!("PrKDF {}", script::path_text(&prkdf_path));
            match decode_all::<asn1::PrivateKeyChoice>(&prkdf) {
                Ok(entries) => {
                    let mut refs: Vec<u8> = entries.iter().map(|e| e.common_key().key_reference.unwrap_or(0)).collect();
                    refs.sort_unstable();
                    out.push(CheckResult::new(what, expected, format!("key references {refs:?}"), refs == keys));
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
                "EC public key objects",
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
        std::fs::write(path, report.junit_xml()).map_err(|source| SuiteError::Junit { path: path.clone(), source })?;
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
    fn fcp_size_is_found() {
        assert_eq!(fcp_size(&[0x62, 0x08, 0x80, 0x02, 0x01, 0x23, 0x82, 0x01, 0x01, 0x00]), Some(0x123));
        assert_eq!(fcp_size(&[0x62, 0x03, 0x82, 0x01, 0x38]), None);
    }
}
