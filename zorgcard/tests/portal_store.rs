//! `zorgcard portal` as concurrent processes against one portal database (`portal/src/store/`), on SQLite and on
//! PostgreSQL (a server of the test's own, `portal/tests/support/postgres.rs`): every command is one transaction,
//! so every command a process acknowledged (exit 0, after its COMMIT) is in the database, also when other
//! processes were killed with SIGKILL in the middle of theirs. The rows are counted with the database's own client.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use portal::{IssuedCard, IssuedCertificate, StoreLocation};
use rusqlite::Connection;

#[path = "../../portal/tests/support/postgres.rs"]
mod postgres_server;
use postgres_server::PostgresServer;

const ADMIN: &str = "900016528";

/// One portal database for a test, and how the test reads it behind the CLI's back.
enum Db {
    Sqlite { _dir: tempfile::TempDir, path: PathBuf },
    Postgres { server: PostgresServer, name: String },
}

impl Db {
    fn sqlite() -> Db {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("portal.db");
        Db::Sqlite { _dir: dir, path }
    }

    fn postgres() -> Db {
        let server = PostgresServer::start();
        let name = server.create_database("portal");
        Db::Postgres { server, name }
    }

    fn backend(&self) -> &'static str {
        match self {
            Db::Sqlite { .. } => "SQLite",
            Db::Postgres { .. } => "PostgreSQL",
        }
    }

    /// What the command line takes: `--registry FILE` (the older spelling) or `--database URL`.
    fn flag(&self) -> [String; 2] {
        match self {
            Db::Sqlite { path, .. } => ["--registry".into(), path.display().to_string()],
            Db::Postgres { server, name } => ["--database".into(), server.url(name)],
        }
    }

    fn location(&self) -> StoreLocation {
        StoreLocation::parse(&self.flag()[1]).unwrap()
    }

    fn count(&self, sql: &str) -> usize {
        let n: i64 = match self {
            Db::Sqlite { path, .. } => Connection::open(path).unwrap().query_row(sql, [], |r| r.get(0)).unwrap(),
            Db::Postgres { server, name } => server.client(name).query_one(sql, &[]).unwrap().get(0),
        };
        n as usize
    }
}

fn zorgcard(db: &Db, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_zorgcard"));
    cmd.arg("portal").args(db.flag()).args(args);
    cmd.env_remove("ZORGCARD_FIXTURES").env_remove("ZORGCARD_PORTAL_DATABASE");
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd
}

fn run(db: &Db, args: &[&str]) -> Output {
    zorgcard(db, args).output().expect("run zorgcard")
}

fn card(serial: String) -> IssuedCard {
    IssuedCard {
        serial,
        holder_name: "Marieke Proef".into(),
        uzi_number: "900016529".into(),
        organisation: "Test Zorginstelling 01".into(),
        subscriber_number: "90000001".into(),
        birth_date: "1990-05-17".into(),
        made_with_uzi_pass: "9000000000000001".into(),
        not_before: 1_767_225_600,
        not_after: 1_767_225_600 + 94_608_000,
        certificates: vec![IssuedCertificate { role: "authentication".into(), serial: "01AB".into() }],
    }
}

/// URA 90000001 registered by [`ADMIN`] through the CLI, and `cards` cards.
fn setup(db: &Db, cards: usize) {
    let out = run(db, &["--as", ADMIN, "register", "--organisation", "Test Zorginstelling 01", "--ura", "90000001"]);
    assert!(out.status.success(), "{out:?}");
    for n in 0..cards {
        portal::record_issued(db.location(), &card(format!("91000000000{n:05}"))).unwrap();
    }
}

fn beheerder(worker: usize, n: usize) -> String {
    format!("8{:04}{:04}", worker, n)
}

fn stored(db: &Db, beheerder: &str) -> usize {
    db.count(&format!("SELECT count(*) FROM beheerders WHERE uzi = '{beheerder}'"))
}

#[test]
fn fifty_concurrent_processes_lose_no_acknowledged_update_on_sqlite() {
    fifty_concurrent_processes_lose_no_acknowledged_update(&Db::sqlite());
}

#[test]
fn fifty_concurrent_processes_lose_no_acknowledged_update_on_postgres() {
    fifty_concurrent_processes_lose_no_acknowledged_update(&Db::postgres());
}

#[test]
fn kill_9_loses_no_acknowledged_update_on_sqlite() {
    let db = Db::sqlite();
    kill_9_loses_no_acknowledged_update(&db);
    let Db::Sqlite { path, .. } = &db else { unreachable!() };
    let integrity: String =
        Connection::open(path).unwrap().query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    eprintln!("SQLite after the kills: integrity_check: {integrity}");
    assert_eq!(integrity, "ok");
}

