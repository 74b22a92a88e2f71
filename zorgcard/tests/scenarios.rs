//! Application scenarios played through the real PC/SC stack (pcscd + vsmartcard's vpcd) and checked from the
//! client side with the `pcsc` crate: what an application under test sees.
//!
//! Run with `scripts/with-pcscd cargo test -p zorgcard --features pcscd-tests --test scenarios --
//! --test-threads=1`. The tests play their scenarios on vpcd slot 1 ("Virtual PCD 00 01"), out of the way of the
//! `pcscd` tests on slot 0; `ZORGCARD_SCENARIO_SLOT=n` picks another. They take a lock, one card at a time.

mod common;

use std::ffi::CString;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use conformance::scenario::{self, RunningScenario, ScenarioArgs, StartOptions};
use der::Decode;
use issuance::pki::certificate_summary;
use reader_sim::trace::Trace;

const UZI_ATR: &str = "3BDC18FF8191FE1FC3060A2B06010401E910050203D1";
const UNKNOWN_ATR: &str = "3B8C800155 4E4B4E4F574E2043415244 71";
const SELECT_ISOAPPLET: &str = "00A4040C0CF276A288BCFBA69D34F31001";
const SELECT_PKCS15: &str = "00A4040C0CA000000063504B43532D3135";
const HOW_TO_START: &str = "start pcscd with vsmartcard's vpcd driver first: `scripts/with-pcscd cargo test -p \
     zorgcard --features pcscd-tests --test scenarios -- --test-threads=1`";

static SLOT_LOCK: Mutex<()> = Mutex::new(());

fn lock() -> MutexGuard<'static, ()> {
    SLOT_LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn slot() -> usize {
    std::env::var("ZORGCARD_SCENARIO_SLOT").ok().and_then(|s| s.parse().ok()).unwrap_or(1)
}

fn reader_name() -> String {
    format!("Virtual PCD 00 {:02}", slot())
}

fn vpcd() -> std::net::SocketAddr {
    "127.0.0.1:35963".parse().unwrap()
}

fn context() -> pcsc_runtime::Context {
    common::context(&reader_name(), HOW_TO_START)
}

/// A scenario being played on the test slot, with its trace; stopped (and pcscd given time to see the card go)
/// when dropped.
struct Played {
    running: Option<RunningScenario>,
    trace: Trace,
    dir: tempfile::TempDir,
}

impl Played {
    fn running(&self) -> &RunningScenario {
        self.running.as_ref().unwrap()
    }
}

impl Drop for Played {
    fn drop(&mut self) {
        if let Some(r) = self.running.take() {
            r.stop();
        }
        std::thread::sleep(Duration::from_millis(600));
    }
}

fn play_with(name: &str, adjust: impl FnOnce(&mut scenario::Scenario)) -> Played {
    let mut sc = scenario::load(name).unwrap_or_else(|e| panic!("{e}"));
    adjust(&mut sc);
    let trace = Trace::memory().without_timestamps();
    let dir = tempfile::tempdir().unwrap();
    let options =
        StartOptions { vpcd: vpcd(), slot: slot(), trace: trace.clone(), crl_dir: Some(dir.path().to_path_buf()) };
    let running = scenario::start(&sc, &options).unwrap_or_else(|e| panic!("{e}"));
    if sc.insert_after.is_zero() {
        assert!(running.wait_ready(Duration::from_secs(15)), "vpcd did not take the card: {HOW_TO_START}");
    }
    Played { running: Some(running), trace, dir }
}

fn play(name: &str) -> Played {
    play_with(name, |_| {})
}

fn connect(ctx: &pcsc_runtime::Context) -> pcsc_runtime::Card {
    common::connect(ctx, &reader_name())
}

/// The reader's state as a client sees it now.
fn state(ctx: &pcsc_runtime::Context) -> pcsc_runtime::State {
    let mut readers =
        [pcsc_runtime::ReaderState::new(CString::new(reader_name()).unwrap(), pcsc_runtime::State::UNAWARE)];
    ctx.get_status_change(Duration::from_secs(2), &mut readers).expect("SCardGetStatusChange");
    readers[0].event_state()
}

/// Waits (up to `timeout`) until the reader shows `wanted`.
fn wait_for_state(ctx: &pcsc_runtime::Context, wanted: pcsc_runtime::State, timeout: Duration) -> bool {
    common::wait_for_state(ctx, &reader_name(), wanted, timeout)
}

