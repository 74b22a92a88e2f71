//! Properties over random inputs (proptest), bounded to run in seconds:
//! (a) no input panics the card, every answer has a status word, and the NVM always boots into the card's own
//!     view of itself; (b) a PIN model: exact status words, and the PIN counter goes up only through the right
//!     PIN or the right PUK; (c) no signature without a verification since the last reset (and for key 2 since the
//!     last signature); (d) a card blocked for good stays blocked; (e) random APDUs with power cuts and restarts:
//!     the image always boots and a cut never gives a try back. The random sessions run on P-256 cards and on an RSA-2048
//!     card, with the RSA commands (MSE `11`/`12`/`F3`, DigestInfos, DECIPHER, PUT DATA `DB`) among the inputs.
mod common;
use std::sync::OnceLock;

use card_os::image::inspect;
use card_os::sim::SimPlatform;
use card_os::{Card, LifeCycle};
use common::*;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use p256::ecdsa::{Signature, VerifyingKey};
use proptest::prelude::*;

const NEW_PIN: &[u8] = b"abcdef12";

// ---- base images, made once ----

#[derive(Clone, Copy, Debug)]
enum Base {
    Blank,
    Personalised,
    Operational,
    Blocked,
    /// Operational with RSA-2048 keys (01 and 03 injected, 02 generated on the card), in IsoApplet's dialect.
    Rsa,
}

/// An operational card with RSA-2048 keys, personalised through its own APDUs.
fn rsa_operational() -> TestCard {
    let mut card = blank();
    let mut rng = card_os::sim::SimRng(0x5EED_0002);
    let key = rsa::PrivateKey::new(&mut rng, 2048).expect("an RSA key");
    let be = |x: &rsa::BoxedUint| {
        let b: Vec<u8> = x.to_be_bytes().iter().copied().skip_while(|v| *v == 0).collect();
        [vec![0u8; 128 - b.len()], b].concat()
    };
    use rsa::traits::PrivateKeyParts;
    let parts = [
        (0x92, be(&key.primes()[0].clone().get())),
        (0x93, be(&key.primes()[1].clone().get())),
        (0x94, be(&key.qinv().expect("qinv").retrieve())),
        (0x95, be(key.dp().expect("dp"))),
        (0x96, be(key.dq().expect("dq"))),
    ];
    let mut inner = Vec::new();
    for (tag, value) in parts {
        inner.extend([tag, 0x81, 0x80]);
        inner.extend(value);
    }
    let mut template = vec![0x7F, 0x48, 0x82, (inner.len() >> 8) as u8, inner.len() as u8];
    template.extend(inner);
    for key_ref in [0x01u8, 0x03] {
        ok(&mut card, &apdu(0x22, 0x41, 0x00, &[0x80, 0x01, 0xF3, 0x84, 0x01, key_ref], None));
        let mut put = vec![0x00, 0xDB, 0x3F, 0xFF, 0x00, (template.len() >> 8) as u8, template.len() as u8];
        put.extend(&template);
        ok(&mut card, &put);
    }
    ok(&mut card, &hex("00 22 41 00 06 80 01 F3 84 01 02"));
    assert_eq!(tx(&mut card, "00 46 42 00 00").1, 0x610E);
    ok(&mut card, &apdu(0x24, 0x01, 0x01, PIN, None));
    ok(&mut card, &apdu(0x24, 0x01, 0x02, PUK, None));
    ok(&mut card, &hex("00 44 00 00"));
    card
}

fn base_bytes(base: Base) -> &'static [u8] {
    static IMAGES: OnceLock<[Vec<u8>; 5]> = OnceLock::new();
    let images = IMAGES.get_or_init(|| {
        let nvm = |c: &TestCard| c.platform().nvm.bytes.clone();
        let mut blocked = operational();
        for wrong in [b"00000000", b"00000001", b"00000002"] {
            tx_bytes(&mut blocked, &apdu(0x2C, 0x01, 0x01, wrong, None));
        }
        assert_eq!(blocked.info().life_cycle, LifeCycle::Blocked);
        [nvm(&blank()), nvm(&personalised_unactivated()), nvm(&operational()), nvm(&blocked), nvm(&rsa_operational())]
    });
    &images[base as usize]
}

