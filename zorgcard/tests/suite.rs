//! The conformance suite: every shipped script passes against every fixture profile in-process (what
//! `zorgcard conformance` with no arguments runs), the same scripts pass through a shared reader on one card (what
//! runs through pcscd), and failures, bad scripts and the reports say what went wrong.

use std::path::{Path, PathBuf};
use std::sync::PoisonError;

use conformance::suite::report::{Outcome, Progress, ProgressState, SuiteReport};
use conformance::suite::{SuiteError, SuiteOptions, Target, run_suite};
use issuance::card_new::{NewCardOptions, new_card};
use issuance::pki::TestPki;
use issuance::profile::{self, PROFILE_NAMES};
use reader_sim::reader::{InProcessReader, SharedReader};

fn in_process(profiles: &[&str], scripts: Vec<PathBuf>) -> Result<(SuiteReport, Vec<Progress>), SuiteError> {
    let mut events = Vec::new();
    let target = Target::InProcess { profiles: profiles.iter().map(|p| p.to_string()).collect() };
    let report = run_suite(target, &SuiteOptions { scripts, reader_name: None }, &mut |p| events.push(p.clone()))?;
    Ok((report, events))
}

/// A personalised card of `profile`, powered in a reader shared between the suite and the test.
fn shared_card(profile: &str) -> SharedReader {
    let profile = profile::load(profile).expect("profile");
    let pki = TestPki::fixtures().expect("pki");
    let made = new_card(&profile, &pki, &NewCardOptions::default()).expect("card");
    let mut reader = InProcessReader::with_card(made.card);
    reader.power_on().expect("power on");
    reader.into_shared()
}

fn reader_target(shared: &SharedReader, profile: &str) -> Target {
    let for_reset = shared.clone();
    Target::Reader {
        transmit: Box::new(shared.clone()),
        profile: profile.into(),
        reset: Box::new(move || {
            for_reset.lock().unwrap_or_else(PoisonError::into_inner).reset().map(|_| ()).map_err(|e| e.to_string())
        }),
    }
}

fn write_script(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write script");
    path
}

/// "`zorgcard conformance` with no arguments passes for every profile".
#[test]
fn the_whole_suite_passes_in_process_for_every_profile() {
    let (report, events) = in_process(&[], Vec::new()).expect("suite runs");
    assert!(report.passed(), "{}", report.summary());
    assert_eq!(report.exit_code(), 0);
    let names: Vec<&str> = report.profiles.iter().map(|p| p.profile.as_str()).collect();
    assert_eq!(names, PROFILE_NAMES);
    for p in &report.profiles {
        assert!(p.scripts.len() >= 3, "{}: only {} scripts apply", p.profile, p.scripts.len());
        assert!(p.scripts.iter().all(|s| s.skipped.is_none()), "in-process nothing is skipped");
    }
    let totals = report.totals();
    assert!(totals.checks > 500, "{totals:?}");
    assert_eq!((totals.checks_failed, totals.scripts_skipped, totals.steps_skipped), (0, 0, 0));

    // Progress: a start and an end per script, numbered 1..=total across profiles.
    let finished: Vec<&Progress> = events.iter().filter(|e| e.state != ProgressState::Started).collect();
    assert_eq!(finished.len(), totals.scripts);
    assert_eq!(events.len(), 2 * totals.scripts);
    assert!(finished.iter().enumerate().all(|(i, e)| e.index == i + 1 && e.total == totals.scripts));
    assert!(finished.iter().all(|e| e.state == ProgressState::Passed));
}

