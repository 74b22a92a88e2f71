//! Power cuts: for every NVM write an operation makes, cut the power during that write, restart the card and
//! check that it is exactly in the state before the operation or after it (or, for PIN presentation, the
//! documented state with one try spent), never a mix; and that a cut never gives a PIN or PUK try back.
mod common;
use std::collections::BTreeSet;

use card_os::sim::SimPlatform;
use card_os::{Card, CardInfo, KeyRef};
use common::*;
use p256::ecdsa::Signature;
use p256::ecdsa::signature::hazmat::PrehashVerifier;

const NEW_PIN: &[u8] = b"abcdef12";

/// What a restarted card is: its public information and what a probe reads from it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct State {
    info: CardInfo,
    probe: Vec<u8>,
}

type Op = dyn Fn(&mut TestCard) -> u16;
type Probe = dyn Fn(&mut TestCard) -> Vec<u8>;

fn nvm(card: &TestCard) -> Vec<u8> {
    card.platform().nvm.bytes.clone()
}

/// Power up a card on a copy of these NVM bytes (same clock and RNG seed every time).
fn boot_from(bytes: &[u8]) -> TestCard {
    Card::boot(SimPlatform::new(bytes.to_vec(), NOW, 42)).expect("boot")
}

fn observe(bytes: &[u8], probe: &Probe) -> State {
    let mut card = boot_from(bytes);
    let info = card.info();
    let probe = probe(&mut card);
    State { info, probe }
}

/// The NVM after running `op` on `before` without a cut.
fn run(before: &[u8], op: &Op, expected_sw: u16) -> Vec<u8> {
    let mut card = boot_from(before);
    assert_eq!(op(&mut card), expected_sw, "the operation without a cut");
    nvm(&card)
}

/// Cut the power during write 0, 1, 2, … of `op` until it completes. After each cut: the card answered `6581`,
/// stays halted until restarted, and restarts in one of `allowed` (`allowed[0]` is the state before); with no cut
/// it ends in `new`. Returns the number of writes the operation made.
fn sweep(name: &str, before: &[u8], op: &Op, expected_sw: u16, probe: &Probe, allowed: &[State]) -> u32 {
    let after = run(before, op, expected_sw);
    let new = observe(&after, probe);
    let old = &allowed[0];
    let mut seen = BTreeSet::new();
    for k in 0.. {
        let mut card = boot_from(before);
        card.platform_mut().nvm.cut_after(k);
        let sw = op(&mut card);
        if !card.platform().nvm.power_lost() {
            assert_eq!(sw, expected_sw, "{name}: no cut at k = {k}");
            assert_eq!(observe(&nvm(&card), probe), new, "{name}: completed");
            assert!(k > 1, "{name}: the operation wrote something");
            assert_eq!(seen.len(), allowed.len(), "{name}: every allowed state was reached by some cut: {seen:?}");
            return k;
        }
        assert_eq!(sw, 0x6581, "{name}: cut at write {k}");
        assert_eq!(tx(&mut card, "00 CA DF 31 00").1, 0x6581, "{name}: halted until restarted");
        let card = reboot(card);
        let state = observe(&nvm(&card), probe);
        let Some(i) = allowed.iter().position(|s| *s == state) else {
            panic!("{name}: cut at write {k} left\n{state:#?}\nwhich is none of\n{allowed:#?}\n(new state:\n{new:#?})");
        };
        seen.insert(i);
        // A cut never gives a try back.
        assert!(state.info.pin.left <= old.info.pin.left, "{name}: PIN try given back at write {k}");
        assert!(state.info.puk.left <= old.info.puk.left, "{name}: PUK try given back at write {k}");
        assert!(k < 1000, "{name}: never completes");
    }
    unreachable!()
}

