//! Test cards: blank cards formatted with a chip profile, and the APDUs the tests send them.
//! Personalised cards come from the conformance crate; these tests need only a PIN and a PUK.
#![allow(dead_code)]

use card_os::{Card, ChipProfile, PinPolicy};
use reader_sim::{HostCard, HostPlatform};

/// The real UZI-pas ATR.
pub const UZI_ATR_HEX: &str = "3BDC18FF8191FE1FC3060A2B06010401E910050203D1";
pub const PIN: &[u8] = b"123456";
pub const PUK: &[u8] = b"12345678";

pub fn uzi_atr() -> Vec<u8> {
    hex::decode(UZI_ATR_HEX).unwrap()
}

/// A blank card, serial `serial`.
pub fn blank_card_with_serial(serial: &[u8]) -> HostCard {
    let atr = uzi_atr();
    let profile = ChipProfile { atr: &atr, serial, pin: PinPolicy::UZI_PIN, puk: PinPolicy::UZI_PUK };
    Card::format(HostPlatform::blank(), &profile).unwrap()
}

/// A blank card, serial `TEST0001`.
pub fn blank_card() -> HostCard {
    blank_card_with_serial(b"TEST0001")
}

/// A case-3 APDU `CLA INS P1 P2 Lc data`.
pub fn apdu(header: [u8; 4], data: &[u8]) -> Vec<u8> {
    let mut a = header.to_vec();
    a.push(u8::try_from(data.len()).unwrap());
    a.extend_from_slice(data);
    a
}

/// CHANGE REFERENCE DATA (set), personalisation only: sets the initial PIN (`01`) or PUK (`02`).
pub fn set_reference(reference: u8, value: &[u8]) -> Vec<u8> {
    apdu([0x00, 0x24, 0x01, reference], value)
}

/// VERIFY of the user PIN.
pub fn verify(pin: &[u8]) -> Vec<u8> {
    apdu([0x00, 0x20, 0x00, 0x01], pin)
}

/// VERIFY without data: the verification status (`9000` or `63Cx`).
pub const VERIFY_STATUS: [u8; 4] = [0x00, 0x20, 0x00, 0x01];
/// GET DATA `DF31`: the life-cycle byte. Reads only.
pub const GET_LIFE_CYCLE: [u8; 5] = [0x00, 0xCA, 0xDF, 0x31, 0x00];

/// A card with PIN [`PIN`] and PUK [`PUK`] set.
pub fn card_with_pin() -> HostCard {
    let mut card = blank_card();
    assert_eq!(card.transmit(&set_reference(0x01, PIN)), [0x90, 0x00]);
    assert_eq!(card.transmit(&set_reference(0x02, PUK)), [0x90, 0x00]);
    // ACTIVATE: an unfinished personalisation would roll back to blank at the next reset.
    assert_eq!(card.transmit(&[0x00, 0x44, 0x00, 0x00]), [0x90, 0x00]);
    card.reset();
    card
}

/// PIN tries left, from the card's own report.
pub fn pin_tries_left(card: &HostCard) -> u8 {
    card.info().pin.left
}

/// The status word of an R-APDU.
pub fn sw(rapdu: &[u8]) -> [u8; 2] {
    let n = rapdu.len();
    assert!(n >= 2, "R-APDU without a status word: {rapdu:02X?}");
    [rapdu[n - 2], rapdu[n - 1]]
}