#[test]
fn each_profile_gets_the_scripts_for_its_card() {
    let (report, _) = in_process(&["zorg-id-blank", "uzi-medewerker-niet-op-naam"], Vec::new()).expect("suite runs");
    let scripts = |profile: &str| -> Vec<String> {
        let p = report.profiles.iter().find(|p| p.profile == profile).expect("profile ran");
        p.scripts.iter().map(|s| s.script.clone()).collect()
    };
    let blank = scripts("zorg-id-blank");
    assert!(blank.contains(&"blank-card".to_string()) && blank.contains(&"apdu-framing".to_string()), "{blank:?}");
    assert!(!blank.iter().any(|s| s.starts_with("pin-") || s.starts_with("sign")), "{blank:?}");
    let m = scripts("uzi-medewerker-niet-op-naam");
    assert!(m.contains(&"no-signature-key".to_string()), "{m:?}");
    assert!(!m.contains(&"signing".to_string()) && !m.contains(&"certificate-signature".to_string()), "{m:?}");
    assert!(report.passed(), "{}", report.summary());
}

/// Through a reader the card is not replaced between scripts: the non-destructive scripts must pass one after the
/// other on the same card and leave it usable, and the destructive ones are skipped with a clear line.
#[test]
fn through_a_reader_one_card_passes_and_destructive_scripts_are_skipped() {
    for name in ["uzi-zorgverlener", "zorg-id-blank"] {
        let shared = shared_card(name);
        let before = shared.lock().unwrap_or_else(PoisonError::into_inner).card().expect("card").info();
        let options = SuiteOptions { scripts: Vec::new(), reader_name: Some("Virtual PCD 00 00".into()) };
        let mut events = Vec::new();
        let report =
            run_suite(reader_target(&shared, name), &options, &mut |p| events.push(p.clone())).expect("suite runs");
        let summary = report.summary();
        assert!(report.passed(), "{summary}");
        assert!(summary.starts_with("zorgcard conformance against the reader \"Virtual PCD 00 00\""), "{summary}");

        let skipped: Vec<&str> = report.profiles[0]
            .scripts
            .iter()
            .filter(|s| s.outcome() == Outcome::Skipped("destructive, needs a fresh simulated card".into()))
            .map(|s| s.script.as_str())
            .collect();
        if name == "uzi-zorgverlener" {
            assert_eq!(skipped, ["puk-block", "terminate"]);
            assert!(summary.contains("skipped: destructive, needs a fresh simulated card"), "{summary}");
            assert!(events.iter().any(|e| matches!(&e.state, ProgressState::Skipped(r) if r.contains("destructive"))));
        } else {
            assert!(skipped.is_empty());
        }

        // The card is as the profile made it: same counters, same life cycle (operational, or still blank).
        let after = shared.lock().unwrap_or_else(PoisonError::into_inner).card().expect("card").info();
        assert_eq!((after.pin, after.puk, after.life_cycle), (before.pin, before.puk, before.life_cycle), "{name}");
    }
}

/// A copy of a shipped profile with other key types, written to `dir/<name>.toml`: `key_type` for every key and
/// `[key_types]` overrides (`"3 = \"p-256\""`), added after the `keys = …` line.
fn typed_profile(dir: &Path, base: &str, name: &str, key_type: &str, overrides: &[&str]) -> String {
    let text = fixtures::read_to_string(&profile::profile_path(base)).expect("shipped profile");
    let mut extra = format!("key_type = \"{key_type}\"\n");
    if !overrides.is_empty() {
        extra.push_str(&format!("\n[key_types]\n{}\n", overrides.join("\n")));
    }
    let mut out = String::new();
    for line in text.lines() {
        out.push_str(line);
        out.push('\n');
        if line.starts_with("keys = ") {
            out.push_str(&extra);
        }
    }
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, out).expect("write profile");
    path.to_string_lossy().into_owned()
}

