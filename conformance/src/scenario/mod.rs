//! Application scenarios: a simulated card plays an awkward situation for the application under test while the
//! application talks to it through pcscd (`zorgcard scenario run FILE`).
//!
//! A scenario is a file in `fixtures/scenarios/*.toml` (format: `fixtures/scenarios/README.md`): a card profile,
//! setup commands the card runs in-process before it is served (wrong PINs, TERMINATE CARD USAGE, …), a clock (the
//! day the card was personalised, the card's clock while served), a CRL listing its certificates, an insertion
//! delay, a per-APDU delay and triggers (`remove` the card when it receives a given command, `answer` a command
//! in its place), and a text that tells the vendor what their application is expected to do.
//!
//! Modules: [`play`] makes, sets up and serves the card in one vpcd slot of reader-sim's `VpcdServer`
//! (`zorgcard scenario run`); [`interceptor`] holds the behaviours that act per APDU (delay, answers, pulling
//! the card) as a `reader_sim::reader::Interceptor` on the slot's reader, and the thread that puts cards in late.
//!
//! Why this file is over 600 lines: it is one concept, the scenario format (its types, each field's meaning and
//! its checks); serving a scenario is in `play` and the hooks on the vpcd slot in `interceptor`.

pub mod interceptor;
pub mod play;

pub use interceptor::{Inserter, Insertion, ScenarioInterceptor};
pub use play::{
    Prepared, READY_TIMEOUT, RunningScenario, ScenarioArgs, StartOptions, prepare, scenario_main, slot_addr, start,
    start_with,
};

use std::collections::BTreeSet;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reader_sim::reader::ReaderError;
use serde::Deserialize;

use fixtures::format::{self, FixtureError, FixtureFormat, FixtureText};
use fixtures::{self, FixtureKind};
use issuance::card_new::CardNewError;
use issuance::pki::PkiError;
use issuance::profile::{self, DisplayPath, Profile, ProfileError};

/// The scenario file format this module reads.
pub const FORMAT_VERSION: i64 = 1;

/// `fixtures/scenarios/` of the fixture set ([`fixtures::active`]), where the shipped scenarios live.
pub fn scenarios_dir() -> PathBuf {
    fixtures::active().folder(FixtureKind::Scenario)
}

/// The names (file stems) of the shipped scenarios, sorted.
pub fn names() -> Vec<String> {
    fixtures::active().names(FixtureKind::Scenario)
}

