//! `zorgcard chaos`: while an application uses the card, the simulated card plays random life-cycle events drawn
//! from a seed — pulled and re-inserted, reset, a slow answer, a blocked PIN, a clock past expiry, a revoked card,
//! transient error status words — and at the end a summary says what was injected and how the application
//! reacted; rules can fail CI.
//!
//! # Choices
//!
//! - **Built on the scenario machinery.** The card is a scenario's card ([`conformance::scenario::prepare`]: profile,
//!   setup, clock, CRL); served, it goes through [`conformance::scenario::start_with`] into reader-sim's one vpcd slot,
//!   and the events are a [`ChaosInterceptor`] on the slot's reader. A pulled card goes back in through the
//!   scenario's [`conformance::scenario::Inserter`].
//! - **Determinism.** One number per C-APDU is drawn from ChaCha8 (the `rand` crate) seeded with the `u64` seed;
//!   it picks the event by the cumulative rates of the rates file ([`rates`]). So the events depend only on the
//!   seed and the APDU positions: the same seed and the same application input play the same events at the same
//!   APDUs. Events that change the card for good (blocked PIN, expiry, revocation) play at most once.
//! - **Two ways to drive it.** `--client FILE` runs an APDU list (`zorgcard record`'s format, `$PIN` for the
//!   profile's PIN) in-process, as a scripted application: deterministic to the byte, for tests and CI. After a
//!   pull it puts the card back and powers it (what `SCardReconnect` does) before its next APDU. Without
//!   `--client` the card is served over vpcd to a real application until `--seconds` or `quit`.
//! - **Reactions** come from the APDU after each event: the same command again is *retried*, nothing more is
//!   *gave up*, a command other than SELECT after a pull or reset is a *stale handle*, anything else *went on*.
//! - **Trace.** The existing [`reader_sim::trace::Trace`] with one `error: chaos: <event> at APDU n` line per
//!   event (the trace has no other free-text event; these are faults the application does not see as such).

pub mod event;
pub mod interceptor;
pub mod rates;
pub mod summary;

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::PoisonError;
use std::sync::mpsc::Receiver;
use std::time::Duration;

use card_os::pin::Secret;
use reader_sim::reader::{InProcessReader, ReaderError, Transmit as _};
use reader_sim::trace::{Trace, Traced};

pub use event::{ChaosEvent, SeenApdu};
pub use interceptor::{ChaosInterceptor, ChaosLog, ChaosTarget};
pub use rates::{Rates, RatesError, default_rates_file};
pub use summary::{Broken, Injected, Reaction, Rule, Summary};

use conformance::scenario::{self, Insertion, Scenario, ScenarioError, StartOptions};
use issuance::profile::DisplayPath;
use replay::{ReplayError, read_apdu_list};

