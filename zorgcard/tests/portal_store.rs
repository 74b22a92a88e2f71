//! `zorgcard portal` as concurrent processes against one portal database (`portal/src/store.rs`): every command is
//! one transaction, so every command a process acknowledged (exit 0, after its COMMIT) is in the database, also
//! when other processes were killed with SIGKILL in the middle of theirs. The rows are counted with SQLite itself.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use portal::{IssuedCard, IssuedCertificate};
use rusqlite::Connection;

const ADMIN: &str = "900016528";

fn zorgcard(db: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_zorgcard"));
    cmd.arg("portal").arg("--registry").arg(db).args(args).env_remove("ZORGCARD_FIXTURES");
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd
}

fn run(db: &Path, args: &[&str]) -> Output {
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

/// A database with URA 90000001 registered by [`ADMIN`] and `cards` cards.
fn setup(cards: usize) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("portal.db");
    let out = run(&db, &["--as", ADMIN, "register", "--organisation", "Test Zorginstelling 01", "--ura", "90000001"]);
    assert!(out.status.success(), "{out:?}");
    for n in 0..cards {
        portal::record_issued(&db, &card(format!("91000000000{n:05}"))).unwrap();
    }
    (dir, db)
}

fn count(db: &Path, sql: &str) -> usize {
    let n: i64 = Connection::open(db).unwrap().query_row(sql, [], |r| r.get(0)).unwrap();
    n as usize
}

fn beheerder(worker: usize, n: usize) -> String {
    format!("8{:04}{:04}", worker, n)
}

/// 50 processes at a time, 1,000 updates in all: 40 workers appoint 20 distinct beheerders each, 10 workers each
/// block and unblock their own card 20 times. Every acknowledged update is a row afterwards.
#[test]
fn fifty_concurrent_processes_lose_no_acknowledged_update() {
    const WORKERS: usize = 50;
    const EACH: usize = 20;
    const TOGGLERS: usize = 10;
    let (_dir, db) = setup(TOGGLERS);
    let acked = AtomicUsize::new(0);
    let acked_toggles: Vec<AtomicUsize> = (0..TOGGLERS).map(|_| AtomicUsize::new(0)).collect();
    let appointed = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for w in 0..WORKERS {
            let (db, acked, acked_toggles, appointed) = (&db, &acked, &acked_toggles, &appointed);
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
    let acked = acked.into_inner();
    let appointed = appointed.into_inner().unwrap();
    let conn = Connection::open(&db).unwrap();
    for b in &appointed {
        let n: i64 = conn.query_row("SELECT count(*) FROM beheerders WHERE uzi = ?1", [b], |r| r.get(0)).unwrap();
        assert_eq!(n, 1, "acknowledged appointment of {b} is not stored");
    }
    let stored_beheerders = count(&db, "SELECT count(*) FROM beheerders");
    let stored_toggles = count(&db, "SELECT count(*) FROM card_events WHERE event LIKE '%blocked'");
    let stored_audit = count(&db, "SELECT count(*) FROM audit") - 1 - TOGGLERS;
    eprintln!(
        "acknowledged {acked} updates; stored {stored_beheerders} beheerders + {stored_toggles} block/unblock events = {}; audit rows {stored_audit}",
        stored_beheerders + stored_toggles
    );
    assert_eq!(acked, WORKERS * EACH, "every command succeeded");
    assert_eq!(stored_beheerders, appointed.len());
    assert_eq!(stored_toggles, acked_toggles.iter().map(|a| a.load(Ordering::SeqCst)).sum::<usize>());
    assert_eq!(stored_beheerders + stored_toggles, acked);
    assert_eq!(stored_audit, acked, "one audit row per changing command");
    // Each card went through block/unblock pairs: it ends active.
    assert_eq!(count(&db, "SELECT count(*) FROM cards WHERE status = 'active'"), TOGGLERS);
}

/// A small deterministic generator for the kill delays.
fn next(seed: &mut u64) -> u64 {
    *seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
    *seed >> 33
}

/// Writers killed with SIGKILL at random moments, some inside their transaction: every update acknowledged before
/// its process ended is stored, the database passes `PRAGMA integrity_check`, and it takes commands afterwards.
#[test]
fn kill_9_loses_no_acknowledged_update_and_leaves_an_intact_database() {
    const WORKERS: usize = 16;
    const EACH: usize = 12;
    let (_dir, db) = setup(0);
    let acked = std::sync::Mutex::new(Vec::new());
    let killed = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for w in 0..WORKERS {
            let (db, acked, killed) = (&db, &acked, &killed);
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
    let conn = Connection::open(&db).unwrap();
    let integrity: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    let stored = count(&db, "SELECT count(*) FROM beheerders");
    eprintln!(
        "{} commands: {} acknowledged, {killed} killed by SIGKILL; {stored} stored; integrity_check: {integrity}",
        WORKERS * EACH,
        acked.len()
    );
    assert_eq!(integrity, "ok");
    assert!(killed > 0, "no process was killed before it finished: the test proved nothing");
    for b in &acked {
        let n: i64 = conn.query_row("SELECT count(*) FROM beheerders WHERE uzi = ?1", [b], |r| r.get(0)).unwrap();
        assert_eq!(n, 1, "acknowledged appointment of {b} is lost");
    }
    assert!(stored >= acked.len() && stored <= WORKERS * EACH, "{stored} stored, {} acknowledged", acked.len());
    // Beheerders and audit rows were written in the same transactions: a killed command left both or neither.
    assert_eq!(count(&db, "SELECT count(*) FROM audit") - 1, stored);
    let out = run(&db, &["--as", ADMIN, "appoint", "899999999"]);
    assert!(out.status.success(), "the database takes commands after the kills: {out:?}");
}

#[test]
fn import_toml_through_the_cli_refuses_a_damaged_file_and_a_toml_registry_names_the_fix() {
    let (dir, db) = setup(1);
    let before = count(&db, "SELECT count(*) FROM audit");
    let bad = dir.path().join("zorgcard-portal.toml");
    std::fs::write(&bad, "format = 1\n[[organisations]]\nsubscriber_number = \"90000002\"\nname = ").unwrap();
    let out = run(&db, &["import-toml", bad.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("zorgcard-portal.toml` is not valid"), "{err}");
    assert_eq!(count(&db, "SELECT count(*) FROM audit"), before, "the damaged file changed nothing");
    assert_eq!(count(&db, "SELECT count(*) FROM organisations"), 1);
    // `--registry` after the action works too, and a TOML file given as the database names import-toml.
    let out = zorgcard(&bad, &[]).args(["--as", ADMIN, "view"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("is a TOML registry, not a portal database") && err.contains("zorgcard portal import-toml"),
        "{err}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_zorgcard"))
        .args(["portal", "view", "--as", ADMIN, "--registry"])
        .arg(&db)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 card(s) visible"), "{out:?}");
    let out = run(&db, &["view"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--as"), "{out:?}");
}