/// Which of `candidates` is the user PIN now (unblocking with the PUK first if needed); `FF` if none.
fn which_pin(candidates: &'static [&'static [u8]]) -> impl Fn(&mut TestCard) -> Vec<u8> {
    move |card| {
        if card.info().pin.left == 0 {
            assert_eq!(tx_bytes(card, &apdu(0x2C, 0x01, 0x01, PUK, None)).1, 0x9000, "unblock for the probe");
        }
        for (i, c) in candidates.iter().enumerate() {
            if verify(card, c) == 0x9000 {
                return vec![i as u8];
            }
        }
        vec![0xFF]
    }
}

fn verify_op(pin: &'static [u8]) -> impl Fn(&mut TestCard) -> u16 {
    move |card| verify(card, pin)
}

fn change_op(old: &'static [u8], new: &'static [u8]) -> impl Fn(&mut TestCard) -> u16 {
    move |card| tx_bytes(card, &apdu(0x24, 0x00, 0x01, &[old, new].concat(), None)).1
}

fn unblock_op(p1: u8, puk: &'static [u8], new: &'static [u8]) -> impl Fn(&mut TestCard) -> u16 {
    move |card| tx_bytes(card, &apdu(0x2C, p1, 0x01, &[puk, new].concat(), None)).1
}

const PINS: &[&[u8]] = &[PIN, NEW_PIN];

fn operational_bytes() -> Vec<u8> {
    nvm(&operational())
}

/// After `n` wrong PINs.
fn with_wrong_pins(n: usize) -> Vec<u8> {
    let mut card = operational();
    for _ in 0..n {
        verify(&mut card, b"999999");
    }
    assert_eq!(card.info().pin.left as usize, 3 - n);
    nvm(&card)
}

#[test]
fn verify_right_pin() {
    let probe = which_pin(PINS);
    for wrong_before in [0, 1, 2] {
        let before = with_wrong_pins(wrong_before);
        let old = observe(&before, &probe);
        // The documented intermediate state: the try spent and persisted before the compare.
        let spent = observe(&run(&before, &verify_op(b"999999"), 0x63C0 | (2 - wrong_before as u16)), &probe);
        assert_eq!(spent.info.pin.left, old.info.pin.left - 1);
        let writes = sweep(
            &format!("VERIFY right after {wrong_before} wrong"),
            &before,
            &verify_op(PIN),
            0x9000,
            &probe,
            &[old, spent],
        );
        assert!(writes >= 2, "two commits");
    }
}

#[test]
fn verify_wrong_pin() {
    let probe = which_pin(PINS);
    for wrong_before in [0, 1, 2] {
        let before = with_wrong_pins(wrong_before);
        let old = observe(&before, &probe);
        let expected = 0x63C0 | (2 - wrong_before as u16);
        sweep(
            &format!("VERIFY wrong after {wrong_before} wrong"),
            &before,
            &verify_op(b"000000"),
            expected,
            &probe,
            &[old],
        );
    }
}

#[test]
fn change_pin() {
    let probe = which_pin(PINS);
    let before = operational_bytes();
    let old = observe(&before, &probe);
    let spent = observe(&run(&before, &change_op(b"999999", NEW_PIN), 0x63C2), &probe);
    sweep("CHANGE REFERENCE DATA", &before, &change_op(PIN, NEW_PIN), 0x9000, &probe, &[old.clone(), spent]);
    let new = observe(&run(&before, &change_op(PIN, NEW_PIN), 0x9000), &probe);
    assert_eq!(new.probe, vec![1], "the new PIN is in force after the change");
    // With the wrong old PIN: one commit, the try.
    sweep("CHANGE REFERENCE DATA wrong", &before, &change_op(b"999999", NEW_PIN), 0x63C2, &probe, &[old]);
}

#[test]
fn unblock_with_puk_and_new_pin() {
    let probe = which_pin(PINS);
    let before = with_wrong_pins(3);
    let old = observe(&before, &probe);
    let spent = observe(&run(&before, &unblock_op(0x00, b"00000000", NEW_PIN), 0x63C2), &probe);
    assert_eq!(spent.info.puk.left, 2);
    sweep("RESET RETRY COUNTER 00", &before, &unblock_op(0x00, PUK, NEW_PIN), 0x9000, &probe, &[old.clone(), spent]);
    let new = observe(&run(&before, &unblock_op(0x00, PUK, NEW_PIN), 0x9000), &probe);
    assert_eq!((new.info.pin.left, new.info.puk.left, new.probe.clone()), (3, 3, vec![1]));
    sweep("RESET RETRY COUNTER wrong PUK", &before, &unblock_op(0x00, b"00000000", NEW_PIN), 0x63C2, &probe, &[old]);
}