/// Why a chaos run failed. Every message names the file or rule and the fix.
#[derive(Debug, thiserror::Error)]
pub enum ChaosError {
    /// The rates file is wrong.
    #[error(transparent)]
    Rates(#[from] RatesError),
    /// The scenario could not be loaded or played.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// The client script could not be read.
    #[error(transparent)]
    Client(#[from] ReplayError),
    /// The trace file could not be opened.
    #[error("cannot open the chaos trace `{}`: {source}: check the directory and permissions", .path.display())]
    Trace {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The in-process reader failed other than by a pulled card.
    #[error("chaos client `{path}`: APDU {apdu}: the reader failed: {source}")]
    Reader {
        /// The client script.
        path: DisplayPath,
        /// 1-based APDU position.
        apdu: usize,
        /// What went wrong.
        source: ReaderError,
    },
    /// A rule was broken: the run fails, for CI.
    #[error(
        "chaos seed {seed}: rule `{rule}` broken at APDU {apdu}: {what}: fix the application (or drop \
         `--rule {rule}`); replay with the same seed"
    )]
    RuleBroken {
        /// The seed, to replay.
        seed: u64,
        /// The rule.
        rule: Rule,
        /// 1-based APDU position.
        apdu: usize,
        /// What happened.
        what: String,
    },
}

/// The arguments of `zorgcard chaos` (parsed by clap here, so the binary only forwards them).
#[derive(Debug, Clone, clap::Args)]
pub struct ChaosArgs {
    /// The seed: the same seed and the same application input play the same events at the same APDUs.
    #[arg(long)]
    pub seed: u64,
    /// The rates file (default: chaos/default.toml of the fixture set, see --fixtures).
    #[arg(long)]
    pub rates: Option<PathBuf>,
    /// The scenario whose card is played (name or file; default: a plain card of --profile).
    #[arg(long)]
    pub scenario: Option<String>,
    /// The profile of the plain card.
    #[arg(long, default_value = "uzi-zorgverlener")]
    pub profile: String,
    /// An APDU list (one hex C-APDU a line, `$PIN` for the PIN) run in-process as the application; without it
    /// the card is served over vpcd to a real application.
    #[arg(long)]
    pub client: Option<PathBuf>,
    /// The trace file (appended; secrets masked); `-` for standard output (default: chaos-SEED.trace).
    #[arg(long)]
    pub trace: Option<PathBuf>,
    /// A rule that fails the run (repeatable): no-verify-after-6983, no-stale-handle, retry-transient.
    #[arg(long = "rule")]
    pub rules: Vec<Rule>,
    /// vpcd's address for slot 0 (served mode).
    #[arg(long, default_value = "127.0.0.1:35963")]
    pub vpcd: SocketAddr,
    /// The slot (served mode).
    #[arg(long, default_value_t = 0)]
    pub slot: usize,
    /// Stop serving after this many seconds (default: until `quit` on standard input).
    #[arg(long)]
    pub seconds: Option<u64>,
}

/// A scenario with a plain card of `profile`: no setup, no triggers, served today.
pub fn plain_scenario(profile: &str) -> Result<Scenario, ChaosError> {
    let path = PathBuf::from(format!("{profile}.toml"));
    let profile = issuance::profile::load(profile)
        .map_err(|source| ScenarioError::Profile { path: DisplayPath(path.clone()), source: Box::new(source) })?;
    Ok(Scenario {
        name: format!("chaos-{}", profile.name),
        path,
        description: format!("a plain {} card", profile.name),
        expected: "the application copes with the events".into(),
        profile,
        issued_days: 0,
        served_days: 0,
        setup: Vec::new(),
        revoke: Vec::new(),
        insert_after: Duration::ZERO,
        apdu_delay: Duration::ZERO,
        triggers: Vec::new(),
    })
}

/// Runs the APDU list `client` in-process against the scenario's card with chaos from `seed`, traced as slot 0.
/// Returns the log of what was seen and played.
pub fn run_client(
    scenario: &Scenario,
    rates: &Rates,
    seed: u64,
    client: &Path,
    trace: &Trace,
) -> Result<Vec<SeenApdu>, ChaosError> {
    let pin = Secret::new(scenario.profile.pin.value.as_bytes().to_vec());
    let apdus = read_apdu_list(client, Some(pin.expose()))?;
    let prepared = scenario::prepare(scenario, trace, 0, None)?;
    let (sender, pulled) = std::sync::mpsc::channel::<Insertion>();
    let log = ChaosLog::default();
    let target = ChaosTarget {
        clock: prepared.clock,
        served_days: scenario.served_days,
        pin,
        inserter: sender,
        trace: trace.clone(),
        slot: 0,
    };
    let mut reader = prepared.reader;
    reader.set_interceptor(Some(Box::new(ChaosInterceptor::new(rates.clone(), seed, target, log.clone()))));
    let mut traced = Traced::new(reader, trace.clone(), 0);
    let reader_err = |apdu, source| ChaosError::Reader { path: DisplayPath(client.to_owned()), apdu, source };
    for (i, (_, apdu)) in apdus.iter().enumerate() {
        reinsert(&mut traced, &pulled).map_err(|e| reader_err(i + 1, e))?;
        match traced.transmit(apdu) {
            Ok(_) | Err(ReaderError::NoCard) => {}
            Err(e) => return Err(reader_err(i + 1, e)),
        }
    }
    let seen = log.lock().unwrap_or_else(PoisonError::into_inner).clone();
    Ok(seen)
}

/// Before the next APDU: a pulled card goes back in, and an unpowered card is powered (the application's
/// reconnect).
fn reinsert(traced: &mut Traced<InProcessReader>, pulled: &Receiver<Insertion>) -> Result<(), ReaderError> {
    if let Ok(insertion) = pulled.try_recv() {
        traced.trace().event(0, &reader_sim::trace::TraceEvent::CardInserted);
        traced.inner_mut().insert(insertion.card);
    }
    if !traced.inner().is_powered() {
        traced.power_on()?;
    }
    Ok(())
}

/// `zorgcard chaos --seed N`: prints the seed, plays the events (in-process on `--client`, or served over vpcd),
/// writes the trace, prints the summary, and fails with [`ChaosError::RuleBroken`] if a rule broke.
pub fn chaos_main(args: &ChaosArgs) -> Result<Summary, ChaosError> {
    let rates_file = args.rates.clone().unwrap_or_else(default_rates_file);
    let rates = rates::load(&rates_file)?;
    let scenario = match &args.scenario {
        Some(name) => scenario::load(name)?,
        None => plain_scenario(&args.profile)?,
    };
    let trace_path = args.trace.clone().unwrap_or_else(|| PathBuf::from(format!("chaos-{}.trace", args.seed)));
    let trace = if trace_path.as_os_str() == "-" {
        Trace::stdout()
    } else {
        Trace::file(&trace_path).map_err(|source| ChaosError::Trace { path: trace_path.clone(), source })?
    };
    println!(
        "chaos: seed {} on scenario {} (rates {}), trace {}",
        args.seed,
        scenario.name,
        DisplayPath(rates_file.clone()),
        trace_path.display()
    );
    let log = match &args.client {
        Some(client) => run_client(&scenario, &rates, args.seed, client, &trace)?,
        None => serve(args, &scenario, &rates, &trace)?,
    };
    let summary = Summary::new(args.seed, &log, &args.rules);
    print!("{summary}");
    let _ = std::io::stdout().flush();
    match summary.broken.first() {
        Some(b) => Err(ChaosError::RuleBroken { seed: args.seed, rule: b.rule, apdu: b.apdu, what: b.what.clone() }),
        None => Ok(summary),
    }
}

/// Serves the scenario's card with the chaos interceptor until the duration is over or `quit` is read.
fn serve(args: &ChaosArgs, scenario: &Scenario, rates: &Rates, trace: &Trace) -> Result<Vec<SeenApdu>, ChaosError> {
    let log = ChaosLog::default();
    let options = StartOptions { vpcd: args.vpcd, slot: args.slot, trace: trace.clone(), crl_dir: None };
    let running = {
        let (log, rates, seed) = (log.clone(), rates.clone(), args.seed);
        let pin = Secret::new(scenario.profile.pin.value.as_bytes().to_vec());
        let (trace, slot, served_days) = (trace.clone(), args.slot, scenario.served_days);
        scenario::start_with(scenario, &options, move |inserter, clock| {
            let target = ChaosTarget { clock: clock.clone(), served_days, pin, inserter, trace, slot };
            Some(Box::new(ChaosInterceptor::new(rates, seed, target, log)))
        })?
    };
    if scenario.insert_after.is_zero() && !running.wait_ready(scenario::READY_TIMEOUT) {
        return Err(ScenarioError::NotReady {
            name: scenario.name.clone(),
            addr: running.addr,
            slot: args.slot,
            waited: scenario::READY_TIMEOUT,
        }
        .into());
    }
    println!("ready: chaos on slot {} via vpcd {}", args.slot, running.addr);
    let _ = std::io::stdout().flush();
    scenario::play::wait_for_end(args.seconds.map(Duration::from_secs));
    running.stop();
    let seen = log.lock().unwrap_or_else(PoisonError::into_inner).clone();
    Ok(seen)
}