/// The fixture cards are RSA-2048; a profile may choose P-256 for every key or for one, and the suite talks to
/// each key in its own dialect: all P-256, the UZI M card all P-256, and two mixed cards pass, and the scripts
/// of each key type run exactly where that key type is.
#[test]
fn p256_and_mixed_cards_pass_too() {
    let dir = tempfile::tempdir().expect("tempdir");
    let profiles = [
        typed_profile(dir.path(), "uzi-zorgverlener", "z-p256", "p-256", &[]),
        typed_profile(dir.path(), "uzi-medewerker-niet-op-naam", "m-p256", "p-256", &[]),
        typed_profile(dir.path(), "zorg-id", "zorg-id-p256", "p-256", &[]),
        typed_profile(dir.path(), "uzi-zorgverlener", "z-ec-encryption", "rsa-2048", &["3 = \"p-256\""]),
        typed_profile(
            dir.path(),
            "uzi-medewerker",
            "n-rsa-signature",
            "p-256",
            &["2 = \"rsa-2048\"", "3 = \"rsa-2048\""],
        ),
    ];
    let names: Vec<&str> = profiles.iter().map(String::as_str).collect();
    let (report, _) = in_process(&names, Vec::new()).expect("suite runs");
    assert!(report.passed(), "{}", report.summary());
    let ran = |profile: &str| -> Vec<String> {
        let p = report.profiles.iter().find(|p| p.profile == profile).expect("profile ran");
        let mut scripts: Vec<String> = p.scripts.iter().map(|s| s.script.clone()).collect();
        scripts.retain(|s| s.starts_with("rsa") || s.starts_with("p256") || s == "decipher");
        scripts
    };
    assert_eq!(ran("z-p256"), ["p256-encryption-key", "p256-signature-key", "p256"]);
    assert_eq!(ran("m-p256"), ["p256-encryption-key", "p256"]);
    assert_eq!(ran("zorg-id-p256"), ["p256-encryption-key", "p256-signature-key", "p256"]);
    assert_eq!(ran("z-ec-encryption"), ["p256-encryption-key", "rsa-signature-key", "rsa"]);
    assert_eq!(ran("n-rsa-signature"), ["decipher", "p256", "rsa-signature-key"]);
}

/// Through a reader the profile is only a claim: an RSA card that claims P-256 keys fails the key checks, with the
/// key types in expected and got, instead of passing on what the host assumed.
#[test]
fn a_card_with_other_key_types_than_claimed_fails_clearly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let claim = typed_profile(dir.path(), "uzi-zorgverlener", "uzi-zorgverlener-p256", "p-256", &[]);
    let shared = shared_card("uzi-zorgverlener");
    let scripts = ["lifecycle-operational.toml", "internal-authenticate.toml", "pkcs15-structure.toml"]
        .map(|s| conformance::suite::script::scripts_dir().join(s))
        .to_vec();
    let options = SuiteOptions { scripts, reader_name: None };
    let report = run_suite(reader_target(&shared, &claim), &options, &mut |_| {}).expect("suite runs");
    assert_eq!(report.exit_code(), 1);
    let summary = report.summary();
    assert!(
        summary.contains(
            "public key template of key 1\n    expected  7F49 { 86 04‖X‖Y }: a point on P-256\n    got       RSA-2048 n "
        ),
        "{summary}"
    );
    assert!(
        summary.contains(
            "expected  a DER ECDSA signature that verifies with the certificate of key 1 (5015/4301)\n    got       \
             the certificate's key is RSA-2048, the profile's P-256 (the card answered 256 bytes)"
        ),
        "{summary}"
    );
    assert!(summary.contains("[1 P-256, 2 P-256, 3 P-256]"), "{summary}");
    assert!(summary.contains("keys [1 RSA-2048, 2 RSA-2048, 3 RSA-2048]"), "{summary}");
}

const WRONG: &str = r#"
format = 1
name = "deliberately-wrong"
description = "expects 9000 where the card says 63C2"
applies_to = ["personalised"]

[[step]]
name = "a wrong PIN, expected to pass"
verify = "${WRONG_PIN}"
expect_sw = "9000"

[[step]]
verify = "${PIN}"

[[restore]]
name = "put the PIN counter back"
verify = "${PIN}"
"#;

