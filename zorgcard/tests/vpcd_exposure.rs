//! Whether other hosts can reach the vpcd reader: Debian's vpcd binds its slot ports to every interface
//! (`bind(INADDR_ANY)` in `opensock()`, vsmartcard's `virtualsmartcard/src/vpcd/vpcd.c`), the project's build
//! (`scripts/build-vpcd-16`, patched by `scripts/vpcd-loopback.patch`) to 127.0.0.1 only.
//!
//! "Another host" is a network namespace of the test's own, joined to this machine by a veth pair with addresses
//! of its own (10.200.N.1 here, 10.200.N.2 there, a /30 nobody else uses); nothing else is ever reached. For each
//! driver in turn, a pcscd of the test's own (`serve::pcscd_config::IsolatedPcscd`: own mount namespace,
//! socket and ports) and `zorgcard serve` on loopback; then
//! - a PC/SC client (`zorgcard -v list-readers`, against that pcscd) sees the card,
//! - `serve` warns on standard error (Debian's), naming one of this machine's addresses (10.200.N.1 or another), or
//!   does not (project);
//! - from inside the namespace a TCP connect to 10.200.N.1 on slot 1's port is accepted (Debian's) or refused
//!   (project), and on slot 0's port, the one `serve` holds, refused (project) or not (Debian's). Slot 0's port
//!   is not expected to accept: vpcd's listen queue has one place (`listen(sock, 0)`), which `serve`'s own probe
//!   holds until `serve` lets go (`serve/src/exposure.rs`).
//!
//! The probes are this test binary run again inside the namespace (`ip netns exec`) with `PROBE_ENV` set: a raw
//! `std::net::TcpStream::connect_timeout`. The namespace and the veth pair go at the end, on failure too (a Drop
//! guard). Run (root): `scripts/build-vpcd-16 && cargo test -p zorgcard --features pcscd-tests --test
//! vpcd_exposure` (`scripts/test-all` does it).

use std::io::{BufRead, BufReader, Read};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serve::exposure;
use serve::pcscd_config::{CSOCK_ENV, IsolatedPcscd, PROJECT_VPCD_PREFIX, SYSTEM_VPCD_DRIVER, VpcdReaders};

/// Set in the probe process: the address to connect to.
const PROBE_ENV: &str = "ZORGCARD_VPCD_EXPOSURE_PROBE";
/// Slot 0's port in the test's own pcscds (36150, 36151: no other test uses them).
const PORT: u16 = 36150;
const HOW_TO_RUN: &str = "run as root: scripts/build-vpcd-16 && cargo test -p zorgcard --features pcscd-tests \
                          --test vpcd_exposure";

fn main() {
    if let Ok(addr) = std::env::var(PROBE_ENV) {
        probe_here(&addr);
        return;
    }
    let started = Instant::now();
    preflight();
    let net = Veth::create();
    // The path itself works: a listener of the test's own on the host side is reached from the namespace.
    let control = TcpListener::bind((net.host, 0)).expect("listen on the host side of the veth");
    let control_port = control.local_addr().expect("control port").port();
    assert_eq!(net.probe(control_port), "accepted", "the namespace reaches {}:{control_port}", net.host);

    let prefix = std::env::var_os("ZORGCARD_VPCD16_PREFIX")
        .map_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(PROJECT_VPCD_PREFIX), PathBuf::from);
    let project = VpcdReaders::project(&prefix, 2, PORT).expect("2 slots fit");
    run_case("project's vpcd", &project, &net, false);
    run_case("Debian's vpcd", &VpcdReaders::system(PORT), &net, true);
    println!("vpcd_exposure: both drivers checked in {:.1} s", started.elapsed().as_secs_f64());
}

