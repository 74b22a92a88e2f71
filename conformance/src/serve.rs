//! `zorgcard serve`: fixture cards in vpcd slots, so pcscd shows them to every PC/SC application.
//!
//! Each slot gets a card from a profile (made fresh, or from an image file that is created from the profile when
//! absent and saved after every change) and a vpcd connection of its own (slot *n* = port + *n*, vsmartcard's
//! convention). Cards made from the same profile in one process get distinct serial numbers.

use std::net::SocketAddr;

use card_os::Platform as _;
use std::path::PathBuf;
use std::time::Duration;

use reader_sim::image::{self, ImageFileError, Rollback};
use reader_sim::reader::{InProcessReader, SharedReader};
use reader_sim::trace::Trace;
use reader_sim::vpcd::{VpcdConfig, VpcdHandle, VpcdServer};

use crate::issuance::card_new::{CardNewError, NewCardOptions, new_card};
use crate::issuance::pki::{PkiError, TestPki};
use crate::issuance::profile::{self, ProfileError};

/// One slot to serve.
#[derive(Clone, Debug)]
pub struct SlotSpec {
    /// Profile name or path; `None` with a `card` file means: the image must exist.
    pub profile: Option<String>,
    /// Image file kept across runs.
    pub card: Option<PathBuf>,
    /// Whether an image whose newest state is damaged is opened at its older state (`--accept-rollback`).
    pub rollback: Rollback,
}

/// Why serving could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Profile(#[from] ProfileError),
    #[error(transparent)]
    Pki(#[from] PkiError),
    #[error(transparent)]
    CardNew(#[from] CardNewError),
    #[error(transparent)]
    Image(#[from] ImageFileError),
    #[error("slot {slot}: no --profile and no --card: say which card goes in it")]
    Empty { slot: usize },
    #[error("slot {slot}: could not start the vpcd connection to {addr}: {source}")]
    Vpcd { slot: usize, addr: SocketAddr, source: std::io::Error },
}

/// A running slot.
#[derive(Debug)]
pub struct ServedSlot {
    pub slot: usize,
    pub addr: SocketAddr,
    pub label: String,
    pub serial: String,
    pub reader: SharedReader,
    pub handle: VpcdHandle,
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

/// Start every slot; slot *i* connects to `base` port + `first_slot` + *i*. With a portal `registry`, every slot
/// enforces its decisions about the card (blocked, revoked) at the card's next use.
pub fn serve(
    specs: &[SlotSpec],
    base: SocketAddr,
    first_slot: usize,
    listen: bool,
    trace: Trace,
    registry: Option<&std::path::Path>,
) -> Result<Vec<ServedSlot>, ServeError> {
    let pki = TestPki::fixtures()?;
    let mut served = Vec::new();
    // One line on stderr per connect, disconnect and retry of any slot: a pcscd restart shows as such.
    let (events, printed) = std::sync::mpsc::channel::<reader_sim::vpcd::SlotEvent>();
    std::thread::spawn(move || printed.iter().for_each(|event| eprintln!("{event}")));
    for (i, spec) in specs.iter().enumerate() {
        let slot = first_slot + i;
        let duplicate = specs.iter().filter(|s| s.profile == spec.profile && s.card.is_none()).count() > 1;
        let (mut reader, label) = prepare_reader(spec, slot, duplicate, &pki)?;
        let serial = reader.card().map(|c| String::from_utf8_lossy(&c.info().serial).into_owned()).unwrap_or_default();
        if let Some(registry) = registry {
            reader.set_interceptor(Some(Box::new(crate::portal::PortalInterceptor::new(registry, serial.clone()))));
        }
        let mut addr = base;
        addr.set_port(base.port().saturating_add(slot as u16));
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
