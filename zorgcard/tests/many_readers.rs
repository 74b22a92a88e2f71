//! Many readers, many clients: 16 cards in 16 pcscd readers, 16 client processes at once, each doing at least
//! 1,000 APDUs (RSA-2048 signatures and PIN changes among them) on its own card, through the real pcscd + vpcd.
//!
//! Two ways past Debian's 2-slot vpcd, each run once (see `serve::pcscd_config`):
//! - `vpcd16`: one pcscd of our own with a vpcd built with 16 slots (`scripts/build-vpcd-16`), ports 36100..=36115;
//! - `isolated`: eight pcscds of our own with Debian's vpcd, two slots each, ports 36120..=36135.
//!
//! Every pcscd here runs in its own mount namespace with its own socket, so none touches the shared pcscd on
//! 35963/35964. Client processes are this test binary run again with `ZORGCARD_MANY_READERS_CLIENT` set: the
//! pcsc-lite client library reads `PCSCLITE_CSOCK_NAME` once per process, so a process talks to one pcscd.
//!
//! Run (root, for `unshare --mount`): `scripts/build-vpcd-16 && cargo test -p zorgcard --features pcscd-tests
//! --test many_readers` (`scripts/test-all` does it). The harness is our own `main` (`harness = false`): the same
//! binary is the parent test and the clients.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use conformance::suite::digest_info;
use conformance::suite::script::HashAlg;
use issuance::card_new::{NewCardOptions, new_card};
use issuance::pki::{TestPki, certificate_summary};
use issuance::profile;
use reader_sim::reader::{InProcessReader, Interceptor, ReaderError, SharedReader, Transmit};
use reader_sim::trace::Trace;
use reader_sim::vpcd::{VpcdConfig, VpcdHandle, VpcdServer};
use serve::pcscd_config::{CSOCK_ENV, IsolatedPcscd, MAX_READERS, VpcdReaders};
use sha2::Digest;

const CLIENT_ENV: &str = "ZORGCARD_MANY_READERS_CLIENT";
const READER_ENV: &str = "ZORGCARD_MANY_READERS_READER";
const CERT_ENV: &str = "ZORGCARD_MANY_READERS_CERT_SHA256";
/// The least APDUs each client sends.
const APDUS_PER_CLIENT: usize = 1_000;
/// A PIN change every this many signatures.
const SIGNATURES_PER_PIN_CHANGE: usize = 8;
const FIRST_PIN: &[u8] = b"123456";
const PIN_TRIES: u16 = 3;
const PROFILE: &str = "uzi-zorgverlener";

fn main() {
    if let Ok(index) = std::env::var(CLIENT_ENV) {
        client::run(index.parse().expect("client index"));
        return;
    }
    let started = Instant::now();
    let driver = std::env::var_os("ZORGCARD_VPCD16_DRIVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/vpcd-16/libifdvpcd.so"));
    assert!(
        driver.exists(),
        "no 16-slot vpcd at {}: build it with `scripts/build-vpcd-16` (or set ZORGCARD_VPCD16_DRIVER)",
        driver.display()
    );
    let vpcd16 = VpcdReaders::built(driver, MAX_READERS, 36100).expect("16 slots fit");
    run_scenario("vpcd16", &[vpcd16]);
    let isolated: Vec<VpcdReaders> = (0..8).map(|i| VpcdReaders::system(36120 + 2 * i)).collect();
    run_scenario("isolated", &isolated);
    println!("many_readers: both scenarios passed in {:.1} s", started.elapsed().as_secs_f64());
}

/// The PIN client `index` leaves after `change` changes (change 0: the profile's). Six digits, unique per client.
fn pin_after(index: usize, change: usize) -> Vec<u8> {
    if change == 0 { FIRST_PIN.to_vec() } else { format!("{:02}{:04}", index, change % 10_000).into_bytes() }
}