#[test]
fn unblock_with_puk_only() {
    let probe = which_pin(PINS);
    let before = with_wrong_pins(3);
    let old = observe(&before, &probe);
    let spent = observe(&run(&before, &unblock_op(0x01, b"00000000", b""), 0x63C2), &probe);
    sweep("RESET RETRY COUNTER 01", &before, &unblock_op(0x01, PUK, b""), 0x9000, &probe, &[old, spent]);
    let new = observe(&run(&before, &unblock_op(0x01, PUK, b""), 0x9000), &probe);
    assert_eq!((new.info.pin.left, new.probe.clone()), (3, vec![0]), "the PIN kept its value");
}

#[test]
fn last_wrong_puk_blocks_the_card_atomically() {
    let mut card = operational();
    for wrong in [b"00000000", b"00000001"] {
        tx_bytes(&mut card, &apdu(0x2C, 0x01, 0x01, wrong, None));
    }
    let before = nvm(&card);
    // The probe cannot unblock a blocked card: look at the info only.
    let info_only: &Probe = &|_| vec![];
    let old = observe(&before, info_only);
    let writes =
        sweep("RESET RETRY COUNTER last PUK", &before, &unblock_op(0x01, b"00000002", b""), 0x63C0, info_only, &[old]);
    assert!(writes >= 1);
    let blocked = boot_from(&run(&before, &unblock_op(0x01, b"00000002", b""), 0x63C0));
    assert_eq!(blocked.info().life_cycle, card_os::LifeCycle::Blocked);
}

// ---- personalisation, from a blank card ----

const FCP_DF: &str = "62 15 82 01 38 83 02 50 15 84 0C A0 00 00 00 63 50 4B 43 53 2D 31 35";
const FCP_EF: &str = "62 12 82 01 01 83 02 43 01 80 02 02 58 86 02 00 02 88 01 01";

fn select_probe(path: &'static str) -> impl Fn(&mut TestCard) -> Vec<u8> {
    move |card| {
        let (mut data, sw) = tx(card, &format!("00 A4 08 04 {:02X} {path} 00", hex(path).len()));
        data.extend_from_slice(&sw.to_be_bytes());
        data
    }
}

fn cert_probe(card: &mut TestCard) -> Vec<u8> {
    let (mut data, sw) = tx(card, "00 A4 08 0C 04 50 15 43 01");
    if sw != 0x9000 {
        return sw.to_be_bytes().to_vec();
    }
    let (d, sw) = tx(card, "00 B0 00 00 00 02 58");
    data.extend_from_slice(&d);
    data.extend_from_slice(&sw.to_be_bytes());
    data
}

/// For every key that may sign: does a signature made on the card verify with the public key it announces?
/// (Finishes the personalisation on this copy of the card if needed.)
fn key_probe(card: &mut TestCard) -> Vec<u8> {
    let info = card.info();
    if !info.pin.initialised {
        ok(card, &apdu(0x24, 0x01, 0x01, PIN, None));
    }
    if !info.puk.initialised {
        ok(card, &apdu(0x24, 0x01, 0x02, PUK, None));
    }
    if info.life_cycle != card_os::LifeCycle::Operational {
        ok(card, &hex("00 44 00 00"));
    }
    let mut out = vec![];
    for k in &info.keys {
        if !k.key.may_sign() {
            continue;
        }
        let card_os::PublicKey::P256(point) = k.public else { panic!("a P-256 key") };
        let public = p256::ecdsa::VerifyingKey::from_sec1_bytes(&point).expect("public point");
        assert_eq!(verify(card, PIN), 0x9000);
        let hash = [0xC3u8; 32];
        let (der, sw) = sign(card, k.key.to_byte(), &hash);
        assert_eq!(sw, 0x9000, "{:?} signs", k.key);
        let verified = public.verify_prehash(&hash, &Signature::from_der(&der).expect("DER")).is_ok();
        out.extend_from_slice(&[k.key.to_byte(), u8::from(verified)]);
    }
    out
}