fn boot(bytes: &[u8]) -> TestCard {
    Card::boot(SimPlatform::new(bytes.to_vec(), NOW, 42)).expect("boot")
}

fn nvm(card: &TestCard) -> &[u8] {
    &card.platform().nvm.bytes
}

/// The NVM boots, and into the card the running card says it is (RAM mirrors NVM).
fn assert_nvm_consistent(card: &TestCard) {
    let summary = inspect(nvm(card)).expect("the image inspects");
    let info = card.info();
    assert_eq!(summary.life_cycle, info.life_cycle);
    assert_eq!(boot(nvm(card)).info(), info, "a restarted card is the same card");
}

// ---- structured APDUs ----

const KNOWN_INS: [u8; 19] =
    [0x04, 0x20, 0x22, 0x24, 0x2A, 0x2C, 0x44, 0x46, 0x84, 0x88, 0xA4, 0xB0, 0xC0, 0xCA, 0xD6, 0xDA, 0xDB, 0xE0, 0xFE];

/// A command APDU as fields; encoded short or extended.
#[derive(Clone, Debug)]
struct Cmd {
    cla: u8,
    ins: u8,
    p1: u8,
    p2: u8,
    data: Vec<u8>,
    le: Option<u32>,
    extended: bool,
}

impl Cmd {
    fn encode(&self) -> Vec<u8> {
        let mut v = vec![self.cla, self.ins, self.p1, self.p2];
        let extended = self.extended || self.data.len() > 255 || self.le.is_some_and(|le| le > 256);
        if extended {
            if !self.data.is_empty() || self.le.is_some() {
                v.push(0);
            }
            if !self.data.is_empty() {
                v.extend_from_slice(&(self.data.len() as u16).to_be_bytes());
                v.extend_from_slice(&self.data);
            }
            if let Some(le) = self.le {
                v.extend_from_slice(&((le % 65_536) as u16).to_be_bytes());
            }
        } else {
            if !self.data.is_empty() {
                v.push(self.data.len() as u8);
                v.extend_from_slice(&self.data);
            }
            if let Some(le) = self.le {
                v.push((le % 256) as u8);
            }
        }
        v
    }
}

fn interesting_data() -> Vec<Vec<u8>> {
    vec![
        PIN.to_vec(),
        NEW_PIN.to_vec(),
        b"999999".to_vec(),
        PUK.to_vec(),
        [PUK, PIN].concat(),
        [PUK, NEW_PIN].concat(),
        [PIN, NEW_PIN].concat(),
        [NEW_PIN, PIN].concat(),
        hex("80 01 21 84 01 01"),
        hex("80 01 11 84 01 01"),
        hex("80 01 12 84 01 01"),
        hex("80 01 11 84 01 03"),
        hex("80 01 F3 84 01 01"),
        hex("3031300D060960864801650304020105000420 5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A"),
        [vec![0x00], vec![0x3C; 256]].concat(),
        hex("7F48 06 92 01 03 93 01 05"),
        hex("84 01 02"),
        hex("84 01 01"),
        hex("84 01 03"),
        vec![0x5A; 32],
        vec![0x11; 32],
        hex("62 0B 82 01 01 83 02 60 01 80 02 00 10"),
        hex("62 0E 82 01 01 83 02 60 02 80 02 00 10 88 01 03"),
        hex("62 07 82 01 38 83 02 70 00"),
        hex("50 15"),
        hex("43 01"),
        hex("43 10"),
        hex("3F 00"),
        hex("50 15 43 01"),
        hex("A0 00 00 00 63 50 4B 43 53 2D 31 35"),
        hex("F2 76 A2 88 BC FB A6 9D 34 F3 10 01"),
    ]
}

