//! End-to-end proofs through the real PC/SC stack: pcscd + vsmartcard's vpcd driver, the `pcsc` crate, OpenSC's
//! `opensc-tool`, `pkcs15-tool`, `pkcs11-tool`, and `openssl`. Nothing here is mocked.
//!
//! Run with `scripts/with-pcscd cargo test -p zorgcard --features pcscd-tests --test pcscd -- --test-threads=1`
//! (`scripts/test-all` does it). Every test uses vpcd slot 0 ("Virtual PCD 00 00"), so they take a lock.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use conformance::suite::digest_info;
use conformance::suite::script::HashAlg;
use issuance::card_new::{NewCardOptions, new_card};
use issuance::pki::{TestPki, certificate_summary};
use issuance::profile;
use reader_sim::reader::{InProcessReader, SharedReader};
use reader_sim::trace::Trace;
use reader_sim::vpcd::{VpcdConfig, VpcdHandle, VpcdServer};
use sha2::Digest;

const READER: &str = "Virtual PCD 00 00";
const PKCS11: &str = "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so";
const UZI_ATR: &str = "3b:dc:18:ff:81:91:fe:1f:c3:06:0a:2b:06:01:04:01:e9:10:05:02:03:d1";
const HOW_TO_START: &str = "start pcscd with vsmartcard's vpcd driver first: `scripts/with-pcscd cargo test -p zorgcard \
     --features pcscd-tests --test pcscd` (or `apt-get install pcscd vsmartcard-vpcd && pcscd --foreground &`)";

static SLOT: Mutex<()> = Mutex::new(());

fn lock() -> MutexGuard<'static, ()> {
    SLOT.lock().unwrap_or_else(|e| e.into_inner())
}

/// The pcscd reader of vpcd slot 0 must exist; otherwise fail and say how to start it.
fn context() -> pcsc_runtime::Context {
    common::context(READER, HOW_TO_START)
}

/// A card of a profile, served on vpcd slot 0 until dropped.
struct Served {
    reader: SharedReader,
    handle: Option<VpcdHandle>,
    certificates: Vec<(u8, Vec<u8>)>,
    _dir: tempfile::TempDir,
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            h.stop();
        }
        // Let pcscd notice the removal before the next test inserts a card.
        std::thread::sleep(Duration::from_millis(600));
    }
}

fn serve(profile_name: &str) -> Served {
    let profile = profile::load(profile_name).expect("fixture profile");
    let pki = TestPki::fixtures().expect("test PKI");
    let made = new_card(&profile, &pki, &NewCardOptions::default()).expect("personalise");
    let reader = InProcessReader::with_card(made.card).into_shared();
    let handle = VpcdServer::spawn(VpcdConfig::local_slot(0), reader.clone(), Trace::off()).expect("vpcd slot");
    assert!(handle.wait_ready(Duration::from_secs(10)), "vpcd did not accept the card: {HOW_TO_START}");
    Served { reader, handle: Some(handle), certificates: made.certificates, _dir: tempfile::tempdir().unwrap() }
}

/// Connect to the card in slot 0, waiting for pcscd to see it.
fn connect(ctx: &pcsc_runtime::Context) -> pcsc_runtime::Card {
    common::connect(ctx, READER)
}

/// Wait (up to 10 s) until the reader of slot 0 shows `state` to a PC/SC client.
fn wait_for_state(ctx: &pcsc_runtime::Context, state: pcsc_runtime::State) -> bool {
    common::wait_for_state(ctx, READER, state, Duration::from_secs(10))
}

fn tx(card: &pcsc_runtime::Card, apdu: &[u8]) -> Result<(Vec<u8>, u16), pcsc_runtime::Error> {
    let mut buf = [0u8; pcsc_runtime::MAX_BUFFER_SIZE_EXTENDED];
    let r = card.transmit(apdu, &mut buf)?;
    let (data, sw) = r.split_at(r.len() - 2);
    Ok((data.to_vec(), u16::from_be_bytes([sw[0], sw[1]])))
}

fn ok(card: &pcsc_runtime::Card, apdu: &[u8]) -> Vec<u8> {
    let (data, sw) = tx(card, apdu).expect("transmit");
    assert_eq!(sw, 0x9000, "{:02X?} answered {sw:04X}", &apdu[..4]);
    data
}