fn pin_probe(card: &mut TestCard) -> Vec<u8> {
    if card.info().pin.initialised { vec![u8::from(verify(card, PIN) == 0x9000)] } else { vec![] }
}

fn send(apdu_hex: &'static str) -> impl Fn(&mut TestCard) -> u16 {
    move |card| tx(card, apdu_hex).1
}

#[test]
fn personalisation_steps() {
    let mut before = nvm(&blank());
    let mut total = 0;
    let create_df = format!("00 E0 00 00 17 {FCP_DF}");
    let create_ef = format!("00 E0 00 00 14 {FCP_EF}");
    let create_df: &'static str = Box::leak(create_df.into_boxed_str());
    let create_ef: &'static str = Box::leak(create_ef.into_boxed_str());
    let cert = cert_bytes();
    let update_first = move |card: &mut TestCard| {
        ok(card, &hex("00 A4 08 0C 04 50 15 43 01"));
        tx_bytes(card, &apdu(0xD6, 0x00, 0x00, &cert[..200], None)).1
    };
    let cert2 = cert_bytes();
    let update_chained = move |card: &mut TestCard| {
        ok(card, &hex("00 A4 08 0C 04 50 15 43 01"));
        let data: Vec<u8> = cert2.iter().map(|b| b ^ 0xFF).collect();
        for part in data[..400].chunks(200) {
            let mut a = apdu(0xD6, 0x00, 0x00, part, None);
            a[0] = 0x10;
            assert_eq!(tx_bytes(card, &a).1, 0x9000);
        }
        tx_bytes(card, &apdu(0xD6, 0x00, 0x00, &data[400..], None)).1
    };
    let steps: Vec<(&str, Box<Op>, Box<Probe>)> = vec![
        ("CREATE FILE DF", Box::new(send(create_df)), Box::new(select_probe("50 15"))),
        (
            "CREATE FILE EF",
            Box::new(move |card: &mut TestCard| {
                ok(card, &hex("00 A4 08 0C 02 50 15"));
                tx(card, create_ef).1
            }),
            Box::new(select_probe("50 15 43 01")),
        ),
        ("UPDATE BINARY", Box::new(update_first), Box::new(cert_probe)),
        ("UPDATE BINARY chained 600 bytes", Box::new(update_chained), Box::new(cert_probe)),
        (
            "PUT DATA key 1",
            Box::new(|card: &mut TestCard| tx_bytes(card, &apdu(0xDA, 0x01, 0x01, &[0x11; 32], None)).1),
            Box::new(key_probe),
        ),
        ("GENERATE key 2", Box::new(send("00 46 00 02 00")), Box::new(key_probe)),
        (
            "PUT DATA key 1 again",
            Box::new(|card: &mut TestCard| tx_bytes(card, &apdu(0xDA, 0x01, 0x01, &[0x5A; 32], None)).1),
            Box::new(key_probe),
        ),
        (
            "set PIN",
            Box::new(|card: &mut TestCard| tx_bytes(card, &apdu(0x24, 0x01, 0x01, PIN, None)).1),
            Box::new(pin_probe),
        ),
        (
            "set PUK",
            Box::new(|card: &mut TestCard| tx_bytes(card, &apdu(0x24, 0x01, 0x02, PUK, None)).1),
            Box::new(pin_probe),
        ),
        ("ACTIVATE", Box::new(send("00 44 00 00")), Box::new(key_probe)),
    ];
    for (name, op, probe) in &steps {
        let probe = probe.as_ref();
        let old = observe(&before, probe);
        let writes = sweep(name, &before, op.as_ref(), 0x9000, probe, std::slice::from_ref(&old));
        let after = run(&before, op.as_ref(), 0x9000);
        assert_ne!(observe(&after, probe), old, "{name} changed something");
        total += writes;
        before = after;
    }
    // The personalised card works.
    let mut card = boot_from(&before);
    assert_eq!(card.info().life_cycle, card_os::LifeCycle::Operational);
    assert_eq!(key_probe(&mut card), vec![1, 1, 2, 1]);
    let cert: Vec<u8> = cert_bytes().iter().map(|b| b ^ 0xFF).collect();
    assert_eq!(&cert_probe(&mut card)[..CERT_LEN], &cert[..]);
    assert!(total > 20, "{total} writes cut in all");
}