/// Why a scenario could not be loaded or played. Every message names the file (and the field or step) and the fix.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// Neither a shipped scenario's name nor a readable file.
    #[error("no scenario `{name}`: give a path to a .toml file or one of {known} (fixtures/scenarios/<name>.toml)")]
    UnknownName {
        /// What was asked for.
        name: String,
        /// The shipped names, comma-separated.
        known: String,
    },
    /// The file is unreadable, not TOML, not the scenario format, or a field has a value a scenario cannot have.
    #[error(transparent)]
    Fixture(#[from] FixtureError),
    /// The scenario's card profile could not be loaded.
    #[error("scenario `{path}`: {source}")]
    Profile {
        /// The scenario file.
        path: DisplayPath,
        /// Why the profile failed.
        source: Box<ProfileError>,
    },
    /// The test PKI could not be loaded or could not sign.
    #[error("scenario `{name}`: the test PKI failed: {source}")]
    Pki {
        /// The scenario.
        name: String,
        /// What went wrong.
        source: Box<PkiError>,
    },
    /// The card could not be personalised.
    #[error("scenario `{name}`: {source}")]
    CardNew {
        /// The scenario.
        name: String,
        /// What went wrong.
        source: Box<CardNewError>,
    },
    /// A setup step did not get the answer the file expects.
    #[error(
        "scenario `{path}`: setup step {step} ({command}) answered {got}, the file expects {expected}: fix the \
             step or its `expect` (the card's behaviour is in card-os/DIALECT.md)"
    )]
    Setup {
        /// The scenario file.
        path: DisplayPath,
        /// 1-based step number.
        step: usize,
        /// The command's name.
        command: String,
        /// The status word expected, hex.
        expected: String,
        /// The answer, hex.
        got: String,
    },
    /// The in-process reader failed during setup.
    #[error("scenario `{name}`: setup step {step}: the in-process reader failed: {source}")]
    Reader {
        /// The scenario.
        name: String,
        /// 1-based step number (0: powering the card).
        step: usize,
        /// What went wrong.
        source: ReaderError,
    },
    /// A CRL or directory could not be written.
    #[error("scenario `{name}`: cannot write `{}`: {source}: check that the directory exists and is writable", .path.display())]
    Write {
        /// The scenario.
        name: String,
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The trace file could not be opened.
    #[error("cannot open the trace file `{}`: {source}: check the directory and permissions", .path.display())]
    Trace {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The vpcd slot could not be started.
    #[error("scenario `{name}`: could not start the vpcd slot: {source}")]
    Vpcd {
        /// The scenario.
        name: String,
        /// The underlying error.
        source: io::Error,
    },
    /// vpcd never spoke to the card.
    #[error(
        "scenario `{name}`: vpcd at {addr} did not take the card within {waited:?}: start pcscd with the vpcd \
             driver (`pcscd --foreground`, package vsmartcard-vpcd; or run under scripts/with-pcscd), and check that \
             no other card occupies slot {slot}"
    )]
    NotReady {
        /// The scenario.
        name: String,
        /// The slot's vpcd address.
        addr: SocketAddr,
        /// The slot.
        slot: usize,
        /// How long it was waited.
        waited: Duration,
    },
}

/// A PIN or PUK value in a setup step. Prints as `$PIN`, `$PUK` or `***`, never the value.
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    /// `$PIN`: the profile's PIN.
    ProfilePin,
    /// `$PUK`: the profile's PUK.
    ProfilePuk,
    /// A value written in the file (a wrong PIN, usually).
    Literal(String),
}

impl Secret {
    fn parse(text: &str) -> Secret {
        match text {
            "$PIN" => Secret::ProfilePin,
            "$PUK" => Secret::ProfilePuk,
            other => Secret::Literal(other.to_owned()),
        }
    }

    /// The bytes sent to the card.
    pub fn value<'a>(&'a self, profile: &'a Profile) -> &'a [u8] {
        match self {
            Secret::ProfilePin => profile.pin.value.as_bytes(),
            Secret::ProfilePuk => profile.puk.value.as_bytes(),
            Secret::Literal(v) => v.as_bytes(),
        }
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Secret::ProfilePin => "$PIN",
            Secret::ProfilePuk => "$PUK",
            Secret::Literal(_) => "***",
        })
    }
}

/// What a setup step sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetupAction {
    /// A raw C-APDU.
    Apdu(Vec<u8>),
    /// VERIFY `00 20 00 01 Lc PIN`.
    VerifyPin(Secret),
    /// RESET RETRY COUNTER `00 2C 01 01 Lc PUK` (unblock the PIN with the PUK, keep the PIN).
    ResetRetryCounter(Secret),
}

/// One setup step: a command run in-process before the card is served, and the status word it must answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupStep {
    /// The command.
    pub action: SetupAction,
    /// The status word the card must answer; `None`: any.
    pub expect: Option<u16>,
}

impl SetupStep {
    /// The C-APDU for `profile`.
    pub fn apdu(&self, profile: &Profile) -> Vec<u8> {
        // A secret too long for an APDU gives an empty one, which the card answers with `6700`.
        let with_data =
            |header: [u8; 4], data: &[u8]| reader_sim::exchange::command(header, data, None).unwrap_or_default();
        match &self.action {
            SetupAction::Apdu(apdu) => apdu.clone(),
            SetupAction::VerifyPin(s) => with_data([0x00, 0x20, 0x00, 0x01], s.value(profile)),
            SetupAction::ResetRetryCounter(s) => with_data([0x00, 0x2C, 0x01, 0x01], s.value(profile)),
        }
    }
}

