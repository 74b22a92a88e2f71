//! Application scenarios: a simulated card plays an awkward situation for the application under test while the
//! application talks to it through pcscd (`zorgcard scenario run FILE`).
//!
//! A scenario is a file in `fixtures/scenarios/*.toml` (format: `fixtures/scenarios/README.md`): a card profile,
//! setup commands the card runs in-process before it is served (wrong PINs, TERMINATE CARD USAGE, …), a clock (the
//! day the card was personalised, the card's clock while served), a CRL listing its certificates, an insertion
//! delay, a per-APDU delay and triggers (`remove` the card when it receives a given command, `answer` a command
//! in its place), and a text that tells the vendor what their application is expected to do.
//!
//! # How it is served
//!
//! The card sits in a [`reader_sim::reader::SharedReader`] served by [`reader_sim::vpcd::VpcdServer`]. The insertion
//! delay needs no hook: the reader stays empty until the delay is over, and the vpcd slot only connects to pcscd
//! once a card is in it. Per-APDU delays and triggers do need one — something between receiving a C-APDU and
//! answering it — and the vpcd slot has none. So such scenarios serve the card in reverse (listen) mode on a
//! loopback port and put a small frame relay (the *link*, in this module) between it and pcscd's vpcd: the link
//! speaks the vpcd framing, sees each C-APDU before the card does, sleeps, answers or pulls the card there. The
//! other scenarios are served directly, one hop shorter.
//!
//! The whole dialogue — the setup exchanges (as a pseudo-connection "scenario setup, in-process"), every exchange
//! pcscd makes, and what the link did — goes to one [`Trace`].