fn tx(card: &pcsc_runtime::Card, apdu: &[u8]) -> Result<(Vec<u8>, u16), pcsc_runtime::Error> {
    let mut buf = [0u8; pcsc_runtime::MAX_BUFFER_SIZE_EXTENDED];
    let r = card.transmit(apdu, &mut buf)?;
    let (data, sw) = r.split_at(r.len() - 2);
    Ok((data.to_vec(), u16::from_be_bytes([sw[0], sw[1]])))
}

fn hex(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap()
}

fn sw(card: &pcsc_runtime::Card, apdu: &str) -> u16 {
    tx(card, &hex(apdu)).unwrap_or_else(|e| panic!("{apdu}: {e}")).1
}

fn verify(card: &pcsc_runtime::Card, pin: &[u8]) -> u16 {
    let mut apdu = vec![0x00, 0x20, 0x00, 0x01, pin.len() as u8];
    apdu.extend_from_slice(pin);
    tx(card, &apdu).expect("VERIFY").1
}

fn pso_apdu() -> Vec<u8> {
    let mut apdu = vec![0x00, 0x2A, 0x9E, 0x9A, 32];
    apdu.extend_from_slice(&[0x5A; 32]);
    apdu.push(0x00);
    apdu
}

fn atr(card: &pcsc_runtime::Card) -> String {
    hex::encode_upper(card.status2_owned().unwrap().atr())
}

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

/// The APDU dialogue of a trace for a golden file: the in-process setup in full, then the exchanges only (pcscd's
/// power management and vpcd's connections depend on timing), without the slot number.
fn dialogue(trace: &Trace) -> String {
    let mut out = Vec::new();
    let mut in_setup = false;
    for line in trace.lines() {
        let Some(rest) = line.strip_prefix(&format!("slot {} ", slot())) else { continue };
        if rest.starts_with("connected (scenario setup") {
            in_setup = true;
        }
        if in_setup || rest.starts_with("> ") || rest.starts_with("< ") || rest.starts_with("card ") {
            out.push(rest.to_owned());
        }
        if rest.starts_with("disconnected (setup done)") {
            in_setup = false;
        }
    }
    out.join("\n")
}

#[test]
fn last_pin_try_left_reads_63c1_and_its_dialogue_is_golden() {
    let _g = lock();
    let ctx = context();
    let played = play("last-pin-try");
    let card = connect(&ctx);
    assert_eq!(sw(&card, SELECT_ISOAPPLET), 0x9000);
    assert_eq!(sw(&card, "00200001"), 0x63C1, "one PIN try left");
    assert_eq!(verify(&card, b"123456"), 0x9000, "the last try, used well");
    assert_eq!(sw(&card, "00200001"), 0x9000, "verified, counter back at 3");
    drop(card);
    insta::assert_snapshot!(dialogue(&played.trace));
}

#[test]
fn pin_blocked_answers_6983_and_the_puk_unblocks() {
    let _g = lock();
    let ctx = context();
    let _played = play("pin-blocked");
    let card = connect(&ctx);
    assert_eq!(sw(&card, "00200001"), 0x6983);
    assert_eq!(verify(&card, b"123456"), 0x6983, "blocked: even the right PIN");
    assert_eq!(sw(&card, "002C0001 0E 3132333435363738 313132323333"), 0x9000, "PUK + new PIN");
    assert_eq!(verify(&card, b"112233"), 0x9000);
}

#[test]
fn puk_blocked_card_is_blocked_for_good() {
    let _g = lock();
    let ctx = context();
    let _played = play("puk-blocked");
    let card = connect(&ctx);
    assert_eq!(verify(&card, b"123456"), 0x6983);
    assert_eq!(sw(&card, "002C0001 0E 3132333435363738 313132323333"), 0x6983, "the right PUK is refused");
    let (life_cycle, status) = tx(&card, &hex("00CADF3100")).unwrap();
    assert_eq!((life_cycle, status), (vec![0x06], 0x9000), "life cycle: blocked");
}