/// Which C-APDUs a trigger reacts to: all given conditions must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandMatch {
    /// The command's name as traces print it (`card_os::apdu::describe`), e.g. `PSO`, `SELECT`.
    pub command: Option<String>,
    /// The first bytes of the C-APDU, e.g. `00 2A 9E 9A` (PSO COMPUTE DIGITAL SIGNATURE).
    pub prefix: Vec<u8>,
}

impl CommandMatch {
    /// Whether `apdu` is one of these commands.
    pub fn matches(&self, apdu: &[u8]) -> bool {
        let name_ok =
            self.command.as_deref().is_none_or(|c| card_os::apdu::describe(apdu).name.eq_ignore_ascii_case(c));
        name_ok && apdu.starts_with(&self.prefix)
    }
}

/// What a trigger does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TriggerAction {
    /// The card is pulled out when it has received the command, before it answers (vpcd's connection is closed, so
    /// pcscd sees the card go). Fires once; the card goes back in after the delay, if one is given.
    Remove {
        /// When the card is put back; `None`: it stays out.
        reinsert_after: Option<Duration>,
    },
    /// The command does not reach the chip; this R-APDU (data and status word) is the answer.
    Answer(Vec<u8>),
}

/// A trigger: a command and what happens when the card receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    /// Which commands.
    pub on: CommandMatch,
    /// What happens.
    pub action: TriggerAction,
}

/// A scenario, checked.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The file stem, e.g. `last-pin-try`.
    pub name: String,
    /// The file.
    pub path: PathBuf,
    /// One line: the situation.
    pub description: String,
    /// What the application under test is expected to do, for the vendor.
    pub expected: String,
    /// The card.
    pub profile: Profile,
    /// The card is personalised (certificates' notBefore, ACTIVATE FILE) this many days from today.
    pub issued_days: i64,
    /// The card's clock while served, in days from today.
    pub served_days: i64,
    /// Commands run in-process before the card is served.
    pub setup: Vec<SetupStep>,
    /// Key references whose certificates go on the issuing CA's CRL.
    pub revoke: Vec<u8>,
    /// How long after the start the card is inserted.
    pub insert_after: Duration,
    /// How long the card takes over each APDU (added before its answer goes back).
    pub apdu_delay: Duration,
    /// What happens on given commands.
    pub triggers: Vec<Trigger>,
}