#[test]
fn kill_9_loses_no_acknowledged_update_on_postgres() {
    let db = Db::postgres();
    kill_9_loses_no_acknowledged_update(&db);
    // A killed client's session ends with it (at once when idle in its transaction, after its statement when the
    // server was busy for it): its transaction rolls back and its advisory lock goes.
    let deadline = Instant::now() + Duration::from_secs(10);
    let (locks, sessions) = loop {
        let locks = db.count("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'");
        let sessions = db.count("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'zorgcard'");
        if (locks, sessions) == (0, 0) || Instant::now() > deadline {
            break (locks, sessions);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    eprintln!("PostgreSQL after the kills: {locks} advisory locks held, {sessions} zorgcard sessions left");
    assert_eq!((locks, sessions), (0, 0));
}

/// 50 processes at a time, 1,000 updates in all: 40 workers appoint 20 distinct beheerders each, 10 workers each
/// block and unblock their own card 20 times. Every acknowledged update is a row afterwards.
fn fifty_concurrent_processes_lose_no_acknowledged_update(db: &Db) {
    const WORKERS: usize = 50;
    const EACH: usize = 20;
    const TOGGLERS: usize = 10;
    setup(db, TOGGLERS);
    let acked = AtomicUsize::new(0);
    let acked_toggles: Vec<AtomicUsize> = (0..TOGGLERS).map(|_| AtomicUsize::new(0)).collect();
    let appointed = std::sync::Mutex::new(Vec::new());
    let started = Instant::now();
    std::thread::scope(|s| {
        for w in 0..WORKERS {
            let (acked, acked_toggles, appointed) = (&acked, &acked_toggles, &appointed);
            s.spawn(move || {
                for n in 0..EACH {
                    let (args, who) = if w < WORKERS - TOGGLERS {
                        (vec!["--as".into(), ADMIN.into(), "appoint".into(), beheerder(w, n)], Some(beheerder(w, n)))
                    } else {
                        let serial = format!("91000000000{:05}", w - (WORKERS - TOGGLERS));
                        let action = if n % 2 == 0 { "block" } else { "unblock" };
                        (vec!["--as".into(), ADMIN.into(), action.into(), serial], None)
                    };
                    let args: Vec<&str> = args.iter().map(String::as_str).collect();
                    let out = run(db, &args);
                    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
                    acked.fetch_add(1, Ordering::SeqCst);
                    match who {
                        Some(b) => appointed.lock().unwrap().push(b),
                        None => {
                            acked_toggles[w - (WORKERS - TOGGLERS)].fetch_add(1, Ordering::SeqCst);
                        }
                    }
                }
            });
        }
    });
    let took = started.elapsed();
    let acked = acked.into_inner();
    let appointed = appointed.into_inner().unwrap();
    for b in &appointed {
        assert_eq!(stored(db, b), 1, "acknowledged appointment of {b} is not stored");
    }
    let stored_beheerders = db.count("SELECT count(*) FROM beheerders");
    let stored_toggles = db.count("SELECT count(*) FROM card_events WHERE event LIKE '%blocked'");
    let stored_audit = db.count("SELECT count(*) FROM audit") - 1 - TOGGLERS;
    eprintln!(
        "{}: acknowledged {acked} updates in {:.1} s ({:.0}/s); stored {stored_beheerders} beheerders + {stored_toggles} block/unblock events = {}; audit rows {stored_audit}",
        db.backend(),
        took.as_secs_f64(),
        acked as f64 / took.as_secs_f64(),
        stored_beheerders + stored_toggles
    );
    assert_eq!(acked, WORKERS * EACH, "every command succeeded");
    assert_eq!(stored_beheerders, appointed.len());
    assert_eq!(stored_toggles, acked_toggles.iter().map(|a| a.load(Ordering::SeqCst)).sum::<usize>());
    assert_eq!(stored_beheerders + stored_toggles, acked);
    assert_eq!(stored_audit, acked, "one audit row per changing command");
    // Each card went through block/unblock pairs: it ends active.
    assert_eq!(db.count("SELECT count(*) FROM cards WHERE status = 'active'"), TOGGLERS);
}

/// A small deterministic generator for the kill delays.
fn next(seed: &mut u64) -> u64 {
    *seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
    *seed >> 33
}

/// Writers killed with SIGKILL at random moments, some inside their transaction: every update acknowledged before
/// its process ended is stored, each killed command left its beheerder and audit row both or neither, and the
/// database takes commands afterwards. The callers check the backend's own health after it.
fn kill_9_loses_no_acknowledged_update(db: &Db) {
    const WORKERS: usize = 16;
    const EACH: usize = 12;
    setup(db, 0);
    let acked = std::sync::Mutex::new(Vec::new());
    let killed = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for w in 0..WORKERS {
            let (acked, killed) = (&acked, &killed);
            s.spawn(move || {
                let mut seed = w as u64 + 1;
                for n in 0..EACH {
                    let b = beheerder(w, n);
                    let mut child = zorgcard(db, &["--as", ADMIN, "appoint", &b]).spawn().unwrap();
                    // Every other command is killed after 0-40 ms: before, during or after its transaction.
                    if n % 2 == 1 {
                        std::thread::sleep(Duration::from_millis(next(&mut seed) % 40));
                        let _ = child.kill();
                    }
                    let out = child.wait_with_output().unwrap();
                    if out.status.success() {
                        assert!(String::from_utf8_lossy(&out.stdout).contains("is now a beheerder"), "{out:?}");
                        acked.lock().unwrap().push(b);
                    } else if out.status.code().is_none() {
                        killed.fetch_add(1, Ordering::SeqCst);
                    } else {
                        panic!("{b}: {}", String::from_utf8_lossy(&out.stderr));
                    }
                }
            });
        }
    });
    let acked = acked.into_inner().unwrap();
    let killed = killed.into_inner();
    let stored_beheerders = db.count("SELECT count(*) FROM beheerders");
    eprintln!(
        "{}: {} commands: {} acknowledged, {killed} killed by SIGKILL; {stored_beheerders} stored",
        db.backend(),
        WORKERS * EACH,
        acked.len()
    );
    assert!(killed > 0, "no process was killed before it finished: the test proved nothing");
    for b in &acked {
        assert_eq!(stored(db, b), 1, "acknowledged appointment of {b} is lost");
    }
    assert!(
        stored_beheerders >= acked.len() && stored_beheerders <= WORKERS * EACH,
        "{stored_beheerders} stored, {} acknowledged",
        acked.len()
    );
    // Beheerders and audit rows were written in the same transactions: a killed command left both or neither.
    assert_eq!(db.count("SELECT count(*) FROM audit") - 1, stored_beheerders);
    let out = run(db, &["--as", ADMIN, "appoint", "899999999"]);
    assert!(out.status.success(), "the database takes commands after the kills: {out:?}");
}