fn arb_cmd() -> impl Strategy<Value = Cmd> {
    let cla = prop_oneof![8 => Just(0x00u8), 1 => Just(0x10u8), 1 => any::<u8>()];
    let ins = prop_oneof![9 => prop::sample::select(KNOWN_INS.to_vec()), 1 => any::<u8>()];
    let param = || {
        prop_oneof![
            3 => prop::sample::select(vec![
                0x00u8, 0x01, 0x02, 0x03, 0x04, 0x08, 0x09, 0x0C, 0x41, 0x9E, 0x9A, 0xB6, 0xA4, 0xDF, 0x30, 0x31, 0x32,
                0x33, 0xFF, 0x85, 0x81, 0x80, 0x86, 0xB8, 0x42, 0x3F,
            ]),
            1 => any::<u8>(),
        ]
    };
    let data = prop_oneof![
        3 => Just(Vec::new()),
        3 => prop::sample::select(interesting_data()),
        2 => prop::collection::vec(any::<u8>(), 0..40),
        1 => prop::collection::vec(any::<u8>(), 200..300),
    ];
    let le = prop_oneof![2 => Just(None), 2 => Just(Some(0u32)), 1 => (1u32..=300).prop_map(Some)];
    (cla, ins, param(), param(), data, le, prop::bool::weighted(0.1))
        .prop_map(|(cla, ins, p1, p2, data, le, extended)| Cmd { cla, ins, p1, p2, data, le, extended })
}

/// One step of a random session.
#[derive(Clone, Debug)]
enum Step {
    Apdu(Cmd),
    Raw(Vec<u8>),
    Reset,
    Reboot,
}

fn arb_step() -> impl Strategy<Value = Step> {
    prop_oneof![
        12 => arb_cmd().prop_map(Step::Apdu),
        2 => prop::collection::vec(any::<u8>(), 0..300).prop_map(Step::Raw),
        1 => Just(Step::Reset),
        1 => Just(Step::Reboot),
    ]
}

fn arb_base() -> impl Strategy<Value = Base> {
    prop_oneof![
        Just(Base::Blank),
        Just(Base::Personalised),
        Just(Base::Operational),
        Just(Base::Blocked),
        Just(Base::Rsa)
    ]
}

fn restart(card: TestCard) -> TestCard {
    reboot(card)
}

// ---- (b), (c): a model of the PIN, PUK and security environment ----

#[derive(Clone, Debug)]
enum Op {
    Verify(usize),
    VerifyStatus,
    VerifyPuk,
    LogOut,
    Change(usize, usize),
    Unblock(usize, usize),
    UnblockPukOnly(usize),
    Reset,
    Reboot,
    /// Template, key, algorithm reference `21` (SHA-1 on the card).
    Mse(u8, u8, bool),
    Pso(u8),
    InternalAuthenticate(u8),
}

/// PIN candidates (index 0 = the personalised PIN).
const PIN_CANDIDATES: [&[u8]; 6] = [PIN, NEW_PIN, b"999999", b"12345", b"1234567", b"xyzxyzxy"];
/// PUK candidates (index 0 = the PUK).
const PUK_CANDIDATES: [&[u8]; 4] = [PUK, b"00000000", b"1234567", b"123456789"];

#[derive(Clone, Debug)]
struct Model {
    pin: Vec<u8>,
    pin_left: u8,
    puk_left: u8,
    verified: bool,
    armed: bool,
    dst: Option<(u8, bool)>,
    at: Option<u8>,
}

impl Model {
    fn new() -> Self {
        Model { pin: PIN.to_vec(), pin_left: 3, puk_left: 3, verified: false, armed: false, dst: None, at: None }
    }

    fn session_lost(&mut self) {
        self.verified = false;
        self.armed = false;
        self.dst = None;
        self.at = None;
    }

    fn accepts_pin(v: &[u8]) -> bool {
        (6..=8).contains(&v.len()) && v.iter().all(|b| (0x20..=0x7E).contains(b))
    }

