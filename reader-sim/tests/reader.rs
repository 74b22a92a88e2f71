//! The in-process reader: power states, verification lost on power-off and reset, image saving.

mod common;

use card_os::{Clock, Platform};
use common::*;
use reader_sim::{InProcessReader, ReaderError, Transmit};

#[test]
fn an_empty_reader_reports_no_card() {
    let mut reader = InProcessReader::new();
    assert!(matches!(reader.transmit(&GET_LIFE_CYCLE), Err(ReaderError::NoCard)));
    assert!(matches!(reader.power_on(), Err(ReaderError::NoCard)));
    assert!(matches!(reader.reset(), Err(ReaderError::NoCard)));
    assert_eq!(reader.atr(), None);
    reader.power_off();
    assert!(reader.remove().is_none());
}

#[test]
fn an_unpowered_card_is_not_talked_to() {
    let mut reader = InProcessReader::with_card(blank_card());
    assert!(matches!(reader.transmit(&GET_LIFE_CYCLE), Err(ReaderError::NotPowered)));
    // The ATR is there without power: vpcd polls it whatever the power state.
    assert_eq!(reader.atr(), Some(uzi_atr()));
    assert_eq!(reader.power_on().unwrap(), uzi_atr());
    assert!(reader.is_powered());
    assert_eq!(sw(&reader.transmit(&GET_LIFE_CYCLE).unwrap()), [0x90, 0x00]);
    reader.power_off();
    assert!(matches!(reader.transmit(&GET_LIFE_CYCLE), Err(ReaderError::NotPowered)));
}

#[test]
fn power_off_and_reset_lose_the_verification() {
    let mut reader = InProcessReader::with_card(card_with_pin());
    reader.power_on().unwrap();
    assert_eq!(reader.transmit(&verify(PIN)).unwrap(), [0x90, 0x00]);
    assert_eq!(reader.transmit(&VERIFY_STATUS).unwrap(), [0x90, 0x00]);

    assert_eq!(reader.reset().unwrap(), uzi_atr());
    assert_eq!(reader.transmit(&VERIFY_STATUS).unwrap(), [0x63, 0xC3]);

    assert_eq!(reader.transmit(&verify(PIN)).unwrap(), [0x90, 0x00]);
    reader.power_off();
    reader.power_on().unwrap();
    assert_eq!(reader.transmit(&VERIFY_STATUS).unwrap(), [0x63, 0xC3]);
}

#[test]
fn removal_powers_off_and_the_card_keeps_its_counters() {
    let mut reader = InProcessReader::with_card(card_with_pin());
    reader.power_on().unwrap();
    assert_eq!(reader.transmit(&verify(b"000000")).unwrap(), [0x63, 0xC2]);
    let card = reader.remove().unwrap();
    assert!(!reader.is_powered());
    assert_eq!(pin_tries_left(&card), 2);

    let mut other = InProcessReader::new();
    assert!(other.insert(card).is_none());
    assert!(!other.is_powered());
    other.power_on().unwrap();
    assert_eq!(other.transmit(&VERIFY_STATUS).unwrap(), [0x63, 0xC2]);
    let previous = other.insert(blank_card_with_serial(b"TEST0002")).unwrap();
    assert_eq!(pin_tries_left(&previous), 2);
}

#[test]
fn a_shared_reader_transmits_too() {
    let mut reader = InProcessReader::with_card(blank_card());
    reader.power_on().unwrap();
    let mut shared = reader.into_shared();
    assert_eq!(sw(&shared.transmit(&GET_LIFE_CYCLE).unwrap()), [0x90, 0x00]);
}

#[test]
fn the_clock_handle_moves_a_running_card() {
    let reader = InProcessReader::with_card(blank_card());
    let card = reader.card().unwrap();
    let handle = card.platform().clock_handle();
    let now = card.platform().clock().now();
    handle.set_offset_days(3 * 365 + 1);
    assert!(card.platform().clock().now() >= now + (3 * 365 + 1) * 86_400);
}

