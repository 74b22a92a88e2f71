//! The persistent image: `image::inspect` and `Card::boot` on good and damaged images (double bank, CRC-32C,
//! two header copies, format version, invariants). A bad image is an error, never a panic, and a damaged newest
//! state is never silently replaced by the older one.
mod common;
use card_os::image::{FILES_OFF, inspect, inspect_with};
use card_os::nvm::{BANK_SIZE, BankState, FORMAT_VERSION, HEADER_LEN, Rollback};
use card_os::sim::SimPlatform;
use card_os::{Card, ImageError, LifeCycle, NVM_SIZE};
use common::layout::*;
use common::*;

fn nvm_of(card: &TestCard) -> Vec<u8> {
    card.platform().nvm.bytes.clone()
}

fn boot(bytes: Vec<u8>) -> Result<TestCard, ImageError> {
    Card::boot(SimPlatform::new(bytes, NOW, 7))
}

fn assert_boot_fails(bytes: Vec<u8>, expected: ImageError) {
    match boot(bytes) {
        Ok(_) => panic!("booted an image that `inspect` calls {expected:?}"),
        Err(e) => assert_eq!(e, expected),
    }
}

#[test]
fn good_image_inspects() {
    let card = operational();
    let bytes = nvm_of(&card);
    assert_eq!(bytes.len(), NVM_SIZE);
    let summary = inspect(&bytes).expect("a good image");
    assert_eq!(summary.life_cycle, LifeCycle::Operational);
    assert_eq!(summary.serial.as_slice(), b"TEST0001");
    assert_eq!(summary.body_len, body_len(&bytes, active_bank(&bytes)));
    assert_eq!(summary.sequence, seq(&bytes, active_bank(&bytes)));
    assert!(summary.body_len >= CERT_LEN + 16, "the body holds the file contents");
    // The checksum the card wrote is the CRC-32C this test computes.
    for bank in 0..2 {
        let mut resealed = bytes.clone();
        reseal(&mut resealed, bank);
        assert_eq!(resealed, bytes, "bank {bank}");
    }
    // Booting it gives the same card.
    let again = boot(bytes).expect("boot");
    assert_eq!(again.info(), card.info());
    // A blank card too.
    let blank = blank();
    let s = inspect(&nvm_of(&blank)).expect("blank image");
    assert_eq!((s.life_cycle, s.sequence), (LifeCycle::Blank, 1));
}

#[test]
fn truncated_image() {
    let bytes = nvm_of(&operational());
    assert_eq!(
        inspect(&bytes[..NVM_SIZE - 1]).unwrap_err(),
        ImageError::Truncated { len: NVM_SIZE - 1, expected: NVM_SIZE }
    );
    assert_eq!(inspect(&[]).unwrap_err(), ImageError::Truncated { len: 0, expected: NVM_SIZE });
    assert_boot_fails(bytes[..NVM_SIZE - 1].to_vec(), ImageError::Truncated { len: NVM_SIZE - 1, expected: NVM_SIZE });
    assert_boot_fails(bytes[..BANK_SIZE].to_vec(), ImageError::Truncated { len: BANK_SIZE, expected: NVM_SIZE });
    // Longer than needed is fine (an EEPROM bigger than the image).
    let mut longer = bytes.clone();
    longer.extend_from_slice(&[0xFF; 100]);
    assert!(inspect(&longer).is_ok());
}

#[test]
fn flipped_byte_in_the_active_body_is_damage_not_a_fallback() {
    let card = operational();
    let before = card.info();
    let good = nvm_of(&card);
    let active = active_bank(&good);
    let older = 1 - active;
    assert_eq!(seq(&good, active), seq(&good, older) + 1);
    // Flip one byte of the active body (in the file contents): the newest state is damaged, and the card refuses.
    let mut bytes = good.clone();
    bytes[body(active) + 1800] ^= 0x01;
    let older_state = BankState {
        bank: older,
        sequence: seq(&good, older),
        life_cycle: LifeCycle::Personalised,
        pin: before.pin,
        puk: before.puk,
    };
    let damaged = ImageError::Damaged { bank: active, sequence: seq(&good, active), fallback: Some(older_state) };
    assert_eq!(inspect(&bytes).unwrap_err(), damaged);
    assert_boot_fails(bytes.clone(), damaged);
    let text = damaged.to_string();
    for words in ["damaged", &format!("bank {active}"), &format!("older state (bank {older}, sequence"), "personalised"]
    {
        assert!(text.contains(words), "{text}");
    }
    // Asked for explicitly, the older state opens: the last commit was the activation.
    let s = inspect_with(&bytes, Rollback::Accept).expect("the older bank");
    assert_eq!((s.sequence, s.life_cycle), (seq(&good, older), LifeCycle::Personalised));
    let fallen_back = Card::boot_accepting_rollback(SimPlatform::new(bytes.clone(), NOW, 7)).expect("older bank");
    assert_eq!(fallen_back.info().life_cycle, LifeCycle::Personalised);
    // A flipped byte in one header copy of the active bank (its sequence number): the other copy carries it.
    for copy in 0..2 {
        let mut bytes = good.clone();
        bytes[active * BANK_SIZE + header_offset(copy, 11)] ^= 0x80;
        assert_eq!(inspect(&bytes).expect("one copy is enough").sequence, seq(&good, active));
        assert_eq!(boot(bytes).expect("boot").info(), before);
    }
    // A flipped byte in the older bank only: the active bank is used as before.
    let mut bytes = good.clone();
    bytes[body(older) + 3] ^= 0x40;
    assert_eq!(inspect(&bytes).expect("active bank").sequence, seq(&bytes, active));
    assert_eq!(boot(bytes).expect("boot").info(), before);
}