#[test]
fn a_wrong_expectation_fails_with_expected_and_got_in_summary_and_junit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_script(dir.path(), "wrong.toml", WRONG);
    let (report, events) = in_process(&["uzi-zorgverlener"], vec![path]).expect("suite runs");
    assert_eq!(report.exit_code(), 1);
    assert!(!report.passed());
    assert_eq!(events.last().map(|e| e.state.clone()), Some(ProgressState::Failed(1)));

    let script = &report.profiles[0].scripts[0];
    assert_eq!(script.steps.len(), 3, "two steps and the restore step");
    assert_eq!(script.steps[0].outcome(), Outcome::Fail);
    assert_eq!(script.steps[1].outcome(), Outcome::Skipped("not run: step 01 failed".into()));
    assert!(script.steps[2].restore && script.steps[2].outcome() == Outcome::Pass, "{:?}", script.steps[2]);

    let summary = report.summary();
    assert!(summary.contains("FAIL  deliberately-wrong"), "{summary}");
    assert!(
        summary.contains(
            "uzi-zorgverlener / deliberately-wrong / 01 a wrong PIN, expected to pass: status word\n    \
             expected  9000 (OK)\n    got       63C2 (verification failed, 2 tries left)"
        ),
        "{summary}"
    );
    assert!(summary.contains("FAILED: 1 profile, 1 script (1 failed, 0 skipped)"), "{summary}");
    // The PIN itself never reaches a report: the step label keeps the variable name.
    assert!(!summary.contains("123457") && !summary.contains("123456"), "{summary}");

    let junit = report.junit_xml().unwrap();
    check_well_formed(&junit);
    assert!(
        junit.contains("<testcase name=\"01 a wrong PIN, expected to pass\" classname=\"deliberately-wrong\""),
        "{junit}"
    );
    assert!(
        junit.contains(
            "<failure message=\"status word: expected 9000 (OK), got 63C2 (verification failed, 2 tries left)\" \
             type=\"check\">"
        ),
        "{junit}"
    );
    assert!(junit.contains("<skipped message=\"not run: step 01 failed\"/>"), "{junit}");
    assert!(
        junit.contains("<testsuite name=\"uzi-zorgverlener\" tests=\"3\" skipped=\"1\" errors=\"0\" failures=\"1\""),
        "{junit}"
    );
}

/// Through a reader, a failed script runs its restore steps, so a real card is not left with a PIN try spent.
#[test]
fn restore_steps_put_a_shared_card_back_after_a_failure() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_script(dir.path(), "wrong.toml", WRONG);
    let shared = shared_card("uzi-medewerker");
    let options = SuiteOptions { scripts: vec![path], reader_name: None };
    let report = run_suite(reader_target(&shared, "uzi-medewerker"), &options, &mut |_| {}).expect("suite runs");
    assert_eq!(report.exit_code(), 1);
    let info = shared.lock().unwrap_or_else(PoisonError::into_inner).card().expect("card").info();
    assert_eq!(info.pin.left, info.pin.max, "the restore step verified the right PIN");
}

#[test]
fn junit_of_a_whole_run_is_well_formed_and_counts_match() {
    let (report, _) = in_process(&["zorg-id"], Vec::new()).expect("suite runs");
    let junit = report.junit_xml().unwrap();
    let counts = check_well_formed(&junit);
    let steps: usize = report.profiles.iter().flat_map(|p| &p.scripts).map(|s| s.steps.len()).sum();
    assert_eq!(counts.testcases, steps);
    assert_eq!(counts.testsuites, 1);
    assert!(
        junit.contains(&format!(
            "<testsuites name=\"zorgcard conformance (in-process reader, {} checks)\" tests=\"{steps}\" skipped=\"0\" \
             failures=\"0\"",
            report.totals().checks
        )),
        "{junit}"
    );
}