/// Root, `ip` and both drivers, or a message saying how to get them.
fn preflight() {
    let uid = Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    assert_eq!(uid.ok().as_deref(), Some("0"), "this test makes a network namespace and needs root: {HOW_TO_RUN}");
    let ip = Command::new("ip").arg("-V").output();
    assert!(ip.is_ok_and(|o| o.status.success()), "no `ip` command: apt-get install iproute2");
    assert!(Path::new(SYSTEM_VPCD_DRIVER).exists(), "no {SYSTEM_VPCD_DRIVER}: apt-get install vsmartcard-vpcd");
}

/// One driver: its pcscd, `serve` on loopback, a PC/SC client, the probe from the namespace, `serve`'s warning.
fn run_case(name: &str, readers: &VpcdReaders, net: &Veth, exposed: bool) {
    let started = Instant::now();
    assert!(readers.driver.exists(), "{name}: no driver {}: {HOW_TO_RUN}", readers.driver.display());
    let dir = tempfile::tempdir().expect("temporary directory");
    let pcscd = IsolatedPcscd::start(readers, dir.path()).unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut serve = Serve::start(readers.slot_addr(0));
    let client = wait_for_card(&pcscd.socket());
    assert!(client.contains("Virtual PCD 00 00  [card, ATR 3B"), "{name}: the client sees no card:\n{client}");

    let port = readers.base_port;
    let (slot0, slot1) = (net.probe(port), net.probe(port + 1));
    let stderr = serve.stop();
    let at = |port| SocketAddrV4::new(net.host, port).to_string();
    let seen = format!("{name}: from the namespace, {} {slot0}, {} {slot1}", at(port), at(port + 1));
    let warned = stderr.lines().filter(|l| l.starts_with("warning: the vpcd reader is reachable")).count();
    if exposed {
        assert_eq!(slot1, "accepted", "{seen}");
        assert_ne!(slot0, "refused", "{seen}");
        assert_eq!(warned, 1, "{name}: serve warns once; its stderr:\n{stderr}");
        assert!(stderr.contains("scripts/build-vpcd-16"), "{name}: the warning names the fix:\n{stderr}");
        let named = warned_at(&stderr).unwrap_or_else(|| panic!("{name}: the warning names no address:\n{stderr}"));
        let ours = exposure::local_addrs().iter().any(|l| l.ip == named.ip() && !l.ip.is_loopback());
        assert!(ours && named.port() == port, "{name}: the warning names {named}, not a port {port} of this machine");
    } else {
        assert_eq!((slot0.as_str(), slot1.as_str()), ("refused", "refused"), "{seen}");
        assert_eq!(warned, 0, "{name}: serve does not warn; its stderr:\n{stderr}");
    }
    pcscd.stop();
    println!("vpcd_exposure: {seen}; serve's warnings: {warned}; {:.1} s", started.elapsed().as_secs_f64());
}

/// The first address in `serve`'s warning ("… reachable from other hosts at ADDR …").
fn warned_at(stderr: &str) -> Option<SocketAddr> {
    let (_, rest) = stderr.split_once("reachable from other hosts at ")?;
    rest.split([' ', ',']).next()?.parse().ok()
}

/// In the namespace: `accepted`, `refused` or what else the connect said, on standard output.
fn probe_here(addr: &str) {
    let addr: SocketAddr = addr.parse().expect("probe address");
    let answer = match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
        Ok(_) => "accepted".to_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => "refused".to_owned(),
        Err(e) => format!("failed: {e}"),
    };
    println!("{answer}");
}