#[test]
fn flipped_bytes_in_both_banks_are_damage_without_a_fallback() {
    let card = operational();
    let good = nvm_of(&card);
    let active = active_bank(&good);
    let mut bytes = good.clone();
    for bank in 0..2 {
        bytes[body(bank) + 100] ^= 0xFF;
    }
    let expected = ImageError::Damaged { bank: active, sequence: seq(&good, active), fallback: None };
    assert_eq!(inspect(&bytes).unwrap_err(), expected);
    assert_eq!(inspect_with(&bytes, Rollback::Accept).unwrap_err(), expected, "nothing to roll back to");
    assert!(expected.to_string().contains("no usable older state"), "{expected}");
    assert_boot_fails(bytes, expected);
    // A freshly formatted card has one bank only: a flip in it leaves nothing to fall back to.
    let mut bytes = nvm_of(&blank());
    let active = active_bank(&bytes);
    assert!(
        inspect(&{
            let mut b = bytes.clone();
            b[(1 - active) * BANK_SIZE..(2 - active) * BANK_SIZE].fill(0);
            b
        })
        .is_ok()
    );
    bytes[body(active) + 40] ^= 0x04;
    let expected = ImageError::Damaged { bank: active, sequence: 1, fallback: None };
    assert_eq!(inspect(&bytes).unwrap_err(), expected);
    assert_boot_fails(bytes, expected);
    // No valid header copy in either bank (a body length beyond the bank, not resealed): a checksum mismatch.
    let mut bytes = good.clone();
    for bank in 0..2 {
        set_field(&mut bytes, bank, 12, &(BANK_SIZE as u32).to_be_bytes());
    }
    assert_eq!(inspect(&bytes).unwrap_err(), ImageError::ChecksumMismatch);
    // Even resealed: a length beyond the bank is no header.
    for bank in 0..2 {
        let mut h = header_copy(&bytes, bank, 0);
        let crc = crc32c(&h[..20]);
        h[20..24].copy_from_slice(&crc.to_be_bytes());
        put_header_copy(&mut bytes, bank, 0, &h);
        put_header_copy(&mut bytes, bank, 1, &h);
    }
    assert_eq!(inspect(&bytes).unwrap_err(), ImageError::ChecksumMismatch);
}

#[test]
fn other_format_version() {
    let mut bytes = nvm_of(&operational());
    let other = FORMAT_VERSION + 1;
    for bank in 0..2 {
        set_field(&mut bytes, bank, 4, &other.to_be_bytes());
    }
    let expected = ImageError::UnsupportedVersion { found: other, supported: FORMAT_VERSION };
    assert_eq!(inspect(&bytes).unwrap_err(), expected);
    assert_boot_fails(bytes.clone(), expected);
    // Even with the checksums made right again: the version decides first.
    for bank in 0..2 {
        reseal(&mut bytes, bank);
    }
    assert_eq!(inspect(&bytes).unwrap_err(), expected);
    // One bank of another version, whichever: refused, since it may hold a newer state this build cannot read.
    for bank in 0..2 {
        let mut mixed = nvm_of(&operational());
        set_field(&mut mixed, bank, 4, &other.to_be_bytes());
        reseal(&mut mixed, bank);
        assert_eq!(inspect(&mixed).unwrap_err(), expected, "bank {bank}");
    }
    // The version in one copy only (a flipped byte): the other copy is ours.
    let mut flipped = nvm_of(&operational());
    let mut h = header_copy(&flipped, 0, 0);
    h[5] ^= 0x01;
    put_header_copy(&mut flipped, 0, 0, &h);
    assert!(inspect(&flipped).is_ok());
}