impl Scenario {
    /// Whether the card is served behind a [`ScenarioInterceptor`] (a per-APDU delay or a trigger needs one).
    pub fn needs_interceptor(&self) -> bool {
        !self.apdu_delay.is_zero() || !self.triggers.is_empty()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    #[allow(dead_code)]
    format: i64,
    description: String,
    profile: String,
    expected: String,
    #[serde(default)]
    clock: RawClock,
    #[serde(default)]
    setup: Vec<RawStep>,
    #[serde(default)]
    crl: Option<RawCrl>,
    #[serde(default)]
    timing: RawTiming,
    #[serde(default)]
    trigger: Vec<RawTrigger>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawClock {
    #[serde(default)]
    issued_days: i64,
    #[serde(default)]
    served_days: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    apdu: Option<String>,
    verify_pin: Option<String>,
    reset_retry_counter: Option<String>,
    expect: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCrl {
    revoke: Vec<u8>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTiming {
    #[serde(default)]
    insert_after_ms: u64,
    #[serde(default)]
    apdu_delay_ms: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTrigger {
    command: Option<String>,
    prefix: Option<String>,
    action: RawAction,
    answer: Option<String>,
    reinsert_after_ms: Option<u64>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
enum RawAction {
    Remove,
    Answer,
}

/// Loads a scenario: a path to a `.toml` file, or the name of a shipped one (`last-pin-try`).
pub fn load(name_or_path: &str) -> Result<Scenario, ScenarioError> {
    let as_path = PathBuf::from(name_or_path);
    if as_path.is_file() {
        return load_path(&as_path);
    }
    let shipped = fixtures::active().path(FixtureKind::Scenario, name_or_path);
    if !name_or_path.contains(['/', '\\']) && !name_or_path.ends_with(".toml") && fixtures::is_file(&shipped) {
        return load_path(&shipped);
    }
    if name_or_path.ends_with(".toml") || name_or_path.contains(['/', '\\']) {
        return load_path(&as_path);
    }
    Err(ScenarioError::UnknownName {
        name: name_or_path.to_owned(),
        known: names().iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", "),
    })
}

/// Loads the scenario in the file at `path`.
pub fn load_path(path: &Path) -> Result<Scenario, ScenarioError> {
    let text = format::read(FixtureFormat::Scenario, path)?;
    parse(path, &text)
}

/// Parses and checks scenario text; `path` names the file in messages and anchors a relative profile path.
pub fn parse(path: &Path, text: &str) -> Result<Scenario, ScenarioError> {
    let ctx = Ctx { file: FixtureText::new(FixtureFormat::Scenario, path, text) };
    ctx.file.check_version(FORMAT_VERSION)?;
    let raw: RawScenario = ctx.file.deserialize()?;
    let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    ctx.validate(name, path, raw)
}

struct Ctx<'a> {
    file: FixtureText<'a>,
}

impl Ctx<'_> {
    fn field(&self, field: &str, problem: impl Into<String>, fix: impl Into<String>) -> ScenarioError {
        self.file.field(field, problem, fix).into()
    }

    fn hex(&self, field: &str, text: &str) -> Result<Vec<u8>, ScenarioError> {
        Ok(self.file.hex(field, text)?)
    }

    fn sw(&self, field: &str, text: &str) -> Result<u16, ScenarioError> {
        match self.hex(field, text)?.as_slice() {
            [a, b] => Ok(u16::from_be_bytes([*a, *b])),
            _ => Err(self.field(field, format!("`{text}` is not a status word"), "write two bytes, e.g. \"63C1\"")),
        }
    }

    /// The `[[setup]]` tables: each one command (an APDU, a PIN verified, a retry counter reset) and its answer.
    fn setup(&self, steps: Vec<RawStep>) -> Result<Vec<SetupStep>, ScenarioError> {
        let mut setup = Vec::with_capacity(steps.len());
        for (i, step) in steps.into_iter().enumerate() {
            let field = |f: &str| format!("setup[{}].{f}", i + 1);
            let action = match (step.apdu, step.verify_pin, step.reset_retry_counter) {
                (Some(apdu), None, None) => {
                    let bytes = self.hex(&field("apdu"), &apdu)?;
                    if bytes.len() < 4 {
                        return Err(self.field(
                            &field("apdu"),
                            "is shorter than a command header",
                            "give CLA INS P1 P2 at least",
                        ));
                    }
                    SetupAction::Apdu(bytes)
                }
                (None, Some(pin), None) => SetupAction::VerifyPin(self.secret(&field("verify_pin"), &pin)?),
                (None, None, Some(puk)) => {
                    SetupAction::ResetRetryCounter(self.secret(&field("reset_retry_counter"), &puk)?)
                }
                _ => {
                    return Err(self.field(
                        &format!("setup[{}]", i + 1),
                        "needs exactly one of `apdu`, `verify_pin`, `reset_retry_counter`",
                        "give one command per [[setup]] table",
                    ));
                }
            };
            let expect = step.expect.map(|e| self.sw(&field("expect"), &e)).transpose()?;
            setup.push(SetupStep { action, expect });
        }
        Ok(setup)
    }

    fn validate(&self, name: String, path: &Path, raw: RawScenario) -> Result<Scenario, ScenarioError> {
        if raw.description.trim().is_empty() {
            return Err(self.field("description", "is empty", "say in one line what situation the card plays"));
        }
        if raw.expected.trim().is_empty() {
            return Err(self.field("expected", "is empty", "tell the vendor what their application should do"));
        }
        let profile = self.profile(path, &raw.profile)?;

        let setup = self.setup(raw.setup)?;

        let revoke = raw.crl.map(|c| c.revoke).unwrap_or_default();
        for key in &revoke {
            if !profile.keys.contains(key) {
                return Err(self.field(
                    "crl.revoke",
                    format!("key {key} is not on a `{}` card (keys {:?})", profile.name, profile.keys),
                    "list only key references the profile has",
                ));
            }
        }

        let known: BTreeSet<&str> = (0..=u8::MAX).map(card_os::apdu::describe_ins).collect();
        let mut triggers = Vec::with_capacity(raw.trigger.len());
        for (i, t) in raw.trigger.into_iter().enumerate() {
            let field = |f: &str| format!("trigger[{}].{f}", i + 1);
            if let Some(c) = &t.command
                && !known.iter().any(|k| k.eq_ignore_ascii_case(c))
            {
                return Err(self.field(
                    &field("command"),
                    format!("`{c}` is no command name the card knows"),
                    format!("use one of {}", known.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")),
                ));
            }
            let prefix = t.prefix.as_deref().map(|p| self.hex(&field("prefix"), p)).transpose()?.unwrap_or_default();
            if t.command.is_none() && prefix.is_empty() {
                return Err(self.field(
                    &format!("trigger[{}]", i + 1),
                    "matches every command",
                    "give `command` (e.g. \"PSO\") or `prefix` (e.g. \"00 2A 9E 9A\")",
                ));
            }
            let action = match (t.action, t.answer, t.reinsert_after_ms) {
                (RawAction::Remove, None, ms) => {
                    TriggerAction::Remove { reinsert_after: ms.map(Duration::from_millis) }
                }
                (RawAction::Answer, Some(answer), None) => {
                    let bytes = self.hex(&field("answer"), &answer)?;
                    if bytes.len() < 2 {
                        return Err(self.field(&field("answer"), "has no status word", "end it with SW1 SW2"));
                    }
                    TriggerAction::Answer(bytes)
                }
                (RawAction::Remove, Some(_), _) => {
                    return Err(self.field(&field("answer"), "a pulled card answers nothing", "remove `answer`"));
                }
                (RawAction::Answer, None, _) => {
                    return Err(self.field(&field("answer"), "missing", "give the R-APDU, e.g. answer = \"6A82\""));
                }
                (RawAction::Answer, Some(_), Some(_)) => {
                    return Err(self.field(
                        &field("reinsert_after_ms"),
                        "only a `remove` trigger puts the card back",
                        "remove the field",
                    ));
                }
            };
            triggers.push(Trigger { on: CommandMatch { command: t.command, prefix }, action });
        }

        Ok(Scenario {
            name,
            path: path.to_owned(),
            description: raw.description.trim().to_owned(),
            expected: raw.expected.trim().to_owned(),
            profile,
            issued_days: raw.clock.issued_days,
            served_days: raw.clock.served_days,
            setup,
            revoke,
            insert_after: Duration::from_millis(raw.timing.insert_after_ms),
            apdu_delay: Duration::from_millis(raw.timing.apdu_delay_ms),
            triggers,
        })
    }

    fn secret(&self, field: &str, text: &str) -> Result<Secret, ScenarioError> {
        if text.is_empty() || text.len() > 16 {
            return Err(self.field(field, "must be 1 to 16 characters", "write the value, or $PIN / $PUK"));
        }
        Ok(Secret::parse(text))
    }

    /// A shipped profile name, or a path relative to the scenario file.
    fn profile(&self, scenario: &Path, name: &str) -> Result<Profile, ScenarioError> {
        let wrap = |source| ScenarioError::Profile {
            path: DisplayPath(self.file.path().to_owned()),
            source: Box::new(source),
        };
        if !name.ends_with(".toml") && !name.contains(['/', '\\']) {
            return profile::load(name).map_err(wrap);
        }
        let relative = scenario.parent().unwrap_or(Path::new(".")).join(name);
        let path = if Path::new(name).is_absolute() { PathBuf::from(name) } else { relative };
        profile::load_path(&path).map_err(wrap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reader_sim::trace::Trace;

    fn parse_text(text: &str) -> Result<Scenario, ScenarioError> {
        parse(&scenarios_dir().join("test.toml"), text)
    }

    const MINIMAL: &str = "format = 1\ndescription = \"d\"\nprofile = \"uzi-zorgverlener\"\nexpected = \"e\"\n";

    #[test]
    fn every_shipped_scenario_loads_and_its_setup_runs() {
        let names = names();
        assert!(names.len() >= 11, "{names:?}");
        for name in names {
            let scenario = load(&name).unwrap_or_else(|e| panic!("{e}"));
            let trace = Trace::memory().without_timestamps();
            let options = StartOptions {
                // Port 9 (discard) on loopback: nothing listens, the slots just retry; nothing is served.
                vpcd: "127.0.0.1:9".parse().unwrap(),
                slot: 0,
                trace: trace.clone(),
                crl_dir: Some(std::env::temp_dir().join(format!("zorgcard-unit-{name}-{}", std::process::id()))),
            };
            let running = start(&scenario, &options).unwrap_or_else(|e| panic!("{name}: {e}"));
            if !scenario.revoke.is_empty() {
                assert!(running.crl_file.as_ref().is_some_and(|f| f.is_file()), "{name}: CRL written");
            }
            running.stop();
            if let Some(dir) = &options.crl_dir {
                let _ = std::fs::remove_dir_all(dir);
            }
            for line in trace.lines() {
                assert!(!line.contains("313233343536"), "{name}: a PIN reached the trace: {line}");
            }
        }
    }

    #[test]
    fn unknown_fields_and_bad_values_name_the_field() {
        let e = parse_text(&format!("{MINIMAL}colour = 1\n")).unwrap_err().to_string();
        assert!(e.contains("line 5") && e.contains("unknown field"), "{e}");
        let e = parse_text(&format!("{MINIMAL}[[setup]]\napdu = \"00 2G\"\n")).unwrap_err().to_string();
        assert!(e.contains("setup[1].apdu"), "{e}");
        let e = parse_text(&format!("{MINIMAL}[[trigger]]\ncommand = \"FLY\"\naction = \"remove\"\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("trigger[1].command") && e.contains("PSO"), "{e}");
        let e = parse_text(&MINIMAL.replace("format = 1", "format = 2")).unwrap_err().to_string();
        assert!(e.contains("format 2 is not supported"), "{e}");
        let e = parse_text(
            &format!("{MINIMAL}[crl]\nrevoke = [2]\n").replace("uzi-zorgverlener", "uzi-medewerker-niet-op-naam"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("crl.revoke"), "{e}");
    }

    #[test]
    fn triggers_match_by_name_and_prefix() {
        let t = CommandMatch { command: Some("pso".into()), prefix: vec![0x00, 0x2A, 0x9E] };
        assert!(t.matches(&[0x00, 0x2A, 0x9E, 0x9A, 0x01, 0x00]));
        assert!(!t.matches(&[0x00, 0x2A, 0x80, 0x86, 0x01, 0x00]));
        assert!(!t.matches(&[0x00, 0xA4, 0x9E, 0x9A]));
    }

    #[test]
    fn secrets_never_print() {
        let s = SetupStep { action: SetupAction::VerifyPin(Secret::Literal("999999".into())), expect: None };
        assert!(!format!("{s:?}").contains("999999"));
    }
}