use std::collections::BTreeSet;
use std::io::{self, BufRead, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reader_sim::platform::ClockHandle;
use reader_sim::reader::{InProcessReader, ReaderError, SharedReader, Transmit};
use reader_sim::trace::{Trace, TraceEvent, Traced};
use reader_sim::vpcd::{VpcdConfig, VpcdHandle, VpcdServer};
use serde::Deserialize;

use crate::fixture_format::{self, FixtureError, FixtureFormat, FixtureText};
use crate::issuance::card_new::{CardNewError, NewCardOptions, new_card};
use crate::issuance::pki::{Issuer, PkiError, RevokedEntry, TestPki, certificate_summary};
use crate::issuance::profile::{self, CardKind, DisplayPath, Profile, ProfileError};

/// The scenario file format this module reads.
pub const FORMAT_VERSION: i64 = 1;

/// vpcd control code "get ATR" (vpcd.h `VPCD_CTRL_ATR`): the only control message with a reply.
const CTRL_ATR: u8 = 0x04;

/// `fixtures/scenarios/`, where the shipped scenarios live.
pub fn scenarios_dir() -> PathBuf {
    profile::fixtures_dir().join("scenarios")
}

/// The names (file stems) of the shipped scenarios, sorted.
pub fn names() -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(scenarios_dir()) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect();
    names.sort();
    names
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
        let with_data = |header: [u8; 4], data: &[u8]| {
            let mut v = header.to_vec();
            v.push(u8::try_from(data.len()).unwrap_or(u8::MAX));
            v.extend_from_slice(data);
            v
        };
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
    /// Whether the card is served through the link (a per-APDU delay or a trigger needs it).
    pub fn needs_link(&self) -> bool {
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
    let shipped = scenarios_dir().join(format!("{name_or_path}.toml"));
    if !name_or_path.contains(['/', '\\']) && !name_or_path.ends_with(".toml") && shipped.is_file() {
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
    let text = fixture_format::read(FixtureFormat::Scenario, path)?;
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

    fn validate(&self, name: String, path: &Path, raw: RawScenario) -> Result<Scenario, ScenarioError> {
        if raw.description.trim().is_empty() {
            return Err(self.field("description", "is empty", "say in one line what situation the card plays"));
        }
        if raw.expected.trim().is_empty() {
            return Err(self.field("expected", "is empty", "tell the vendor what their application should do"));
        }
        let profile = self.profile(path, &raw.profile)?;

        let mut setup = Vec::with_capacity(raw.setup.len());
        for (i, step) in raw.setup.into_iter().enumerate() {
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
        if profile::PROFILE_NAMES.contains(&name) {
            return profile::load(name).map_err(wrap);
        }
        let relative = scenario.parent().unwrap_or(Path::new(".")).join(name);
        let path = if Path::new(name).is_absolute() { PathBuf::from(name) } else { relative };
        profile::load_path(&path).map_err(wrap)
    }
}

/// Where and how to play a scenario.
#[derive(Debug, Clone)]
pub struct StartOptions {
    /// vpcd's address for slot 0 (slot *n* is this port + *n*, vsmartcard's convention).
    pub vpcd: SocketAddr,
    /// The slot.
    pub slot: usize,
    /// Where the dialogue goes.
    pub trace: Trace,
    /// Where the CRL is written (if the scenario revokes); `None`: the system's temporary directory.
    pub crl_dir: Option<PathBuf>,
}

/// The vpcd address of `slot` given slot 0's.
pub fn slot_addr(vpcd: SocketAddr, slot: usize) -> SocketAddr {
    let mut addr = vpcd;
    addr.set_port(vpcd.port().saturating_add(u16::try_from(slot).unwrap_or(u16::MAX)));
    addr
}

/// A stop flag others can wait on.
#[derive(Default)]
struct StopSignal {
    stopped: Mutex<bool>,
    changed: Condvar,
}

impl StopSignal {
    fn lock(&self) -> MutexGuard<'_, bool> {
        self.stopped.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn stop(&self) {
        *self.lock() = true;
        self.changed.notify_all();
    }

    /// Sleeps `d` (for ever if `None`); true if stopped meanwhile.
    fn sleep(&self, d: Option<Duration>) -> bool {
        let deadline = d.and_then(|d| Instant::now().checked_add(d));
        let mut stopped = self.lock();
        loop {
            if *stopped {
                return true;
            }
            stopped = match deadline {
                None => self.changed.wait(stopped).unwrap_or_else(PoisonError::into_inner),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return false;
                    }
                    self.changed.wait_timeout(stopped, left).unwrap_or_else(PoisonError::into_inner).0
                }
            };
        }
    }
}

enum Serving {
    Direct(VpcdHandle),
    Linked(Link),
}

/// A scenario being played. Dropping it stops it, like [`RunningScenario::stop`].
pub struct RunningScenario {
    /// The scenario.
    pub scenario: Scenario,
    /// The slot.
    pub slot: usize,
    /// The slot's vpcd address.
    pub addr: SocketAddr,
    /// The reader holding the card (empty until the insertion delay is over).
    pub reader: SharedReader,
    /// The card's certificates, by key reference.
    pub certificates: Vec<(u8, Vec<u8>)>,
    /// The CRL written (DER), if the scenario revokes.
    pub crl_file: Option<PathBuf>,
    /// When the scenario started (the insertion delay counts from here).
    pub started: Instant,
    /// The card's clock.
    pub clock: ClockHandle,
    serving: Option<Serving>,
    inserter: Option<(Arc<StopSignal>, JoinHandle<()>)>,
}

impl std::fmt::Debug for RunningScenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningScenario")
            .field("scenario", &self.scenario.name)
            .field("slot", &self.slot)
            .field("addr", &self.addr)
            .field("crl_file", &self.crl_file)
            .finish_non_exhaustive()
    }
}

impl RunningScenario {
    /// Waits until vpcd has spoken to the card (false after `timeout`). With an insertion delay this includes it.
    pub fn wait_ready(&self, timeout: Duration) -> bool {
        match &self.serving {
            Some(Serving::Direct(handle)) => handle.wait_ready(timeout),
            Some(Serving::Linked(link)) => link.wait_ready(timeout),
            None => false,
        }
    }

    /// Whether the card is served through the link (per-APDU delay or triggers).
    pub fn is_linked(&self) -> bool {
        matches!(self.serving, Some(Serving::Linked(_)))
    }

