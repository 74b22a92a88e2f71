//! `zorgcard serve`: fixture cards in vpcd slots, so pcscd shows them to every PC/SC application.
//!
//! Each slot gets a card from a profile (made fresh, or from an image file that is created from the profile when
//! absent and saved after every change) and a vpcd connection of its own (slot *n* = port + *n*, vsmartcard's
//! convention), up to [`slots::MAX_SLOTS`]. Cards made from the same profile in one process get distinct serial
//! numbers, and two cards with one serial are refused.
//!
//! - [`slots`]: the `--card PROFILE[:FILE]` arguments and which slot each card goes in.
//! - [`control`]: the standard-input commands (`remove N`, `insert N`, `clock +DAYS`, `quit`).
//! - [`exposure`]: the warning when the vpcd ports are reachable from other hosts (Debian's vpcd).

pub mod control;
pub mod exposure;
pub mod pcscd_config;
pub mod slots;

use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use card_os::Platform as _;
use reader_sim::image::{self, ImageFileError, Rollback};
use reader_sim::platform::ClockHandle;
use reader_sim::reader::{InProcessReader, SharedReader};
use reader_sim::trace::Trace;
use reader_sim::vpcd::{VpcdConfig, VpcdHandle, VpcdServer};

use issuance::card_new::{NewCardOptions, new_card};
use issuance::pki::TestPki;
use issuance::profile;

pub use slots::{MAX_SLOTS, SlotsError};

/// How long `serve` waits for vpcd to accept every slot before it says pcscd is missing.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// One slot to serve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotSpec {
    /// Profile name or path; `None` with a `card` file means: the image must exist.
    pub profile: Option<String>,
    /// Image file kept across runs.
    pub card: Option<PathBuf>,
    /// Whether an image whose newest state is damaged is opened at its older state (`--accept-rollback`).
    pub rollback: Rollback,
}

/// Why serving could not start. Each message names the slot or file and the fix.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The slot arguments do not describe a set of slots.
    #[error(transparent)]
    Slots(#[from] SlotsError),
    /// A card could not be made from its profile (the profile, the TEST PKI, or the personalisation).
    #[error(transparent)]
    Card(#[from] issuance::CardError),
    /// An image file could not be read or written.
    #[error(transparent)]
    Image(#[from] ImageFileError),
    /// The portal database given with `--database` cannot be opened (missing, a TOML file, a newer schema, no
    /// PostgreSQL there).
    #[error(transparent)]
    Portal(#[from] portal::StoreError),
    /// A slot with neither a profile nor an image.
    #[error("slot {slot}: no profile and no image: say which card goes in it with `--card PROFILE[:FILE]`")]
    Empty {
        /// The slot.
        slot: usize,
    },
    /// Two slots hold cards with one serial number.
    #[error(
        "slots {first} and {second} hold cards with the same serial number {serial}: PC/SC applications tell cards \
         apart by serial; make one image anew with another serial (`zorgcard card new --serial`)"
    )]
    DuplicateSerial {
        /// The first slot.
        first: usize,
        /// The second slot.
        second: usize,
        /// The serial both cards carry.
        serial: String,
    },
    /// The vpcd connection of a slot could not be started.
    #[error("slot {slot}: could not start the vpcd connection to {addr}: {source}")]
    Vpcd {
        /// The slot.
        slot: usize,
        /// Its vpcd address.
        addr: SocketAddr,
        /// What the socket said.
        source: std::io::Error,
    },
    /// vpcd did not accept a slot in time, and this machine has no PC/SC library either: nothing to serve to.
    #[error("PC/SC is not installed on this machine: {}", pcsc_runtime::HOW_TO_INSTALL)]
    PcscNotInstalled,
    /// vpcd did not accept a slot in time: no pcscd with the vpcd driver.
    #[error(
        "vpcd at {addr} did not accept a connection within {waited:?}: start pcscd with the vpcd driver \
         (`pcscd --foreground`, package vsmartcard-vpcd), or run under `scripts/with-pcscd`"
    )]
    NotReady {
        /// The first slot's vpcd address.
        addr: SocketAddr,
        /// How long it was waited for.
        waited: Duration,
    },
    /// The trace file could not be created.
    #[error("trace file `{path}`: {source}: give a path in a folder you can write, or `-` for standard output", path = path.display())]
    Trace {
        /// The trace file.
        path: PathBuf,
        /// Why it could not be created.
        source: std::io::Error,
    },
}

issuance::from_card_errors!(ServeError);

