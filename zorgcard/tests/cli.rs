//! The `zorgcard` binary as a user meets it: `--help`, `list-readers` with no pcscd, the `--card PROFILE[:FILE]`
//! syntax of `serve`, `-r` for `--reader`, `--slot` as the vpcd slot 0-15. None of these needs pcscd: the binary
//! is pointed at a PC/SC socket that does not exist (`PCSCLITE_CSOCK_NAME`, read by pcsc-lite's client library), so
//! a pcscd another test runs on this machine does not change the outcome.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Command, Output};
use std::time::Duration;

use reader_sim::image::Rollback;
use reader_sim::trace::Trace;
use serve::{self, slots};

/// Runs `zorgcard ARGS` with no reachable pcscd.
fn zorgcard(args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_zorgcard"))
        .args(args)
        .env("PCSCLITE_CSOCK_NAME", dir.path().join("no-pcscd-here.comm"))
        .env_remove("ZORGCARD_FIXTURES")
        .current_dir(dir.path())
        .output()
        .expect("run zorgcard")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn help_lists_the_subcommands_and_the_global_flags() {
    let out = zorgcard(&["--help"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let help = stdout(&out);
    for word in
        ["serve", "list-readers", "card", "conformance", "scenario", "replay", "record", "personalise", "portal"]
    {
        assert!(help.contains(&format!("\n  {word} ")), "`{word}` missing from --help:\n{help}");
    }
    assert!(help.contains("-v, --verbose"), "{help}");
    let serve = stdout(&zorgcard(&["serve", "--help"]));
    assert!(serve.contains("--card <PROFILE[:FILE]>") && serve.contains("up to 16"), "{serve}");
    assert!(serve.contains("The vpcd slot (0-15)"), "{serve}");
    let scenario = stdout(&zorgcard(&["scenario", "run", "--help"]));
    assert!(scenario.contains("The vpcd slot (0-15)"), "one meaning of --slot everywhere:\n{scenario}");
}

#[test]
fn list_readers_without_pcscd_says_how_to_start_it() {
    let out = zorgcard(&["list-readers"]);
    assert_eq!(out.status.code(), Some(2), "a setup error: {out:?}");
    let err = stderr(&out);
    assert!(err.starts_with("zorgcard: no PC/SC service"), "{err}");
    assert!(err.contains("pcscd --foreground") && err.contains("scripts/with-pcscd"), "{err}");
    assert_eq!(stdout(&out), "", "no reader list when there is no service");
}

#[test]
fn r_is_short_for_reader() {
    for args in [
        ["record", "-r", "0", "--apdus", "a.apdus", "--trace", "t.log"].as_slice(),
        ["conformance", "-r", "omnikey"].as_slice(),
    ] {
        let out = zorgcard(args);
        let err = stderr(&out);
        assert!(!out.status.success(), "{args:?}: {err}");
        assert!(!err.contains("unexpected argument"), "{args:?}: -r is not accepted:\n{err}");
        assert!(err.contains("no PC/SC service"), "{args:?}: the reader is looked up in pcscd:\n{err}");
    }
    let help = stdout(&zorgcard(&["conformance", "--help"]));
    assert!(help.contains("-r, --reader <READER>"), "{help}");
}

#[test]
fn bad_card_syntax_names_the_argument_and_the_fix() {
    for (card, fix) in [
        ("nonsense:x.card", "`nonsense` is not a profile: give one of `uzi-zorgverlener`"),
        ("zorg-id:", "FILE is empty: write `--card PROFILE[:FILE]`"),
        (":x.card", "PROFILE is empty"),
        ("alice.card", "no image file `alice.card`: write `--card PROFILE[:FILE]`"),
    ] {
        let out = zorgcard(&["serve", "--card", card]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "--card {card}: {err}");
        assert!(err.starts_with(&format!("zorgcard: `--card {card}`")), "names the argument: {err}");
        assert!(err.contains(fix), "--card {card}: {err}");
    }
}

#[test]
fn a_seventeenth_slot_and_slot_16_are_refused() {
    let mut args = vec!["serve"];
    args.extend(std::iter::repeat_n(["--card", "zorg-id"], 17).flatten());
    let out = zorgcard(&args);
    assert!(stderr(&out).contains("17 cards from slot 0 need slots up to 16"), "{}", stderr(&out));
    assert!(stderr(&out).contains("serve at most 16 cards"), "{}", stderr(&out));
    let out = zorgcard(&["serve", "--slot", "16", "--card", "zorg-id"]);
    assert!(stderr(&out).contains("a vpcd slot is a number from 0 to 15"), "{}", stderr(&out));
    assert!(!out.status.success());
}

/// Sixteen cards of two profiles go in slots 0-15 at ports base..base+15, each with its own serial. The slots
/// connect to a loopback port where nothing listens: serving starts (vpcd connections retry in the background)
/// without pcscd, and no slot is ready.
#[test]
fn sixteen_slots_get_distinct_serials_and_consecutive_ports() {
    let cards: Vec<String> = (0..16).map(|i| if i < 10 { "uzi-zorgverlener" } else { "zorg-id" }.into()).collect();
    let planned = slots::plan(&[], &cards, 0, Rollback::Refuse, &|_| false).unwrap();
    let base = SocketAddr::from((Ipv4Addr::LOCALHOST, 1));
    let served = serve::serve(&planned, base, false, Trace::off(), None).unwrap();
    assert_eq!(served.len(), 16);
    let mut serials: Vec<&str> = served.iter().map(|s| s.serial.as_str()).collect();
    for (n, s) in served.iter().enumerate() {
        assert_eq!((s.slot, s.addr.port()), (n, 1 + n as u16));
        assert_eq!(s.label, if n < 10 { "uzi-zorgverlener" } else { "zorg-id" });
    }
    serials.sort_unstable();
    serials.dedup();
    assert_eq!(serials.len(), 16, "serials: {serials:?}");
    assert!(!serve::wait_ready(&served, Duration::from_millis(50)), "nothing listens at port 1..16");
    for s in served {
        s.handle.stop();
    }
}

#[test]
fn pcscd_config_prints_the_reader_entry_pcscd_reads() {
    let o = zorgcard(&["pcscd-config", "--port", "36100"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let conf = stdout(&o);
    assert!(conf.contains("DEVICENAME   /dev/null:36100"), "{conf}");
    assert!(conf.contains("LIBPATH      /usr/lib/pcsc/drivers/serial/libifdvpcd.so"), "{conf}");
    let missing = zorgcard(&["pcscd-config", "--driver", "/nonexistent/libifdvpcd.so", "--slots", "16"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("scripts/build-vpcd-16"), "{}", stderr(&missing));
    let too_many = zorgcard(&["pcscd-config", "--slots", "17"]);
    assert_eq!(too_many.status.code(), Some(2));
    assert!(stderr(&too_many).contains("at most 16 readers"), "{}", stderr(&too_many));
}

/// Runs `zorgcard ARGS` in `dir` with `env` set, no reachable pcscd.
fn zorgcard_in(dir: &std::path::Path, env: &[(&str, &std::path::Path)], args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_zorgcard"))
        .args(args)
        .env("PCSCLITE_CSOCK_NAME", dir.join("no-pcscd-here.comm"))
        .env_remove("ZORGCARD_FIXTURES")
        .envs(env.iter().copied())
        .current_dir(dir)
        .output()
        .expect("run zorgcard")
}

#[test]
fn exported_fixtures_replace_the_embedded_ones() {
    let dir = tempfile::tempdir().unwrap();
    let set = dir.path().join("set");
    let set_arg = set.to_str().unwrap();
    let export = zorgcard_in(dir.path(), &[], &["fixtures", "export", set_arg]);
    assert!(export.status.success(), "{}", stderr(&export));
    assert!(
        stdout(&export).contains(&format!("wrote {set_arg}/profiles/uzi-zorgverlener.toml\n")),
        "{}",
        stdout(&export)
    );
    let again = zorgcard_in(dir.path(), &[], &["fixtures", "export", set_arg]);
    assert_eq!(again.status.code(), Some(2));
    assert!(stderr(&again).contains("--force"), "{}", stderr(&again));

    let run = ["conformance", "--profile", "zorg-id-blank"];
    let embedded = zorgcard_in(dir.path(), &[], &run);
    assert!(embedded.status.success(), "{}", stderr(&embedded));
    let flag = zorgcard_in(dir.path(), &[], &[&["--fixtures", set_arg][..], &run].concat());
    let env = zorgcard_in(dir.path(), &[("ZORGCARD_FIXTURES", &set)], &run);
    assert_eq!((stdout(&flag), flag.status.code()), (stdout(&embedded), Some(0)), "{}", stderr(&flag));
    assert_eq!((stdout(&env), env.status.code()), (stdout(&embedded), Some(0)), "{}", stderr(&env));

    // The directory is really used: a changed script fails the run, with the flag and with the variable.
    let script = set.join("scripts/blank-card.toml");
    let text = std::fs::read_to_string(&script).unwrap();
    assert!(text.contains("expect_sw = \"6A88\""));
    std::fs::write(&script, text.replacen("expect_sw = \"6A88\"", "expect_sw = \"9000\"", 1)).unwrap();
    let changed = zorgcard_in(dir.path(), &[], &[&["--fixtures", set_arg][..], &run].concat());
    assert_eq!(changed.status.code(), Some(1), "{}", stdout(&changed));
    assert!(stdout(&changed).contains("FAIL  blank-card"), "{}", stdout(&changed));
    let changed = zorgcard_in(dir.path(), &[("ZORGCARD_FIXTURES", &set)], &run);
    assert_eq!(changed.status.code(), Some(1), "{}", stdout(&changed));

    // A profile the directory lacks is not taken from the embedded set: the error lists what the directory has.
    std::fs::remove_file(set.join("profiles/zorg-id-blank.toml")).unwrap();
    let missing = zorgcard_in(dir.path(), &[], &[&["--fixtures", set_arg][..], &run].concat());
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("no profile named `zorg-id-blank`"), "{}", stderr(&missing));
    assert!(stderr(&missing).contains("`zorg-id-ec`"), "{}", stderr(&missing));

    let absent = zorgcard_in(dir.path(), &[], &["--fixtures", "no-such-dir", "conformance"]);
    assert_eq!(absent.status.code(), Some(2));
    assert!(stderr(&absent).contains("fixtures directory `no-such-dir`"), "{}", stderr(&absent));
}