fn tool(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{program}` ({e}): apt-get install opensc openssl"))
}

fn tool_ok(program: &str, args: &[&str]) -> String {
    let out = tool(program, args);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "`{program} {}` failed:\n{text}", args.join(" "));
    text
}

fn verify_pin(card: &pcsc_runtime::Card, pin: &[u8]) -> u16 {
    let mut apdu = vec![0x00, 0x20, 0x00, 0x01, pin.len() as u8];
    apdu.extend_from_slice(pin);
    tx(card, &apdu).expect("VERIFY").1
}

fn pin_tries(served: &Served) -> u8 {
    served.reader.lock().unwrap().card().expect("card").info().pin.left
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn pcsc_crate_selects_verifies_and_signs_a_hash_the_certificate_key_verifies() {
    let _g = lock();
    let ctx = context();
    let served = serve("uzi-zorgverlener");
    let readers = ctx.list_readers_owned().unwrap();
    assert!(readers.iter().any(|r| r.to_string_lossy() == READER));
    let card = connect(&ctx);
    let (_, atr) = (card.status2_owned().unwrap(), card.status2_owned().unwrap().atr().to_vec());
    assert_eq!(hex::encode(&atr), UZI_ATR.replace(':', ""));
    // SELECT the IsoApplet AID (the MF): version bytes, then the PKCS#15 application.
    assert_eq!(ok(&card, &hex::decode("00A4040C0CF276A288BCFBA69D34F31001").unwrap()), Vec::<u8>::new());
    ok(&card, &hex::decode("00A4040C0CA000000063504B43532D3135").unwrap());
    assert_eq!(verify_pin(&card, b"000000"), 0x63C2);
    assert_eq!(verify_pin(&card, b"123456"), 0x9000);
    // RSA-2048 (DIALECT.md): MSE SET with PKCS#1 v1.5 (`80 01 11`), then PSO with the SHA-256 DigestInfo.
    let hash: [u8; 32] = sha2::Sha256::digest(b"zorgapplicatie login challenge").into();
    ok(&card, &hex::decode("002241B606800111840101").unwrap());
    let mut pso = vec![0x00, 0x2A, 0x9E, 0x9A, 19 + 32];
    pso.extend_from_slice(&digest_info(HashAlg::Sha256, &hash));
    pso.push(0x00);
    let signature = ok(&card, &pso);
    assert_eq!(signature.len(), 256);
    // The public key comes from the card's certificate, read through PC/SC.
    let cert = read_ef(&card, &[0x50, 0x15, 0x43, 0x01]);
    assert_eq!(cert, served.certificates[0].1, "the certificate read through pcscd is the one issued");
    let summary = certificate_summary(&cert).unwrap();
    let key = summary.public_key.expect("an RSA key").checked_rsa().unwrap();
    key.verify(rsa::Pkcs1v15Sign::new::<sha2::Sha256>(), &hash, &signature).expect("signature verifies");
}

fn read_ef(card: &pcsc_runtime::Card, path: &[u8]) -> Vec<u8> {
    let mut select = vec![0x00, 0xA4, 0x08, 0x04, path.len() as u8];
    select.extend_from_slice(path);
    select.push(0x00);
    let fcp = ok(card, &select);
    let i = fcp.windows(2).position(|w| w == [0x80, 0x02]).expect("size tag");
    let size = u16::from_be_bytes([fcp[i + 2], fcp[i + 3]]) as usize;
    let mut data = Vec::new();
    while data.len() < size {
        let n = (size - data.len()).min(0xFF) as u8;
        let [p1, p2] = (data.len() as u16).to_be_bytes();
        data.extend(ok(card, &[0x00, 0xB0, p1, p2, n]));
    }
    data
}

#[test]
fn opensc_tool_shows_the_uzi_atr_and_binds_the_card() {
    let _g = lock();
    let _ctx = context();
    let _served = serve("uzi-zorgverlener");
    let readers = tool_ok("opensc-tool", &["--list-readers"]);
    assert!(readers.contains(READER), "{readers}");
    let atr = tool_ok("opensc-tool", &["-r", "0", "--atr"]);
    assert!(atr.contains(UZI_ATR), "{atr}");
    let name = tool_ok("opensc-tool", &["-r", "0", "--name"]);
    assert!(name.contains("IsoApplet"), "OpenSC should bind the IsoApplet driver: {name}");
}

#[test]
fn pkcs15_tool_lists_and_reads_the_uzi_certificates() {
    let _g = lock();
    let _ctx = context();
    let served = serve("uzi-zorgverlener");
    let list = tool_ok("pkcs15-tool", &["-r", "0", "--list-certificates"]);
    for label in ["Authenticatie", "Handtekening", "Vertrouwelijkheid", "TEST UZI-register Zorgverlener CA G3"] {
        assert!(list.contains(label), "missing {label}:\n{list}");
    }
    let pem = tool_ok("pkcs15-tool", &["-r", "0", "--read-certificate", "01"]);
    let pem_path = write(served._dir.path(), "auth.pem", pem.as_bytes());
    let dates = tool_ok("openssl", &["x509", "-in", pem_path.to_str().unwrap(), "-noout", "-subject", "-dates"]);
    assert!(dates.contains("serialNumber = 900016528"), "{dates}");
    let summary = certificate_summary(&served.certificates[0].1).unwrap();
    let span = summary.not_after - summary.not_before;
    assert!((3 * 365 * 86_400 - 1..=3 * 366 * 86_400).contains(&span), "validity of three years: {dates}");
    let year = |key: &str| -> i32 {
        let line = dates.lines().find(|l| l.starts_with(key)).expect("date line");
        line.split_whitespace().rev().nth(1).unwrap().parse().unwrap()
    };
    assert_eq!(year("notAfter") - year("notBefore"), 3, "{dates}");
}

#[test]
fn pkcs11_tool_signs_and_openssl_verifies() {
    let _g = lock();
    let _ctx = context();
    let served = serve("uzi-zorgverlener");
    let dir = served._dir.path();
    let mechanisms = tool_ok("pkcs11-tool", &["--module", PKCS11, "--list-mechanisms"]);
    // RSA-2048: OpenSC 0.23's IsoApplet driver hashes on the host and sends the card a DigestInfo.
    let mechanism = "SHA256-RSA-PKCS";
    assert!(mechanisms.contains(mechanism), "the token lists no {mechanism}:\n{mechanisms}");
    let data = write(dir, "data.txt", b"aanvraag medicatieoverzicht");
    let sig = dir.join("sig.der");
    tool_ok(
        "pkcs11-tool",
        &[
            "--module",
            PKCS11,
            "--login",
            "--pin",
            "123456",
            "--sign",
            "--mechanism",
            mechanism,
            "--id",
            "01",
            "-i",
            data.to_str().unwrap(),
            "-o",
            sig.to_str().unwrap(),
        ],
    );
    let cert = write(dir, "auth.der", &served.certificates[0].1);
    let pubkey = dir.join("pub.pem");
    tool_ok(
        "openssl",
        &[
            "x509",
            "-inform",
            "DER",
            "-in",
            cert.to_str().unwrap(),
            "-pubkey",
            "-noout",
            "-out",
            pubkey.to_str().unwrap(),
        ],
    );
    let digest = "-sha256";
    let verified = tool_ok(
        "openssl",
        &[
            "dgst",
            digest,
            "-verify",
            pubkey.to_str().unwrap(),
            "-signature",
            sig.to_str().unwrap(),
            data.to_str().unwrap(),
        ],
    );
    assert!(verified.contains("Verified OK"), "{verified}");
}

#[test]
fn pkcs15_tool_changes_and_unblocks_the_pin() {
    let _g = lock();
    let ctx = context();
    let served = serve("uzi-zorgverlener");
    tool_ok("pkcs15-tool", &["-r", "0", "--change-pin", "--pin", "123456", "--new-pin", "654321"]);
    {
        let card = connect(&ctx);
        assert_eq!(verify_pin(&card, b"123456"), 0x63C2, "the old PIN no longer works");
        assert_eq!(verify_pin(&card, b"654321"), 0x9000, "the new PIN works");
        assert_eq!(verify_pin(&card, b"000000"), 0x63C2);
        assert_eq!(verify_pin(&card, b"000001"), 0x63C1);
        assert_eq!(verify_pin(&card, b"000002"), 0x63C0);
        assert_eq!(verify_pin(&card, b"654321"), 0x6983, "blocked");
    }
    tool_ok("pkcs15-tool", &["-r", "0", "--unblock-pin", "--puk", "12345678", "--new-pin", "112233"]);
    assert_eq!(pin_tries(&served), 3);
    let card = connect(&ctx);
    assert_eq!(verify_pin(&card, b"112233"), 0x9000);
}

/// `pkcs11-tool --test` passes. (Its signature, verify and decrypt tests are RSA-only in OpenSC 0.23: it says
/// "non-RSA, skipping" for our EC keys, which the README explains; EC signing is proven by the test above.)
#[test]
fn pkcs11_tool_self_test_passes() {
    let _g = lock();
    let _ctx = context();
    let _served = serve("uzi-zorgverlener");
    let out = tool("pkcs11-tool", &["--module", PKCS11, "--test", "--login", "--pin", "123456"]);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && text.contains("No errors"), "pkcs11-tool --test:\n{text}");
    assert!(text.contains("C_GenerateRandom():") && text.contains("seems to be OK"), "{text}");
}

#[test]
fn card_pulled_and_reinserted_keeps_its_pin_counter() {
    let _g = lock();
    let ctx = context();
    let served = serve("uzi-zorgverlener");
    let card = connect(&ctx);
    assert_eq!(verify_pin(&card, b"999999"), 0x63C2);
    served.handle.as_ref().unwrap().remove_card();
    // The client sees the reader go empty (SCardGetStatusChange), and its card handle stops working.
    assert!(wait_for_state(&ctx, pcsc_runtime::State::EMPTY), "the client never saw the card removed");
    let after = tx(&card, &[0x00, 0x20, 0x00, 0x01]);
    assert!(after.is_err(), "the old card handle still answers: {after:?}");
    drop(card);
    served.handle.as_ref().unwrap().insert_card();
    assert!(wait_for_state(&ctx, pcsc_runtime::State::PRESENT), "the client never saw the card come back");
    let card = connect(&ctx);
    assert_eq!(tx(&card, &[0x00, 0x20, 0x00, 0x01]).unwrap().1, 0x63C2, "PIN counter unchanged, verification lost");
    assert_eq!(pin_tries(&served), 2);
}

#[test]
fn pcscd_restart_reconnects_the_card_with_its_state() {
    let _g = lock();
    let ctx = context();
    let served = serve("uzi-zorgverlener");
    {
        let card = connect(&ctx);
        assert_eq!(verify_pin(&card, b"999999"), 0x63C2);
    }
    drop(ctx);
    common::stop_pcscd(HOW_TO_START);
    assert!(served.handle.as_ref().unwrap().wait_disconnected(Duration::from_secs(5)), "the card saw vpcd go");
    common::start_pcscd(HOW_TO_START);
    let connections = served.handle.as_ref().unwrap().connections();
    assert!(
        served.handle.as_ref().unwrap().wait_connections(connections + 1, Duration::from_secs(15)),
        "the card reconnected to the new pcscd"
    );
    let ctx = context();
    let card = connect(&ctx);
    assert_eq!(tx(&card, &[0x00, 0x20, 0x00, 0x01]).unwrap().1, 0x63C2, "PIN counter unchanged across the restart");
}

/// Kills the child process when the test ends, passed or not.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        std::thread::sleep(Duration::from_millis(600));
    }
}

/// The binary as a user runs it: `--card PROFILE` (the one-argument spelling), a `ready` line, OpenSC sees the
/// card, `remove 0` / `insert 0` on standard input empty and refill the reader, and `quit` ends it with success.
#[test]
fn zorgcard_serve_binary_prints_ready_and_opensc_sees_the_card() {
    let _g = lock();
    let ctx = context();
    let mut child = Child(
        Command::new(env!("CARGO_BIN_EXE_zorgcard"))
            .args(["-v", "serve", "--card", "uzi-medewerker-niet-op-naam"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("zorgcard serve"),
    );
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.0.stdout.take().unwrap()), &mut line).unwrap();
    assert!(line.starts_with("ready: slot 0 uzi-medewerker-niet-op-naam"), "first line: {line}");
    let list = tool_ok("pkcs15-tool", &["-r", "0", "--list-certificates"]);
    assert!(
        list.contains("Authenticatie") && !list.contains("Handtekening"),
        "an M pass has no signature certificate:\n{list}"
    );
    let stdin = child.0.stdin.as_mut().unwrap();
    std::io::Write::write_all(stdin, b"remove 0\n").unwrap();
    assert!(wait_for_state(&ctx, pcsc_runtime::State::EMPTY), "`remove 0` empties the reader of slot 0");
    std::io::Write::write_all(stdin, b"insert 0\n").unwrap();
    assert!(wait_for_state(&ctx, pcsc_runtime::State::PRESENT), "`insert 0` puts the card back");
    std::io::Write::write_all(stdin, b"quit\n").unwrap();
    assert!(child.0.wait().unwrap().success(), "`quit` ends zorgcard serve");
}
