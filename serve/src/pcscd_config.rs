//! pcscd configuration for many vpcd readers, and a pcscd of a job's own.
//!
//! vsmartcard's vpcd driver fixes its slot count at build time (`VPCDSLOTS`, Debian builds 2) and keeps one global
//! slot table (`ctx[Lun & 0xffff]` in `ifd-vpcd.c`), so a second `reader.conf` entry for the same driver in the
//! same pcscd reuses the same slots. Two ways past that, both built on what is here:
//! - a vpcd built with `--enable-vpcdslots=16` (`scripts/build-vpcd-16`): one entry gives 16 readers, the most
//!   pcsc-lite 1.9.9 holds (`PCSCLITE_MAX_READERS_CONTEXTS`);
//! - one pcscd per job ([`IsolatedPcscd`]), each with its own `reader.conf` (`pcscd -c`), vpcd ports and socket.
//!
//! Debian's driver binds its slot ports to every interface (`bind(INADDR_ANY)` in `opensock()`, vsmartcard's
//! `virtualsmartcard/src/vpcd/vpcd.c`): any host that reaches the machine can put a card in the reader and read
//! every APDU sent to it. The project's build (`scripts/build-vpcd-16`, patched by `scripts/vpcd-loopback.patch`,
//! [`project_driver`]) listens on 127.0.0.1, or on the address of `DEVICENAME /dev/null@ADDR:PORT`
//! ([`VpcdReaders::listen_on`]). This module writes the one `reader.conf` template: `zorgcard pcscd-config`
//! prints it for `scripts/with-pcscd` and `scripts/with-pcscd-isolated`.
//!
//! pcsc-lite 1.9.9's daemon always binds its socket at the compiled-in `/run/pcscd/pcscd.comm` and refuses to
//! start while another daemon's `pcscd.pid` is there; only its client library reads `PCSCLITE_CSOCK_NAME`
//! (`getSocketName` in `winscard_msg.c`). So the daemon runs in a mount namespace of its own with a private
//! directory bind-mounted on `/run/pcscd`; the socket is then also at `<dir>/pcscd.comm` outside, and clients
//! reach it with `PCSCLITE_CSOCK_NAME=<dir>/pcscd.comm`. The client library reads the variable once per process,
//! so one process talks to one pcscd.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Debian's vpcd driver (package vsmartcard-vpcd), built with 2 slots.
pub const SYSTEM_VPCD_DRIVER: &str = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so";
/// The slot count of Debian's vpcd (`--enable-vpcdslots` default).
pub const SYSTEM_VPCD_SLOTS: u16 = 2;
/// The most readers one pcscd holds (`PCSCLITE_MAX_READERS_CONTEXTS` in pcsc-lite 1.9.9).
pub const MAX_READERS: u16 = 16;
/// The variable pcsc-lite's client library reads for the daemon's socket path.
pub const CSOCK_ENV: &str = "PCSCLITE_CSOCK_NAME";
/// The reader name pcscd builds its reader names from (`FRIENDLYNAME`).
pub const FRIENDLY_NAME: &str = "Virtual PCD";
/// Where `scripts/build-vpcd-16` puts the project's drivers, under the workspace (`ZORGCARD_VPCD16_PREFIX` there
/// moves it).
pub const PROJECT_VPCD_PREFIX: &str = "target/vpcd-16";
/// The `DEVICENAME` prefix that chooses the listen address, which only the project's build knows
/// (`scripts/vpcd-loopback.patch`): its presence in a driver file tells that build from Debian's.
pub const LISTEN_PREFIX: &str = "/dev/null@";

/// The project's vpcd driver with `slots` slots in `prefix` (`scripts/build-vpcd-16` builds 2 and 16:
/// `libifdvpcd-2slots.so` and `libifdvpcd.so`); `None` for a slot count it does not build.
pub fn project_driver(prefix: &Path, slots: u16) -> Option<PathBuf> {
    match slots {
        MAX_READERS => Some(prefix.join("libifdvpcd.so")),
        SYSTEM_VPCD_SLOTS => Some(prefix.join(format!("libifdvpcd-{slots}slots.so"))),
        _ => None,
    }
}

/// Whether the vpcd driver at `driver` is the project's build, listening on 127.0.0.1 unless told otherwise: it
/// holds [`LISTEN_PREFIX`]. Debian's driver (`bind(INADDR_ANY)`) does not.
pub fn listens_on_loopback(driver: &Path) -> Result<bool, PcscdConfigError> {
    let bytes = std::fs::read(driver).map_err(|_| PcscdConfigError::DriverMissing(driver.to_owned()))?;
    Ok(bytes.windows(LISTEN_PREFIX.len()).any(|w| w == LISTEN_PREFIX.as_bytes()))
}