    /// Stops playing: the card leaves vpcd (pcscd sees it removed).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some((signal, thread)) = self.inserter.take() {
            signal.stop();
            let _ = thread.join();
        }
        match self.serving.take() {
            Some(Serving::Direct(handle)) => handle.stop(),
            Some(Serving::Linked(link)) => link.stop(),
            None => {}
        }
    }
}

impl Drop for RunningScenario {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn issuer_of(profile: &Profile) -> Issuer {
    match profile.kind {
        CardKind::Uzi(t) => Issuer::Uzi(t),
        CardKind::ZorgId => Issuer::ZorgId,
    }
}

/// Makes the card, runs the setup in-process (traced), writes the CRL and serves the card in its vpcd slot.
pub fn start(scenario: &Scenario, options: &StartOptions) -> Result<RunningScenario, ScenarioError> {
    let name = scenario.name.clone();
    let slot = options.slot;
    let trace = options.trace.clone();
    let pki = TestPki::fixtures().map_err(|e| ScenarioError::Pki { name: name.clone(), source: Box::new(e) })?;

    let clock = ClockHandle::new();
    clock.set_offset_days(scenario.issued_days);
    let made = new_card(&scenario.profile, &pki, &NewCardOptions { clock: Some(clock.clone()), ..Default::default() })
        .map_err(|e| ScenarioError::CardNew { name: name.clone(), source: Box::new(e) })?;
    let mut reader = run_setup(scenario, InProcessReader::with_card(made.card), &trace, slot)?;
    clock.set_offset_days(scenario.served_days);

    let crl_file = if scenario.revoke.is_empty() {
        None
    } else {
        let dir = options.crl_dir.clone().unwrap_or_else(|| std::env::temp_dir().join(format!("zorgcard-{name}")));
        Some(write_crl(scenario, &pki, &made.certificates, &dir)?)
    };

    let started = Instant::now();
    let late_card = if scenario.insert_after.is_zero() { None } else { reader.remove() };
    let shared = reader.into_shared();
    let addr = slot_addr(options.vpcd, slot);
    let vpcd_err = |source| ScenarioError::Vpcd { name: name.clone(), source };
    let serving = if scenario.needs_link() {
        let listen = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0).into();
        let inner = VpcdServer::spawn(VpcdConfig::listen(listen).slot(slot), shared.clone(), trace.clone())
            .map_err(vpcd_err)?;
        let card_addr = inner.listen_addr().ok_or_else(|| vpcd_err(io::Error::other("no listen address")))?;
        let config = LinkConfig {
            vpcd: addr,
            card: card_addr,
            slot,
            trace: trace.clone(),
            triggers: scenario.triggers.clone(),
            apdu_delay: scenario.apdu_delay,
        };
        Serving::Linked(Link::spawn(config, inner).map_err(vpcd_err)?)
    } else {
        Serving::Direct(
            VpcdServer::spawn(VpcdConfig::connect(addr).slot(slot), shared.clone(), trace.clone()).map_err(vpcd_err)?,
        )
    };

    let inserter = match late_card {
        None => None,
        Some(card) => {
            let signal = Arc::new(StopSignal::default());
            let (s, reader, trace, delay) = (signal.clone(), shared.clone(), trace.clone(), scenario.insert_after);
            let thread = std::thread::Builder::new()
                .name(format!("scenario-insert-{slot}"))
                .spawn(move || {
                    if !s.sleep(Some(delay)) {
                        trace.event(slot, &TraceEvent::CardInserted);
                        reader.lock().unwrap_or_else(PoisonError::into_inner).insert(card);
                    }
                })
                .map_err(vpcd_err)?;
            Some((signal, thread))
        }
    };

    Ok(RunningScenario {
        scenario: scenario.clone(),
        slot,
        addr,
        reader: shared,
        certificates: made.certificates,
        crl_file,
        started,
        clock,
        serving: Some(serving),
        inserter,
    })
}