    /// Spend a try of a counter; `63Cx` or success.
    fn present_pin(&mut self, value: &[u8]) -> bool {
        self.verified = false;
        self.armed = false;
        self.pin_left -= 1;
        value == self.pin.as_slice()
    }

    fn key_usable(&self, key: u8) -> u16 {
        if self.puk_left == 0 {
            return 0x6983;
        }
        let ok = if key == 2 { self.armed } else { self.verified };
        if ok { 0x9000 } else { 0x6982 }
    }

    /// The status word the card must answer, and the model after it.
    #[allow(clippy::too_many_lines)] // one arm per operation, read side by side with the card's dispatch
    fn apply(&mut self, op: &Op) -> Option<u16> {
        let sw = match *op {
            Op::Verify(i) => {
                if self.puk_left == 0 || self.pin_left == 0 {
                    0x6983
                } else if self.present_pin(PIN_CANDIDATES[i]) {
                    self.pin_left = 3;
                    self.verified = true;
                    self.armed = true;
                    0x9000
                } else {
                    0x63C0 | self.pin_left as u16
                }
            }
            Op::VerifyStatus => {
                if self.puk_left == 0 {
                    0x6983
                } else if self.verified {
                    0x9000
                } else if self.pin_left == 0 {
                    0x6983
                } else {
                    0x63C0 | self.pin_left as u16
                }
            }
            Op::VerifyPuk => 0x6985,
            Op::LogOut => {
                self.verified = false;
                self.armed = false;
                0x9000
            }
            Op::Change(old, new) => {
                let data = [PIN_CANDIDATES[old], PIN_CANDIDATES[new]].concat();
                let (old, new) = data.split_at(self.pin.len().min(data.len()));
                if self.puk_left == 0 || self.pin_left == 0 {
                    0x6983
                } else if !Self::accepts_pin(new) {
                    0x6A80
                } else if self.present_pin(old) {
                    self.pin = new.to_vec();
                    self.pin_left = 3;
                    self.verified = true;
                    self.armed = true;
                    0x9000
                } else {
                    0x63C0 | self.pin_left as u16
                }
            }
            Op::Unblock(puk, new) => {
                let data = [PUK_CANDIDATES[puk], PIN_CANDIDATES[new]].concat();
                let (puk, new) = data.split_at(PUK.len().min(data.len()));
                if self.puk_left == 0 {
                    0x6983
                } else if !Self::accepts_pin(new) {
                    0x6A80
                } else {
                    self.puk_left -= 1;
                    if puk == PUK {
                        self.pin = new.to_vec();
                        self.pin_left = 3;
                        self.puk_left = 3;
                        0x9000
                    } else {
                        if self.puk_left == 0 {
                            // Blocked for good: the session's verification is gone too.
                            self.verified = false;
                            self.armed = false;
                        }
                        0x63C0 | self.puk_left as u16
                    }
                }
            }
            Op::UnblockPukOnly(puk) => {
                if self.puk_left == 0 {
                    0x6983
                } else {
                    self.puk_left -= 1;
                    if PUK_CANDIDATES[puk] == PUK {
                        self.pin_left = 3;
                        self.puk_left = 3;
                        0x9000
                    } else {
                        if self.puk_left == 0 {
                            // Blocked for good: the session's verification is gone too.
                            self.verified = false;
                            self.armed = false;
                        }
                        0x63C0 | self.puk_left as u16
                    }
                }
            }
            Op::Reset | Op::Reboot => {
                self.session_lost();
                return None;
            }
            Op::Mse(template, key, sha1) => match (template, key) {
                (0xB6, 1 | 2) => {
                    self.dst = Some((key, sha1));
                    0x9000
                }
                (0xA4, 1) => {
                    self.at = Some(key);
                    0x9000
                }
                _ => 0x6985,
            },
            Op::Pso(_) => match self.dst {
                None => 0x6985,
                Some((key, _)) => {
                    let sw = self.key_usable(key);
                    if sw == 0x9000 && key == 2 {
                        self.armed = false;
                    }
                    sw
                }
            },
            Op::InternalAuthenticate(p2) => match if p2 == 0 { self.at } else { Some(p2) } {
                None => 0x6985,
                Some(1) => self.key_usable(1),
                Some(_) => 0x6985,
            },
        };
        Some(sw)
    }
}