#[test]
fn card_pulled_during_signature_disappears_before_answering() {
    let _g = lock();
    let ctx = context();
    let played = play_with("card-pulled-during-signature", |s| {
        s.triggers[0].action = scenario::TriggerAction::Remove { reinsert_after: Some(Duration::from_millis(1500)) };
    });
    let card = connect(&ctx);
    assert_eq!(verify(&card, b"123456"), 0x9000);
    assert_eq!(sw(&card, "002241B6038401 02"), 0x9000);
    assert_eq!(verify(&card, b"123456"), 0x9000, "key 2 wants a fresh VERIFY");
    // What an application sees of a card pulled mid-command depends on the reader driver: an error, or (vpcd)
    // an empty answer. Either way no status word, no signature.
    let mut buf = [0u8; pcsc_runtime::MAX_BUFFER_SIZE_EXTENDED];
    let answer = card.transmit(&pso_apdu(), &mut buf);
    assert!(answer.as_ref().map_or(true, |r| r.len() < 2), "the signature must not answer: {answer:?}");
    assert!(
        wait_for_state(&ctx, pcsc_runtime::State::EMPTY, Duration::from_secs(5)),
        "the client never saw the card go"
    );
    let lines = played.trace.lines();
    let pso = lines.iter().position(|l| l.contains("> PSO")).expect("the card received the PSO");
    assert!(lines[pso + 1].ends_with("card removed"), "removed right after the PSO: {lines:#?}");
    drop(card);
    assert!(wait_for_state(&ctx, pcsc_runtime::State::PRESENT, Duration::from_secs(10)), "the card came back");
    let card = connect(&ctx);
    assert_eq!(sw(&card, "00200001"), 0x63C3, "the verification was lost with the card");
}

#[test]
fn card_inserted_late_is_absent_then_present_after_the_delay() {
    let _g = lock();
    let ctx = context();
    let delay = Duration::from_millis(2500);
    let played = play_with("card-inserted-late", |s| s.insert_after = delay);
    assert!(state(&ctx).contains(pcsc_runtime::State::EMPTY), "the reader starts empty");
    let name = CString::new(reader_name()).unwrap();
    let early = ctx.connect(&name, pcsc_runtime::ShareMode::Shared, pcsc_runtime::Protocols::ANY);
    assert!(matches!(early, Err(pcsc_runtime::Error::NoSmartcard)), "no card yet: {:?}", early.err());
    assert!(wait_for_state(&ctx, pcsc_runtime::State::PRESENT, Duration::from_secs(15)), "the card was never inserted");
    assert!(played.running().started.elapsed() >= delay, "inserted before the delay");
    let card = connect(&ctx);
    assert_eq!(atr(&card), UZI_ATR);
    assert_eq!(sw(&card, SELECT_ISOAPPLET), 0x9000);
}

fn sign_answers(card: &pcsc_runtime::Card) -> u16 {
    assert_eq!(verify(card, b"123456"), 0x9000);
    assert_eq!(sw(card, "002241B6038401 02"), 0x9000);
    tx(card, &pso_apdu()).unwrap().1
}

#[test]
fn expired_card_refuses_to_sign_and_its_certificates_are_over() {
    let _g = lock();
    let ctx = context();
    let played = play("expired-card");
    let card = connect(&ctx);
    assert_eq!(sign_answers(&card), 0x6984, "PSO outside the validity");
    let (validity, status) = tx(&card, &hex("00CADF3000")).unwrap();
    assert_eq!(status, 0x9000);
    let end = String::from_utf8(validity[8..].to_vec()).unwrap();
    let today = time::OffsetDateTime::now_utc().date();
    let today = format!("{:04}{:02}{:02}", today.year(), u8::from(today.month()), today.day());
    assert!(end <= today, "validity ends {end}, today {today}");
    for (key, der) in &played.running().certificates {
        assert!(certificate_summary(der).unwrap().not_after < unix_now(), "certificate {key} has expired");
    }
}

#[test]
fn certificate_not_yet_valid_card_refuses_to_sign() {
    let _g = lock();
    let ctx = context();
    let played = play("certificate-not-yet-valid");
    let card = connect(&ctx);
    assert_eq!(sign_answers(&card), 0x6984, "PSO before the issue date");
    for (key, der) in &played.running().certificates {
        assert!(certificate_summary(der).unwrap().not_before > unix_now(), "certificate {key} starts later");
    }
}