/// Runs the setup steps through the card's own commands, traced as a pseudo-connection of the slot.
fn run_setup(
    scenario: &Scenario,
    reader: InProcessReader,
    trace: &Trace,
    slot: usize,
) -> Result<InProcessReader, ScenarioError> {
    if scenario.setup.is_empty() {
        return Ok(reader);
    }
    let reader_err = |step, source| ScenarioError::Reader { name: scenario.name.clone(), step, source };
    let mut traced = Traced::new(reader, trace.clone(), slot);
    trace.event(slot, &TraceEvent::Connected("scenario setup, in-process".into()));
    traced.power_on().map_err(|e| reader_err(0, e))?;
    for (i, step) in scenario.setup.iter().enumerate() {
        let apdu = step.apdu(&scenario.profile);
        let answer = traced.transmit(&apdu).map_err(|e| reader_err(i + 1, e))?;
        let sw = match answer.as_slice() {
            [.., a, b] => u16::from_be_bytes([*a, *b]),
            _ => 0,
        };
        if let Some(expected) = step.expect.filter(|e| *e != sw) {
            return Err(ScenarioError::Setup {
                path: DisplayPath(scenario.path.clone()),
                step: i + 1,
                command: card_os::apdu::describe(&apdu).name.to_owned(),
                expected: format!("{expected:04X}"),
                got: format!("{sw:04X}"),
            });
        }
    }
    traced.power_off();
    trace.event(slot, &TraceEvent::Disconnected("setup done".into()));
    Ok(traced.into_inner())
}

/// The CRL of the card's issuing CA listing the revoked keys' certificates: `<dir>/<CA file stem>.crl` (DER, the
/// name at the end of the certificates' CRL distribution point) and `.crl.pem` beside it. Returns the DER file.
fn write_crl(
    scenario: &Scenario,
    pki: &TestPki,
    certificates: &[(u8, Vec<u8>)],
    dir: &Path,
) -> Result<PathBuf, ScenarioError> {
    let name = &scenario.name;
    let pki_err = |e| ScenarioError::Pki { name: name.clone(), source: Box::new(e) };
    let now = unix_now();
    let mut entries = Vec::new();
    for key in &scenario.revoke {
        if let Some((_, der)) = certificates.iter().find(|(k, _)| k == key) {
            let serial = certificate_summary(der).map_err(pki_err)?.serial;
            entries.push(RevokedEntry { serial, revoked_at: now });
        }
    }
    let issuer = issuer_of(&scenario.profile);
    let der = pki.crl(issuer, &entries, now).map_err(pki_err)?;
    let pem = crate::issuance::pki::crl_pem(&der).map_err(pki_err)?;
    let write_err = |path: &Path, source| ScenarioError::Write { name: name.clone(), path: path.to_owned(), source };
    std::fs::create_dir_all(dir).map_err(|e| write_err(dir, e))?;
    let file = dir.join(format!("{}.crl", issuer.file_stem()));
    std::fs::write(&file, &der).map_err(|e| write_err(&file, e))?;
    let pem_file = dir.join(format!("{}.crl.pem", issuer.file_stem()));
    std::fs::write(&pem_file, pem).map_err(|e| write_err(&pem_file, e))?;
    Ok(file)
}

// ---------------------------------------------------------------------------------------------
// The link: a vpcd frame relay between pcscd's vpcd and the card's slot, for delays and triggers
// ---------------------------------------------------------------------------------------------

struct LinkConfig {
    vpcd: SocketAddr,
    card: SocketAddr,
    slot: usize,
    trace: Trace,
    triggers: Vec<Trigger>,
    apdu_delay: Duration,
}

/// How many connections vpcd has spoken on, for [`Link::wait_ready`].
#[derive(Default)]
struct LinkShared {
    spoke: Mutex<u64>,
    changed: Condvar,
}

