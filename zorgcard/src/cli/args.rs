//! The arguments of each `zorgcard` subcommand (clap), with the help text `--help` shows.
//!
//! One meaning per flag across subcommands: `--slot` is always a vpcd slot number, 0 to 15 (port = `--vpcd` port +
//! slot; pcscd names it "Virtual PCD 00 0N"); `-r`/`--reader` is always a PC/SC reader (a number from
//! `zorgcard list-readers`, its name, or part of its name), as with opensc-tool and ykman; `--database` (older
//! spelling `--registry`) is always the portal database: a file (SQLite) or a `postgres://` URL.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use portal::StoreLocation;

use serve::MAX_SLOTS;

/// The environment variable `zorgcard portal` and `zorgcard crl` read the portal database from when
/// `--database` is not given.
pub const DATABASE_ENV: &str = "ZORGCARD_PORTAL_DATABASE";

/// vpcd's default address for slot 0 (vsmartcard's `VPCDPORT` 35963 on loopback).
pub const DEFAULT_VPCD: &str = "127.0.0.1:35963";

/// Reads `--database` into a [`StoreLocation`]. clap's own message for a bad value would repeat the value, and a
/// URL's password with it; this one is the store's, which leaves the password out.
#[derive(Clone, Debug)]
pub struct DatabaseParser;

impl clap::builder::TypedValueParser for DatabaseParser {
    type Value = StoreLocation;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<StoreLocation, clap::Error> {
        let Some(text) = value.to_str() else {
            return Ok(StoreLocation::File(PathBuf::from(value)));
        };
        StoreLocation::parse(text)
            .map_err(|e| clap::Error::raw(clap::error::ErrorKind::ValueValidation, format!("{e}\n")).with_cmd(cmd))
    }
}

fn slot_number(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n < MAX_SLOTS => Ok(n),
        _ => Err(format!("a vpcd slot is a number from 0 to {}", MAX_SLOTS - 1)),
    }
}

/// `zorgcard serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// A card for the next slot: PROFILE (a fresh card), PROFILE:FILE (an image kept across runs, made from the
    /// profile when absent, saved after every change) or FILE (an image that exists). PROFILE is
    /// uzi-zorgverlener, uzi-medewerker, uzi-medewerker-niet-op-naam, zorg-id, zorg-id-ec, zorg-id-blank or a
    /// path to a profile .toml. Repeat for more slots, up to 16.
    #[arg(long = "card", value_name = "PROFILE[:FILE]")]
    pub cards: Vec<String>,
    /// Older spelling: a profile for the slot of the same position; then each --card is that slot's image FILE.
    #[arg(long = "profile", value_name = "PROFILE")]
    pub profiles: Vec<String>,
    /// Where vpcd listens for slot 0; slot N is this port + N.
    #[arg(long, default_value = DEFAULT_VPCD)]
    pub vpcd: SocketAddr,
    /// The vpcd slot (0-15) of the first card; the next cards take the slots after it.
    #[arg(long, default_value_t = 0, value_parser = slot_number)]
    pub slot: usize,
    /// Reverse mode: listen for vpcd instead of connecting.
    #[arg(long)]
    pub reverse: bool,
    /// APDU trace file (PIN, PUK and keys masked); `-` for standard output.
    #[arg(long)]
    pub trace: Option<PathBuf>,
    /// Portal database (`zorgcard portal`), a file or a postgres:// URL: a card blocked or revoked there is refused
    /// at its next use.
    #[arg(long = "database", visible_alias = "registry", value_name = "FILE|URL", value_parser = DatabaseParser)]
    pub registry: Option<StoreLocation>,
    /// Open an image whose newest state is damaged at the older state it still holds. That state may have PIN or
    /// PUK tries back that were spent since: only when you mean it.
    #[arg(long)]
    pub accept_rollback: bool,
}

/// `zorgcard card …`.
#[derive(Subcommand, Debug)]
pub enum CardCommand {
    /// Personalise a fixture card and save its image.
    ///
    /// Example: zorgcard card new --profile uzi-zorgverlener --out alice.card
    New {
        /// The profile: a shipped name or a path to a profile .toml.
        #[arg(long)]
        profile: String,
        /// The image file written.
        #[arg(long)]
        out: PathBuf,
        /// Serial number (default: the profile's).
        #[arg(long)]
        serial: Option<String>,
    },
    /// Show holder, type, life cycle, tries left, validity, keys and certificates of an image (never a secret).
    ///
    /// Example: zorgcard card inspect alice.card
    Inspect {
        /// The image file.
        file: PathBuf,
        /// If the newest state is damaged, show the older state the image still holds (PIN or PUK tries spent
        /// since may be back in it). Without it, a damaged image shows its banks and fails.
        #[arg(long)]
        accept_rollback: bool,
    },
}

