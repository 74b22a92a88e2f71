//! Record and compare, in-process: a session recorded from one simulated card replays on a fresh card of the same
//! profile with no differences, on another profile with its differences reported, and a damaged trace is refused
//! with its file and line.

use std::path::{Path, PathBuf};

use conformance::scenario::{self, StartOptions};
use issuance::card_new::{NewCardOptions, new_card};
use issuance::pki::TestPki;
use issuance::profile;
use reader_sim::reader::InProcessReader;
use reader_sim::trace::{Trace, TraceEvent};
use replay::{self, ReplayArgs, ReplayError};

fn hex(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap()
}

/// A login and a signature, as an application does it: select, read the certificate, a wrong PIN, the right one,
/// sign, authenticate, change the PIN and use the new one.
fn session() -> Vec<Vec<u8>> {
    // An RSA-2048 signature over a SHA-256 DigestInfo (DIALECT.md).
    let mut pso = hex("00 2A 9E 9A 33 3031300D060960864801650304020105000420");
    pso.extend_from_slice(&[0x42; 32]);
    pso.push(0x00);
    let mut internal_auth = hex("00 88 00 00 10");
    internal_auth.extend_from_slice(&[0x17; 16]);
    internal_auth.push(0x00);
    [
        "00 A4 04 0C 0C F276A288BCFBA69D34F31001",
        "00 CA 01 01 00",
        "00 A4 04 0C 0C A000000063504B43532D3135",
        "00 A4 08 04 04 50154301 00",
        "00 B0 00 00 C8",
        "00 CA DF 33 00",
        "00 20 00 01 06 303030303030",
        "00 20 00 01",
        "00 20 00 01 06 313233343536",
        "00 22 41 B6 03 840102",
        "00 20 00 01 06 313233343536",
    ]
    .iter()
    .map(|a| hex(a))
    .chain([pso])
    .chain(["00 84 00 00 08", "00 22 41 A4 03 840101"].iter().map(|a| hex(a)))
    .chain([internal_auth])
    .chain(
        ["00 24 00 01 0C 313233343536 363534333231", "00 20 FF 01", "00 20 00 01 06 363534333231", "00 20 00 01"]
            .iter()
            .map(|a| hex(a)),
    )
    .collect()
}

/// Records `session()` from a fresh card of `profile_name` into `path` (a timestamped trace, like `--trace`).
fn record_session(profile_name: &str, path: &Path) -> Vec<Vec<u8>> {
    let profile = profile::load(profile_name).unwrap();
    let made = new_card(&profile, &TestPki::fixtures().unwrap(), &NewCardOptions::default()).unwrap();
    let mut reader = InProcessReader::with_card(made.card);
    let trace = Trace::file(path).unwrap();
    trace.event(0, &TraceEvent::PowerOn);
    let atr = reader.power_on().unwrap();
    trace.atr_request(0, &atr);
    replay::record(&mut reader, &session(), &trace, 0).unwrap_or_else(|(i, e)| panic!("APDU {i}: {e}"))
}

fn sw(rapdu: &[u8]) -> u16 {
    u16::from_be_bytes([rapdu[rapdu.len() - 2], rapdu[rapdu.len() - 1]])
}

#[test]
fn a_recorded_session_replays_on_a_fresh_card_of_the_same_profile_with_no_differences() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("session.trace");
    let answers = record_session("uzi-zorgverlener", &path);
    // The session did what it says: a wrong PIN, a signature, the changed PIN.
    assert_eq!(sw(&answers[6]), 0x63C2);
    assert_eq!(sw(&answers[11]), 0x9000, "PSO");
    assert_eq!(sw(&answers[17]), 0x9000, "VERIFY with the new PIN");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains("313233343536") && !text.contains("363534333231"), "no PIN in the trace:\n{text}");
    assert!(text.contains("> VERIFY 00 20 00 01 06 ************"), "{text}");

    let report = replay::replay_main(&ReplayArgs { trace: path.clone(), profile: "uzi-zorgverlener".into() })
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.exchanges.len(), session().len());
    assert_eq!(report.exit_code(), 0, "{report}");
    assert!(report.to_string().contains("no differences"), "{report}");
    let pso = &report.exchanges[11];
    assert_eq!((pso.command.as_str(), pso.recorded.sw, pso.simulated.sw), ("PSO", Some(0x9000), Some(0x9000)));
}

