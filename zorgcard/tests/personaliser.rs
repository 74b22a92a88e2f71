//! The reference ZORG-ID Smartcard personaliser (seeds: *Aanmaken ZORG-ID Smartcard* and *ZORG-ID Smartcard*),
//! in-process: a UZI-medewerkerspas in one reader, a blank ZORG-ID Smartcard in the other.

use std::process::Command;
use std::sync::{Arc, Mutex};

use conformance::suite::digest_info;
use conformance::suite::script::HashAlg;
use issuance::card_new::{NewCardOptions, new_card};
use issuance::pki::{self, Issuer, TestPki, certificate_summary};
use issuance::profile::{self, Profile};
use personaliser::{GivenEntry, PersonaliseError, PersonaliseOptions, PersonaliseOutcome, Step, personalise};
use reader_sim::platform::ClockHandle;
use reader_sim::reader::{HostCard, InProcessReader, ReaderError, SharedReader, Transmit};
use reader_sim::trace::{Trace, Traced};
use sha2::{Digest, Sha256};

const UZI_PIN: &str = "123456";
const NEW_PIN: &str = "24681357";
const BIRTH_DATE: &str = "1990-05-17";

/// The fixtures and one clock shared by the cards and the personaliser.
struct Bench {
    pki: TestPki,
    zorg_id: Profile,
    clock: ClockHandle,
}

impl Bench {
    fn new() -> Bench {
        Bench {
            pki: TestPki::fixtures().unwrap(),
            zorg_id: profile::load("zorg-id").unwrap(),
            clock: ClockHandle::new(),
        }
    }

    fn options(&self) -> PersonaliseOptions<'_> {
        let mut o = PersonaliseOptions::new(&self.pki, &self.zorg_id);
        o.clock = self.clock.clone();
        o
    }

    fn card(&self, profile: &str, serial: Option<&str>) -> InProcessReader {
        let profile = profile::load(profile).unwrap();
        let options =
            NewCardOptions { serial: serial.map(String::from), clock: Some(self.clock.clone()), ..Default::default() };
        let mut reader = InProcessReader::with_card(new_card(&profile, &self.pki, &options).unwrap().card);
        reader.power_on().unwrap();
        reader
    }

    /// A card booted from a saved image, on the bench's clock (the pull test makes ~300 pairs of cards; making
    /// each from its profile would issue six RSA-4096-signed certificates per run).
    fn card_from_image(&self, image: &[u8]) -> InProcessReader {
        let nvm = reader_sim::platform::nvm_from_bytes(image.to_vec()).unwrap();
        let platform = reader_sim::platform::HostPlatform::with_nvm(nvm).with_clock(self.clock.clone());
        let mut reader = InProcessReader::with_card(card_os::Card::boot(platform).unwrap());
        reader.power_on().unwrap();
        reader
    }

    fn uzi(&self) -> InProcessReader {
        self.card("uzi-medewerker", None)
    }

    fn blank(&self) -> InProcessReader {
        self.card("zorg-id-blank", None)
    }
}

fn entry() -> GivenEntry {
    GivenEntry::new(UZI_PIN, BIRTH_DATE, NEW_PIN, NEW_PIN)
}

/// Sends an APDU, returns data and SW as one number.
fn send(reader: &mut dyn Transmit, apdu: &[u8]) -> (Vec<u8>, u16) {
    let r = reader.transmit(apdu).unwrap();
    let (data, sw) = r.split_at(r.len() - 2);
    (data.to_vec(), u16::from_be_bytes([sw[0], sw[1]]))
}

fn life_cycle(reader: &mut dyn Transmit) -> u8 {
    let (data, sw) = send(reader, &[0x00, 0xCA, 0xDF, 0x31, 0x00]);
    assert_eq!(sw, 0x9000);
    data[0]
}

fn verify(reader: &mut dyn Transmit, pin: &str) -> u16 {
    let mut apdu = vec![0x00, 0x20, 0x00, 0x01, pin.len() as u8];
    apdu.extend_from_slice(pin.as_bytes());
    send(reader, &apdu).1
}

fn puk_digits(outcome: PersonaliseOutcome) -> String {
    let mut out = Vec::new();
    outcome.puk.show(&mut out).unwrap();
    String::from_utf8(out).unwrap()
}

fn read_ef(reader: &mut dyn Transmit, path: &[u16]) -> Vec<u8> {
    reader_sim::exchange::read_ef(reader, path).expect("the EF is readable")
}

fn pem(der: &[u8]) -> String {
    pki::certificate_pem(der).unwrap()
}

fn run(
    bench: &Bench,
    uzi: &mut dyn Transmit,
    blank: &mut dyn Transmit,
) -> Result<PersonaliseOutcome, PersonaliseError> {
    personalise(uzi, blank, &mut entry(), &bench.options())
}

