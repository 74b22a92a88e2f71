//! Helpers shared by the end-to-end test binaries that talk to pcscd (`tests/pcscd.rs`, `tests/scenarios.rs`,
//! `tests/clients.rs`, `tests/clients_opensc026.rs`): each declares `mod common;` and uses what it needs.
//! - here: the pcscd check ([`context`], [`connect`]) and running programs ([`run`], [`ok`], [`text`], [`openssl`])
//!   with scratch files ([`write`], [`s`]);
//! - [`clients`]: a `zorgcard serve` card seen through a PKCS#11 module, its CAs, an NSS database and a TLS server
//!   that checks the client certificate, for the client tests;
//! - [`portal`]: `zorgcard portal serve` and an HTTP request through a TLS client, for the card's log-in.

#![allow(dead_code)] // each test binary uses a part of it

pub mod browser;
pub mod clients;
pub mod portal;

use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A PC/SC context on which pcscd shows `reader` (a vpcd slot); otherwise fail and say how to start it.
pub fn context(reader: &str, how_to_start: &str) -> pcsc_runtime::Context {
    let ctx = pcsc_runtime::Context::establish(pcsc_runtime::Scope::User)
        .unwrap_or_else(|e| panic!("no pcscd to talk to ({e}): {how_to_start}"));
    let readers = ctx.list_readers_owned().unwrap_or_default();
    assert!(
        readers.iter().any(|r| r.to_string_lossy() == reader),
        "pcscd runs but has no reader `{reader}` (readers: {readers:?}): {how_to_start}"
    );
    ctx
}

/// Connect to the card in `reader`, waiting (up to 10 s) for pcscd to see it.
pub fn connect(ctx: &pcsc_runtime::Context, reader: &str) -> pcsc_runtime::Card {
    let name = CString::new(reader).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match ctx.connect(&name, pcsc_runtime::ShareMode::Shared, pcsc_runtime::Protocols::ANY) {
            Ok(card) => return card,
            Err(e) if Instant::now() > deadline => panic!("no card in `{reader}` after 10 s: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// Waits (up to `timeout`) until `reader` shows `wanted` (`EMPTY`, `PRESENT`) to a client; false after it.
pub fn wait_for_state(
    ctx: &pcsc_runtime::Context,
    reader: &str,
    wanted: pcsc_runtime::State,
    timeout: Duration,
) -> bool {
    let mut readers = [pcsc_runtime::ReaderState::new(CString::new(reader).unwrap(), pcsc_runtime::State::UNAWARE)];
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if ctx.get_status_change(Duration::from_millis(300), &mut readers).is_ok() {
            if readers[0].event_state().contains(wanted) {
                return true;
            }
            readers[0].sync_current_state();
        }
    }
    false
}

/// What to install (or build) to get a program the tests run.
fn how_to_get(program: &str) -> &'static str {
    match program {
        "certutil" | "modutil" | "tstclnt" | "cmsutil" => "apt-get install libnss3-tools",
        "gnutls-cli" | "p11tool" => "apt-get install gnutls-bin",
        "pkcs11-tool" => "apt-get install opensc",
        "openssl" => "apt-get install openssl libengine-pkcs11-openssl",
        "ssh-keygen" | "ssh-agent" | "ssh-add" => "apt-get install openssh-client",
        // OpenSC 0.26's own pkcs11-tool, by path.
        p if p.ends_with("/pkcs11-tool") => "scripts/build-opensc-0.26",
        _ => "apt-get install python3-pykcs11 python3-cryptography",
    }
}

/// Runs a program with no standard input; a missing program fails with what to install.
pub fn run(program: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{program}` ({e}): {}", how_to_get(program)))
}

/// Standard output and standard error of a program, as text.
pub fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Runs a program that must succeed and returns what it printed. The command line in a failure shows no PIN of
/// `ZORGCARD_CLIENTS_PIN`.
pub fn ok(program: &str, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = run(program, args, env);
    let all = text(&out);
    if !out.status.success() {
        let shown: Vec<String> = args.iter().map(|a| mask_pin(a)).collect();
        panic!("`{program} {}` failed ({}):\n{all}", shown.join(" "), out.status);
    }
    all
}

fn mask_pin(arg: &str) -> String {
    match std::env::var("ZORGCARD_CLIENTS_PIN") {
        Ok(pin) if !pin.is_empty() => arg.replace(&pin, "***"),
        _ => arg.to_string(),
    }
}

pub fn openssl(args: &[&str]) -> String {
    ok("openssl", args, &[])
}

/// Writes a file in `dir` and returns its path.
pub fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

pub fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// Stops the pcscd that `scripts/with-pcscd` started (its PID in `ZORGCARD_PCSCD_PIDFILE`), waits for it to go,
/// and starts a new one, whose PID goes to the same file so that the script stops it at the end. Only that PID is
/// ever signalled. `how_to_start` is the message when the test was not started by the script.
pub fn restart_pcscd(how_to_start: &str) {
    stop_pcscd(how_to_start);
    start_pcscd(how_to_start);
}

/// The file holding the PID of the pcscd `scripts/with-pcscd` started.
fn pcscd_pidfile(how_to_start: &str) -> String {
    std::env::var("ZORGCARD_PCSCD_PIDFILE").unwrap_or_else(|_| {
        panic!("this test restarts pcscd and needs the pcscd started by scripts/with-pcscd (ZORGCARD_PCSCD_PIDFILE): {how_to_start}")
    })
}

/// The first half of [`restart_pcscd`]: stop only the script's pcscd and wait until it is gone.
pub fn stop_pcscd(how_to_start: &str) {
    let pidfile = pcscd_pidfile(how_to_start);
    let pid: i32 = std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
    assert!(Command::new("kill").arg(pid.to_string()).status().unwrap().success(), "kill pcscd {pid}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The second half of [`restart_pcscd`]: a new pcscd, its PID written where the script will find it, reading the
/// script's reader.conf (`ZORGCARD_PCSCD_CONF`: the project's vpcd on 127.0.0.1) as the first one did.
pub fn start_pcscd(how_to_start: &str) {
    let pidfile = pcscd_pidfile(how_to_start);
    let conf: Vec<String> = std::env::var("ZORGCARD_PCSCD_CONF").map(|c| vec!["-c".into(), c]).unwrap_or_default();
    let log = std::env::var("ZORGCARD_PCSCD_LOG").unwrap_or_else(|_| "/dev/null".into());
    let log = std::fs::OpenOptions::new().append(true).create(true).open(log).unwrap();
    // The new pcscd outlives this test: scripts/with-pcscd stops it by the PID written below.
    #[allow(clippy::zombie_processes)]
    let child = Command::new("pcscd")
        .args(["--foreground", "--info"])
        .args(&conf)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("start pcscd again");
    std::fs::write(&pidfile, child.id().to_string()).unwrap();
}