/// The relay's thread. It runs a current-thread tokio runtime rather than blocking sockets for one reason:
/// `TCP_QUICKACK`, which std does not expose and tokio does. vpcd sends a frame's length and payload in two
/// `send()` calls without `TCP_NODELAY`, so without a quick ACK of the first every APDU would wait ~40 ms for the
/// delayed ACK (see reader-sim's vpcd module).
struct Link {
    shared: Arc<LinkShared>,
    stop: tokio::sync::watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

/// How one relayed connection ended.
enum LinkEnd {
    /// A socket closed or failed (pcscd went away).
    Closed,
    /// A remove trigger pulled the card.
    Removed(Option<Duration>),
}

impl Link {
    fn spawn(config: LinkConfig, inner: VpcdHandle) -> io::Result<Link> {
        let shared = Arc::new(LinkShared::default());
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let runtime = tokio::runtime::Builder::new_current_thread().enable_io().enable_time().build()?;
        let s = shared.clone();
        let thread = std::thread::Builder::new().name(format!("scenario-link-{}", config.slot)).spawn(move || {
            runtime.block_on(link_run(&config, &inner, &s, stopped));
            // `inner` drops here: the card's slot stops after the link.
        })?;
        Ok(Link { shared, stop, thread: Some(thread) })
    }

    fn wait_ready(&self, timeout: Duration) -> bool {
        let deadline = Instant::now().checked_add(timeout);
        let mut spoke = self.shared.spoke.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if *spoke > 0 {
                return true;
            }
            let left = deadline.map_or(Duration::from_secs(3600), |d| d.saturating_duration_since(Instant::now()));
            if left.is_zero() {
                return false;
            }
            spoke = self.shared.changed.wait_timeout(spoke, left).unwrap_or_else(PoisonError::into_inner).0;
        }
    }

    fn stop(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// Sleeps `d` (for ever if `None`); true if the link was stopped meanwhile.
async fn sleep_or_stop(d: Option<Duration>, stop: &mut tokio::sync::watch::Receiver<bool>) -> bool {
    let stopped = stop.wait_for(|s| *s);
    match d {
        Some(d) => tokio::select! {
            _ = stopped => true,
            () = tokio::time::sleep(d) => false,
        },
        None => {
            let _ = stopped.await;
            true
        }
    }
}

async fn read_frame(stream: &mut tokio::net::TcpStream) -> io::Result<Vec<u8>> {
    use tokio::io::AsyncReadExt as _;
    quickack(stream);
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).await?;
    quickack(stream);
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut buf).await?;
    Ok(buf)
}

/// One write per frame, as the vpcd slot does, so no frame is split over two segments.
async fn write_frame(stream: &mut tokio::net::TcpStream, payload: &[u8]) -> io::Result<()> {
    use tokio::io::AsyncWriteExt as _;
    let len = u16::try_from(payload.len()).map_err(|_| io::Error::other("frame longer than 65535 bytes"))?;
    let mut out = Vec::with_capacity(2 + payload.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload);
    stream.write_all(&out).await
}

/// Linux: ACK at once what the next read receives (not sticky, tcp(7)). A failure only costs latency.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn quickack(stream: &tokio::net::TcpStream) {
    let _ = stream.set_quickack(true);
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn quickack(_stream: &tokio::net::TcpStream) {}

/// Connects to the card's slot and asks its ATR: only a slot with a card in it answers.
async fn connect_card(addr: SocketAddr) -> io::Result<tokio::net::TcpStream> {
    let limit = Duration::from_secs(2);
    let mut stream = tokio::time::timeout(limit, tokio::net::TcpStream::connect(addr)).await??;
    stream.set_nodelay(true)?;
    write_frame(&mut stream, &[CTRL_ATR]).await?;
    tokio::time::timeout(limit, read_frame(&mut stream)).await??;
    Ok(stream)
}

async fn connect_vpcd(addr: SocketAddr) -> io::Result<tokio::net::TcpStream> {
    let stream = tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(addr)).await??;
    stream.set_nodelay(true)?;
    Ok(stream)
}