/// Counts what one card answered 90 00 to, by instruction, as the card itself saw it: the clients' own counts
/// must match their own card's, so no APDU reached another card.
#[derive(Default)]
struct Counts(BTreeMap<u8, usize>);

struct Counter(Arc<Mutex<Counts>>);

impl Interceptor for Counter {
    fn exchange(&mut self, apdu: &[u8], card: &mut dyn Transmit) -> Result<Vec<u8>, ReaderError> {
        let answer = card.transmit(apdu)?;
        if answer.ends_with(&[0x90, 0x00]) && apdu.len() >= 4 {
            *self.0.lock().unwrap().0.entry(apdu[1]).or_default() += 1;
        }
        Ok(answer)
    }
}

struct Slot {
    reader: SharedReader,
    handle: VpcdHandle,
    counts: Arc<Mutex<Counts>>,
    certificate_sha256: String,
}

/// 16 cards in the readers of `entries` (one pcscd each), 16 clients at once; then every card is checked.
fn run_scenario(name: &str, entries: &[VpcdReaders]) {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let pcscds: Vec<IsolatedPcscd> = entries
        .iter()
        .enumerate()
        .map(|(i, r)| {
            IsolatedPcscd::start(r, &dir.path().join(format!("pcscd{i}"))).unwrap_or_else(|e| panic!("{name}: {e}"))
        })
        .collect();
    // (pcscd, slot) for each of the 16 cards.
    let places: Vec<(usize, u16)> =
        entries.iter().enumerate().flat_map(|(p, r)| (0..r.slots).map(move |s| (p, s))).collect();
    assert_eq!(places.len(), usize::from(MAX_READERS), "{name}: 16 readers in all");

    let profile = profile::load(PROFILE).expect("fixture profile");
    let pki = TestPki::fixtures().expect("test PKI");
    let slots: Vec<Slot> = places
        .iter()
        .enumerate()
        .map(|(i, &(p, s))| {
            let options = NewCardOptions { serial: Some(format!("90000000000001{i:02}")), ..Default::default() };
            let made = new_card(&profile, &pki, &options).expect("personalise");
            let mut reader = InProcessReader::with_card(made.card);
            let counts = Arc::new(Mutex::new(Counts::default()));
            reader.set_interceptor(Some(Box::new(Counter(counts.clone()))));
            let reader = reader.into_shared();
            let config = VpcdConfig::connect(entries[p].slot_addr(s)).slot(i);
            let handle = VpcdServer::spawn(config, reader.clone(), Trace::off()).expect("vpcd slot");
            let certificate_sha256 = hex::encode(sha2::Sha256::digest(&made.certificates[0].1));
            Slot { reader, handle, counts, certificate_sha256 }
        })
        .collect();
    for (i, slot) in slots.iter().enumerate() {
        assert!(slot.handle.wait_ready(Duration::from_secs(10)), "{name}: vpcd did not take card {i}");
    }
    let ready = started.elapsed();

    let exe = std::env::current_exe().unwrap();
    let children: Vec<Child> = places
        .iter()
        .enumerate()
        .map(|(i, &(p, s))| {
            Command::new(&exe)
                .env(CLIENT_ENV, i.to_string())
                .env(CSOCK_ENV, pcscds[p].socket())
                .env(READER_ENV, entries[p].reader_name(s))
                .env(CERT_ENV, &slots[i].certificate_sha256)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("client process")
        })
        .collect();
    let clients_started = Instant::now();
    let mut reports = Vec::new();
    for (i, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{name}: client {i} failed ({}):\n{stdout}{stderr}", out.status);
        reports.push(client::Report::parse(&stdout).unwrap_or_else(|| panic!("{name}: client {i} said {stdout}")));
    }
    let busy = clients_started.elapsed();

    let mut total = 0;
    for (i, (slot, report)) in slots.into_iter().zip(&reports).enumerate() {
        slot.handle.stop();
        assert!(report.apdus >= APDUS_PER_CLIENT, "{name}: client {i} sent only {} APDUs", report.apdus);
        total += report.apdus;
        // The card saw exactly its own client's successful signatures and PIN changes.
        let counts = std::mem::take(&mut slot.counts.lock().unwrap().0);
        assert_eq!(counts.get(&0x2A).copied().unwrap_or(0), report.signatures, "{name}: card {i} signatures");
        assert_eq!(counts.get(&0x24).copied().unwrap_or(0), report.changes, "{name}: card {i} PIN changes");
        // Its PIN is its client's last one, no other client's; the counter shows the one wrong try, then resets.
        let mut reader = slot.reader.clone();
        reader.lock().unwrap().power_on().expect("power on");
        let other = pin_after((i + 1) % reports.len(), reports[(i + 1) % reports.len()].changes);
        assert_eq!(
            verify(&mut reader, &other),
            0x63C0 | (PIN_TRIES - 1),
            "{name}: card {i} took client {}'s PIN",
            i + 1
        );
        assert_eq!(verify(&mut reader, &pin_after(i, report.changes)), 0x9000, "{name}: card {i} lost its PIN");
        assert_eq!(reader.lock().unwrap().card().unwrap().info().pin.left, PIN_TRIES as u8, "{name}: card {i}");
    }
    for pcscd in pcscds {
        pcscd.stop();
    }
    println!(
        "many_readers {name}: {} pcscd(s), 16 readers, 16 clients, {total} APDUs ({} signatures, {} PIN changes) \
         in {:.1} s, {:.0} APDU/s in all; set-up {:.1} s",
        entries.len(),
        reports.iter().map(|r| r.signatures).sum::<usize>(),
        reports.iter().map(|r| r.changes).sum::<usize>(),
        busy.as_secs_f64(),
        total as f64 / busy.as_secs_f64(),
        ready.as_secs_f64(),
    );
}