fn op_apdu(op: &Op) -> Option<Vec<u8>> {
    Some(match *op {
        Op::Verify(i) => apdu(0x20, 0x00, 0x01, PIN_CANDIDATES[i], None),
        Op::VerifyStatus => hex("00 20 00 01"),
        Op::VerifyPuk => apdu(0x20, 0x00, 0x02, PUK, None),
        Op::LogOut => hex("00 20 FF 01"),
        Op::Change(old, new) => apdu(0x24, 0x00, 0x01, &[PIN_CANDIDATES[old], PIN_CANDIDATES[new]].concat(), None),
        Op::Unblock(puk, new) => apdu(0x2C, 0x00, 0x01, &[PUK_CANDIDATES[puk], PIN_CANDIDATES[new]].concat(), None),
        Op::UnblockPukOnly(puk) => apdu(0x2C, 0x01, 0x01, PUK_CANDIDATES[puk], None),
        Op::Mse(template, key, false) => apdu(0x22, 0x41, template, &[0x84, 0x01, key], None),
        Op::Mse(template, key, true) => apdu(0x22, 0x41, template, &[0x80, 0x01, 0x21, 0x84, 0x01, key], None),
        Op::Pso(h) => apdu(0x2A, 0x9E, 0x9A, &[h; 32], Some(0)),
        Op::InternalAuthenticate(p2) => apdu(0x88, 0x00, p2, b"challenge", Some(0)),
        Op::Reset | Op::Reboot => return None,
    })
}

fn arb_pin_op() -> impl Strategy<Value = Op> {
    let pin = || prop_oneof![3 => Just(0usize), 2 => 0..PIN_CANDIDATES.len()];
    let puk = || prop_oneof![1 => Just(0usize), 2 => 0..PUK_CANDIDATES.len()];
    prop_oneof![
        4 => pin().prop_map(Op::Verify),
        1 => Just(Op::VerifyStatus),
        1 => Just(Op::VerifyPuk),
        1 => Just(Op::LogOut),
        3 => (pin(), pin()).prop_map(|(o, n)| Op::Change(o, n)),
        2 => (puk(), pin()).prop_map(|(p, n)| Op::Unblock(p, n)),
        2 => puk().prop_map(Op::UnblockPukOnly),
        1 => Just(Op::Reset),
        1 => Just(Op::Reboot),
    ]
}

fn arb_sign_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::Verify(0)),
        1 => (1..PIN_CANDIDATES.len()).prop_map(Op::Verify),
        1 => Just(Op::VerifyStatus),
        1 => Just(Op::LogOut),
        1 => Just(Op::UnblockPukOnly(0)),
        1 => Just(Op::Reset),
        1 => Just(Op::Reboot),
        3 => (prop::sample::select(vec![0xB6u8, 0xA4]), 1u8..=3, any::<bool>()).prop_map(|(t, k, s)| Op::Mse(t, k, s)),
        4 => any::<u8>().prop_map(Op::Pso),
        2 => (0u8..=3).prop_map(Op::InternalAuthenticate),
    ]
}