/// `zorgcard conformance`.
#[derive(Args, Debug)]
pub struct ConformanceArgs {
    /// A PC/SC reader to test the card in (number, name or part of it); default: simulated cards in-process.
    #[arg(short, long)]
    pub reader: Option<String>,
    /// Profiles to check (in-process: default all); with --reader, the one profile the card claims.
    #[arg(long = "profile")]
    pub profiles: Vec<String>,
    /// Script files or folders (default: the scripts of the fixture set, see --fixtures).
    #[arg(long = "script")]
    pub scripts: Vec<PathBuf>,
    /// Also write a JUnit XML report.
    #[arg(long)]
    pub junit: Option<PathBuf>,
}

/// `zorgcard scenario …`.
#[derive(Subcommand, Debug)]
pub enum ScenarioCommand {
    /// List the scenarios of the fixture set, each with what its card plays.
    List,
    /// Play one scenario. Example: zorgcard scenario run fixtures/scenarios/expired-card.toml --trace dialogue.log
    Run {
        /// A scenario file, or the name of a shipped one.
        file: PathBuf,
        /// Where vpcd listens for slot 0; slot N is this port + N.
        #[arg(long, default_value = DEFAULT_VPCD)]
        vpcd: SocketAddr,
        /// The vpcd slot (0-15) the card goes in.
        #[arg(long, default_value_t = 0, value_parser = slot_number)]
        slot: usize,
        /// APDU trace file (secrets masked); `-` for standard output.
        #[arg(long)]
        trace: Option<PathBuf>,
        /// Stop after this many seconds (default: until `quit` or killed).
        #[arg(long)]
        seconds: Option<u64>,
    },
}

/// `zorgcard fixtures …`.
#[derive(Subcommand, Debug)]
pub enum FixturesCommand {
    /// Write the fixtures this binary carries into DIR, laid out like the repository's fixtures/, to adapt and use
    /// with --fixtures DIR. Example: zorgcard fixtures export my-fixtures
    Export {
        /// The directory (made when absent).
        dir: PathBuf,
        /// Overwrite files that exist.
        #[arg(long)]
        force: bool,
    },
}

/// `zorgcard replay`.
#[derive(Args, Debug)]
pub struct ReplayArgs {
    /// A trace written by `--trace` or recorded from a real card.
    #[arg(long)]
    pub trace: PathBuf,
    /// The profile of the simulated card to compare with.
    #[arg(long)]
    pub profile: String,
}

/// `zorgcard record`.
#[derive(Args, Debug)]
pub struct RecordArgs {
    /// The PC/SC reader with the card (number, name or part of it).
    #[arg(short, long)]
    pub reader: String,
    /// One C-APDU per line in hex, `#` comments; `$PIN` stands for the PIN.
    #[arg(long)]
    pub apdus: PathBuf,
    /// The trace written (PIN masked).
    #[arg(long)]
    pub trace: PathBuf,
    /// Environment variable holding the PIN for `$PIN`.
    #[arg(long)]
    pub pin_from_env: Option<String>,
}

/// `zorgcard personalise`.
#[derive(Args, Debug)]
pub struct PersonaliseArgs {
    /// The PC/SC reader with the UZI pass (number, name or part of it).
    #[arg(long)]
    pub uzi_reader: String,
    /// The PC/SC reader with the blank ZORG-ID Smartcard (number, name or part of it).
    #[arg(long)]
    pub blank_reader: String,
    /// The holder's birth date, YYYY-MM-DD.
    #[arg(long)]
    pub birth_date: Option<String>,
    /// Name of the environment variable holding the UZI pass PIN.
    #[arg(long)]
    pub uzi_pin_from_env: Option<String>,
    /// Name of the environment variable holding the new card's PIN (used for both entries).
    #[arg(long)]
    pub pin_from_env: Option<String>,
    /// Portal database (a file or a postgres:// URL) the organisation is registered in and the new card is
    /// recorded in.
    #[arg(long = "database", visible_alias = "registry", value_name = "FILE|URL", value_parser = DatabaseParser)]
    pub registry: Option<StoreLocation>,
}