/// `zorgcard -v list-readers` against the pcscd at `socket` until slot 0 holds a card (10 s at most): its output.
fn wait_for_card(socket: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = Command::new(env!("CARGO_BIN_EXE_zorgcard"))
            .args(["-v", "list-readers"])
            .env(CSOCK_ENV, socket)
            .output()
            .expect("run zorgcard list-readers");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        if text.contains("00 00  [card") || Instant::now() > deadline {
            return text;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `zorgcard serve` with one card on `vpcd`, killed (only this child) on [`Serve::stop`] or drop.
struct Serve {
    child: Child,
    stderr: mpsc::Receiver<String>,
}

impl Serve {
    /// Starts it and waits (30 s at most) for its `ready` line.
    fn start(vpcd: SocketAddr) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_zorgcard"))
            .args(["serve", "--card", "uzi-zorgverlener", "--vpcd", &vpcd.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start zorgcard serve");
        let (stdout, mut err) = (child.stdout.take().expect("stdout"), child.stderr.take().expect("stderr"));
        let (tx, stderr) = mpsc::channel();
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = err.read_to_string(&mut text);
            let _ = tx.send(text);
        });
        let (ready_tx, ready) = mpsc::channel();
        std::thread::spawn(move || {
            let line = BufReader::new(stdout).lines().map_while(Result::ok).find(|l| l.starts_with("ready: slot 0"));
            let _ = ready_tx.send(line);
        });
        let mut serve = Self { child, stderr };
        if !matches!(ready.recv_timeout(Duration::from_secs(30)), Ok(Some(_))) {
            panic!("zorgcard serve --vpcd {vpcd} did not get ready; its stderr:\n{}", serve.stop());
        }
        serve
    }

    /// Kills it and returns what it wrote on standard error.
    fn stop(&mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stderr.recv_timeout(Duration::from_secs(5)).unwrap_or_default()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A network namespace and a veth pair into it, deleted on drop (also after a failed assertion).
struct Veth {
    netns: String,
    host_if: String,
    /// This machine's end.
    host: Ipv4Addr,
    /// The namespace's end.
    inside: Ipv4Addr,
}

impl Veth {
    /// Makes them: `10.200.N.1/30` here, `10.200.N.2/30` in the namespace, N from the process ID.
    fn create() -> Self {
        let id = std::process::id();
        let n = u8::try_from(id % 200).unwrap_or(0) + 20;
        let net = Self {
            netns: format!("zorgcard-vpcd-{id}"),
            host_if: format!("zcv{}h", id % 100_000),
            host: Ipv4Addr::new(10, 200, n, 1),
            inside: Ipv4Addr::new(10, 200, n, 2),
        };
        let peer = format!("zcv{}n", id % 100_000);
        let (ns, host_if) = (net.netns.as_str(), net.host_if.as_str());
        let (host_cidr, inside_cidr) = (format!("{}/30", net.host), format!("{}/30", net.inside));
        ip(&["netns", "add", ns]);
        ip(&["link", "add", host_if, "type", "veth", "peer", "name", &peer]);
        ip(&["link", "set", &peer, "netns", ns]);
        ip(&["addr", "add", &host_cidr, "dev", host_if]);
        ip(&["link", "set", host_if, "up"]);
        ip(&["netns", "exec", ns, "ip", "addr", "add", &inside_cidr, "dev", &peer]);
        ip(&["netns", "exec", ns, "ip", "link", "set", &peer, "up"]);
        ip(&["netns", "exec", ns, "ip", "link", "set", "lo", "up"]);
        net
    }

    /// This test binary in the namespace, connecting to the host side on `port`: `accepted`, `refused`, ….
    fn probe(&self, port: u16) -> String {
        let exe = std::env::current_exe().expect("test binary");
        let out = Command::new("ip")
            .args(["netns", "exec", &self.netns])
            .arg(exe)
            .env(PROBE_ENV, SocketAddrV4::new(self.host, port).to_string())
            .output()
            .expect("run the probe with ip netns exec");
        assert!(out.status.success(), "probe failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        // Deleting one end deletes the pair; the namespace holds nothing else.
        let quiet = |args: &[&str]| Command::new("ip").args(args).stderr(Stdio::null()).status();
        let _ = quiet(&["link", "del", &self.host_if]);
        let _ = quiet(&["netns", "del", &self.netns]);
    }
}

/// `ip ARGS`, which must succeed.
fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(out.status.success(), "ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
}
