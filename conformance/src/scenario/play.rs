//! Playing a scenario: its card made and set up in-process ([`prepare`]), then served in one vpcd slot of
//! reader-sim's [`VpcdServer`] ([`start`]), its behaviours in a [`ScenarioInterceptor`] on the slot's reader and
//! late or returning cards put in by an [`Inserter`]; and `zorgcard scenario run FILE` ([`scenario_main`]).
//!
//! The insertion delay needs no hook: the reader stays empty until the delay is over, and the vpcd slot only
//! connects to pcscd once a card is in it. The whole dialogue — the setup exchanges (as a pseudo-connection
//! "scenario setup, in-process"), every exchange pcscd makes, and what the interceptor did — goes to one [`Trace`].

use std::io::{self, BufRead, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::PoisonError;
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reader_sim::platform::ClockHandle;
use reader_sim::reader::{InProcessReader, Interceptor, SharedReader, Transmit};
use reader_sim::trace::{Trace, TraceEvent, Traced};
use reader_sim::vpcd::{VpcdConfig, VpcdHandle, VpcdServer};

use super::interceptor::{Inserter, Insertion, ScenarioInterceptor};
use super::{Scenario, ScenarioError, load};
use issuance::card_new::{NewCardOptions, new_card};
use issuance::pki::{Issuer, RevokedEntry, TestPki, certificate_summary};
use issuance::profile::{CardKind, DisplayPath, Profile};

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
    serving: Option<VpcdHandle>,
    inserter: Option<Inserter>,
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
        self.serving.as_ref().is_some_and(|handle| handle.wait_ready(timeout))
    }

    /// Whether the card is served behind a [`ScenarioInterceptor`] (per-APDU delay or triggers).
    pub fn is_intercepted(&self) -> bool {
        self.scenario.needs_interceptor()
    }

    /// The vpcd slot: [`VpcdHandle::remove_card`] and [`VpcdHandle::insert_card`] take the card out and put it
    /// back as pcscd sees it.
    pub fn handle(&self) -> Option<&VpcdHandle> {
        self.serving.as_ref()
    }

    /// Stops playing: the card leaves vpcd (pcscd sees it removed).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(inserter) = self.inserter.take() {
            inserter.stop();
        }
        if let Some(handle) = self.serving.take() {
            handle.stop();
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

/// A scenario's card, made and set up in-process, not yet served: what [`start`] serves, and what a harness that
/// drives the card itself (`zorgcard chaos` with a client script) uses.
#[derive(Debug)]
pub struct Prepared {
    /// The reader holding the card, powered off after the setup.
    pub reader: InProcessReader,
    /// The card's certificates, by key reference.
    pub certificates: Vec<(u8, Vec<u8>)>,
    /// The CRL written (DER), if the scenario revokes.
    pub crl_file: Option<PathBuf>,
    /// The card's clock, at the scenario's served day.
    pub clock: ClockHandle,
}

/// Makes the card, runs the setup in-process (traced as `slot`) and writes the CRL, if the scenario revokes, into
/// `crl_dir` (`None`: the system's temporary directory).
pub fn prepare(
    scenario: &Scenario,
    trace: &Trace,
    slot: usize,
    crl_dir: Option<&Path>,
) -> Result<Prepared, ScenarioError> {
    let name = scenario.name.clone();
    let pki = TestPki::fixtures().map_err(|e| ScenarioError::Pki { name: name.clone(), source: Box::new(e) })?;
    let clock = ClockHandle::new();
    clock.set_offset_days(scenario.issued_days);
    let made = new_card(&scenario.profile, &pki, &NewCardOptions { clock: Some(clock.clone()), ..Default::default() })
        .map_err(|e| ScenarioError::CardNew { name: name.clone(), source: Box::new(e) })?;
    let reader = run_setup(scenario, InProcessReader::with_card(made.card), trace, slot)?;
    clock.set_offset_days(scenario.served_days);
    let crl_file = if scenario.revoke.is_empty() {
        None
    } else {
        let dir = crl_dir.map_or_else(|| std::env::temp_dir().join(format!("zorgcard-{name}")), Path::to_owned);
        Some(write_crl(scenario, &pki, &made.certificates, &dir)?)
    };
    Ok(Prepared { reader, certificates: made.certificates, crl_file, clock })
}

/// Makes the card, runs the setup in-process (traced), writes the CRL and serves the card in its vpcd slot, its
/// delay and triggers in a [`ScenarioInterceptor`] on the slot's reader.
pub fn start(scenario: &Scenario, options: &StartOptions) -> Result<RunningScenario, ScenarioError> {
    start_with(scenario, options, |_, _| None)
}

/// [`start`], with the interceptor `extra` makes (given the [`Inserter`]'s sender for cards it pulls, and the
/// card's clock) in place of the scenario's own: how `zorgcard chaos` plays its events on a scenario's card. A
/// scenario with triggers or a delay keeps its own interceptor when `extra` gives none.
pub fn start_with(
    scenario: &Scenario,
    options: &StartOptions,
    extra: impl FnOnce(Sender<Insertion>, &ClockHandle) -> Option<Box<dyn Interceptor>>,
) -> Result<RunningScenario, ScenarioError> {
    let name = scenario.name.clone();
    let slot = options.slot;
    let trace = options.trace.clone();
    let prepared = prepare(scenario, &trace, slot, options.crl_dir.as_deref())?;
    let mut reader = prepared.reader;
    let started = Instant::now();
    let late_card = if scenario.insert_after.is_zero() { None } else { reader.remove() };
    let shared = reader.into_shared();
    let vpcd_err = |source| ScenarioError::Vpcd { name: name.clone(), source };
    let inserter = Inserter::spawn(shared.clone(), trace.clone(), slot).map_err(vpcd_err)?;
    let interceptor = extra(inserter.sender(), &prepared.clock).or_else(|| {
        scenario.needs_interceptor().then(|| {
            Box::new(ScenarioInterceptor::new(
                scenario.triggers.clone(),
                scenario.apdu_delay,
                trace.clone(),
                slot,
                inserter.sender(),
            )) as Box<dyn Interceptor>
        })
    });
    shared.lock().unwrap_or_else(PoisonError::into_inner).set_interceptor(interceptor);
    if let Some(card) = late_card {
        // The inserter lives as long as this function's caller holds the scenario: the send cannot fail.
        let _ = inserter.sender().send(Insertion { card, after: Some(scenario.insert_after) });
    }
    let addr = slot_addr(options.vpcd, slot);
    let handle =
        VpcdServer::spawn(VpcdConfig::connect(addr).slot(slot), shared.clone(), trace.clone()).map_err(vpcd_err)?;
    Ok(RunningScenario {
        scenario: scenario.clone(),
        slot,
        addr,
        reader: shared,
        certificates: prepared.certificates,
        crl_file: prepared.crl_file,
        started,
        clock: prepared.clock,
        serving: Some(handle),
        inserter: Some(inserter),
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
    let pem = issuance::pki::crl_pem(&der).map_err(pki_err)?;
    let write_err = |path: &Path, source| ScenarioError::Write { name: name.clone(), path: path.to_owned(), source };
    std::fs::create_dir_all(dir).map_err(|e| write_err(dir, e))?;
    let file = dir.join(format!("{}.crl", issuer.file_stem()));
    std::fs::write(&file, &der).map_err(|e| write_err(&file, e))?;
    let pem_file = dir.join(format!("{}.crl.pem", issuer.file_stem()));
    std::fs::write(&pem_file, pem).map_err(|e| write_err(&pem_file, e))?;
    Ok(file)
}

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
pub fn wait_for_end(duration: Option<Duration>) {
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
