//! PIN and PUK: counters, blocking, unblocking, change, session loss (ISO 7816-4 §11.5.6–11.5.10, UZI CPS).
mod common;
use common::*;

#[test]
fn wrong_pin_counts_down_and_right_pin_restores() {
    let mut card = operational();
    assert_eq!(tx(&mut card, "00 20 00 01").1, 0x63C3, "status query before any try");
    assert_eq!(verify(&mut card, b"000000"), 0x63C2);
    assert_eq!(tx(&mut card, "00 20 00 01").1, 0x63C2);
    assert_eq!(verify(&mut card, PIN), 0x9000);
    assert_eq!(tx(&mut card, "00 20 00 01").1, 0x9000, "verified");
    assert_eq!(tries(&card), (3, 3));
    assert_eq!(tx(&mut card, "00 20 FF 01").1, 0x9000, "log out");
    assert_eq!(tx(&mut card, "00 20 00 01").1, 0x63C3);
}

#[test]
fn third_wrong_pin_blocks_and_puk_unblocks() {
    let mut card = operational();
    assert_eq!(verify(&mut card, b"000000"), 0x63C2);
    assert_eq!(verify(&mut card, b"000001"), 0x63C1);
    assert_eq!(verify(&mut card, b"000002"), 0x63C0);
    assert_eq!(verify(&mut card, PIN), 0x6983, "blocked: even the right PIN fails");
    let mut data = PUK.to_vec();
    data.extend_from_slice(b"654321");
    assert_eq!(tx_bytes(&mut card, &apdu(0x2C, 0x00, 0x01, &data, None)).1, 0x9000);
    assert_eq!(tries(&card), (3, 3));
    assert_eq!(verify(&mut card, PIN), 0x63C2, "the old PIN is gone");
    assert_eq!(verify(&mut card, b"654321"), 0x9000);
}

#[test]
fn puk_only_unblock_keeps_the_pin() {
    let mut card = operational();
    for _ in 0..3 {
        verify(&mut card, b"999999");
    }
    assert_eq!(tx_bytes(&mut card, &apdu(0x2C, 0x01, 0x01, PUK, None)).1, 0x9000);
    assert_eq!(verify(&mut card, PIN), 0x9000);
}

#[test]
fn third_wrong_puk_blocks_the_card_for_good() {
    let mut card = operational();
    assert_eq!(tx_bytes(&mut card, &apdu(0x2C, 0x01, 0x01, b"00000000", None)).1, 0x63C2);
    assert_eq!(tx_bytes(&mut card, &apdu(0x2C, 0x01, 0x01, b"00000001", None)).1, 0x63C1);
    assert_eq!(tx_bytes(&mut card, &apdu(0x2C, 0x01, 0x01, b"00000002", None)).1, 0x63C0);
    assert_eq!(tx_bytes(&mut card, &apdu(0x2C, 0x01, 0x01, PUK, None)).1, 0x6983);
    assert_eq!(verify(&mut card, PIN), 0x6983, "no PIN can be verified on a blocked card");
    assert_eq!(card.info().life_cycle, card_os::LifeCycle::Blocked);
    let mut card = reboot(card);
    assert_eq!(verify(&mut card, PIN), 0x6983, "still blocked after a power cycle");
    assert_eq!(tx(&mut card, "00 CA DF 31 00").0, vec![0x06]);
}

#[test]
fn change_pin_needs_the_old_one_and_the_policy() {
    let mut card = operational();
    let mut data = PIN.to_vec();
    data.extend_from_slice(b"12345");
    assert_eq!(tx_bytes(&mut card, &apdu(0x24, 0x00, 0x01, &data, None)).1, 0x6A80, "new PIN too short");
    assert_eq!(tries(&card).0, 3, "a policy failure costs no try");
    let mut data = b"999999".to_vec();
    data.extend_from_slice(b"abcdef");
    assert_eq!(tx_bytes(&mut card, &apdu(0x24, 0x00, 0x01, &data, None)).1, 0x63C2);
    let mut data = PIN.to_vec();
    data.extend_from_slice(b"abcdefgh");
    assert_eq!(tx_bytes(&mut card, &apdu(0x24, 0x00, 0x01, &data, None)).1, 0x9000);
    assert_eq!(tx(&mut card, "00 20 FF 01").1, 0x9000);
    assert_eq!(verify(&mut card, b"abcdefgh"), 0x9000);
}

#[test]
fn verification_is_lost_on_reset_and_power_off() {
    let mut card = operational();
    assert_eq!(verify(&mut card, PIN), 0x9000);
    card.reset();
    assert_eq!(tx(&mut card, "00 20 00 01").1, 0x63C3);
    assert_eq!(verify(&mut card, PIN), 0x9000);
    let mut card = reboot(card);
    assert_eq!(tx(&mut card, "00 20 00 01").1, 0x63C3);
}

#[test]
fn pin_not_set_answers_6984_and_setting_it_is_personalisation_only() {
    let mut card = blank();
    assert_eq!(verify(&mut card, PIN), 0x6984);
    let mut card = operational();
    assert_eq!(tx_bytes(&mut card, &apdu(0x24, 0x01, 0x01, b"111111", None)).1, 0x6985);
}

#[test]
fn secrets_never_show_in_debug_output() {
    let card = operational();
    let debug = format!("{card:?}");
    assert!(!debug.contains("123456") && !debug.contains("49, 50, 51"), "{debug}");
    let apdu = apdu(0x20, 0, 1, PIN, None);
    let cmd = card_os::apdu::Apdu::parse(&apdu).unwrap();
    let typed = card_os::Command::parse(&cmd).unwrap();
    assert_eq!(format!("{typed:?}"), "VERIFY");
}

#[test]
fn blocking_the_card_ends_a_verification_made_before() {
    let mut card = operational();
    assert_eq!(verify(&mut card, PIN), 0x9000);
    for wrong in [b"00000000", b"00000001", b"00000002"] {
        tx_bytes(&mut card, &apdu(0x2C, 0x01, 0x01, wrong, None));
    }
    assert_eq!(tx(&mut card, "00 20 00 01").1, 0x6983, "no verification on a card blocked for good");
    ok(&mut card, &hex("00 A4 08 0C 04 5015 4310"));
    assert_eq!(tx(&mut card, "00 B0 00 00 04").1, 0x6982, "PIN-protected file closed");
    assert_eq!(tx(&mut card, "00 FE 00 00").1, 0x6982, "cannot be terminated without a verified PIN");
}

#[test]
fn a_terminated_card_answers_6285_before_looking_at_the_command() {
    let mut card = operational();
    assert_eq!(verify(&mut card, PIN), 0x9000);
    assert_eq!(tx(&mut card, "00 FE 00 00").1, 0x9000);
    for apdu in ["00 A4 00 01 02 3F00", "00 B0 80 00 01", "00 20 00 03", "00 77 00 00", "10 D6 00 00 01 00"] {
        assert_eq!(tx(&mut card, apdu).1, 0x6285, "{apdu}");
    }
    assert_eq!(tx(&mut card, "00 CA DF 31 00").0, vec![0x0C]);
}
