//! Life cycle (ISO 7816-9, DIALECT.md): blank → personalised → operational → blocked / terminated, and the
//! validity recorded at activation.
mod common;
use card_os::sim::SimPlatform;
use card_os::{Card, LifeCycle, NVM_SIZE};
use common::*;

fn life_cycle_byte(card: &mut TestCard) -> u8 {
    let (data, sw) = tx(card, "00 CA DF 31 00");
    assert_eq!(sw, 0x9000);
    assert_eq!(data.len(), 1);
    data[0]
}

/// 2028-02-29T10:00:00Z, a leap day.
const LEAP_DAY: u64 = 1_835_431_200;

#[test]
fn blank_personalised_operational() {
    let mut card = blank();
    assert_eq!(life_cycle_byte(&mut card), 0x01);
    assert_eq!(card.info().life_cycle, LifeCycle::Blank);
    // Reads and selections do not personalise.
    tx(&mut card, "00 A4 00 0C");
    tx(&mut card, "00 84 00 00 08");
    assert_eq!(life_cycle_byte(&mut card), 0x01);
    // The first personalisation write does.
    create_ef(&mut card, 0x4301, 8, 0x00, 0x02);
    assert_eq!(life_cycle_byte(&mut card), 0x03);
    assert_eq!(card.info().life_cycle, LifeCycle::Personalised);
    ok(&mut card, &apdu(0x24, 0x01, 0x01, PIN, None));
    ok(&mut card, &apdu(0x24, 0x01, 0x02, PUK, None));
    assert_eq!(life_cycle_byte(&mut card), 0x03);
    assert_eq!(tx(&mut card, "00 CA DF 30 00").1, 0x6A88, "no validity before activation");
    ok(&mut card, &hex("00 44 00 00"));
    assert_eq!(life_cycle_byte(&mut card), 0x05);
    assert_eq!(card.info().life_cycle, LifeCycle::Operational);
    assert_eq!(tx(&mut card, "00 44 00 00").1, 0x6985, "activated once");
    let mut card = reboot(card);
    assert_eq!(life_cycle_byte(&mut card), 0x05);
}

#[test]
fn each_first_personalisation_step_leaves_blank() {
    let steps: [Vec<u8>; 4] = [
        apdu(0x24, 0x01, 0x01, PIN, None),
        apdu(0x24, 0x01, 0x02, PUK, None),
        apdu(0xDA, 0x01, 0x01, &[0x11; 32], None),
        hex("00 46 00 02 00"),
    ];
    for step in steps {
        let mut card = blank();
        ok(&mut card, &step);
        assert_eq!(life_cycle_byte(&mut card), 0x03, "{:02X?}", &step[..4]);
    }
}

#[test]
fn activation_needs_pin_and_puk() {
    let mut card = blank();
    assert_eq!(tx(&mut card, "00 44 00 00").1, 0x6985, "blank");
    create_ef(&mut card, 0x4301, 8, 0x00, 0x02);
    assert_eq!(tx(&mut card, "00 44 00 00").1, 0x6985, "no PIN");
    ok(&mut card, &apdu(0x24, 0x01, 0x01, PIN, None));
    assert_eq!(tx(&mut card, "00 44 00 00").1, 0x6985, "no PUK");
    assert_eq!(life_cycle_byte(&mut card), 0x03);
    ok(&mut card, &apdu(0x24, 0x01, 0x02, PUK, None));
    // Malformed ACTIVATE FILE.
    assert_eq!(tx(&mut card, "00 44 01 00").1, 0x6A86);
    assert_eq!(tx(&mut card, "00 44 00 00 02 50 15").1, 0x6A82, "only the MF");
    assert_eq!(tx(&mut card, "00 44 00 00 02 3F 00").1, 0x9000, "the MF by FID");
    assert_eq!(life_cycle_byte(&mut card), 0x05);
}