/// A running slot.
#[derive(Debug)]
pub struct ServedSlot {
    /// The vpcd slot number (port offset).
    pub slot: usize,
    /// The vpcd address of the slot.
    pub addr: SocketAddr,
    /// The profile name or the image file, for the `ready` line.
    pub label: String,
    /// The card's serial number.
    pub serial: String,
    /// The reader holding the card.
    pub reader: SharedReader,
    /// The vpcd connection (insert, remove, stop).
    pub handle: VpcdHandle,
}

/// Everything `zorgcard serve` needs, as the CLI gives it.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// The slots and their cards (see [`slots::plan`]).
    pub slots: Vec<(usize, SlotSpec)>,
    /// Where vpcd listens for slot 0.
    pub vpcd: SocketAddr,
    /// Reverse mode: listen for vpcd instead of connecting.
    pub reverse: bool,
    /// APDU trace file; `-` for standard output.
    pub trace: Option<PathBuf>,
    /// Portal database (a file or a `postgres://` URL) whose decisions the slots enforce.
    pub registry: Option<portal::StoreLocation>,
    /// How long to wait for vpcd ([`READY_TIMEOUT`]).
    pub ready_timeout: Duration,
}

/// Make (or load) the card of one slot, in a reader that saves it to its image file if it has one.
pub fn prepare_reader(
    spec: &SlotSpec,
    slot: usize,
    duplicate: bool,
    pki: &TestPki,
) -> Result<(InProcessReader, String), ServeError> {
    if let Some(path) = spec.card.as_ref().filter(|p| p.exists()) {
        return Ok((InProcessReader::open_with(path, spec.rollback)?, format!("{}", path.display())));
    }
    let name = spec.profile.as_deref().ok_or(ServeError::Empty { slot })?;
    let profile = profile::load(name)?;
    let serial = if duplicate { distinct_serial(&profile.serial, slot) } else { profile.serial.clone() };
    let made = new_card(&profile, pki, &NewCardOptions { serial: Some(serial), ..Default::default() })?;
    let mut reader = InProcessReader::with_card(made.card);
    if let Some(path) = &spec.card {
        let bytes = reader.card().map(|c| c.platform().nvm().as_bytes().to_vec()).unwrap_or_default();
        image::save_atomic(path, &bytes)?;
        reader.set_image_path(Some(path.clone()));
    }
    Ok((reader, profile.name))
}

/// A serial unique to the slot: the profile's, its last two characters replaced by the slot number.
pub fn distinct_serial(serial: &str, slot: usize) -> String {
    let keep: String = serial.chars().take(serial.chars().count().saturating_sub(2)).collect();
    format!("{keep}{:02}", slot % 100)
}

/// The vpcd address of `slot` given slot 0's: port + slot.
pub fn slot_addr(base: SocketAddr, slot: usize) -> SocketAddr {
    let mut addr = base;
    addr.set_port(base.port().saturating_add(u16::try_from(slot).unwrap_or(u16::MAX)));
    addr
}

/// Start every slot of `slots` (from [`slots::plan`]). With a portal `registry`, every slot enforces its decisions
/// about the card (blocked, revoked) at the card's next use.
pub fn serve(
    slots: &[(usize, SlotSpec)],
    base: SocketAddr,
    listen: bool,
    trace: Trace,
    registry: Option<&portal::StoreLocation>,
) -> Result<Vec<ServedSlot>, ServeError> {
    let pki = TestPki::fixtures()?;
    if let Some(registry) = registry {
        // Checked once at the start, so a wrong --database is a setup error, not a `6F00` at the card's first use.
        portal::Store::open(registry)?;
    }
    let mut readers = Vec::new();
    for (slot, spec) in slots {
        let made_from_profile = |s: &SlotSpec| s.profile.is_some() && !s.card.as_ref().is_some_and(|p| p.exists());
        let duplicate = made_from_profile(spec) && slots.iter().filter(|(_, s)| s.profile == spec.profile).count() > 1;
        let (reader, label) = prepare_reader(spec, *slot, duplicate, &pki)?;
        let serial = reader.card().map(|c| String::from_utf8_lossy(&c.info().serial).into_owned()).unwrap_or_default();
        readers.push((*slot, reader, label, serial));
    }
    if let Some((first, second, serial)) = slots::duplicate_serial(readers.iter().map(|r| (r.0, r.3.as_str()))) {
        return Err(ServeError::DuplicateSerial { first, second, serial });
    }
    let mut served = Vec::new();
    // One line on stderr per connect, disconnect and retry of any slot: a pcscd restart shows as such.
    let (events, printed) = std::sync::mpsc::channel::<reader_sim::vpcd::SlotEvent>();
    std::thread::spawn(move || printed.iter().for_each(|event| eprintln!("{event}")));
    for (slot, mut reader, label, serial) in readers {
        if let Some(registry) = registry {
            reader.set_interceptor(Some(Box::new(portal::PortalInterceptor::new(registry, serial.clone()))));
        }
        let addr = slot_addr(base, slot);
        let config = if listen { VpcdConfig::listen(addr) } else { VpcdConfig::connect(addr) }.slot(slot);
        let shared = reader.into_shared();
        let handle = VpcdServer::spawn_reporting(config, shared.clone(), trace.clone(), events.clone())
            .map_err(|source| ServeError::Vpcd { slot, addr, source })?;
        served.push(ServedSlot { slot, addr, label, serial, reader: shared, handle });
    }
    Ok(served)
}