/// Failures to configure or start a pcscd.
#[derive(Debug, thiserror::Error)]
pub enum PcscdConfigError {
    /// More slots than one pcscd holds, or a port range past 65535.
    #[error(
        "{slots} vpcd slots from port {base_port} do not fit: at most {MAX_READERS} readers per pcscd, ports up to 65535"
    )]
    TooManySlots {
        /// The slots asked for.
        slots: u16,
        /// The first port.
        base_port: u16,
    },
    /// The driver file is missing.
    #[error("vpcd driver `{0}` not found: `apt-get install vsmartcard-vpcd` (2 slots) or `scripts/build-vpcd-16`")]
    DriverMissing(PathBuf),
    /// A listen address for a driver that cannot take one (Debian's listens on every interface, always).
    #[error(
        "vpcd driver `{}` cannot choose the address its slots listen on (it is not built with \
         scripts/vpcd-loopback.patch): use the project's driver from `scripts/build-vpcd-16`", .0.display()
    )]
    ListenUnsupported(PathBuf),
    /// The project's build has no driver with this slot count.
    #[error("`scripts/build-vpcd-16` builds vpcd with 2 or 16 slots, not {0}: give --slots 2 or 16, or --driver PATH")]
    NoProjectBuild(u16),
    /// A file or directory of the pcscd could not be written.
    #[error("cannot write `{path}`: {source}")]
    Write {
        /// The path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `unshare`/`pcscd` could not be run.
    #[error("cannot run `unshare … pcscd` ({0}): apt-get install pcscd util-linux; it needs root (CAP_SYS_ADMIN)")]
    Spawn(std::io::Error),
    /// pcscd stopped or never said it was ready.
    #[error("pcscd in `{dir}` did not start ({why}); its log:\n{log}")]
    NotReady {
        /// The pcscd's directory.
        dir: PathBuf,
        /// What was seen.
        why: String,
        /// The end of its log.
        log: String,
    },
}

/// One `reader.conf` entry: a vpcd driver, its first port and its slot count. Slot *n* listens on
/// `base_port + n` (vpcd `IFDHCreateChannel`: `vicc_init(hostname, Channel + slot)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VpcdReaders {
    /// The driver (`LIBPATH`).
    pub driver: PathBuf,
    /// The port of slot 0.
    pub base_port: u16,
    /// How many slots the driver was built with.
    pub slots: u16,
    /// The address the slot ports listen on, when not the driver's own (127.0.0.1 for the project's build);
    /// only the project's build takes one ([`VpcdReaders::listen_on`]).
    pub listen: Option<Ipv4Addr>,
}

impl VpcdReaders {
    /// Debian's 2-slot driver on `base_port` and `base_port + 1`, listening on every interface.
    pub fn system(base_port: u16) -> Self {
        Self { driver: SYSTEM_VPCD_DRIVER.into(), base_port, slots: SYSTEM_VPCD_SLOTS, listen: None }
    }

    /// The project's driver with `slots` (2 or 16) slots in `prefix` ([`project_driver`]), on 127.0.0.1.
    pub fn project(prefix: &Path, slots: u16, base_port: u16) -> Result<Self, PcscdConfigError> {
        let driver = project_driver(prefix, slots).ok_or(PcscdConfigError::NoProjectBuild(slots))?;
        Self::built(driver, slots, base_port)
    }

    /// A driver built with `slots` slots (e.g. `scripts/build-vpcd-16`'s).
    pub fn built(driver: impl Into<PathBuf>, slots: u16, base_port: u16) -> Result<Self, PcscdConfigError> {
        let readers = Self { driver: driver.into(), base_port, slots, listen: None };
        if slots == 0 || slots > MAX_READERS || u32::from(base_port) + u32::from(slots) > 65536 {
            return Err(PcscdConfigError::TooManySlots { slots, base_port });
        }
        Ok(readers)
    }

    /// The same readers listening on `addr` (`0.0.0.0`: every interface, for a deliberate setup), as
    /// `DEVICENAME /dev/null@ADDR:PORT`. Refused for a driver without `scripts/vpcd-loopback.patch`, which would
    /// read that name as a host to connect out to.
    pub fn listen_on(self, addr: Ipv4Addr) -> Result<Self, PcscdConfigError> {
        if !listens_on_loopback(&self.driver)? {
            return Err(PcscdConfigError::ListenUnsupported(self.driver));
        }
        Ok(Self { listen: Some(addr), ..self })
    }

