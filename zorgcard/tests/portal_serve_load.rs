//! `zorgcard portal serve` under load, on SQLite and on PostgreSQL (`portal/src/store/`): the served API and the
//! CLI write to one database at the same time, and the server is killed with SIGKILL in the middle of a stream
//! of API updates. Every write, whichever way it comes, is one transaction that the portal acknowledges (HTTP
//! 200, exit 0) only after its COMMIT (`portal-web/src/service.rs`), so every acknowledged update is in the
//! database afterwards, with its audit row from the same transaction. The API is driven in-process over rustls
//! with a TEST UZI-pas certificate (`tests/support/https_client.rs`); the CLI as `zorgcard portal --as`.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use issuance::pki::TestPki;
use rusqlite::Connection;

#[path = "support/https_client.rs"]
mod https_client;
#[path = "support/portal_db.rs"]
mod portal_db;
#[path = "../../portal/tests/support/postgres.rs"]
mod postgres_server;

use https_client::{HttpsClient, Login};
use portal_db::{ADMIN, Db, URA, card_serial, record_cards};

/// A running `zorgcard portal serve` on the test's database, killed (SIGKILL) when dropped.
struct Server {
    child: Child,
    https: String,
    ca: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start(db: &Db, dir: &Path) -> Server {
        let ca = dir.join("server-ca.pem");
        let mut child = Command::new(env!("CARGO_BIN_EXE_zorgcard"))
            .arg("portal")
            .args(db.flag())
            .args(["serve", "--listen", "127.0.0.1:0", "--ocsp-listen", "127.0.0.1:0", "--server-cert-out"])
            .arg(&ca)
            .env_remove("ZORGCARD_FIXTURES")
            .env_remove("ZORGCARD_PORTAL_CLOCK_OFFSET_DAYS")
            .env_remove("ZORGCARD_PORTAL_DATABASE")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let first = BufReader::new(child.stdout.take().unwrap()).lines().next().expect("a line").unwrap();
        let https = first.split_whitespace().find(|w| w.starts_with("https://")).expect("the API URL");
        let https = https.trim_end_matches("/api").to_string();
        Server { child, https, ca }
    }

    fn client(&self, login: &Login, keep_alive: bool) -> HttpsClient {
        HttpsClient::new(&self.https, &self.ca, login, keep_alive)
    }
}

fn cli(db: &Db, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_zorgcard"))
        .arg("portal")
        .args(db.flag())
        .args(["--as", ADMIN])
        .args(args)
        .env_remove("ZORGCARD_FIXTURES")
        .env_remove("ZORGCARD_PORTAL_DATABASE")
        .stdin(Stdio::null())
        .output()
        .expect("run zorgcard portal")
}

fn beheerder(client: usize, n: usize) -> String {
    format!("8{client:04}{n:04}")
}