#[test]
fn import_toml_through_the_cli_refuses_a_damaged_file_and_a_toml_registry_names_the_fix() {
    let db = Db::sqlite();
    setup(&db, 1);
    let Db::Sqlite { path, .. } = &db else { unreachable!() };
    let before = db.count("SELECT count(*) FROM audit");
    let bad = path.with_file_name("zorgcard-portal.toml");
    std::fs::write(&bad, "format = 1\n[[organisations]]\nsubscriber_number = \"90000002\"\nname = ").unwrap();
    let out = run(&db, &["import-toml", bad.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("zorgcard-portal.toml` is not valid"), "{err}");
    assert_eq!(db.count("SELECT count(*) FROM audit"), before, "the damaged file changed nothing");
    assert_eq!(db.count("SELECT count(*) FROM organisations"), 1);
    // `--registry` after the action works too, and a TOML file given as the database names import-toml.
    let out = Command::new(env!("CARGO_BIN_EXE_zorgcard"))
        .args(["portal", "--as", ADMIN, "view", "--registry"])
        .arg(&bad)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("is a TOML registry, not a portal database") && err.contains("zorgcard portal import-toml"),
        "{err}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_zorgcard"))
        .args(["portal", "view", "--as", ADMIN, "--database"])
        .arg(path)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 card(s) visible"), "{out:?}");
    let out = run(&db, &["view"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--as"), "{out:?}");
}

/// `--database URL`, the same URL in `ZORGCARD_PORTAL_DATABASE`, and `crl write` on it; a URL's password is in no
/// message, also not in clap's for a URL that does not parse.
#[test]
fn the_cli_takes_a_postgres_url_by_flag_or_environment_and_never_prints_its_password() {
    let db = Db::postgres();
    setup(&db, 1);
    let Db::Postgres { server, name } = &db else { unreachable!() };
    let url = server.url(name).replacen("zorgcard@", "zorgcard:pw-Kx81@", 1);
    let out = Command::new(env!("CARGO_BIN_EXE_zorgcard"))
        .args(["portal", "--as", ADMIN, "view"])
        .env("ZORGCARD_PORTAL_DATABASE", &url)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 card(s) visible"), "{out:?}");
    let crl = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_zorgcard"))
        .args(["crl", "write", "--database", &url, "--out"])
        .arg(crl.path().join("zorg-id-ca.crl"))
        .output()
        .unwrap();
    assert!(out.status.success() && crl.path().join("zorg-id-ca.crl").is_file(), "{out:?}");
    for wrong in [url.replace(name.as_str(), "no_such_db"), url.replace("port=5432", "port=x")] {
        let out = Command::new(env!("CARGO_BIN_EXE_zorgcard"))
            .args(["portal", "--as", ADMIN, "--database", &wrong, "view"])
            .output()
            .unwrap();
        let printed = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.status.code(), Some(2), "{printed}");
        assert!(printed.contains("postgresql://zorgcard@/") && !printed.contains("pw-Kx81"), "{printed}");
    }
}