#[test]
fn junit_escapes_what_scripts_and_cards_put_in_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_script(
        dir.path(),
        "escape.toml",
        r#"
format = 1
name = "escape"
description = "names with <, &, quotes"
applies_to = ["all"]

[[step]]
name = "<tag> & \"quotes\" 'apostrophes'"
apdu = "00 CA DF 33 00"
expect_data = "FF FF FF FF"
"#,
    );
    let (report, _) = in_process(&["zorg-id-blank"], vec![path]).expect("suite runs");
    let junit = report.junit_xml().unwrap();
    check_well_formed(&junit);
    assert!(junit.contains("name=\"01 &lt;tag&gt; &amp; &quot;quotes&quot; &apos;apostrophes&apos;\""), "{junit}");
}

/// The readable summary of one profile's run, reviewed like code. No timings in it, and every check passes, so
/// nothing random (signatures, dates) reaches it.
#[test]
fn summary_of_one_profile() {
    let (report, _) = in_process(&["uzi-zorgverlener"], Vec::new()).expect("suite runs");
    insta::assert_snapshot!(report.summary());
}

#[test]
fn malformed_scripts_are_refused_naming_the_file_line_and_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good_head = "format = 1\nname = \"x\"\ndescription = \"d\"\napplies_to = [\"all\"]\n";
    let cases = [
        ("syntax.toml", format!("{good_head}\n[[step]]\napdu = \"00 A4\n"), "line 7", ""),
        (
            "unknown-field.toml",
            format!("{good_head}\n[[step]]\napdu = \"00 A4 00 0C\"\nexpect_status = \"9000\"\n"),
            "line 8",
            "expect_status",
        ),
        (
            "bad-sw.toml",
            format!("{good_head}\n[[step]]\napdu = \"00 A4 00 0C\"\nexpect_sw = \"90000\"\n"),
            "line 6",
            "field `expect_sw`",
        ),
        (
            "two-commands.toml",
            format!("{good_head}\n[[step]]\napdu = \"00 A4 00 0C\"\nverify = \"${{PIN}}\"\n"),
            "step 1",
            "`verify`",
        ),
        (
            "empty-step.toml",
            format!("{good_head}\n[[step]]\n\n[[step]]\napdu = \"00 A4 00 0C\"\n"),
            "step 1",
            "no command",
        ),
        (
            "bad-hex.toml",
            format!("{good_head}\n[[step]]\napdu = \"00 A4 00 0C\"\n\n[[step]]\napdu = \"00 A4 0G 0C\"\n"),
            "line 9",
            "step 2: field `apdu`",
        ),
        ("bad-var.toml", format!("{good_head}\n[[step]]\nverify = \"${{PINN}}\"\n"), "line 6", "${PINN}"),
        (
            "bad-selector.toml",
            good_head.replace("[\"all\"]", "[\"personalized\"]") + "\n[[step]]\nreset = true\n",
            "line 4",
            "personalized",
        ),
        (
            "no-format.toml",
            good_head.replace("format = 1\n", "") + "\n[[step]]\nreset = true\n",
            "field `format`: missing",
            "add `format = 1`",
        ),
    ];
    for (file, text, where_, what) in cases {
        let path = write_script(dir.path(), file, &text);
        let err = in_process(&["zorg-id-blank"], vec![path]).expect_err("refused");
        let message = err.to_string();
        assert!(message.contains(file), "{file}: {message}");
        assert!(message.contains(where_), "{file}: wanted {where_:?} in {message}");
        assert!(message.contains(what), "{file}: wanted {what:?} in {message}");
    }
}

#[test]
fn an_unknown_profile_and_a_missing_script_are_errors_not_reports() {
    let err = in_process(&["no-such-profile"], Vec::new()).expect_err("refused");
    assert!(err.to_string().contains("no-such-profile"), "{err}");
    let err = in_process(&["zorg-id"], vec![PathBuf::from("/nonexistent/x.toml")]).expect_err("refused");
    assert!(err.to_string().contains("/nonexistent/x.toml"), "{err}");
}