/// VERIFY the PIN in-process, for the status word.
fn verify(reader: &mut SharedReader, pin: &[u8]) -> u16 {
    let answer = reader.transmit(&[&[0x00, 0x20, 0x00, 0x01, pin.len() as u8], pin].concat()).expect("VERIFY");
    u16::from_be_bytes([answer[answer.len() - 2], answer[answer.len() - 1]])
}

/// One client process: connects to its reader through its pcscd and works its card.
mod client {
    use super::*;

    /// What a client did, printed as its last line for the parent.
    pub struct Report {
        pub apdus: usize,
        pub signatures: usize,
        pub changes: usize,
    }

    impl Report {
        pub fn parse(stdout: &str) -> Option<Self> {
            let line = stdout.lines().rev().find(|l| l.starts_with("report "))?;
            let field = |name: &str| -> Option<usize> {
                line.split(' ').find_map(|kv| kv.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
            };
            Some(Self { apdus: field("apdus")?, signatures: field("signatures")?, changes: field("changes")? })
        }
    }

    struct Session {
        card: pcsc_runtime::Card,
        apdus: usize,
    }

    impl Session {
        fn tx(&mut self, apdu: &[u8]) -> (Vec<u8>, u16) {
            let mut buf = [0u8; pcsc_runtime::MAX_BUFFER_SIZE_EXTENDED];
            let r = self.card.transmit(apdu, &mut buf).expect("transmit");
            self.apdus += 1;
            let (data, sw) = r.split_at(r.len() - 2);
            (data.to_vec(), u16::from_be_bytes([sw[0], sw[1]]))
        }

        fn ok(&mut self, apdu: &[u8]) -> Vec<u8> {
            let (data, sw) = self.tx(apdu);
            assert_eq!(sw, 0x9000, "{:02X?} answered {sw:04X}", &apdu[..4]);
            data
        }

        fn verify(&mut self, pin: &[u8]) -> u16 {
            self.tx(&[&[0x00, 0x20, 0x00, 0x01, pin.len() as u8], pin].concat()).1
        }