#[test]
fn revoked_card_answers_6285_and_its_certificates_are_on_the_crl() {
    let _g = lock();
    let ctx = context();
    let played = play("revoked-card");
    let card = connect(&ctx);
    assert_eq!(sw(&card, SELECT_ISOAPPLET), 0x6285);
    assert_eq!(verify(&card, b"123456"), 0x6285);
    assert_eq!(tx(&card, &hex("00CADF3100")).unwrap(), (vec![0x0C], 0x9000), "life cycle: terminated");
    let crl_file = played.running().crl_file.clone().expect("a CRL");
    assert!(crl_file.starts_with(played.dir.path()), "the CRL is written where asked");
    assert!(crl_file.with_extension("crl.pem").is_file(), "PEM beside the DER");
    let crl = x509_cert::crl::CertificateList::<x509_cert::certificate::Rfc5280>::from_der(
        &std::fs::read(&crl_file).unwrap(),
    )
    .unwrap();
    let listed: Vec<Vec<u8>> = crl
        .tbs_cert_list
        .revoked_certificates
        .unwrap_or_default()
        .iter()
        .map(|r| strip_zeros(r.serial_number.as_bytes()))
        .collect();
    assert_eq!(played.running().certificates.len(), 3);
    for (key, der) in &played.running().certificates {
        let serial = strip_zeros(&certificate_summary(der).unwrap().serial);
        assert!(listed.contains(&serial), "certificate {key} (serial {}) is on the CRL", hex::encode(&serial));
    }
}

fn strip_zeros(b: &[u8]) -> Vec<u8> {
    let i = b.iter().position(|&x| x != 0).unwrap_or(b.len());
    b[i..].to_vec()
}

#[test]
fn m_pass_has_no_signature_key() {
    let _g = lock();
    let ctx = context();
    let _played = play("uzi-m-pass-no-signature-key");
    let card = connect(&ctx);
    assert_eq!(atr(&card), UZI_ATR);
    assert_eq!(sw(&card, "00A4080C04 5015 4301"), 0x9000, "the authentication certificate is there");
    assert_eq!(sw(&card, "00A4080C04 5015 4302"), 0x6A82, "no signature certificate");
    assert_eq!(sw(&card, "002241B6038401 02"), 0x6A88, "no signature key");
    assert_eq!(sw(&card, "002241A4038401 01"), 0x9000, "the authentication key is there");
}

#[test]
fn slow_card_takes_at_least_its_delay_per_exchange() {
    let _g = lock();
    let ctx = context();
    let played = play("slow-card");
    let delay = played.running().scenario.apdu_delay;
    assert!(played.running().is_intercepted());
    let card = connect(&ctx);
    for apdu in ["00CA010100", SELECT_ISOAPPLET, "00200001"] {
        let t = Instant::now();
        tx(&card, &hex(apdu)).unwrap();
        assert!(t.elapsed() >= delay, "{apdu} answered in {:?}, the card takes {delay:?}", t.elapsed());
    }
    assert_eq!(verify(&card, b"123456"), 0x9000, "slow, but it works");
}

#[test]
fn wrong_card_has_an_unknown_atr_and_no_isoapplet() {
    let _g = lock();
    let ctx = context();
    let _played = play("wrong-card");
    let card = connect(&ctx);
    let atr = atr(&card);
    assert_ne!(atr, UZI_ATR);
    assert_eq!(atr, UNKNOWN_ATR.replace(' ', ""));
    assert_ne!(sw(&card, SELECT_ISOAPPLET), 0x9000, "SELECT of the IsoApplet AID fails");
    assert_eq!(sw(&card, SELECT_PKCS15), 0x6A82, "no PKCS#15 application");
}

#[test]
fn scenario_main_plays_a_file_and_writes_trace_and_crl_side_by_side() {
    let _g = lock();
    let ctx = context();
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("revoked.trace");
    let args = ScenarioArgs {
        file: scenario::scenarios_dir().join("revoked-card.toml"),
        vpcd: vpcd(),
        slot: slot(),
        trace: Some(trace.clone()),
        duration: Some(Duration::from_secs(4)),
    };
    let main = std::thread::spawn(move || scenario::scenario_main(&args));
    let card = connect(&ctx);
    assert_eq!(sw(&card, SELECT_ISOAPPLET), 0x6285);
    drop(card);
    main.join().unwrap().unwrap_or_else(|e| panic!("{e}"));
    let text = std::fs::read_to_string(&trace).unwrap();
    assert!(text.contains("> TERMINATE CARD USAGE 00 FE 00 00"), "the setup is in the trace:\n{text}");
    assert!(text.contains("< 62 85"), "the client's exchange is in the trace:\n{text}");
    assert!(!text.contains("313233343536"), "no PIN in the trace");
    assert!(dir.path().join("uzi-zorgverlener-ca.crl").is_file(), "the CRL is next to the trace");
    std::thread::sleep(Duration::from_millis(600));
}