#[test]
fn a_blank_card_becomes_a_working_zorg_id_smartcard() {
    let bench = Bench::new();
    let (mut uzi, mut blank) = (bench.uzi(), bench.blank());
    let outcome = run(&bench, &mut uzi, &mut blank).unwrap();
    let card = outcome.card.clone();
    let puk = puk_digits(outcome);
    assert_eq!(puk.len(), 8);
    assert!(puk.bytes().all(|b| b.is_ascii_digit()), "the PUK is 8 digits");

    assert_eq!(card.serial, "9100000000000002");
    assert_eq!(card.holder_name, "Marieke Proef");
    assert_eq!(card.uzi_number, "900016529");
    assert_eq!(card.organisation, "Test Zorginstelling 01");
    assert_eq!(card.subscriber_number, "90000001");
    assert_eq!(card.birth_date, BIRTH_DATE);
    assert_eq!(card.made_with_uzi_pass, "9000000000000002");
    assert_eq!(card.certificates.len(), 3);

    // Operational, with the 3-year validity from today.
    assert_eq!(life_cycle(&mut blank), 0x05);
    let (validity, sw) = send(&mut blank, &[0x00, 0xCA, 0xDF, 0x30, 0x00]);
    assert_eq!(sw, 0x9000);
    let today = time::OffsetDateTime::now_utc().date();
    let from = format!("{:04}{:02}{:02}", today.year(), u8::from(today.month()), today.day());
    assert_eq!(&validity[..8], from.as_bytes());
    assert_eq!(&validity[8..12], format!("{:04}", today.year() + 3).as_bytes());

    // The certificates on the card: ZORG-ID TEST CA, holder from the UZI pass, three years.
    let auth = read_ef(&mut blank, &[0x5015, 0x4301]);
    let summary = certificate_summary(&auth).unwrap();
    assert_eq!(hex::encode_upper(&summary.serial), card.certificates[0].serial);
    assert_eq!(summary.issuer, "C=NL, O=TEST VZVZ, CN=TEST ZORG-ID Smartcard CA");
    assert_eq!(
        summary.subject,
        "C=NL, O=Test Zorginstelling 01, CN=Marieke Proef, GN=Marieke, SN=Proef, serialNumber=900016529"
    );
    assert_eq!(summary.san_uzi.as_deref(), Some("2.16.528.1.1007.99.400-1-900016529-N-90000001-30.000-00000000"));
    assert_eq!(summary.not_before, card.not_before);
    assert_eq!(summary.not_after, pki::add_three_years(summary.not_before) - 1);
    assert_eq!(summary.not_after, card.not_after);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert_eq!(summary.not_before, now.div_euclid(86_400) * 86_400, "issued from the start of today (UTC)");

    // openssl accepts the authentication certificate against the TEST CA, and says it ends in three years.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("root.pem"), pem(&bench.pki.root_der())).unwrap();
    std::fs::write(dir.path().join("ca.pem"), pem(&bench.pki.ca_der(Issuer::ZorgId))).unwrap();
    std::fs::write(dir.path().join("auth.pem"), pem(&auth)).unwrap();
    let out = Command::new("/usr/bin/openssl")
        .args(["verify", "-CAfile", "root.pem", "-untrusted", "ca.pem", "auth.pem"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "openssl verify: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "auth.pem: OK");
    let out = Command::new("/usr/bin/openssl")
        .args(["x509", "-noout", "-enddate", "-in", "auth.pem"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let end = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(end.contains(&format!(" {} GMT", today.year() + 3)), "notAfter three years on: {end}");

    // The new PIN works, key 1 signs, and the signature verifies with the certificate.
    assert_eq!(verify(&mut blank, NEW_PIN), 0x9000);
    assert_eq!(send(&mut blank, &[0x00, 0x22, 0x41, 0xB6, 0x03, 0x84, 0x01, 0x01]).1, 0x9000);
    let digest = Sha256::digest(b"a ZORG-ID Smartcard signs");
    let mut pso = vec![0x00, 0x2A, 0x9E, 0x9A, 0x20];
    pso.extend_from_slice(&digest);
    pso.push(0x00);
    let (signature, sw) = send(&mut blank, &pso);
    assert_eq!(sw, 0x6A80, "an RSA key signs a DigestInfo, not a bare hash");
    let mut pso = vec![0x00, 0x2A, 0x9E, 0x9A, 0x33];
    pso.extend_from_slice(&digest_info(HashAlg::Sha256, &digest));
    pso.push(0x00);
    let (signature2, sw) = send(&mut blank, &pso);
    assert_eq!((signature.len(), signature2.len(), sw), (0, 256, 0x9000));
    let public = summary.public_key.as_ref().expect("the certificate's key");
    assert_eq!(public.bits(), 2048, "the ZORG-ID Smartcard has RSA-2048 keys by default");
    let key = public.checked_rsa().unwrap();
    key.verify(rsa::Pkcs1v15Sign::new::<Sha256>(), &digest, &signature2).expect("the signature verifies");

    // Three wrong PINs block it; the one-time PUK unblocks it.
    send(&mut blank, &[0x00, 0x20, 0xFF, 0x01]);
    assert_eq!(verify(&mut blank, "00000000"), 0x63C2);
    assert_eq!(verify(&mut blank, "00000000"), 0x63C1);
    assert_eq!(verify(&mut blank, "00000000"), 0x63C0);
    assert_eq!(verify(&mut blank, NEW_PIN), 0x6983);
    let mut rrc = vec![0x00, 0x2C, 0x00, 0x01, (puk.len() + NEW_PIN.len()) as u8];
    rrc.extend_from_slice(puk.as_bytes());
    rrc.extend_from_slice(NEW_PIN.as_bytes());
    assert_eq!(send(&mut blank, &rrc).1, 0x9000);
    assert_eq!(verify(&mut blank, NEW_PIN), 0x9000);

    // The UZI pass leaves the flow logged out.
    assert_eq!(send(&mut uzi, &[0x00, 0x20, 0x00, 0x01]).1, 0x63C3);
}

// ---------------------------------------------------------------------------------------------
// Refusals: each names its step, and the blank card stays blank.
// ---------------------------------------------------------------------------------------------

/// Runs with `entry` and checks the refusal: its step, a phrase of its message, and a blank card left blank.
fn refused(
    bench: &Bench,
    uzi: &mut InProcessReader,
    blank: &mut InProcessReader,
    entry: &mut GivenEntry,
    step: Step,
    needle: &str,
) -> String {
    let err = personalise(uzi, blank, entry, &bench.options()).expect_err("the personaliser refuses");
    let message = err.to_string();
    assert_eq!(err.step(), Some(step), "{message}");
    assert!(message.contains(needle), "`{needle}` not in: {message}");
    assert!(message.contains(&step.to_string()), "the message names the step: {message}");
    blank.power_on().unwrap();
    if life_cycle(blank) != 0x05 {
        assert_eq!(life_cycle(blank), 0x01, "the blank card stays blank after {message}");
    }
    message
}

#[test]
fn an_expired_uzi_pass_is_refused() {
    let bench = Bench::new();
    let (mut uzi, mut blank) = (bench.uzi(), bench.blank());
    bench.clock.set_offset_days(3 * 366 + 2);
    let m = refused(&bench, &mut uzi, &mut blank, &mut entry(), Step::UziPass, "expired on");
    assert!(m.contains("apply for a new UZI pass"), "{m}");
}

#[test]
fn a_uzi_pass_with_a_blocked_pin_is_refused() {
    let bench = Bench::new();
    let (mut uzi, mut blank) = (bench.uzi(), bench.blank());
    for _ in 0..3 {
        verify(&mut uzi, "999999");
    }
    let m = refused(&bench, &mut uzi, &mut blank, &mut entry(), Step::UziPass, "PIN of the UZI pass is blocked");
    assert!(m.contains("PUK"), "{m}");
}

#[test]
fn a_uzi_pass_niet_op_naam_is_refused() {
    let bench = Bench::new();
    let (mut uzi, mut blank) = (bench.card("uzi-medewerker-niet-op-naam", None), bench.blank());
    let m = refused(&bench, &mut uzi, &mut blank, &mut entry(), Step::UziPass, "card type M");
    assert!(m.contains("UZI-medewerkerspas niet op naam"), "{m}");
    // Refused before the PIN is asked for: no try spent.
    assert_eq!(send(&mut uzi, &[0x00, 0xCA, 0xDF, 0x33, 0x00]).0, [3, 3, 3, 3]);
}

#[test]
fn a_zorgverlenerspas_is_refused_unless_allowed() {
    let bench = Bench::new();
    let (mut uzi, mut blank) = (bench.card("uzi-zorgverlener", None), bench.blank());
    refused(&bench, &mut uzi, &mut blank, &mut entry(), Step::UziPass, "card type Z");
    let mut options = bench.options();
    options.allow_zorgverlenerspas = true;
    let outcome = personalise(&mut uzi, &mut blank, &mut entry(), &options).unwrap();
    assert_eq!(outcome.card.holder_name, "Jan Test");
}

/// The personaliser reads a UZI pass whose otherName has the production OID CA (`2.16.528.1.1003.1.3.5.5.3`, CPS
/// UZI-register v10.2 §7.1.5 Table 11) as well as one with the TEST OID CA of the shipped profile (`…1007.99.218`).
#[test]
fn a_uzi_pass_with_the_production_oid_ca_is_accepted_too() {
    let bench = Bench::new();
    let dir = tempfile::tempdir().unwrap();
    let text = fixtures::read_to_string(&profile::profile_path("uzi-medewerker")).unwrap();
    let path = dir.path().join("uzi-medewerker-production.toml");
    std::fs::write(&path, text.replace("oid_ca = \"test\"\n", "oid_ca = \"production\"\n")).unwrap();
    let (mut uzi, mut blank) = (bench.card(path.to_str().unwrap(), None), bench.blank());
    let outcome = run(&bench, &mut uzi, &mut blank).unwrap();
    assert_eq!(outcome.card.uzi_number, "900016529");
}

#[test]
fn a_zorg_id_smartcard_is_no_uzi_pass() {
    let bench = Bench::new();
    let (mut uzi, mut blank) = (bench.card("zorg-id", None), bench.blank());
    refused(&bench, &mut uzi, &mut blank, &mut entry(), Step::UziPass, "ZORG-ID Smartcard, not a UZI pass");
}

#[test]
fn an_unregistered_organisation_is_refused() {
    let bench = Bench::new();
    let (mut uzi, mut blank) = (bench.uzi(), bench.blank());
    let mut options = bench.options();
    options.registered_organisations = Some(vec!["90000002".into()]);
    let err = personalise(&mut uzi, &mut blank, &mut entry(), &options).unwrap_err();
    assert_eq!(err.step(), Some(Step::UziPass));
    assert!(err.to_string().contains("URA 90000001) is not registered"), "{err}");
    options.registered_organisations = Some(vec!["90000001".into()]);
    personalise(&mut uzi, &mut blank, &mut entry(), &options).unwrap();
}

#[test]
fn a_wrong_uzi_pin_is_refused_with_the_tries_left() {
    let bench = Bench::new();
    let (mut uzi, mut blank) = (bench.uzi(), bench.blank());
    let mut wrong = GivenEntry::new("654321", BIRTH_DATE, NEW_PIN, NEW_PIN);
    refused(&bench, &mut uzi, &mut blank, &mut wrong, Step::UziPin, "tries left: 2");
    refused(&bench, &mut uzi, &mut blank, &mut wrong, Step::UziPin, "tries left: 1");
    refused(&bench, &mut uzi, &mut blank, &mut wrong, Step::UziPin, "now blocked");
    // And the next attempt stops at step 1.
    refused(&bench, &mut uzi, &mut blank, &mut entry(), Step::UziPass, "is blocked");
}

#[test]
fn a_second_card_that_is_not_blank_is_refused() {
    let bench = Bench::new();
    let mut uzi = bench.uzi();
    let mut made = bench.card("zorg-id", None);
    let err = personalise(&mut uzi, &mut made, &mut entry(), &bench.options()).unwrap_err();
    assert_eq!(err.step(), Some(Step::BlankCard));
    assert!(err.to_string().contains("not blank (life cycle 05"), "{err}");
    assert_eq!(life_cycle(&mut made), 0x05, "the operational card is untouched");
    assert_eq!(verify(&mut made, "123456"), 0x9000);
}

#[test]
fn new_pins_that_differ_are_refused() {
    let bench = Bench::new();
    let (mut uzi, mut blank) = (bench.uzi(), bench.blank());
    let mut differ = GivenEntry::new(UZI_PIN, BIRTH_DATE, NEW_PIN, "24681358");
    refused(&bench, &mut uzi, &mut blank, &mut differ, Step::NewPin, "the two PINs differ");
}

#[test]
fn a_new_pin_outside_the_policy_is_refused() {
    let bench = Bench::new();
    let (mut uzi, mut blank) = (bench.uzi(), bench.blank());
    for (pin, needle) in [
        ("12345", "has 5 characters; the ZORG-ID Smartcard needs 6 to 8"),
        ("123456789", "has 9 characters; the ZORG-ID Smartcard needs 6 to 8"),
        ("1234\u{e9}56", "outside printable ASCII"),
    ] {
        let mut e = GivenEntry::new(UZI_PIN, BIRTH_DATE, pin, pin);
        refused(&bench, &mut uzi, &mut blank, &mut e, Step::NewPin, needle);
    }
}

#[test]
fn an_invalid_birth_date_is_refused() {
    let bench = Bench::new();
    let (mut uzi, mut blank) = (bench.uzi(), bench.blank());
    let today = time::OffsetDateTime::now_utc().date();
    let young = format!("{:04}-01-01", today.year() - 10);
    let future = format!("{:04}-01-01", today.year() + 1);
    for (date, needle) in [
        ("", "is empty"),
        ("17-05-1990", "not in the form YYYY-MM-DD"),
        ("1990-5-17", "not in the form YYYY-MM-DD"),
        ("1990-02-30", "not a date in the calendar"),
        ("1990-13-01", "not a date in the calendar"),
        (future.as_str(), "is in the future"),
        (young.as_str(), "younger than 16"),
        ("1890-01-01", "more than 120 years ago"),
    ] {
        let mut e = GivenEntry::new(UZI_PIN, date, NEW_PIN, NEW_PIN);
        refused(&bench, &mut uzi, &mut blank, &mut e, Step::BirthDate, needle);
    }
}

// ---------------------------------------------------------------------------------------------
// Pulling a card at any moment: the blank card is blank again, or the new card is complete.
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pull {
    /// The card is pulled just before APDU n (1-based) reaches it.
    Before(usize),
    /// APDU n runs on the card, then the card is pulled before its answer reaches the host.
    After(usize),
}

/// A reader whose card can be pulled at a chosen APDU, and which can pull another reader's card too.
struct Pulling {
    reader: SharedReader,
    sent: usize,
    pull: Option<Pull>,
    pulled: Option<HostCard>,
    /// Pull the card of this other reader just before APDU n of this one.
    other: Option<(usize, SharedReader)>,
    other_pulled: Option<HostCard>,
}

impl Pulling {
    fn new(reader: &SharedReader, pull: Option<Pull>) -> Pulling {
        Pulling { reader: reader.clone(), sent: 0, pull, pulled: None, other: None, other_pulled: None }
    }

    fn pull_now(&mut self) {
        self.pulled = self.reader.lock().unwrap().remove();
    }
}

impl Transmit for Pulling {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ReaderError> {
        self.sent += 1;
        if let Some((n, other)) = &self.other
            && *n == self.sent
        {
            self.other_pulled = other.lock().unwrap().remove();
        }
        if self.pull == Some(Pull::Before(self.sent)) {
            self.pull_now();
        }
        let answer = self.reader.lock().unwrap().transmit(apdu);
        if self.pull == Some(Pull::After(self.sent)) {
            self.pull_now();
            return Err(ReaderError::NoCard);
        }
        answer
    }
}

/// Puts a pulled card back and powers it (the reset that rolls an unfinished personalisation back).
fn reinsert(reader: &SharedReader, card: Option<HostCard>) {
    let mut r = reader.lock().unwrap();
    if let Some(card) = card {
        r.insert(card);
    }
    r.power_on().unwrap();
}

struct PullRun {
    result: Result<PersonaliseOutcome, PersonaliseError>,
    uzi: SharedReader,
    blank: SharedReader,
    uzi_sent: usize,
    blank_sent: usize,
}

/// The images of a fresh `uzi-medewerker` and `zorg-id-blank` card, made once.
fn images() -> &'static (Vec<u8>, Vec<u8>) {
    static IMAGES: std::sync::OnceLock<(Vec<u8>, Vec<u8>)> = std::sync::OnceLock::new();
    IMAGES.get_or_init(|| {
        let pki = TestPki::fixtures().unwrap();
        let image = |name: &str| {
            let made = new_card(&profile::load(name).unwrap(), &pki, &NewCardOptions::default()).unwrap();
            card_os::Platform::nvm(made.card.platform()).as_bytes().to_vec()
        };
        (image("uzi-medewerker"), image("zorg-id-blank"))
    })
}

/// P-256 keys in the pull test: the all-or-nothing property is about the APDU sequence, and ~500 runs with three
/// RSA-2048 key generations each would take minutes. The RSA flow itself is covered by the other tests here.
fn pull_options(bench: &Bench) -> PersonaliseOptions<'_> {
    let mut options = bench.options();
    options.key_type = issuance::profile::KeyType::P256;
    options
}

fn pull_run(bench: &Bench, uzi_pull: Option<Pull>, blank_pull: Option<Pull>, uzi_at_blank: Option<usize>) -> PullRun {
    let uzi = Arc::new(Mutex::new(bench.card_from_image(&images().0)));
    let blank = Arc::new(Mutex::new(bench.card_from_image(&images().1)));
    let mut u = Pulling::new(&uzi, uzi_pull);
    let mut b = Pulling::new(&blank, blank_pull);
    b.other = uzi_at_blank.map(|n| (n, uzi.clone()));
    let result = personalise(&mut u, &mut b, &mut entry(), &pull_options(bench));
    reinsert(&uzi, u.pulled.take().or(b.other_pulled.take()));
    reinsert(&blank, b.pulled.take());
    PullRun { result, uzi, blank, uzi_sent: u.sent, blank_sent: b.sent }
}

#[test]
fn pulling_either_card_at_any_apdu_leaves_it_blank_or_complete() {
    let bench = Bench::new();
    let full = pull_run(&bench, None, None, None);
    assert!(full.result.is_ok());
    let (n_uzi, n_blank) = (full.uzi_sent, full.blank_sent);
    assert!(n_uzi >= 10 && n_blank >= 50, "{n_uzi} UZI APDUs, {n_blank} blank-card APDUs");

    let mut steps = std::collections::BTreeSet::new();
    let mut cases = Vec::new();
    for n in 1..=n_uzi {
        cases.push((Some(Pull::Before(n)), None, None));
        cases.push((Some(Pull::After(n)), None, None));
    }
    for n in 1..=n_blank {
        cases.push((None, Some(Pull::Before(n)), None));
        cases.push((None, Some(Pull::After(n)), None));
        // Seed: *Aanmaken ZORG-ID Smartcard*, stap 5: the UZI pass may leave once the blank card is in use.
        cases.push((None, None, Some(n)));
    }
    for (uzi_pull, blank_pull, uzi_at_blank) in cases {
        let case = format!("UZI {uzi_pull:?}, blank {blank_pull:?}, UZI pulled at blank APDU {uzi_at_blank:?}");
        let mut run = pull_run(&bench, uzi_pull, blank_pull, uzi_at_blank);
        let lc = life_cycle(&mut run.blank);
        match run.result {
            Ok(outcome) => {
                assert!(uzi_at_blank.is_some(), "{case}: only a UZI pass pulled after step 2 lets the card finish");
                assert_eq!(lc, 0x05, "{case}: the new card is complete");
                let puk = puk_digits(outcome);
                assert_eq!(puk.len(), 8);
            }
            Err(PersonaliseError::ActivationUnconfirmed { puk, .. }) => {
                // The host cannot tell a card pulled before ACTIVATE from an answer lost after it.
                assert!(
                    matches!(blank_pull, Some(Pull::Before(n) | Pull::After(n)) if n == n_blank),
                    "{case}: only a failed ACTIVATE exchange leaves the outcome open"
                );
                steps.insert(Step::Finalise);
                if lc == 0x01 {
                    continue;
                }
                assert_eq!(lc, 0x05, "{case}: ACTIVATE ran, so the card is complete");
                assert_eq!(blank_pull, Some(Pull::After(n_blank)));
                let mut digits = Vec::new();
                puk.show(&mut digits).unwrap();
                let mut rrc = vec![0x00, 0x2C, 0x01, 0x01, digits.len() as u8];
                rrc.extend_from_slice(&digits);
                assert_eq!(send(&mut run.blank, &rrc).1, 0x9000, "{case}: the handed-back PUK is the card's");
            }
            Err(e) => {
                assert_eq!(lc, 0x01, "{case}: the blank card is blank again after {e}");
                steps.insert(e.step().unwrap());
                // And a later full run with the same two cards succeeds.
                let (mut u, mut b) = (run.uzi.clone(), run.blank.clone());
                let again = personalise(&mut u, &mut b, &mut entry(), &pull_options(&bench));
                assert!(again.is_ok(), "{case}: a later run fails: {:?}", again.err());
                assert_eq!(life_cycle(&mut run.blank), 0x05);
            }
        }
    }
    // Every step that talks to a card was hit (birth date and new PIN talk to none).
    let expected =
        [Step::UziPass, Step::UziPin, Step::BlankCard, Step::Keys, Step::Certificates, Step::Puk, Step::Finalise];
    assert_eq!(steps.into_iter().collect::<Vec<_>>(), expected);
}

// ---------------------------------------------------------------------------------------------
// The APDU dialogue, and no secret in it.
// ---------------------------------------------------------------------------------------------

/// Runs the personaliser with both readers traced into one memory trace (slot 0 UZI pass, slot 1 new card).
fn traced_run(bench: &Bench) -> (Vec<String>, PersonaliseOutcome) {
    let trace = Trace::memory().without_timestamps();
    let mut uzi = Traced::new(bench.uzi(), trace.clone(), 0);
    let mut blank = Traced::new(bench.blank(), trace.clone(), 1);
    let outcome = run(bench, &mut uzi, &mut blank).unwrap();
    (trace.lines(), outcome)
}

fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Masks what changes from run to run: the dates (validity, certificates), the random challenge and its
/// signature, the keys generated on the card and everything derived from them (public key and certificate EFs,
/// whose sizes follow the DER length of their signatures). Everything else stays byte for byte.
fn normalise(lines: &[String]) -> String {
    let mut current_ef = [String::new(), String::new()];
    let mut last = [String::new(), String::new()];
    let user_cert = |ef: &str| matches!(ef, "4301" | "4302" | "4303");
    let mut out = String::new();
    for line in lines {
        let Some((slot, rest)) = line.strip_prefix("slot ").and_then(|l| l.split_once(' ')) else {
            out.push_str(line);
            out.push('\n');
            continue;
        };
        let s: usize = slot.parse().unwrap();
        let masked = if let Some(cmd) = rest.strip_prefix("> ") {
            let at = cmd.find(" 00 ").unwrap();
            let (name, fields) = (&cmd[..at], &cmd[at + 1..]);
            let mut t: Vec<String> = fields.split(' ').map(String::from).collect();
            last[s] = format!("{name} {}{}", t[2], t[3]);
            match name {
                "SELECT" if t.len() > 5 => current_ef[s] = t[5][t[5].len() - 4..].to_string(),
                "CREATE FILE" => {
                    let data = &t[5];
                    let fid = data.find("8302").map(|i| data[i + 4..i + 8].to_string()).unwrap();
                    if user_cert(&fid) {
                        let i = data.find("8002").unwrap();
                        t[5] = format!("{}8002####{}", &data[..i], &data[i + 8..]);
                    }
                    current_ef[s] = fid;
                }
                "UPDATE BINARY" if current_ef[s].starts_with("420") => {
                    t[5] = "<public key file of the key generated on the card>".into();
                }
                "UPDATE BINARY" if user_cert(&current_ef[s]) => {
                    if t[4] != "F0" {
                        t[4] = "##".into();
                    }
                    t[5] = "<certificate>".into();
                }
                "READ BINARY" if t[4] != "E0" => t[4] = "##".into(),
                "INTERNAL AUTHENTICATE" => t[5] = "<SHA-256 DigestInfo of a 32-byte random challenge>".into(),
                _ => {}
            }
            format!("> {name} {}", t.join(" "))
        } else if let Some(answer) = rest.strip_prefix("< ") {
            let mut t: Vec<String> = answer.split(' ').map(String::from).collect();
            let has_data = t.len() >= 3 && is_hex(&t[0]) && t[1].len() == 2 && t[2].len() == 2 && is_hex(&t[2]);
            if has_data {
                let mask = match last[s].as_str() {
                    "GET DATA DF30" => Some("<validity YYYYMMDD YYYYMMDD>".to_string()),
                    l if l.starts_with("SELECT") && current_ef[s] == "4301" => {
                        let d = &t[0];
                        let i = d.find("8002").unwrap();
                        Some(format!("{}8002####{}", &d[..i], &d[i + 8..]))
                    }
                    l if l.starts_with("READ BINARY") => Some("<certificate>".into()),
                    l if l.starts_with("INTERNAL AUTHENTICATE") => Some("<RSA signature>".into()),
                    l if l.starts_with("GENERATE") => Some(format!("{}<n>", &t[0][..18])),
                    // The rest of a generated public key: the end of n, then e.
                    l if l.starts_with("GET RESPONSE") => Some(format!("<n>{}", &t[0][t[0].len() - 10..])),
                    _ => None,
                };
                if let Some(m) = mask {
                    t[0] = m;
                }
            }
            format!("< {}", t.join(" "))
        } else {
            rest.to_string()
        };
        out.push_str(&format!("slot {slot} {masked}\n"));
    }
    out
}

#[test]
fn snapshot_of_the_personaliser_dialogue() {
    let bench = Bench::new();
    let (lines, _) = traced_run(&bench);
    insta::assert_snapshot!(normalise(&lines));
}

#[test]
fn the_puk_and_pins_never_reach_the_trace() {
    let bench = Bench::new();
    let (lines, outcome) = traced_run(&bench);
    let debug = format!("{outcome:?}");
    let puk = puk_digits(outcome);
    assert!(!debug.contains(&puk), "Debug of the outcome shows the PUK: {debug}");
    assert!(debug.contains("OneTimePuk(***)"));
    let text = lines.join("\n");
    for secret in [puk.as_str(), NEW_PIN, UZI_PIN] {
        let as_hex = hex::encode_upper(secret.as_bytes());
        assert!(!text.contains(&as_hex), "the trace holds {secret} as hex");
        assert!(!text.split_whitespace().any(|w| w == secret), "the trace holds {secret}");
    }
    // The three commands that carry them are in the trace, masked.
    let masked: Vec<&String> = lines.iter().filter(|l| l.contains("********")).collect();
    assert_eq!(masked.len(), 3, "VERIFY (UZI PIN), set PIN, set PUK: {masked:#?}");
}

// ---------------------------------------------------------------------------------------------
// Through pcscd: the two cards in vpcd slots 0 and 1 ("Virtual PCD 00 00" and "00 01").
// ---------------------------------------------------------------------------------------------

/// Run with `scripts/with-pcscd cargo test -p zorgcard --features pcscd-tests --test personaliser`.
#[cfg(feature = "pcscd-tests")]
#[test]
fn through_pcscd_with_two_vpcd_readers() {
    use personaliser::{PersonaliseArgs, personalise_readers};
    use portal::{PortalAction, PortalCommand, portal_run};
    use reader_sim::vpcd::{VpcdConfig, VpcdServer};
    use std::time::Duration;

    let bench = Bench::new();
    let uzi = bench.uzi().into_shared();
    let blank = bench.blank().into_shared();
    let slots: Vec<_> = [&uzi, &blank]
        .iter()
        .enumerate()
        .map(|(n, r)| VpcdServer::spawn(VpcdConfig::local_slot(n as u16), (*r).clone(), Trace::off()).unwrap())
        .collect();
    for s in &slots {
        assert!(s.wait_ready(Duration::from_secs(10)), "start pcscd with the vpcd driver (scripts/with-pcscd)");
    }
    let dir = tempfile::tempdir().unwrap();
    let registry = dir.path().join("portal.db");
    let register = PortalAction::Register { organisation: "Test Zorginstelling 01".into(), ura: "90000001".into() };
    portal_run(&PortalCommand { registry: (&registry).into(), actor: "900016528".into(), action: register }, 0)
        .unwrap();
    let args = PersonaliseArgs {
        uzi_reader: "Virtual PCD 00 00".into(),
        blank_reader: "Virtual PCD 00 01".into(),
        registry: Some((&registry).into()),
        ..Default::default()
    };
    let outcome = personalise_readers(&args, &mut entry()).unwrap();
    assert!(outcome.warnings.is_empty(), "{:?}", outcome.warnings);
    assert_eq!(blank.lock().unwrap().card().unwrap().info().life_cycle, card_os::LifeCycle::Operational);
    let recorded = portal::Store::open(&registry).unwrap().registry().unwrap();
    assert_eq!(recorded.cards[0].issued.serial, outcome.card.serial);
    assert_eq!(puk_digits(outcome).len(), 8);
    for s in slots {
        s.stop();
    }
    std::thread::sleep(Duration::from_millis(600));
}

/// A blank card personalised by the reference personaliser passes the conformance suite as a `zorg-id`
/// card. The suite reads the PIN and PUK from the profile, so it gets a copy of `zorg-id.toml` with this card's
/// PIN and its one-time PUK (in a temporary directory, removed after the test).
#[test]
fn a_personalised_card_passes_the_suite_as_a_zorg_id_card() {
    let bench = Bench::new();
    let (mut uzi, mut blank) = (bench.uzi(), bench.blank());
    let outcome = run(&bench, &mut uzi, &mut blank).unwrap();
    let serial = outcome.card.serial.clone();
    let puk = puk_digits(outcome);
    let dir = tempfile::tempdir().unwrap();
    let profile_path = dir.path().join("zorg-id.toml");
    let original = fixtures::read_to_string(&profile::profile_path("zorg-id")).unwrap();
    // The holder is the UZI pass's holder: the personaliser copied it from the UZI certificate.
    let uzi_profile = fixtures::read_to_string(&profile::profile_path("uzi-medewerker")).unwrap();
    let holder = uzi_profile.split("[holder]").nth(1).unwrap().split("\n[").next().unwrap().to_string();
    let mut section = "";
    let mut adapted: Vec<String> = Vec::new();
    for line in original.lines() {
        if line.starts_with('[') {
            section = if line.starts_with("[pin]") {
                "pin"
            } else if line.starts_with("[puk]") {
                "puk"
            } else if line.starts_with("[holder]") {
                "holder"
            } else {
                ""
            };
            if section == "holder" {
                adapted.push("[holder]".into());
                adapted.extend(holder.lines().filter(|l| !l.trim_start().starts_with("title")).map(String::from));
                continue;
            }
        }
        let key = line.split('=').next().unwrap_or("").trim();
        match (section, key) {
            ("holder", _) => {}
            ("", "serial") => adapted.push(format!("serial = \"{serial}\"")),
            ("pin", "value") => adapted.push(format!("value = \"{NEW_PIN}\"")),
            ("puk", "value") => adapted.push(format!("value = \"{puk}\"")),
            _ => adapted.push(line.to_string()),
        }
    }
    std::fs::write(&profile_path, adapted.join("\n")).unwrap();
    let shared: SharedReader = blank.into_shared();
    let reset_reader = shared.clone();
    let target = conformance::suite::Target::Reader {
        transmit: Box::new(shared),
        profile: profile_path.to_string_lossy().into_owned(),
        reset: Box::new(move || reset_reader.lock().unwrap().reset().map(|_| ()).map_err(|e| e.to_string())),
    };
    let options = conformance::suite::SuiteOptions::default();
    let report = conformance::suite::run_suite(target, &options, &mut |_| {}).unwrap();
    assert_eq!(report.exit_code(), 0, "{}", report.summary());
    assert!(report.summary().contains("PASSED"), "{}", report.summary());
    println!("{}", report.summary());
}