fn appoint_json(uzi: &str) -> String {
    format!(r#"{{"uzi_number": "{uzi}"}}"#)
}

/// The administrator's log-in and a server on `db` with URA [`URA`] registered through the API.
fn served(db: &Db, dir: &Path) -> (Login, Server) {
    let admin = Login::new(&TestPki::fixtures().unwrap(), dir, ADMIN, URA);
    let server = Server::start(db, dir);
    let a = server.client(&admin, false).post("/api/organisations", Some(r#"{"name": "Test Zorginstelling 01"}"#));
    assert_eq!(a.as_ref().map(|a| a.status), Ok(200), "{a:?}");
    (admin, server)
}

/// Audit rows per changed thing: the beheerder's UZI number of `appoint`, the card of `block` and `unblock`.
fn audit_by_subject(db: &Db) -> HashMap<String, usize> {
    let mut by = HashMap::new();
    for command in db.texts("SELECT command FROM audit") {
        let mut words = command.split_whitespace();
        if let (Some("appoint" | "block" | "unblock"), Some(subject)) = (words.next(), words.next()) {
            *by.entry(subject.to_string()).or_insert(0) += 1;
        }
    }
    by
}

#[test]
fn api_and_cli_together_lose_no_acknowledged_update_on_sqlite() {
    api_and_cli_together_lose_no_acknowledged_update(&Db::sqlite());
}

#[test]
fn api_and_cli_together_lose_no_acknowledged_update_on_postgres() {
    api_and_cli_together_lose_no_acknowledged_update(&Db::postgres());
}

/// What the clients had acknowledged.
#[derive(Default)]
struct Acknowledged {
    appointed: Vec<String>,
    toggles: HashMap<String, usize>,
    api: usize,
    cli: usize,
    refused: Vec<String>,
}

/// 50 clients, 1,000 updates in all, every other one through the API and the others through the CLI: 40 clients
/// appoint 20 distinct beheerders each, 10 block and unblock their own card 20 times.
fn api_and_cli_together_lose_no_acknowledged_update(db: &Db) {
    const CLIENTS: usize = 50;
    const EACH: usize = 20;
    const TOGGLERS: usize = 10;
    let dir = tempfile::tempdir().unwrap();
    let (admin, server) = served(db, dir.path());
    record_cards(db, TOGGLERS);
    let setup_audit = db.count("SELECT count(*) FROM audit");
    let acked = Mutex::new(Acknowledged::default());
    std::thread::scope(|s| {
        for c in 0..CLIENTS {
            let (acked, server, admin) = (&acked, &server, &admin);
            s.spawn(move || {
                let mut api = server.client(admin, true);
                for n in 0..EACH {
                    let (subject, path, json, args) = if c < CLIENTS - TOGGLERS {
                        let b = beheerder(c, n);
                        let path = format!("/api/organisations/{URA}/beheerders");
                        (b.clone(), path, Some(appoint_json(&b)), vec!["appoint".to_string(), b])
                    } else {
                        let serial = card_serial(c - (CLIENTS - TOGGLERS));
                        let action = if n.is_multiple_of(2) { "block" } else { "unblock" };
                        let path = format!("/api/cards/{serial}/{action}");
                        (serial.clone(), path, None, vec![action.to_string(), serial])
                    };
                    let through_api = (c + n) % 2 == 0;
                    let outcome = if through_api {
                        match api.post(&path, json.as_deref()) {
                            Ok(a) if a.status == 200 => Ok(()),
                            other => Err(format!("{path}: {other:?}")),
                        }
                    } else {
                        let out = cli(db, &args.iter().map(String::as_str).collect::<Vec<_>>());
                        if out.status.success() { Ok(()) } else { Err(format!("{args:?}: {out:?}")) }
                    };
                    let mut acked = acked.lock().unwrap();
                    match outcome {
                        Err(e) => acked.refused.push(e),
                        Ok(()) if c < CLIENTS - TOGGLERS => acked.appointed.push(subject),
                        Ok(()) => *acked.toggles.entry(subject).or_insert(0) += 1,
                    }
                    if through_api { acked.api += 1 } else { acked.cli += 1 }
                }
            });
        }
    });
    let acked = acked.into_inner().unwrap();
    let total = acked.appointed.len() + acked.toggles.values().sum::<usize>();
    let stored_beheerders = db.count("SELECT count(*) FROM beheerders");
    let stored_toggles = db.count("SELECT count(*) FROM card_events WHERE event LIKE '%blocked'");
    let audit_rows = db.count("SELECT count(*) FROM audit") - setup_audit;
    eprintln!(
        "portal serve on {}: {CLIENTS} clients (API and CLI), {total} acknowledged ({} API, {} CLI sent), {} stored, audit rows {audit_rows}",
        db.backend(),
        acked.api,
        acked.cli,
        stored_beheerders + stored_toggles
    );
    assert!(acked.refused.is_empty(), "{} updates not acknowledged, e.g. {:?}", acked.refused.len(), acked.refused[0]);
    assert_eq!(total, CLIENTS * EACH);
    let audit = audit_by_subject(db);
    for b in &acked.appointed {
        let stored = db.count(&format!("SELECT count(*) FROM beheerders WHERE uzi = '{b}'"));
        assert_eq!((stored, audit.get(b)), (1, Some(&1)), "acknowledged appointment of {b}: stored, audit rows");
    }
    for (serial, toggles) in &acked.toggles {
        assert_eq!(audit.get(serial), Some(toggles), "audit rows of the acknowledged blocks/unblocks of {serial}");
    }
    assert_eq!((stored_beheerders, stored_toggles), (acked.appointed.len(), total - acked.appointed.len()));
    assert_eq!(audit_rows, total, "one audit row per acknowledged update");
    assert_eq!(db.count("SELECT count(*) FROM cards WHERE status = 'active'"), TOGGLERS, "block/unblock pairs");
}

/// A small deterministic generator (PCG's LCG step) for the moment of the kill.
fn next(seed: &mut u64) -> u64 {
    *seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
    *seed >> 33
}

#[test]
fn kill_9_of_the_server_loses_no_acknowledged_update_on_sqlite() {
    let db = Db::sqlite();
    kill_9_of_the_server_loses_no_acknowledged_update(&db, 0x5EED_0001);
    let Db::Sqlite { path, .. } = &db else { unreachable!() };
    let integrity: String =
        Connection::open(path).unwrap().query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    eprintln!("SQLite after the kill of portal serve: integrity_check: {integrity}");
    assert_eq!(integrity, "ok");
}

#[test]
fn kill_9_of_the_server_loses_no_acknowledged_update_on_postgres() {
    let db = Db::postgres();
    kill_9_of_the_server_loses_no_acknowledged_update(&db, 0x5EED_0002);
    // The killed server's sessions end with their sockets; each rolls back and lets its advisory lock go.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let locks = loop {
        let locks = db.count("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'");
        if locks == 0 || std::time::Instant::now() > deadline {
            break locks;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    eprintln!("PostgreSQL after the kill of portal serve: {locks} advisory locks held");
    assert_eq!(locks, 0);
}

/// One stream of appointments per client thread until the server dies under it.
fn stream_until_killed(server: &Server, admin: &Login, round: usize, acked: &Mutex<Vec<String>>, go: &AtomicBool) {
    const CLIENTS: usize = 8;
    std::thread::scope(|s| {
        for c in 0..CLIENTS {
            s.spawn(move || {
                let mut api = server.client(admin, false);
                for n in 0.. {
                    let b = beheerder(round * CLIENTS + c, n);
                    let path = format!("/api/organisations/{URA}/beheerders");
                    match api.post(&path, Some(&appoint_json(&b))) {
                        Ok(a) if a.status == 200 => acked.lock().unwrap().push(b),
                        Ok(a) => panic!("{b}: {} {}", a.status, a.body),
                        Err(_) if !go.load(Ordering::SeqCst) => return,
                        Err(e) => panic!("{b} failed while the server ran: {e}"),
                    }
                    if round == 1 && n == 24 {
                        return;
                    }
                }
            });
        }
    });
}

/// Eight threads stream API appointments; after the first 20 are acknowledged the server is killed with SIGKILL
/// at a seeded random moment (0-500 ms later), inside or between transactions. It is started again on the same
/// database and the streams go on. Every appointment acknowledged before the kill is stored, each with its audit
/// row (both were written in one transaction, so the ones cut off left both or neither).
fn kill_9_of_the_server_loses_no_acknowledged_update(db: &Db, mut seed: u64) {
    let dir = tempfile::tempdir().unwrap();
    let (admin, server) = served(db, dir.path());
    let setup_audit = db.count("SELECT count(*) FROM audit");
    let before = Mutex::new(Vec::new());
    let running = AtomicBool::new(true);
    let delay = Duration::from_millis(next(&mut seed) % 500);
    std::thread::scope(|s| {
        let streams = s.spawn(|| stream_until_killed(&server, &admin, 0, &before, &running));
        while before.lock().unwrap().len() < 20 {
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(delay);
        running.store(false, Ordering::SeqCst);
        kill(&server);
        streams.join().unwrap();
    });
    drop(server);
    let before = before.into_inner().unwrap();
    let server = Server::start(db, dir.path());
    let after = Mutex::new(Vec::new());
    stream_until_killed(&server, &admin, 1, &after, &AtomicBool::new(true));
    let after = after.into_inner().unwrap();
    let stored = db.count("SELECT count(*) FROM beheerders");
    eprintln!(
        "portal serve on {}: killed with SIGKILL {} ms after 20 acknowledged: {} acknowledged before the kill, {} after the restart; {stored} stored",
        db.backend(),
        delay.as_millis(),
        before.len(),
        after.len()
    );
    let audit = audit_by_subject(db);
    for b in before.iter().chain(&after) {
        let rows = db.count(&format!("SELECT count(*) FROM beheerders WHERE uzi = '{b}'"));
        assert_eq!((rows, audit.get(b)), (1, Some(&1)), "acknowledged appointment of {b}: stored, audit rows");
    }
    assert!(stored >= before.len() + after.len(), "{stored} stored");
    assert_eq!(db.count("SELECT count(*) FROM audit") - setup_audit, stored, "a beheerder without its audit row");
}

/// SIGKILL to the server process (what `Child::kill` sends on Unix), without waiting for it.
fn kill(server: &Server) {
    let status = Command::new("kill").args(["-KILL", &server.child.id().to_string()]).status().unwrap();
    assert!(status.success());
}