#[derive(Debug, Default)]
struct XmlCounts {
    testsuites: usize,
    testcases: usize,
}

/// A small XML well-formedness check (xmllint may not be installed): declaration, balanced and properly nested
/// tags, quoted attributes without a raw `<`, and only the five predefined entities or character references.
fn check_well_formed(xml: &str) -> XmlCounts {
    fn check_entities(text: &str, context: &str) {
        let mut rest = text;
        while let Some(i) = rest.find('&') {
            let after = &rest[i + 1..];
            let end = after.find(';').unwrap_or_else(|| panic!("unterminated entity in {context}: {text}"));
            let name = &after[..end];
            let ok = matches!(name, "amp" | "lt" | "gt" | "quot" | "apos")
                || (name.starts_with('#') && name[1..].chars().all(|c| c.is_ascii_digit()) && name.len() > 1);
            assert!(ok, "bad entity &{name}; in {context}");
            rest = &after[end + 1..];
        }
    }
    let body = xml.strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n").expect("XML declaration first");
    let mut stack: Vec<String> = Vec::new();
    let mut counts = XmlCounts::default();
    let mut rest = body;
    let mut roots = 0;
    while let Some(open) = rest.find('<') {
        let text = &rest[..open];
        assert!(!text.contains('>'), "raw > in text: {text}");
        check_entities(text, "text");
        if stack.is_empty() {
            assert!(text.trim().is_empty(), "text outside the root: {text}");
        }
        let close = rest[open..].find('>').expect("unclosed tag") + open;
        let tag = &rest[open + 1..close];
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(stack.pop().as_deref(), Some(name), "mismatched </{name}>");
        } else {
            let self_closing = tag.ends_with('/');
            let tag = tag.trim_end_matches('/');
            let (name, mut attrs) = tag.split_once(' ').unwrap_or((tag, ""));
            assert!(!name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric()), "bad tag name {name}");
            // Attributes: name="value" pairs; values have no raw < or ".
            loop {
                attrs = attrs.trim_start();
                if attrs.is_empty() {
                    break;
                }
                let eq = attrs.find("=\"").unwrap_or_else(|| panic!("attribute without =\" in <{tag}>"));
                let attr = &attrs[..eq];
                assert!(attr.chars().all(|c| c.is_ascii_alphanumeric()), "bad attribute name {attr}");
                let value_end = attrs[eq + 2..].find('"').expect("unterminated attribute") + eq + 2;
                let value = &attrs[eq + 2..value_end];
                assert!(!value.contains('<'), "raw < in attribute {attr}");
                check_entities(value, attr);
                attrs = &attrs[value_end + 1..];
            }
            if stack.is_empty() {
                roots += 1;
                assert_eq!(name, "testsuites", "root element");
            }
            match name {
                "testsuite" => counts.testsuites += 1,
                "testcase" => counts.testcases += 1,
                _ => {}
            }
            if !self_closing {
                stack.push(name.to_string());
            }
        }
        rest = &rest[close + 1..];
    }
    assert!(rest.trim().is_empty(), "text after the root");
    assert!(stack.is_empty(), "unclosed elements: {stack:?}");
    assert_eq!(roots, 1);
    counts
}

/// The summary of a failing run: the failure block with expected and got, reviewed like code.
#[test]
fn summary_of_a_failing_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_script(dir.path(), "wrong.toml", WRONG);
    let (report, _) = in_process(&["uzi-medewerker"], vec![path]).expect("suite runs");
    insta::assert_snapshot!(report.summary());
}