    /// The `reader.conf` text: one entry, as Debian's `/etc/reader.conf.d/vpcd` but with our port and driver.
    /// `DEVICENAME /dev/null:PORT` makes vpcd listen (normal mode) rather than connect out; the project's build
    /// reads `/dev/null@ADDR:PORT` as: listen on ADDR.
    pub fn reader_conf(&self) -> String {
        let mut conf = String::new();
        let _ = writeln!(conf, "# vpcd, {} slots on ports {}..={}", self.slots, self.base_port, self.last_port());
        let _ = writeln!(conf, "FRIENDLYNAME \"{FRIENDLY_NAME}\"");
        let _ = match self.listen {
            Some(addr) => writeln!(conf, "DEVICENAME   {LISTEN_PREFIX}{addr}:{}", self.base_port),
            None => writeln!(conf, "DEVICENAME   /dev/null:{}", self.base_port),
        };
        let _ = writeln!(conf, "LIBPATH      {}", self.driver.display());
        let _ = writeln!(conf, "CHANNELID    {}", self.base_port);
        conf
    }

    /// The port of the last slot.
    pub fn last_port(&self) -> u16 {
        self.base_port.saturating_add(self.slots.saturating_sub(1))
    }

    /// Where the card of slot `n` connects: the listen address, loopback when that is the driver's own or every
    /// interface.
    pub fn slot_addr(&self, n: u16) -> SocketAddr {
        let ip = self.listen.filter(|a| !a.is_unspecified()).unwrap_or(Ipv4Addr::LOCALHOST);
        SocketAddrV4::new(ip, self.base_port.saturating_add(n)).into()
    }

    /// The PC/SC name of slot `n` in a pcscd that has only this entry: pcsc-lite names a reader
    /// `"FRIENDLYNAME %02X %02X"` (reader number, slot number).
    pub fn reader_name(&self, n: u16) -> String {
        format!("{FRIENDLY_NAME} 00 {n:02X}")
    }
}

/// A pcscd of one job: its own mount namespace, `reader.conf`, vpcd ports and socket. Stopped (only this PID) on
/// [`IsolatedPcscd::stop`] or drop.
#[derive(Debug)]
pub struct IsolatedPcscd {
    dir: PathBuf,
    child: Option<Child>,
}

impl IsolatedPcscd {
    /// Starts pcscd with `readers`, its files in `dir` (`reader.conf`, `pcscd.log`, `run/pcscd.comm`), and waits
    /// (up to 10 s) until it says it is ready. Needs root: `unshare --mount` and `mount --bind`.
    pub fn start(readers: &VpcdReaders, dir: &Path) -> Result<Self, PcscdConfigError> {
        if !readers.driver.exists() {
            return Err(PcscdConfigError::DriverMissing(readers.driver.clone()));
        }
        let write_err = |path: &Path| {
            let path = path.to_owned();
            move |source| PcscdConfigError::Write { path, source }
        };
        let run = dir.join("run");
        std::fs::create_dir_all(&run).map_err(write_err(&run))?;
        // The mount point must exist outside too.
        std::fs::create_dir_all("/run/pcscd").map_err(write_err(Path::new("/run/pcscd")))?;
        let conf = dir.join("reader.conf");
        std::fs::write(&conf, readers.reader_conf()).map_err(write_err(&conf))?;
        let log = dir.join("pcscd.log");
        let log_file = std::fs::File::create(&log).map_err(write_err(&log))?;
        let log_err = log_file.try_clone().map_err(write_err(&log))?;
        // unshare execs sh, sh execs pcscd: the child's PID is pcscd's.
        let child = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg(r#"mount --bind "$1" /run/pcscd && exec pcscd --foreground --info -c "$2""#)
            .arg("sh")
            .arg(&run)
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(log_err)
            .spawn()
            .map_err(PcscdConfigError::Spawn)?;
        let mut pcscd = Self { dir: dir.to_owned(), child: Some(child) };
        pcscd.wait_ready(Duration::from_secs(10))?;
        Ok(pcscd)
    }

    fn wait_ready(&mut self, timeout: Duration) -> Result<(), PcscdConfigError> {
        let deadline = Instant::now() + timeout;
        loop {
            let log = std::fs::read_to_string(self.dir.join("pcscd.log")).unwrap_or_default();
            if log.contains("daemon ready") && self.socket().exists() {
                return Ok(());
            }
            let exited = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten());
            let why = match exited {
                Some(status) => format!("it exited: {status}"),
                None if Instant::now() > deadline => format!("not ready after {timeout:?}"),
                None => {
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                }
            };
            let tail: Vec<&str> = log.lines().rev().take(20).collect();
            let log = tail.into_iter().rev().collect::<Vec<_>>().join("\n");
            return Err(PcscdConfigError::NotReady { dir: self.dir.clone(), why, log });
        }
    }