/// Run model ops on a card; check every status word against the model; call `check` after each.
fn run_model(
    ops: &[Op],
    mut check: impl FnMut(&Op, u16, &[u8], &card_os::CardInfo, &card_os::CardInfo, &Model),
) -> Result<(), TestCaseError> {
    let mut card = boot(base_bytes(Base::Operational));
    let keys: Vec<VerifyingKey> = card
        .info()
        .keys
        .iter()
        .map(|k| match k.public {
            card_os::PublicKey::P256(point) => VerifyingKey::from_sec1_bytes(&point).expect("key"),
            other => panic!("a P-256 key, not {other:?}"),
        })
        .collect();
    let mut model = Model::new();
    for op in ops {
        let before = card.info();
        let expected = model.apply(op);
        let (sw, data) = match op {
            Op::Reset => {
                card.reset();
                (0, vec![])
            }
            Op::Reboot => {
                card = restart(card);
                (0, vec![])
            }
            _ => {
                let (data, sw) = tx_bytes(&mut card, &op_apdu(op).expect("an APDU"));
                (sw, data)
            }
        };
        if let Some(expected) = expected {
            prop_assert_eq!(
                sw,
                expected,
                "{:?} answered {:04X}, the model says {:04X}; model {:?}",
                op,
                sw,
                expected,
                model
            );
        }
        let after = card.info();
        prop_assert_eq!(after.pin.left, model.pin_left, "PIN counter after {:?}", op);
        prop_assert_eq!(after.puk.left, model.puk_left, "PUK counter after {:?}", op);
        prop_assert_eq!(card.session().pin_verified, model.verified, "verification after {:?}", op);
        // Signatures verify with the key the card announces.
        if sw == 0x9000 {
            match op {
                Op::Pso(h) => {
                    let (key, sha1) = model.dst.expect("dst");
                    let sig = Signature::from_der(&data).expect("DER");
                    let digest =
                        if sha1 { <sha1::Sha1 as sha1::Digest>::digest([*h; 32]).to_vec() } else { vec![*h; 32] };
                    prop_assert!(keys[key as usize - 1].verify_prehash(&digest, &sig).is_ok());
                }
                Op::InternalAuthenticate(_) => {
                    let sig = Signature::from_der(&data).expect("DER");
                    prop_assert!(keys[0].verify(b"challenge", &sig).is_ok());
                }
                _ => {}
            }
        }
        check(op, sw, &data, &before, &after, &model);
    }
    assert_nvm_consistent(&card);
    Ok(())
}

// ---- (e): power cuts ----

#[derive(Clone, Debug)]
enum CutStep {
    Step(Step),
    /// Cut the power during the k-th next write, then send this APDU, then restart.
    Cut(u32, Cmd),
}

fn arb_cut_step() -> impl Strategy<Value = CutStep> {
    let sig_or_pin = prop_oneof![
        Just(Cmd { cla: 0, ins: 0x20, p1: 0, p2: 1, data: PIN.to_vec(), le: None, extended: false }),
        Just(Cmd { cla: 0, ins: 0x20, p1: 0, p2: 1, data: b"999999".to_vec(), le: None, extended: false }),
        Just(Cmd { cla: 0, ins: 0x2C, p1: 1, p2: 1, data: PUK.to_vec(), le: None, extended: false }),
        Just(Cmd { cla: 0, ins: 0x2C, p1: 0, p2: 1, data: [PUK, NEW_PIN].concat(), le: None, extended: false }),
        Just(Cmd { cla: 0, ins: 0x24, p1: 0, p2: 1, data: [PIN, NEW_PIN].concat(), le: None, extended: false }),
        Just(Cmd { cla: 0, ins: 0x46, p1: 0, p2: 2, data: vec![], le: Some(0), extended: false }),
        Just(Cmd { cla: 0, ins: 0x44, p1: 0, p2: 0, data: vec![], le: None, extended: false }),
        arb_cmd(),
    ];
    prop_oneof![
        4 => arb_step().prop_map(CutStep::Step),
        2 => (0u32..16, sig_or_pin).prop_map(|(k, c)| CutStep::Cut(k, c)),
    ]
}