/// Wait until every slot is connected to vpcd (or listening, in reverse mode).
pub fn wait_ready(slots: &[ServedSlot], timeout: Duration) -> bool {
    slots.iter().all(|s| s.handle.wait_ready(timeout))
}

/// The trace `serve` writes: none, standard output (`-`) or a file.
pub fn open_trace(path: Option<&Path>) -> Result<Trace, ServeError> {
    match path {
        None => Ok(Trace::off()),
        Some(p) if p.as_os_str() == "-" => Ok(Trace::stdout()),
        Some(p) => Trace::file(p).map_err(|source| ServeError::Trace { path: p.to_owned(), source }),
    }
}

/// The served slots with their cards' clocks, as the [`control`] loop drives them.
struct Running<'a> {
    slots: &'a [ServedSlot],
    clocks: Vec<ClockHandle>,
}

impl control::Slots for Running<'_> {
    fn numbers(&self) -> Vec<usize> {
        self.slots.iter().map(|s| s.slot).collect()
    }
    fn remove(&self, slot: usize) {
        self.slots.iter().filter(|s| s.slot == slot).for_each(|s| s.handle.remove_card());
    }
    fn insert(&self, slot: usize) {
        self.slots.iter().filter(|s| s.slot == slot).for_each(|s| s.handle.insert_card());
    }
    fn set_clock_offset_days(&self, days: i64) {
        self.clocks.iter().for_each(|c| c.set_offset_days(days));
    }
}

/// No PC/SC library on this machine and nothing listening at a loopback vpcd address: there is no pcscd to serve
/// to, so say what to install at once rather than after the slots' retries. A vpcd elsewhere (`--vpcd`) is tried.
fn no_pcsc_here(vpcd: SocketAddr) -> bool {
    !pcsc_runtime::is_installed()
        && vpcd.ip().is_loopback()
        && std::net::TcpStream::connect_timeout(&vpcd, Duration::from_millis(200)).is_err()
}

/// `zorgcard serve`: start the slots, print one `ready: slot N …` line per slot on `out` once vpcd has them all,
/// then obey `input` ([`control`]). Returns after `quit`; when `input` ends, serves until the process is killed.
pub fn serve_main(
    options: &ServeOptions,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
    diagnostics: &mut dyn Write,
    verbose: bool,
) -> Result<(), ServeError> {
    if no_pcsc_here(options.vpcd) {
        return Err(ServeError::PcscNotInstalled);
    }
    let trace = open_trace(options.trace.as_deref())?;
    let slots = serve(&options.slots, options.vpcd, options.reverse, trace, options.registry.as_ref())?;
    // Without any PC/SC library on the machine there is most likely no pcscd either: say so after a short wait
    // instead of the whole one (a pcscd elsewhere, reached over `--vpcd`, still gets its 2 s).
    let quick = options.ready_timeout.min(Duration::from_secs(2));
    let ready = wait_ready(&slots, quick)
        || (pcsc_runtime::is_installed() && wait_ready(&slots, options.ready_timeout.saturating_sub(quick)));
    if !ready {
        if !pcsc_runtime::is_installed() {
            return Err(ServeError::PcscNotInstalled);
        }
        return Err(ServeError::NotReady { addr: options.vpcd, waited: options.ready_timeout });
    }
    // Once, before the `ready` lines: whoever waits for those has the warning too.
    if !options.reverse {
        let ports: Vec<u16> = slots.iter().map(|s| s.addr.port()).collect();
        if let Some(warning) = exposure::check(options.vpcd.ip(), &ports) {
            let _ = writeln!(diagnostics, "{warning}");
        }
    }
    for s in &slots {
        let _ = writeln!(out, "ready: slot {} {} serial {} via vpcd {}", s.slot, s.label, s.serial, s.addr);
    }
    let _ = out.flush();
    let clocks =
        slots.iter().filter_map(|s| s.reader.lock().ok()?.card().map(|c| c.platform().clock_handle())).collect();
    let running = Running { slots: &slots, clocks };
    if control::run(input, &running, diagnostics, verbose) == control::Ended::Quit {
        return Ok(());
    }
    // Standard input closed (CI, a service, `< /dev/null`): serve until killed.
    loop {
        std::thread::park();
    }
}