async fn link_run(
    config: &LinkConfig,
    inner: &VpcdHandle,
    shared: &LinkShared,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let min_backoff = Duration::from_millis(100);
    let mut fired = vec![false; config.triggers.len()];
    let mut backoff = min_backoff;
    while !*stop.borrow() {
        let Ok(mut card) = connect_card(config.card).await else {
            if sleep_or_stop(Some(Duration::from_millis(50)), &mut stop).await {
                return;
            }
            continue;
        };
        // Hold the card's connection while vpcd is not there yet: each new one would be a connect in the trace.
        let mut vpcd = loop {
            match connect_vpcd(config.vpcd).await {
                Ok(s) => break s,
                Err(e) => {
                    if backoff == min_backoff {
                        let what = format!("cannot reach vpcd at {}: {e}; retrying up to every 2 s", config.vpcd);
                        config.trace.event(config.slot, &TraceEvent::Error(what));
                    }
                    if sleep_or_stop(Some(backoff), &mut stop).await {
                        return;
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
            }
        };
        backoff = min_backoff;
        let end = tokio::select! {
            end = relay(config, inner, shared, &mut vpcd, &mut card, &mut fired) => end,
            _ = stop.wait_for(|s| *s) => return,
        };
        if matches!(end, LinkEnd::Closed) {
            // vpcd went away (pcscd stopped): answer its FIN with a reset, so its port is left with no TIME_WAIT
            // and a restarted pcscd can bind it at once (as reader-sim's vpcd slot does).
            let _ = vpcd.set_zero_linger();
        }
        drop(vpcd);
        drop(card);
        let pause = match end {
            LinkEnd::Closed => Some(min_backoff),
            LinkEnd::Removed(reinsert_after) => reinsert_after,
        };
        if sleep_or_stop(pause, &mut stop).await {
            return;
        }
        if matches!(end, LinkEnd::Removed(_)) {
            inner.insert_card();
        }
    }
}

/// Relays frames until a socket closes or a trigger pulls the card.
async fn relay(
    config: &LinkConfig,
    inner: &VpcdHandle,
    shared: &LinkShared,
    vpcd: &mut tokio::net::TcpStream,
    card: &mut tokio::net::TcpStream,
    fired: &mut [bool],
) -> LinkEnd {
    let mut first = true;
    loop {
        let Ok(frame) = read_frame(vpcd).await else { return LinkEnd::Closed };
        if first {
            first = false;
            *shared.spoke.lock().unwrap_or_else(PoisonError::into_inner) += 1;
            shared.changed.notify_all();
        }
        if let [code] = frame.as_slice() {
            if write_frame(card, &frame).await.is_err() {
                return LinkEnd::Closed;
            }
            if *code == CTRL_ATR {
                let Ok(atr) = read_frame(card).await else { return LinkEnd::Closed };
                if write_frame(vpcd, &atr).await.is_err() {
                    return LinkEnd::Closed;
                }
            }
            continue;
        }
        let trigger =
            config.triggers.iter().enumerate().find(|(i, t)| {
                t.on.matches(&frame) && !(fired[*i] && matches!(t.action, TriggerAction::Remove { .. }))
            });
        let answer = match trigger {
            Some((i, Trigger { action: TriggerAction::Remove { reinsert_after }, .. })) => {
                fired[i] = true;
                config.trace.command(config.slot, &frame);
                inner.remove_card();
                return LinkEnd::Removed(*reinsert_after);
            }
            Some((_, Trigger { action: TriggerAction::Answer(answer), .. })) => {
                config.trace.command(config.slot, &frame);
                config.trace.response(config.slot, answer);
                answer.clone()
            }
            None => {
                if write_frame(card, &frame).await.is_err() {
                    return LinkEnd::Closed;
                }
                let Ok(answer) = read_frame(card).await else { return LinkEnd::Closed };
                answer
            }
        };
        if !config.apdu_delay.is_zero() {
            tokio::time::sleep(config.apdu_delay).await;
        }
        if write_frame(vpcd, &answer).await.is_err() {
            return LinkEnd::Closed;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// `zorgcard scenario run FILE`
// ---------------------------------------------------------------------------------------------

/// The arguments of `zorgcard scenario run`.
#[derive(Debug, Clone)]
pub struct ScenarioArgs {
    /// The scenario: a `.toml` file, or the name of a shipped one (`last-pin-try`).
    pub file: PathBuf,
    /// vpcd's address for slot 0 (default `127.0.0.1:35963`).
    pub vpcd: SocketAddr,
    /// The slot (vpcd port + slot).
    pub slot: usize,
    /// APDU trace file (appended; secrets masked); `-` for standard output. A revoking scenario writes its CRL
    /// next to it.
    pub trace: Option<PathBuf>,
    /// Stop after this long; `None`: until `quit` on standard input, or until killed.
    pub duration: Option<Duration>,
}

/// How long `scenario_main` waits for vpcd to take the card.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// `zorgcard scenario run FILE`: plays the scenario in a vpcd slot. Prints one `ready: …` line once pcscd has the
/// card (at once when the card is inserted late: the empty reader is part of the scenario), then the scenario's
/// description and what the application is expected to do, and plays until `duration` is over, `quit` is read on
/// standard input, or the process is killed.
pub fn scenario_main(args: &ScenarioArgs) -> Result<(), ScenarioError> {
    let scenario = load(&args.file.to_string_lossy())?;
    let (trace, crl_dir) = match &args.trace {
        None => (Trace::off(), None),
        Some(p) if p.as_os_str() == "-" => (Trace::stdout(), None),
        Some(p) => {
            let trace = Trace::file(p).map_err(|source| ScenarioError::Trace { path: p.clone(), source })?;
            let dir =
                p.parent().filter(|d| !d.as_os_str().is_empty()).map_or_else(|| PathBuf::from("."), Path::to_owned);
            (trace, Some(dir))
        }
    };
    let options = StartOptions { vpcd: args.vpcd, slot: args.slot, trace, crl_dir };
    let running = start(&scenario, &options)?;
    let late = !scenario.insert_after.is_zero();
    if !late && !running.wait_ready(READY_TIMEOUT) {
        return Err(ScenarioError::NotReady {
            name: scenario.name.clone(),
            addr: running.addr,
            slot: args.slot,
            waited: READY_TIMEOUT,
        });
    }
    let mut out = io::stdout().lock();
    let _ = writeln!(
        out,
        "ready: scenario {} on slot {} via vpcd {}: {} serial {}{}",
        scenario.name,
        args.slot,
        running.addr,
        scenario.profile.name,
        scenario.profile.serial,
        if late { format!(", card inserted in {} ms", scenario.insert_after.as_millis()) } else { String::new() }
    );
    let _ = writeln!(out, "{}", scenario.description);
    let _ = writeln!(out, "Expected of the application:");
    for line in scenario.expected.lines() {
        let _ = writeln!(out, "  {line}");
    }
    if let Some(crl) = &running.crl_file {
        let _ = writeln!(out, "CRL (DER, PEM beside it): {}", crl.display());
    }
    let _ = out.flush();
    drop(out);
    wait_for_end(args.duration);
    running.stop();
    Ok(())
}

/// Waits for `duration`, or for `quit` (or end of input, when there is no duration) on standard input.
fn wait_for_end(duration: Option<Duration>) {
    let (tx, rx) = std::sync::mpsc::channel::<bool>();
    let _ = std::thread::Builder::new().name("scenario-stdin".into()).spawn(move || {
        for line in io::stdin().lock().lines() {
            match line {
                Ok(l) if l.trim() == "quit" => {
                    let _ = tx.send(true);
                    return;
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        // End of input: `< /dev/null` in CI means "no commands", not "stop".
        let _ = tx.send(false);
    });
    let deadline = duration.and_then(|d| Instant::now().checked_add(d));
    loop {
        let left = deadline.map_or(Duration::from_secs(3600), |d| d.saturating_duration_since(Instant::now()));
        if deadline.is_some() && left.is_zero() {
            return;
        }
        match rx.recv_timeout(left) {
            Ok(true) => return,
            Ok(false) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                // No more input: only the duration (or a kill) ends the scenario.
                match deadline {
                    Some(d) => std::thread::sleep(d.saturating_duration_since(Instant::now())),
                    None => loop {
                        std::thread::park();
                    },
                }
                return;
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