#[test]
fn every_exchange_that_changes_the_card_is_saved() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alice.card");
    let mut reader = InProcessReader::with_card(card_with_pin());
    reader.set_image_path(Some(path.clone()));
    // The card was changed before it had a file: save_if_dirty writes it now.
    reader.save_if_dirty().unwrap();
    assert!(path.exists());

    reader.power_on().unwrap();
    assert_eq!(reader.transmit(&verify(b"000000")).unwrap(), [0x63, 0xC2]);
    let on_disk = std::fs::read(&path).unwrap();
    assert_eq!(on_disk, reader.card().unwrap().platform().nvm().as_bytes());

    // A read changes nothing, so nothing is written: a deleted file stays deleted.
    std::fs::remove_file(&path).unwrap();
    assert_eq!(sw(&reader.transmit(&GET_LIFE_CYCLE).unwrap()), [0x90, 0x00]);
    assert!(!path.exists());

    std::fs::write(&path, &on_disk).unwrap();
    let mut reopened = InProcessReader::open(&path).unwrap();
    assert_eq!(reopened.image_path(), Some(path.as_path()));
    assert_eq!(pin_tries_left(reopened.card().unwrap()), 2);
    reopened.power_on().unwrap();
    assert_eq!(reopened.transmit(&verify(PIN)).unwrap(), [0x90, 0x00]);
    // The correct PIN reset the counter, and that reached the disk.
    let again = InProcessReader::open(&path).unwrap();
    assert_eq!(pin_tries_left(again.card().unwrap()), 3);
}

/// A power cut at any write of a VERIFY's NVM update leaves a card that boots with the old counter or the new one
/// (card-os's double-buffered image, checked through `RamNvm::cut_after`).
#[test]
fn a_power_cut_during_an_update_leaves_the_old_or_the_new_state() {
    let mut seen = std::collections::BTreeSet::new();
    for k in 0.. {
        let mut reader = InProcessReader::with_card(card_with_pin());
        reader.power_on().unwrap();
        reader.card_mut().unwrap().platform_mut().nvm_mut().cut_after(k);
        let answer = reader.transmit(&verify(b"000000")).unwrap();
        let mut platform = reader.remove().unwrap().into_platform();
        if !platform.nvm().power_lost() {
            assert_eq!(answer, [0x63, 0xC2], "no cut at write {k}");
            break;
        }
        assert_eq!(answer, [0x65, 0x81], "cut at write {k}");
        platform.nvm_mut().restore_power();
        let card = card_os::Card::boot(platform).unwrap_or_else(|e| panic!("cut at write {k}: the card {e}"));
        let left = pin_tries_left(&card);
        assert!(left == 3 || left == 2, "cut at write {k}: {left} tries left");
        seen.insert(left);
    }
    assert!(seen.contains(&3), "a cut before the commit keeps the old counter");
}

/// Refuses VERIFY with a PIN (`6985`) and passes everything else to the card.
struct RefuseVerify;

impl reader_sim::reader::Interceptor for RefuseVerify {
    fn exchange(&mut self, apdu: &[u8], card: &mut dyn Transmit) -> Result<Vec<u8>, ReaderError> {
        if apdu.len() > 5 && apdu[1] == 0x20 { Ok(vec![0x69, 0x85]) } else { card.transmit(apdu) }
    }
}

#[test]
fn an_interceptor_answers_in_the_cards_place_or_passes_through() {
    let mut reader = InProcessReader::with_card(card_with_pin());
    reader.power_on().unwrap();
    reader.set_interceptor(Some(Box::new(RefuseVerify)));
    assert_eq!(reader.transmit(&verify(PIN)).unwrap(), [0x69, 0x85], "answered by the interceptor");
    assert_eq!(reader.transmit(&VERIFY_STATUS).unwrap(), [0x63, 0xC3], "passed to the card");
    assert_eq!(pin_tries_left(reader.card().unwrap()), 3, "the card never saw the refused VERIFY");
    reader.set_interceptor(None);
    assert_eq!(reader.transmit(&verify(PIN)).unwrap(), [0x90, 0x00]);
}