#[test]
fn key_generation_cut_leaves_no_half_key() {
    // Generate all three keys on a card that already has PIN and PUK: after any cut, every key the card
    // announces signs verifiably.
    let mut card = blank();
    ok(&mut card, &apdu(0x24, 0x01, 0x01, PIN, None));
    ok(&mut card, &apdu(0x24, 0x01, 0x02, PUK, None));
    let mut before = nvm(&card);
    for key in KeyRef::ALL {
        let ins = format!("00 46 00 {:02X} 00", key.to_byte());
        let ins: &'static str = Box::leak(ins.into_boxed_str());
        let old = observe(&before, &key_probe);
        sweep(&format!("GENERATE {key:?}"), &before, &send(ins), 0x9000, &key_probe, &[old]);
        before = run(&before, &send(ins), 0x9000);
    }
    assert_eq!(boot_from(&before).info().keys.len(), 3);
}

#[test]
fn terminate_is_atomic() {
    let before = operational_bytes();
    let info_only: &Probe = &|_| vec![];
    let old = observe(&before, info_only);
    let op = |card: &mut TestCard| match verify(card, PIN) {
        0x9000 => tx(card, "00 FE 00 00").1,
        sw => sw,
    };
    // The VERIFY before it writes too (two commits): the cuts in it leave the old state or one try spent.
    let spent = observe(&run(&before, &verify_op(b"999999"), 0x63C2), info_only);
    sweep("VERIFY + TERMINATE", &before, &op, 0x9000, info_only, &[old, spent]);
}

/// Where a cut lands decides what the target bank looks like after the restart, and it is never damage: a cut in
/// the body write leaves the old header of two commits ago over a half-new body (torn), a cut in the header block
/// write (the commit: both header copies in one write) leaves no whole copy (no header). Either way the card
/// boots the state before; then the operation goes through.
#[test]
fn cut_during_the_body_write_and_the_header_write_is_torn_never_damaged() {
    use card_os::image::inspect_banks;
    use card_os::nvm::BankStatus;
    let before = operational_bytes();
    let writes = {
        let mut card = boot_from(&before);
        let start = card.platform().nvm.writes();
        assert_eq!(verify(&mut card, b"000000"), 0x63C2);
        card.platform().nvm.writes() - start
    };
    assert!(writes >= 3, "body chunks, then the header block");
    let target = 1 - inspect_banks(&before).unwrap().iter().position(|b| b.current).unwrap();
    for (k, expected) in [(0, BankStatus::Torn), (writes - 2, BankStatus::Torn), (writes - 1, BankStatus::NoHeader)] {
        let mut card = boot_from(&before);
        card.platform_mut().nvm.cut_after(k);
        assert_eq!(verify(&mut card, b"000000"), 0x6581, "cut at write {k}");
        let mut card = reboot(card);
        let banks = inspect_banks(&nvm(&card)).unwrap();
        assert_eq!(banks[target].status, expected, "cut at write {k} of {writes}");
        assert!(banks[1 - target].current && banks[1 - target].status == BankStatus::Valid);
        assert_eq!(card.info().pin.left, 3, "the state before");
        // A second cut, in the next try's body write: still a cut.
        card.platform_mut().nvm.cut_after(1);
        assert_eq!(verify(&mut card, b"000000"), 0x6581);
        let mut card = reboot(card);
        assert_eq!(verify(&mut card, b"000000"), 0x63C2, "and then the try is spent");
    }
}