/// The PC/SC reader of the harness against the simulated card: list, connect, transmit, reset.
#[test]
fn pcsc_reader_lists_connects_transmits_and_resets() {
    use reader_sim::pcsc::{PcscReader, PcscReaderError, list_readers};
    use reader_sim::reader::Transmit as _;
    let _g = lock();
    let _ctx = context();
    let _played = play("uzi-m-pass-no-signature-key");
    assert!(list_readers().unwrap().contains(&reader_name()));
    let mut reader = PcscReader::connect(&reader_name()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(hex::encode_upper(reader.atr()), UZI_ATR);
    assert_eq!(reader.transmit(&hex("0020000106 313233343536")).unwrap(), [0x90, 0x00]);
    assert_eq!(reader.transmit(&hex("00200001")).unwrap(), [0x90, 0x00], "verified");
    reader.reset().unwrap();
    assert_eq!(reader.transmit(&hex("00200001")).unwrap(), [0x63, 0xC3], "a reset loses the verification");
    let e = PcscReader::connect("No Such Reader 00 00").unwrap_err();
    assert!(matches!(e, PcscReaderError::UnknownReader { .. }) && e.to_string().contains(&reader_name()), "{e}");
}

/// Record a session from the card in a PC/SC reader (as a vendor does with a real card) and replay it on a fresh
/// simulated card of the same profile: no differences.
#[test]
fn a_session_recorded_through_pcsc_replays_without_differences() {
    use replay::{self, RecordArgs, ReplayArgs};
    let _g = lock();
    let _ctx = context();
    let played = play("uzi-m-pass-no-signature-key");
    let apdus = played.dir.path().join("session.apdus");
    std::fs::write(
        &apdus,
        "# an M pass login\n\
         00 A4 04 0C 0C F276A288BCFBA69D34F31001\n\
         00 20 00 01 06 303030303030   # a wrong PIN\n\
         00 20 00 01 06 313233343536\n\
         00 22 41 A4 03 840101\n\
         00 88 00 00 08 0102030405060708 00\n\
         00 22 41 B6 03 840102         # no signature key: 6A88\n",
    )
    .unwrap();
    let trace = played.dir.path().join("session.trace");
    let args = RecordArgs { reader: reader_name(), apdus, trace: trace.clone(), pin_from_env: None };
    assert_eq!(replay::record_main(&args).unwrap_or_else(|e| panic!("{e}")), 6);
    let text = std::fs::read_to_string(&trace).unwrap();
    assert!(text.contains("< 6A 88"), "{text}");
    assert!(!text.contains("313233343536"), "no PIN in the trace:\n{text}");
    let report = replay::replay_main(&ReplayArgs { trace, profile: "uzi-medewerker-niet-op-naam".into() }).unwrap();
    assert_eq!(report.exchanges.len(), 6);
    assert_eq!(report.exit_code(), 0, "{report}");
}

/// `zorgcard chaos` served over vpcd: a PC/SC client sees the PIN blocked under it, and its second PIN after
/// `6983` breaks the rule, named in the error.
#[test]
fn chaos_through_vpcd_blocks_the_pin_under_a_pcsc_client_and_fails_its_rule() {
    use chaos::{self, ChaosArgs, ChaosError, ChaosEvent, Rule};
    let _g = lock();
    let ctx = context();
    let dir = tempfile::tempdir().unwrap();
    let args = ChaosArgs {
        seed: 5,
        rates: Some(fixtures::active().path(fixtures::FixtureKind::ChaosRates, "pin-blocked-at-once")),
        scenario: None,
        profile: "uzi-zorgverlener".into(),
        client: None,
        trace: Some(dir.path().join("chaos.trace")),
        rules: vec![Rule::NoVerifyAfterBlocked],
        vpcd: vpcd(),
        slot: slot(),
        seconds: Some(5),
    };
    let main = std::thread::spawn(move || chaos::chaos_main(&args));
    let card = connect(&ctx);
    assert_eq!(verify(&card, b"123456"), 0x6983, "blocked before the first APDU, the right PIN too");
    assert_eq!(verify(&card, b"123456"), 0x6983, "a second try: what the rule forbids");
    drop(card);
    let e = main.join().unwrap().expect_err("the rule is broken");
    assert!(matches!(e, ChaosError::RuleBroken { rule: Rule::NoVerifyAfterBlocked, apdu: 2, .. }), "{e}");
    assert!(e.to_string().contains("no-verify-after-6983"), "{e}");
    let text = std::fs::read_to_string(dir.path().join("chaos.trace")).unwrap();
    assert!(text.contains(&format!("chaos: {} at APDU 1", ChaosEvent::PinBlocked)), "{text}");
    assert!(!text.contains("313233343536"), "no PIN in the trace");
    std::thread::sleep(Duration::from_millis(600));
}
