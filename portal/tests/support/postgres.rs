//! A PostgreSQL server of a test's own, for the portal store's tests (`portal/tests/store.rs`,
//! `zorgcard/tests/portal_store.rs`, which includes this file with `#[path]`).
//!
//! [`PostgresServer::start`] runs Debian's PostgreSQL (`/usr/lib/postgresql/<version>/bin`, package
//! `postgresql`) the way the PostgreSQL documentation's §19.2 "Creating a Database Cluster" and §19.3 "Starting
//! the Database Server" describe: `initdb --no-locale -E UTF8 --auth=trust` into a temporary folder, then
//! `postgres` listening only on a unix socket in that folder (`listen_addresses=''`, §20.3.1), so it needs no
//! free TCP port and no other process can reach it. PostgreSQL refuses to run as root, so a test running as root
//! starts both programs as `nobody` (the folder is given to it). Dropping the server stops exactly the process
//! it started: SIGINT, PostgreSQL's "Fast Shutdown" (§19.5; SIGTERM's "Smart Shutdown" would wait for every
//! client to leave), then SIGKILL if it has not exited within [`STOP_TIMEOUT`].
//!
//! Missing server programs fail the test with the package to install: the PostgreSQL backend is never left
//! untested silently.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The superuser `initdb` creates; the databases' owner.
pub const USER: &str = "zorgcard";
/// The port, which only names the socket file (`.s.PGSQL.<port>`) inside the server's own folder.
const PORT: u16 = 5432;
/// How long the server may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a Fast Shutdown may take before the server is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// A running PostgreSQL server, stopped when dropped.
pub struct PostgresServer {
    child: Child,
    dir: tempfile::TempDir,
    databases: AtomicUsize,
}

impl PostgresServer {
    /// Makes a cluster in a new temporary folder and starts a server on it; panics, saying what to install or
    /// with the server's log, if that fails.
    pub fn start() -> PostgresServer {
        let bin = server_programs();
        let owner = unprivileged_owner();
        // As root: under /tmp, which `nobody` can reach whatever TMPDIR says.
        let dir = match owner {
            Some(_) => tempfile::Builder::new().prefix("zorgcard-pg-").tempdir_in("/tmp"),
            None => tempfile::Builder::new().prefix("zorgcard-pg-").tempdir(),
        }
        .expect("make the PostgreSQL folder");
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).expect("give the PostgreSQL folder to nobody");
        }
        let data = dir.path().join("data");
        let log = dir.path().join("postgres.log");
        let init = run_as(Command::new(bin.join("initdb")), owner)
            .arg("-D")
            .arg(&data)
            .args(["-U", USER, "--auth=trust", "--no-locale", "-E", "UTF8", "--no-sync"])
            .output()
            .expect("run initdb");
        assert!(
            init.status.success(),
            "initdb failed: {}{}",
            String::from_utf8_lossy(&init.stdout),
            String::from_utf8_lossy(&init.stderr)
        );
        let log_file = File::create(&log).expect("create the PostgreSQL log");
        let child = run_as(Command::new(bin.join("postgres")), owner)
            .arg("-D")
            .arg(&data)
            .arg("-k")
            .arg(dir.path())
            .args(["-p", &PORT.to_string(), "-c", "listen_addresses=", "-c", "max_connections=150"])
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("share the log"))
            .stderr(log_file)
            .spawn()
            .expect("start postgres");
        let mut server = PostgresServer { child, dir, databases: AtomicUsize::new(0) };
        server.wait_until_ready(&log);
        server
    }

    fn wait_until_ready(&mut self, log: &Path) {
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("postgres exited ({status}) before accepting connections: {}", read(log));
            }
            if postgres::Client::connect(&self.url("postgres"), postgres::NoTls).is_ok() {
                return;
            }
            assert!(started.elapsed() < START_TIMEOUT, "postgres did not accept connections: {}", read(log));
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The URL of `database` on this server, through its socket.
    pub fn url(&self, database: &str) -> String {
        format!("postgresql://{USER}@/{database}?host={}&port={PORT}", self.dir.path().display())
    }

    /// Creates a new empty database (named after `hint`, made unique) and returns its name.
    pub fn create_database(&self, hint: &str) -> String {
        let n = self.databases.fetch_add(1, Ordering::SeqCst);
        let clean: String =
            hint.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect();
        let name = format!("{clean}_{n}");
        self.client("postgres").batch_execute(&format!("CREATE DATABASE {name}")).expect("create a database");
        name
    }

    /// A client session on `database`, as the superuser.
    pub fn client(&self, database: &str) -> postgres::Client {
        postgres::Client::connect(&self.url(database), postgres::NoTls).expect("connect to the test PostgreSQL")
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let signalled = Command::new("kill").args(["-INT", &pid]).status().is_ok_and(|s| s.success());
        let deadline = Instant::now() + STOP_TIMEOUT;
        while signalled && Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The folder holding `initdb` and `postgres`: Debian's newest `/usr/lib/postgresql/<version>/bin`, else a
/// folder on PATH that has both.
fn server_programs() -> PathBuf {
    let debian = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse::<u32>().ok()?, e.path().join("bin"))))
        .filter(|(_, bin)| bin.join("initdb").is_file() && bin.join("postgres").is_file())
        .max();
    if let Some((_, bin)) = debian {
        return bin;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .find(|dir| dir.join("initdb").is_file() && dir.join("postgres").is_file())
        .unwrap_or_else(|| {
            panic!(
                "PostgreSQL's server programs (initdb, postgres) are not installed: no \
                 /usr/lib/postgresql/<version>/bin/initdb and none on PATH. The portal store's PostgreSQL tests \
                 need them: apt-get install postgresql (scripts/install-deps installs it)"
            )
        })
}

/// `nobody`'s user and group when this process is root (PostgreSQL will not run as root); `None` otherwise.
fn unprivileged_owner() -> Option<(u32, u32)> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let uid = status.lines().find_map(|l| l.strip_prefix("Uid:"))?.split_whitespace().next()?;
    if uid != "0" {
        return None;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let ids = passwd.lines().find_map(|l| {
        let fields: Vec<&str> = l.split(':').collect();
        (fields.first() == Some(&"nobody"))
            .then(|| Some((fields.get(2)?.parse().ok()?, fields.get(3)?.parse().ok()?)))?
    });
    Some(ids.unwrap_or((65534, 65534)))
}

/// `command` run as `owner` (std drops the supplementary groups too when root changes the user).
fn run_as(mut command: Command, owner: Option<(u32, u32)>) -> Command {
    if let Some((uid, gid)) = owner {
        command.uid(uid).gid(gid);
    }
    command.env("LC_ALL", "C").current_dir("/");
    command
}

fn read(log: &Path) -> String {
    std::fs::read_to_string(log).unwrap_or_else(|e| format!("(no log at {}: {e})", log.display()))
}
