//! `zorgcard chaos`: seeded life-cycle events on a card while a scripted application uses it, in-process (the
//! same interceptor runs on a vpcd slot when the card is served).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use chaos::{self, ChaosEvent, Reaction, Rule};
use reader_sim::trace::Trace;

/// The source tree's `fixtures/chaos`: files on disk, given to zorgcard as a user names them.
fn chaos_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/chaos")
}

fn client() -> PathBuf {
    chaos_dir().join("login-and-sign.apdus")
}

fn zorgcard(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_zorgcard")).args(args).output().expect("run zorgcard")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A trace file's lines without their timestamps (the first word).
fn untimed(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| l.split_once(' ').map_or(l, |(_, rest)| rest).to_owned())
        .collect()
}

#[test]
fn one_seed_and_one_client_give_the_same_events_and_the_same_trace() {
    let dir = tempfile::tempdir().unwrap();
    let rates = chaos_dir().join("every-event.toml");
    let run = |name: &str, seed: &str| {
        let trace = dir.path().join(name);
        let out =
            zorgcard(&["chaos", "--seed", seed, "--rates", s(&rates), "--client", s(&client()), "--trace", s(&trace)]);
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        // The first line names the trace file, which differs between the runs.
        let summary: Vec<String> = stdout.lines().skip(1).map(str::to_owned).collect();
        assert!(stdout.starts_with(&format!("chaos: seed {seed} ")), "the seed is printed first:\n{stdout}");
        (summary, untimed(&trace))
    };
    let (summary_a, trace_a) = run("a.trace", "42");
    let (summary_b, trace_b) = run("b.trace", "42");
    assert_eq!(summary_a, summary_b, "same seed, same events and reactions");
    assert_eq!(trace_a, trace_b, "same seed, same trace");
    let (summary_c, _) = run("c.trace", "43");
    assert_ne!(summary_a, summary_c, "another seed plays other events");

    let events: Vec<&String> = summary_a.iter().filter(|l| l.starts_with("  APDU ")).collect();
    assert!(events.len() >= 4, "the every-event rates play several events in 30 APDUs: {summary_a:#?}");
    let noted: Vec<&String> = trace_a.iter().filter(|l| l.contains("error: chaos: ")).collect();
    assert_eq!(noted.len(), events.len(), "one trace line per event:\n{noted:#?}\n{events:#?}");
    for (line, note) in events.iter().zip(&noted) {
        // "  APDU 7 (VERIFY): card reset -> retried" and "slot 0 error: chaos: card reset at APDU 7".
        let (at, rest) = line.trim_start().split_once(" (").unwrap();
        let event = rest.split_once("): ").unwrap().1.split(" -> ").next().unwrap();
        assert!(note.contains(&format!("chaos: {event} at {at}")), "{line} / {note}");
    }
    assert!(!trace_a.iter().any(|l| l.contains("313233343536")), "no PIN in the trace");
}

#[test]
fn the_summary_names_each_event_and_its_reaction() {
    let rates = chaos::rates::load(&chaos_dir().join("every-event.toml")).unwrap();
    let scenario = chaos::plain_scenario("uzi-zorgverlener").unwrap();
    let trace = Trace::memory().without_timestamps();
    let log = chaos::run_client(&scenario, &rates, 42, &client(), &trace).unwrap();
    assert_eq!(log.len(), 30, "every APDU of the client is in the log");
    let summary = chaos::Summary::new(42, &log, &Rule::ALL);
    let text = summary.to_string();
    assert!(text.starts_with("chaos summary: seed 42, 30 APDUs"), "{text}");
    for injected in &summary.injected {
        let line =
            format!("  APDU {} ({}): {} -> {}", injected.apdu, injected.command, injected.event, injected.reaction);
        assert!(text.contains(&line), "{line} missing from\n{text}");
    }
    for rule in Rule::ALL {
        assert!(text.contains(&format!("rule {rule}: ")), "{rule} reported:\n{text}");
    }
    // A pulled card answers nothing, and the client's next APDU is judged against it.
    for injected in summary.injected.iter().filter(|i| i.event == ChaosEvent::Pull) {
        assert_eq!(log[injected.apdu - 1].sw, None, "a pulled card does not answer");
        let next_is_select = log.get(injected.apdu).is_some_and(|n| n.apdu[1] == 0xA4);
        if log.get(injected.apdu).is_some() && !next_is_select && log[injected.apdu].apdu != log[injected.apdu - 1].apdu
        {
            assert_eq!(injected.reaction, Reaction::StaleHandle, "{text}");
        }
    }
}

#[test]
fn a_blocked_pin_really_blocks_and_a_verify_after_6983_fails_the_rule() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("blocked.trace");
    let rates = chaos_dir().join("pin-blocked-at-once.toml");
    let out = zorgcard(&[
        "chaos",
        "--seed",
        "7",
        "--rates",
        s(&rates),
        "--client",
        s(&client()),
        "--trace",
        s(&trace),
        "--rule",
        "no-verify-after-6983",
    ]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(!out.status.success(), "a broken rule fails the run:\n{stdout}");
    assert!(stdout.contains("APDU 1 (SELECT): PIN blocked -> went on"), "{stdout}");
    assert!(stdout.contains("rule no-verify-after-6983: BROKEN at APDU 3"), "{stdout}");
    assert!(stderr.contains("rule `no-verify-after-6983` broken at APDU 3") && stderr.contains("seed 7"), "{stderr}");
    let text = std::fs::read_to_string(&trace).unwrap();
    assert!(text.contains("< 69 83"), "the card itself answers 6983:\n{text}");

    // The same run without the rule passes.
    let out = zorgcard(&["chaos", "--seed", "7", "--rates", s(&rates), "--client", s(&client()), "--trace", s(&trace)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn bad_rates_and_unknown_rules_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "format = 1\n[rates]\npull = 0.7\nreset = 0.6\n").unwrap();
    let e = chaos::rates::load(&bad).unwrap_err().to_string();
    assert!(e.contains("bad.toml") && e.contains("add up to") && e.contains("lower"), "{e}");
    std::fs::write(&bad, "format = 1\n[rates.transient]\n\"9000\" = 0.1\n").unwrap();
    let e = chaos::rates::load(&bad).unwrap_err().to_string();
    assert!(e.contains("rates.transient.\"9000\"") && e.contains("not an error status word"), "{e}");
    std::fs::write(&bad, "format = 1\n[rates]\nfire = 0.1\n").unwrap();
    let e = chaos::rates::load(&bad).unwrap_err().to_string();
    assert!(e.contains("unknown field") && e.contains("fire"), "{e}");
    let out = zorgcard(&["chaos", "--seed", "1", "--client", s(&client()), "--rule", "never-crash"]);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(!out.status.success() && stderr.contains("no chaos rule `never-crash`"), "{stderr}");
}