fn apply_step(card: TestCard, step: &Step) -> Result<TestCard, TestCaseError> {
    let mut card = card;
    match step {
        Step::Apdu(cmd) => {
            let answer = card.transmit(&cmd.encode()).len();
            prop_assert!(answer >= 2);
        }
        Step::Raw(bytes) => {
            let answer = card.transmit(bytes).len();
            prop_assert!(answer >= 2);
        }
        Step::Reset => card.reset(),
        Step::Reboot => card = restart(card),
    }
    Ok(card)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 1000,
        max_shrink_iters: 4000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// (a) Raw bytes: no panic, an answer with a status word, the image intact and mirrored.
    #[test]
    fn raw_bytes_never_break_the_card(base in arb_base(), inputs in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 1..8)) {
        let mut card = boot(base_bytes(base));
        for input in &inputs {
            let r = card.transmit(input).to_vec();
            prop_assert!(r.len() >= 2);
            assert_nvm_consistent(&card);
        }
    }

    /// (a) Structured APDUs, resets and reboots: no panic, a status word, the image intact and mirrored;
    /// errors (`64xx`–`6Fxx`) carry no data.
    #[test]
    fn structured_apdus_never_break_the_card(base in arb_base(), steps in prop::collection::vec(arb_step(), 1..24)) {
        let mut card = boot(base_bytes(base));
        for step in &steps {
            if let Step::Apdu(cmd) = step {
                let r = card.transmit(&cmd.encode()).to_vec();
                prop_assert!(r.len() >= 2);
                let sw1 = r[r.len() - 2];
                if (0x64..=0x6F).contains(&sw1) {
                    prop_assert_eq!(r.len(), 2, "an error with data: {:02X?} for {:?}", r, cmd);
                }
            } else {
                card = apply_step(card, step)?;
            }
            assert_nvm_consistent(&card);
        }
    }

    /// (b) The PIN model holds, and the PIN counter goes up only through the right PIN or the right PUK.
    #[test]
    fn pin_counter_follows_the_model(ops in prop::collection::vec(arb_pin_op(), 1..30)) {
        run_model(&ops, |op, sw, _, before, after, _| {
            if after.pin.left > before.pin.left {
                let presents_a_secret = matches!(op, Op::Verify(_) | Op::Change(..) | Op::Unblock(..) | Op::UnblockPukOnly(_));
                assert!(presents_a_secret && sw == 0x9000, "PIN counter went up with {op:?} ({sw:04X})");
            }
            if after.puk.left > before.puk.left {
                assert!(matches!(op, Op::Unblock(..) | Op::UnblockPukOnly(_)) && sw == 0x9000, "PUK counter went up with {op:?}");
            }
        })?;
    }

    /// (c) No signature unless the PIN was verified since the last reset, and for key 2 since its last signature.
    #[test]
    fn no_signature_without_verification(ops in prop::collection::vec(arb_sign_op(), 1..30)) {
        let mut verified_since_reset = false;
        let mut verified_since_key2 = false;
        run_model(&ops, |op, sw, _, _, _, model| {
            match op {
                Op::Reset | Op::Reboot | Op::LogOut => {
                    verified_since_reset = false;
                    verified_since_key2 = false;
                }
                Op::Verify(_) | Op::Change(..) => {
                    verified_since_reset = sw == 0x9000;
                    verified_since_key2 = sw == 0x9000;
                }
                Op::Pso(_) if sw == 0x9000 => {
                    assert!(verified_since_reset, "a signature without a verification since the reset");
                    if model.dst.is_some_and(|(key, _)| key == 2) {
                        assert!(verified_since_key2, "two key-2 signatures on one verification");
                        verified_since_key2 = false;
                    }
                }
                Op::InternalAuthenticate(_) if sw == 0x9000 => {
                    assert!(verified_since_reset, "an authentication without a verification since the reset");
                }
                _ => {}
            }
        })?;
    }

    /// (d) Blocked for good: random APDUs (including the right PIN and PUK), resets, reboots and power cuts.
    #[test]
    fn blocked_card_stays_blocked(steps in prop::collection::vec(arb_cut_step(), 1..20)) {
        let mut card = boot(base_bytes(Base::Blocked));
        for step in &steps {
            card = match step {
                CutStep::Step(s) => {
                    if let Step::Apdu(cmd) = s {
                        let (data, sw) = tx_bytes(&mut card, &cmd.encode());
                        // (A chained part answers 9000 without data: that is no signature.)
                        if matches!(cmd.ins, 0x2A | 0x88) {
                            let signed = (sw == 0x9000 && !data.is_empty()) || sw >> 8 == 0x61;
                            prop_assert!(!signed, "a blocked card signed: {:02X?} {:04X}", data, sw);
                        }
                        card
                    } else {
                        apply_step(card, s)?
                    }
                }
                CutStep::Cut(k, cmd) => {
                    card.platform_mut().nvm.cut_after(*k);
                    card.transmit(&cmd.encode());
                    card.platform_mut().nvm.restore_power();
                    restart(card)
                }
            };
            let info = card.info();
            prop_assert_eq!(info.life_cycle, LifeCycle::Blocked);
            prop_assert_eq!(info.puk.left, 0);
        }
        // A reset first: a random chained part may be waiting for its last part.
        card.reset();
        for (apdu_bytes, sw) in [
            (apdu(0x20, 0x00, 0x01, PIN, None), 0x6983),
            (apdu(0x2C, 0x01, 0x01, PUK, None), 0x6983),
            (apdu(0x2C, 0x00, 0x01, &[PUK, NEW_PIN].concat(), None), 0x6983),
            (apdu(0x24, 0x00, 0x01, &[PIN, NEW_PIN].concat(), None), 0x6983),
        ] {
            prop_assert_eq!(tx_bytes(&mut card, &apdu_bytes).1, sw);
        }
        let mut card = restart(card);
        prop_assert_eq!(tx(&mut card, "00 CA DF 31 00").0, vec![0x06]);
    }

    /// (e) The bounded fuzz target: random APDUs with power cuts at random writes and restarts. The image always
    /// boots, and a cut never gives a PIN or PUK try back.
    #[test]
    fn power_cuts_never_break_the_image(base in arb_base(), steps in prop::collection::vec(arb_cut_step(), 1..24)) {
        let mut card = boot(base_bytes(base));
        for step in &steps {
            card = match step {
                CutStep::Step(s) => apply_step(card, s)?,
                CutStep::Cut(k, cmd) => {
                    let before = card.info();
                    card.platform_mut().nvm.cut_after(*k);
                    let answer = card.transmit(&cmd.encode()).to_vec();
                    prop_assert!(answer.len() >= 2);
                    let cut = card.platform().nvm.power_lost();
                    card.platform_mut().nvm.restore_power();
                    let card = restart(card);
                    if cut {
                        prop_assert_eq!(&answer, &[0x65, 0x81]);
                        let after = card.info();
                        prop_assert!(after.pin.left <= before.pin.left, "PIN try given back by a cut");
                        prop_assert!(after.puk.left <= before.puk.left, "PUK try given back by a cut");
                    }
                    card
                }
            };
            prop_assert!(inspect(nvm(&card)).is_ok());
            assert_nvm_consistent(&card);
        }
    }
}

/// Damaged images that still carry a valid checksum: boot and inspect refuse them or the card works; never a panic.
#[test]
fn resealed_random_metadata_never_panics() {
    use common::layout::{body, reseal, seq};
    let good = base_bytes(Base::Operational).to_vec();
    let active = inspect(&good).unwrap();
    let bank = (0..2).find(|b| seq(&good, *b) == active.sequence).unwrap();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(300));
    let edits = prop::collection::vec((0usize..1792, any::<u8>()), 1..6);
    let booted = std::cell::Cell::new(0);
    runner
        .run(&(edits, prop::collection::vec(arb_cmd(), 1..10)), |(edits, cmds)| {
            let mut b = good.clone();
            for (at, v) in edits {
                b[body(bank) + at] = v;
            }
            reseal(&mut b, bank);
            let _ = inspect(&b);
            if let Ok(mut card) = Card::boot(SimPlatform::new(b, NOW, 1)) {
                booted.set(booted.get() + 1);
                let _ = card.info();
                for c in &cmds {
                    prop_assert!(card.transmit(&c.encode()).len() >= 2);
                }
                let _ = card.info();
            }
            Ok(())
        })
        .unwrap();
    assert!(booted.get() > 0, "some edits leave a bootable card");
}