    /// The daemon's socket as seen from outside its namespace: give it to clients as [`CSOCK_ENV`].
    pub fn socket(&self) -> PathBuf {
        self.dir.join("run").join("pcscd.comm")
    }

    /// The daemon's PID.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Stops this pcscd (SIGTERM, then SIGKILL after 3 s) and waits for it.
    pub fn stop(mut self) {
        self.terminate();
    }

    fn terminate(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for IsolatedPcscd {
    fn drop(&mut self) {
        self.terminate();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_conf_names_the_driver_and_the_port() {
        let conf = VpcdReaders::built("/opt/vpcd/libifdvpcd.so", 16, 36100).unwrap().reader_conf();
        assert!(conf.contains("DEVICENAME   /dev/null:36100\n"), "{conf}");
        assert!(conf.contains("LIBPATH      /opt/vpcd/libifdvpcd.so\n"), "{conf}");
        assert!(conf.contains("ports 36100..=36115"), "{conf}");
    }

    #[test]
    fn slots_past_the_pcsc_lite_limit_or_the_port_range_are_refused() {
        assert!(matches!(VpcdReaders::built("x", 17, 36100), Err(PcscdConfigError::TooManySlots { .. })));
        assert!(matches!(VpcdReaders::built("x", 2, 65535), Err(PcscdConfigError::TooManySlots { .. })));
        assert!(VpcdReaders::built("x", 1, 65535).is_ok());
    }

    #[test]
    fn reader_names_and_addresses_follow_the_slot() {
        let readers = VpcdReaders::system(36200);
        assert_eq!(readers.reader_name(1), "Virtual PCD 00 01");
        assert_eq!(VpcdReaders::built("x", 16, 1).unwrap().reader_name(10), "Virtual PCD 00 0A");
        assert_eq!(readers.slot_addr(1).to_string(), "127.0.0.1:36201");
    }

    #[test]
    fn a_listen_address_is_only_given_to_the_patched_driver() {
        let dir = tempfile::tempdir().unwrap();
        let patched = dir.path().join("patched.so");
        std::fs::write(&patched, b"\x7fELF ... /dev/null@ ... /dev/null ...").unwrap();
        let debian = dir.path().join("debian.so");
        std::fs::write(&debian, b"\x7fELF ... /dev/null ...").unwrap();
        let readers = VpcdReaders::built(&patched, 2, 36100).unwrap().listen_on(Ipv4Addr::new(10, 1, 2, 3)).unwrap();
        let conf = readers.reader_conf();
        assert!(conf.contains("DEVICENAME   /dev/null@10.1.2.3:36100\n"), "{conf}");
        assert_eq!(readers.slot_addr(1).to_string(), "10.1.2.3:36101");
        let everywhere = VpcdReaders::built(&patched, 2, 36100).unwrap().listen_on(Ipv4Addr::UNSPECIFIED).unwrap();
        assert_eq!(everywhere.slot_addr(0).to_string(), "127.0.0.1:36100");
        let refused = VpcdReaders::built(&debian, 2, 36100).unwrap().listen_on(Ipv4Addr::LOCALHOST);
        assert!(matches!(refused, Err(PcscdConfigError::ListenUnsupported(p)) if p == debian));
        assert!(matches!(listens_on_loopback(&dir.path().join("none.so")), Err(PcscdConfigError::DriverMissing(_))));
    }

    #[test]
    fn the_project_build_has_a_2_and_a_16_slot_driver() {
        let prefix = Path::new("/opt/vpcd");
        assert_eq!(project_driver(prefix, 16), Some(prefix.join("libifdvpcd.so")));
        assert_eq!(project_driver(prefix, 2), Some(prefix.join("libifdvpcd-2slots.so")));
        assert!(matches!(VpcdReaders::project(prefix, 4, 36100), Err(PcscdConfigError::NoProjectBuild(4))));
    }
}