/// `zorgcard portal`.
#[derive(Args, Debug)]
pub struct PortalArgs {
    /// Who acts: a UZI number (administrator, beheerder or worker); every action but import-toml needs it.
    #[arg(long = "as", global = true)]
    pub actor: Option<String>,
    /// The portal database: an SQLite file, or a PostgreSQL database as postgres://USER@HOST/DATABASE (a URL with
    /// a password is best given in ZORGCARD_PORTAL_DATABASE, out of the process list; it is never printed). A TOML
    /// registry is brought in with `portal import-toml FILE`.
    #[arg(long = "database", visible_alias = "registry", global = true, value_name = "FILE|URL", env = DATABASE_ENV,
          hide_env_values = true, value_parser = DatabaseParser, default_value = portal::DEFAULT_REGISTRY)]
    pub registry: StoreLocation,
    /// What to do.
    #[command(subcommand)]
    pub action: PortalSubcommand,
}

/// `zorgcard portal serve`, or one command on the local database.
#[derive(Subcommand, Debug)]
pub enum PortalSubcommand {
    /// Serve the portal over HTTPS; the log-in is a UZI-pas or ZORG-ID client certificate (no --as).
    ///
    /// Example: zorgcard portal --registry portal.db serve --listen 127.0.0.1:8443 --ocsp-listen 127.0.0.1:8081
    Serve(portal_web::ServeArgs),
    /// The commands on the local database, each with --as.
    #[command(flatten)]
    Local(portal::PortalAction),
}

/// `zorgcard crl …`.
#[derive(Subcommand, Debug)]
pub enum CrlCommand {
    /// Write the CRL (DER, and PEM next to it). Example: zorgcard crl write --out zorg-id-ca.crl
    Write {
        /// The portal database (a file or a postgres:// URL) whose revocations the CRL lists.
        #[arg(long = "database", visible_alias = "registry", value_name = "FILE|URL", env = DATABASE_ENV,
              hide_env_values = true, value_parser = DatabaseParser, default_value = portal::DEFAULT_REGISTRY)]
        registry: StoreLocation,
        /// The CRL file (DER); `.pem` is written next to it.
        #[arg(long)]
        out: PathBuf,
    },
    /// Serve the CRL over HTTP on loopback for applications that fetch it.
    ///
    /// Example: zorgcard crl serve --addr 127.0.0.1:8080   (GET /zorg-id-ca.crl)
    Serve {
        /// The portal database (a file or a postgres:// URL) whose revocations the CRL lists.
        #[arg(long = "database", visible_alias = "registry", value_name = "FILE|URL", env = DATABASE_ENV,
              hide_env_values = true, value_parser = DatabaseParser, default_value = portal::DEFAULT_REGISTRY)]
        registry: StoreLocation,
        /// The loopback address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: SocketAddr,
        /// Stop after this many seconds (default: until killed).
        #[arg(long)]
        seconds: Option<u64>,
    },
}

/// `zorgcard pcscd-config`.
#[derive(Args, Debug)]
pub struct PcscdConfigArgs {
    /// The vpcd driver; default Debian's (`vsmartcard-vpcd`, 2 slots).
    #[arg(long)]
    pub driver: Option<PathBuf>,
    /// The slots the driver was built with (`--enable-vpcdslots`; `scripts/build-vpcd-16` builds 16).
    #[arg(long, default_value_t = serve::pcscd_config::SYSTEM_VPCD_SLOTS)]
    pub slots: u16,
    /// vpcd's first port: slot N listens on PORT + N (vpcd's default 35963; another for a pcscd of a job's own).
    #[arg(long, default_value_t = reader_sim::vpcd::DEFAULT_PORT)]
    pub port: u16,
    /// The project's build folder (`scripts/build-vpcd-16`, e.g. target/vpcd-16): its driver with --slots slots.
    #[arg(long, conflicts_with = "driver")]
    pub prefix: Option<PathBuf>,
    /// The IPv4 address the slot ports listen on instead of 127.0.0.1 (0.0.0.0: every interface), for a
    /// deliberate setup; only the project's build takes it.
    #[arg(long)]
    pub listen: Option<std::net::Ipv4Addr>,
}

/// `zorgcard browser-profile`.
#[derive(Args, Debug)]
pub struct BrowserProfileArgs {
    /// The profile folder to make (new, or empty): give it to Firefox with `-profile DIR`.
    #[arg(long)]
    pub out: PathBuf,
    /// The PKCS#11 module that shows the card as a token.
    #[arg(long, default_value = crate::cli::browser_profile::OPENSC_MODULE)]
    pub module: PathBuf,
    /// More CA certificates (PEM) to trust, such as the test server's own CA (repeatable).
    #[arg(long, value_name = "PEM")]
    pub trust: Vec<PathBuf>,
}