/// "Through pcscd it passes the same scripts": a fixture card served on vpcd slot 0, the suite run through
/// pcscd with [`reader_sim::pcsc::PcscReader`] exactly as `zorgcard conformance --reader` does. Needs a
/// pcscd with vsmartcard's vpcd driver: `scripts/with-pcscd cargo test -p zorgcard --features pcscd-tests
/// --test suite`.
#[cfg(feature = "pcscd-tests")]
#[test]
fn through_pcscd_the_same_scripts_pass() {
    use std::cell::RefCell;
    use std::rc::Rc;
    use std::time::Duration;

    use reader_sim::pcsc::PcscReader;
    use reader_sim::reader::{ReaderError, Transmit};
    use reader_sim::trace::Trace;
    use reader_sim::vpcd::{VpcdConfig, VpcdServer};

    struct Shared(Rc<RefCell<PcscReader>>);
    impl Transmit for Shared {
        fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ReaderError> {
            self.0.borrow_mut().transmit(apdu)
        }
    }

    for name in ["uzi-zorgverlener", "zorg-id-blank"] {
        let profile = profile::load(name).expect("profile");
        let made = new_card(&profile, &TestPki::fixtures().expect("pki"), &NewCardOptions::default()).expect("card");
        let card = InProcessReader::with_card(made.card).into_shared();
        let handle = VpcdServer::spawn(VpcdConfig::local_slot(0), card, Trace::off()).expect("vpcd slot 0");
        assert!(handle.wait_ready(Duration::from_secs(10)), "vpcd did not take the card: is pcscd with vpcd running?");
        let reader = Rc::new(RefCell::new(
            PcscReader::connect_waiting("Virtual PCD 00 00", Duration::from_secs(10)).expect("reader"),
        ));
        let for_reset = Rc::clone(&reader);
        let target = Target::Reader {
            transmit: Box::new(Shared(reader)),
            profile: name.into(),
            reset: Box::new(move || for_reset.borrow_mut().reset().map_err(|e| e.to_string())),
        };
        let options = SuiteOptions { scripts: Vec::new(), reader_name: Some("Virtual PCD 00 00".into()) };
        let report = run_suite(target, &options, &mut |_| {}).expect("suite runs");
        handle.stop();
        std::thread::sleep(Duration::from_millis(600));
        let summary = report.summary();
        assert!(report.passed(), "{summary}");
        assert!(report.totals().checks > 60, "{summary}");
        if name == "uzi-zorgverlener" {
            assert_eq!(report.totals().scripts_skipped, 2, "puk-block and terminate: {summary}");
        }
        eprintln!("{summary}");
    }
}

/// A profile with `oid_ca = "production"` makes a card whose otherName starts with the production OID CA
/// (CPS UZI-register v10.2 §7.1.5 Table 11), and the suite's SAN check expects exactly that; the shipped profile
/// keeps the TEST OID CA of the real TEST passes.
#[test]
fn a_production_oid_ca_profile_makes_a_card_the_suite_passes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = fixtures::read_to_string(&profile::profile_path("uzi-zorgverlener")).expect("shipped profile");
    assert!(text.contains("oid_ca = \"test\"\n"), "{text}");
    let path = dir.path().join("z-production.toml");
    std::fs::write(&path, text.replace("oid_ca = \"test\"\n", "oid_ca = \"production\"\n")).expect("write profile");
    let pki = TestPki::fixtures().expect("pki");
    for (name, oid_ca) in
        [(path.to_str().unwrap(), "2.16.528.1.1003.1.3.5.5.2-"), ("uzi-zorgverlener", "2.16.528.1.1007.99.217-")]
    {
        let made = new_card(&profile::load(name).expect("profile"), &pki, &NewCardOptions::default()).expect("card");
        for (key, der) in &made.certificates {
            let san = issuance::pki::certificate_summary(der).expect("certificate").san_uzi.expect("2.5.5.5");
            assert!(san.starts_with(oid_ca), "{name} key {key}: {san}");
        }
    }
    let (report, _) = in_process(&[path.to_str().unwrap()], Vec::new()).expect("suite runs");
    assert!(report.passed(), "{}", report.summary());
}