#[test]
fn validity_is_recorded_at_activation_from_the_clock() {
    let mut card = personalised_unactivated();
    card.platform_mut().clock.0.set(LEAP_DAY);
    ok(&mut card, &hex("00 44 00 00"));
    assert_eq!(tx(&mut card, "00 CA DF 30 00"), (b"2028022920310228".to_vec(), 0x9000));
    let v = card.info().validity.expect("validity");
    assert_eq!((v.from.year, v.from.month, v.from.day), (2028, 2, 29));
    assert_eq!((v.until.year, v.until.month, v.until.day), (2031, 2, 28));
    // The clock moving later changes nothing recorded.
    card.platform_mut().clock.0.set(LEAP_DAY + 400 * DAY);
    let mut card = reboot(card);
    assert_eq!(tx(&mut card, "00 CA DF 30 00").0, b"2028022920310228".to_vec());
    // Usable from the issue day up to the day before the anniversary.
    card.platform_mut().clock.0.set(LEAP_DAY);
    assert_eq!(verify(&mut card, PIN), 0x9000);
    assert_eq!(sign(&mut card, 1, &[3; 32]).1, 0x9000);
    card.platform_mut().clock.0.set(LEAP_DAY - DAY);
    assert_eq!(sign(&mut card, 1, &[3; 32]).1, 0x6984, "the day before issue");
    // 2031-02-27 is the last day; 2031-02-28 is the anniversary.
    let last_day = LEAP_DAY + (365 * 3 - 1) * DAY;
    card.platform_mut().clock.0.set(last_day);
    assert_eq!(sign(&mut card, 1, &[3; 32]).1, 0x9000, "2031-02-27");
    card.platform_mut().clock.0.set(last_day + DAY);
    assert_eq!(sign(&mut card, 1, &[3; 32]).1, 0x6984, "2031-02-28");
}

#[test]
fn validity_of_an_ordinary_day() {
    let mut card = personalised_unactivated();
    ok(&mut card, &hex("00 44 00 00"));
    assert_eq!(tx(&mut card, "00 CA DF 30 00").0, b"2026112320291123".to_vec());
}

#[test]
fn terminate_needs_the_pin_then_everything_answers_6285() {
    let mut card = operational();
    assert_eq!(tx(&mut card, "00 FE 00 00"), (vec![], 0x6982));
    assert_eq!(life_cycle_byte(&mut card), 0x05);
    assert_eq!(verify(&mut card, b"000000"), 0x63C2);
    assert_eq!(tx(&mut card, "00 FE 00 00").1, 0x6982, "a wrong PIN does not count");
    assert_eq!(verify(&mut card, PIN), 0x9000);
    assert_eq!(tx(&mut card, "00 FE 01 00").1, 0x6A86);
    assert_eq!(tx(&mut card, "00 FE 00 00"), (vec![], 0x9000));
    assert_eq!(card.info().life_cycle, LifeCycle::Terminated);
    let refused = [
        "00 A4 00 0C",
        "00 A4 08 0C 04 50 15 43 01",
        "00 B0 00 00 10",
        "00 D6 00 00 01 00",
        "00 20 00 01 06 31 32 33 34 35 36",
        "00 20 00 01",
        "00 20 FF 01",
        "00 24 00 01 0C 31 32 33 34 35 36 36 35 34 33 32 31",
        "00 2C 01 01 08 31 32 33 34 35 36 37 38",
        "00 22 41 B6 06 80 01 21 84 01 01",
        "00 2A 9E 9A 20 0101010101010101010101010101010101010101010101010101010101010101 00",
        "00 88 00 01 04 01 02 03 04 00",
        "00 46 01 01 00",
        "00 46 00 01",
        "00 84 00 00 08",
        "00 44 00 00",
        "00 FE 00 00",
        "00 E0 00 00 0D 62 0B 82 01 01 83 02 60 00 80 02 00 01",
    ];
    for c in refused {
        assert_eq!(tx(&mut card, c), (vec![], 0x6285), "{c}");
    }
    // GET DATA still answers.
    assert_eq!(life_cycle_byte(&mut card), 0x0C);
    assert_eq!(tx(&mut card, "00 CA DF 32 00"), (b"TEST0001".to_vec(), 0x9000));
    assert_eq!(tx(&mut card, "00 CA DF 30 00").0, b"2026112320291123".to_vec());
    assert_eq!(tx(&mut card, "00 CA 01 01 00").0, vec![0x01, 0x00, 0x0F]);
    // And a power cycle changes nothing.
    let mut card = reboot(card);
    assert_eq!(card.info().life_cycle, LifeCycle::Terminated);
    assert_eq!(life_cycle_byte(&mut card), 0x0C);
    for c in refused {
        assert_eq!(tx(&mut card, c).1, 0x6285, "{c} after reboot");
    }
}