#[test]
fn garbage_is_not_an_image() {
    assert_eq!(inspect(&vec![0u8; NVM_SIZE]).unwrap_err(), ImageError::NotAnImage);
    assert_eq!(inspect(&vec![0xFFu8; NVM_SIZE]).unwrap_err(), ImageError::NotAnImage);
    let mut x = 0x1234_5678_9ABC_DEF0u64;
    let noise: Vec<u8> = (0..NVM_SIZE)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    assert_eq!(inspect(&noise).unwrap_err(), ImageError::NotAnImage);
    assert_boot_fails(noise, ImageError::NotAnImage);
    // A PDF, a ZIP: not ours.
    let mut pdf = b"%PDF-1.7\n".to_vec();
    pdf.resize(NVM_SIZE, b' ');
    assert_boot_fails(pdf, ImageError::NotAnImage);
}

#[test]
fn consistent_checksum_but_broken_invariants_is_inconsistent() {
    let card = operational();
    let good = nvm_of(&card);
    let active = active_bank(&good);
    let body = active * BANK_SIZE + HEADER_LEN;
    // Kill the older bank so the damaged active one has no fallback.
    let damaged = |edit: &dyn Fn(&mut [u8])| {
        let mut b = good.clone();
        b[(1 - active) * BANK_SIZE..(2 - active) * BANK_SIZE].fill(0);
        edit(&mut b[body..]);
        reseal(&mut b, active);
        b
    };
    type Edit = Box<dyn Fn(&mut [u8])>;
    let cases: [(&str, Edit); 8] = [
        ("life cycle byte", Box::new(|b: &mut [u8]| b[0] = 0x77)),
        ("ATR length", Box::new(|b: &mut [u8]| b[1] = 34)),
        ("validity flag", Box::new(|b: &mut [u8]| b[52] = 2)),
        ("PIN policy or counter", Box::new(|b: &mut [u8]| b[96 + 4] = 9)),
        ("key slot flags", Box::new(|b: &mut [u8]| b[160 + 1] = 7)),
        ("file count", Box::new(|b: &mut [u8]| b[FILES_OFF] = 0)),
        ("file tree", Box::new(|b: &mut [u8]| b[FILES_OFF + 4 + 32 + 2] = 9)),
        ("key slot flags", Box::new(|b: &mut [u8]| b[160 + 2] = 9)),
    ];
    for (what, edit) in &cases {
        let bytes = damaged(edit.as_ref());
        let err = inspect(&bytes).unwrap_err();
        assert_eq!(err, ImageError::Inconsistent(what), "{what}");
        assert!(err.to_string().contains(what), "{err}");
        assert_boot_fails(bytes, err);
    }
}

#[test]
fn display_names_the_problem() {
    let cases = [
        (ImageError::Truncated { len: 10, expected: NVM_SIZE }, vec!["truncated", "10"]),
        (ImageError::NotAnImage, vec!["not a zorgcard"]),
        (ImageError::UnsupportedVersion { found: 9, supported: 1 }, vec!["version 9", "1"]),
        (ImageError::ChecksumMismatch, vec!["checksum"]),
        (ImageError::Inconsistent("file tree"), vec!["inconsistent", "file tree"]),
        (ImageError::Damaged { bank: 1, sequence: 9, fallback: None }, vec!["damaged", "bank 1", "sequence 9"]),
        (ImageError::Nvm(card_os::NvmError::PowerLost), vec!["power"]),
        (ImageError::Nvm(card_os::NvmError::OutOfRange), vec!["smaller"]),
    ];
    for (error, words) in cases {
        let text = error.to_string();
        assert!(!text.is_empty());
        for w in words {
            assert!(text.contains(w), "{error:?} displays {text:?}, without {w:?}");
        }
    }
}

#[test]
fn every_single_bit_flip_of_the_header_block_is_harmless() {
    // Flip every bit of the active bank's header block in turn: one copy is broken, the other carries the bank,
    // and the card boots the same state.
    let card = operational();
    let good = nvm_of(&card);
    let active = active_bank(&good);
    let sequence = inspect(&good).unwrap().sequence;
    for i in 0..HEADER_LEN {
        for bit in 0..8 {
            let mut b = good.clone();
            b[active * BANK_SIZE + i] ^= 1 << bit;
            assert_eq!(inspect(&b).expect("one copy is enough").sequence, sequence, "byte {i} bit {bit}");
            assert!(boot(b).is_ok());
        }
    }
}