#[test]
fn replaying_on_an_m_pass_reports_the_signature_exchange() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("session.trace");
    record_session("uzi-zorgverlener", &path);
    let report = replay::replay_main(&ReplayArgs { trace: path, profile: "uzi-medewerker-niet-op-naam".into() })
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.exit_code(), 1, "{report}");
    let mse = report.exchanges.iter().find(|e| e.command == "MSE").unwrap();
    assert!(mse.differs && mse.recorded.sw == Some(0x9000) && mse.simulated.sw == Some(0x6A88), "{report}");
    let pso = report.exchanges.iter().find(|e| e.command == "PSO").unwrap();
    assert!(pso.differs && pso.simulated.sw != Some(0x9000), "{report}");
    let text = report.to_string();
    assert!(text.contains(&format!("#{} (line {}) MSE: recorded 9000", mse.index, mse.line)), "{text}");
    assert!(text.contains("simulated 6A88"), "{text}");
    // The login part of the session is the same on both cards.
    let login = report.exchanges.iter().filter(|e| e.command == "VERIFY").all(|e| !e.differs);
    assert!(login, "{text}");
}

fn damaged(text: &str) -> (PathBuf, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("damaged.trace");
    std::fs::write(&path, text).unwrap();
    let e = replay::replay_main(&ReplayArgs { trace: path.clone(), profile: "uzi-zorgverlener".into() })
        .expect_err("a damaged trace must be refused");
    assert!(matches!(e, ReplayError::Damaged { .. }), "{e:?}");
    (path, e.to_string())
}

#[test]
fn a_damaged_trace_is_refused_naming_the_file_and_the_line() {
    let good = "2026-01-05T09:30:00.125Z slot 0 power on\n\
                2026-01-05T09:30:00.126Z slot 0 ATR 3BDC18FF8191FE1FC3060A2B06010401E910050203D1\n";
    let (path, message) = damaged(&format!("{good}2026-01-05T09:30:00.140Z slot 0 > VERIFY 00 20 00 01 06 3G\n"));
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("line 3"), "{message}");
    let (_, message) = damaged(&format!("{good}slot 0 > GET DATA 00 CA 01 01 00\nslot 0 < 000606 90 0"));
    assert!(message.contains("line 4") && message.contains("SW1 SW2"), "a truncated last line: {message}");
    let (_, message) = damaged(&format!("{good}slot 0 < 90 00 OK\n"));
    assert!(message.contains("line 3") && message.contains("without a command"), "{message}");
    let (_, message) = damaged("something else entirely\n");
    assert!(message.contains("line 1"), "{message}");
}

#[test]
fn a_trace_without_exchanges_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("idle.trace");
    std::fs::write(&path, "slot 0 power on\nslot 0 power off\n").unwrap();
    let e = replay::replay_main(&ReplayArgs { trace: path, profile: "uzi-zorgverlener".into() }).unwrap_err();
    assert!(matches!(e, ReplayError::Empty { .. }) && e.to_string().contains("no APDU exchange"), "{e}");
}

/// A scenario's trace (its setup, as `zorgcard scenario run --trace` writes it) replays like any other.
#[test]
fn a_scenario_trace_replays() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scenario.trace");
    let trace = Trace::file(&path).unwrap();
    let sc = scenario::load("puk-blocked").unwrap();
    // No pcscd is needed: nothing listens on port 9, the slot just retries until stopped.
    let options = StartOptions { vpcd: "127.0.0.1:9".parse().unwrap(), slot: 0, trace, crl_dir: None };
    scenario::start(&sc, &options).unwrap().stop();
    let report = replay::replay_main(&ReplayArgs { trace: path, profile: "uzi-zorgverlener".into() }).unwrap();
    assert_eq!(report.exchanges.len(), sc.setup.len());
    assert_eq!(report.exit_code(), 0, "{report}");
}