#[test]
fn terminate_clears_the_session() {
    let mut card = operational();
    assert_eq!(verify(&mut card, PIN), 0x9000);
    assert!(card.session().pin_verified);
    ok(&mut card, &hex("00 FE 00 00"));
    assert!(!card.session().pin_verified);
}

#[test]
fn blocked_card_survives_reboot() {
    let mut card = operational();
    for wrong in [b"00000000", b"00000001", b"00000002"] {
        tx_bytes(&mut card, &apdu(0x2C, 0x01, 0x01, wrong, None));
    }
    assert_eq!(life_cycle_byte(&mut card), 0x06);
    let mut card = reboot(card);
    assert_eq!(card.info().life_cycle, LifeCycle::Blocked);
    assert_eq!(life_cycle_byte(&mut card), 0x06);
    assert_eq!(verify(&mut card, PIN), 0x6983);
    assert_eq!(tx_bytes(&mut card, &apdu(0x2C, 0x01, 0x01, PUK, None)).1, 0x6983);
    assert_eq!(tx(&mut card, "00 FE 00 00").1, 0x6982, "cannot even be terminated without a PIN");
    assert_eq!(tx(&mut card, "00 CA DF 33 00").0, vec![3, 3, 0, 3]);
    // Reading public data still works.
    ok(&mut card, &hex("00 A4 08 0C 04 50 15 43 01"));
    assert_eq!(tx(&mut card, "00 B0 00 00 04").0, cert_bytes()[..4].to_vec());
}

#[test]
fn personalisation_may_be_scrapped_without_a_pin() {
    let mut card = personalised_unactivated();
    assert_eq!(tx(&mut card, "00 FE 00 00").1, 0x9000);
    assert_eq!(life_cycle_byte(&mut card), 0x0C);
}

#[test]
fn get_data_objects() {
    let mut card = operational();
    assert_eq!(tx(&mut card, "00 CA DF 32 00").0, b"TEST0001".to_vec());
    assert_eq!(tx(&mut card, "00 CA DF 33 00").0, vec![3, 3, 3, 3]);
    assert_eq!(tx(&mut card, "00 CA DF 34 00").1, 0x6A88);
    assert_eq!(tx(&mut card, "00 CA DF 31 01 00").1, 0x6700, "GET DATA takes no data");
    // A fresh card of another profile.
    let mut other = Card::format(SimPlatform::new(vec![0u8; NVM_SIZE], NOW, 1), &{
        let mut p = profile();
        p.serial = b"Z\x00\xFF";
        p
    })
    .expect("format");
    assert_eq!(tx(&mut other, "00 CA DF 32 00").0, b"Z\x00\xFF".to_vec());
    assert_eq!(tx(&mut other, "00 CA DF 33 00").0, vec![0, 3, 0, 3], "no PIN or PUK yet");
}

#[test]
fn a_reset_before_activation_rolls_personalisation_back_to_blank() {
    let mut card = personalised_unactivated();
    assert_eq!(tx(&mut card, "00 CA DF 31 00").0, vec![0x03]);
    card.reset();
    assert_eq!(tx(&mut card, "00 CA DF 31 00").0, vec![0x01], "blank again");
    assert_eq!(tx(&mut card, "00 A4 08 0C 04 50 15 43 01").1, 0x6A82, "no file left");
    assert_eq!(tx(&mut card, "00 46 01 01 00").1, 0x6A88, "no key left");
    assert_eq!(tx(&mut card, "00 20 00 01").1, 0x6984, "no PIN left");
    let info = card.info();
    assert_eq!((&info.serial[..], &info.atr[..]), (&b"TEST0001"[..], &card_os::profile::UZI_ATR[..]), "same chip");
    // An activated card is not touched by a reset.
    let mut card = operational();
    card.reset();
    assert_eq!(tx(&mut card, "00 CA DF 31 00").0, vec![0x05]);
}