        fn read_ef(&mut self, path: &[u8]) -> Vec<u8> {
            let fcp = self.ok(&[&[0x00, 0xA4, 0x08, 0x04, path.len() as u8], path, &[0x00]].concat());
            let i = fcp.windows(2).position(|w| w == [0x80, 0x02]).expect("size tag");
            let size = usize::from(u16::from_be_bytes([fcp[i + 2], fcp[i + 3]]));
            let mut data = Vec::new();
            while data.len() < size {
                let n = (size - data.len()).min(0xFF) as u8;
                let [p1, p2] = (data.len() as u16).to_be_bytes();
                data.extend(self.ok(&[0x00, 0xB0, p1, p2, n]));
            }
            data
        }
    }

    pub fn run(index: usize) {
        let reader = std::env::var(READER_ENV).expect("reader name");
        let ctx =
            pcsc_runtime::Context::establish(pcsc_runtime::Scope::User).expect("PC/SC context (PCSCLITE_CSOCK_NAME)");
        let name = CString::new(reader.clone()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        let card = loop {
            match ctx.connect(&name, pcsc_runtime::ShareMode::Exclusive, pcsc_runtime::Protocols::ANY) {
                Ok(card) => break card,
                Err(e) if Instant::now() > deadline => panic!("client {index}: no card in `{reader}`: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        };
        let mut s = Session { card, apdus: 0 };
        // The PKCS#15 application, and the authentication certificate: the one issued to this card.
        s.ok(&hex::decode("00A4040C0CA000000063504B43532D3135").unwrap());
        let cert = s.read_ef(&[0x50, 0x15, 0x43, 0x01]);
        let expected = std::env::var(CERT_ENV).expect("certificate hash");
        assert_eq!(hex::encode(sha2::Sha256::digest(&cert)), expected, "client {index}: another card's certificate");
        let key = certificate_summary(&cert).unwrap().public_key.expect("an RSA key").checked_rsa().unwrap();
        // ISO 7816-4 §11.5.6: a wrong PIN answers 63Cx (x tries left); the right one gives all tries back.
        assert_eq!(s.verify(b"000000"), 0x63C0 | (PIN_TRIES - 1));
        assert_eq!(s.verify(FIRST_PIN), 0x9000);
        let (mut signatures, mut changes) = (0, 0);
        while s.apdus < APDUS_PER_CLIENT {
            // RSA-2048 PKCS#1 v1.5 with the authentication key (MSE SET `80 01 11`, key 1), over a hash unique to
            // this client and round.
            let hash: [u8; 32] = sha2::Sha256::digest(format!("client {index} round {signatures}")).into();
            s.ok(&hex::decode("002241B606800111840101").unwrap());
            let pso = [&[0x00, 0x2A, 0x9E, 0x9A, 19 + 32][..], &digest_info(HashAlg::Sha256, &hash), &[0x00]].concat();
            let signature = s.ok(&pso);
            key.verify(rsa::Pkcs1v15Sign::new::<sha2::Sha256>(), &hash, &signature)
                .unwrap_or_else(|e| panic!("client {index}: signature {signatures} does not verify: {e}"));
            signatures += 1;
            if signatures % SIGNATURES_PER_PIN_CHANGE == 0 {
                let (old, new) = (pin_after(index, changes), pin_after(index, changes + 1));
                s.ok(&[&[0x00, 0x24, 0x00, 0x01, (old.len() + new.len()) as u8], &old[..], &new[..]].concat());
                changes += 1;
                assert_eq!(s.verify(&old), 0x63C0 | (PIN_TRIES - 1), "client {index}: the old PIN still works");
                assert_eq!(s.verify(&new), 0x9000, "client {index}: the new PIN does not work");
            }
        }
        println!("report apdus={} signatures={signatures} changes={changes}", s.apdus);
    }
}
