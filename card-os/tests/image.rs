//! The persistent image: `image::inspect` and `Card::boot` on good and damaged images (double bank, CRC-32C,
//! format version, invariants). A bad image is an error, never a panic.
mod common;
use card_os::image::FILES_OFF;
use card_os::image::inspect;
use card_os::nvm::{BANK_SIZE, FORMAT_VERSION, HEADER_LEN};
use card_os::sim::SimPlatform;
use card_os::{Card, ImageError, LifeCycle, NVM_SIZE};
use common::*;

fn nvm_of(card: &TestCard) -> Vec<u8> {
    card.platform().nvm.bytes.clone()
}

fn boot(bytes: Vec<u8>) -> Result<TestCard, ImageError> {
    Card::boot(SimPlatform::new(bytes, NOW, 7))
}

fn seq(bytes: &[u8], bank: usize) -> u32 {
    let h = &bytes[bank * BANK_SIZE..];
    u32::from_be_bytes([h[8], h[9], h[10], h[11]])
}

fn body_len(bytes: &[u8], bank: usize) -> usize {
    let h = &bytes[bank * BANK_SIZE..];
    u32::from_be_bytes([h[12], h[13], h[14], h[15]]) as usize
}

/// The bank `inspect` would use: both banks valid here, so the higher sequence number.
fn active_bank(bytes: &[u8]) -> usize {
    if seq(bytes, 1) > seq(bytes, 0) { 1 } else { 0 }
}

/// CRC-32C (Castagnoli, reflected, as `crc::CRC_32_ISCSI`), written out so the test does not trust the crate.
fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0x82F6_3B78 } else { crc >> 1 };
        }
    }
    !crc
}

/// Recompute a bank's checksum after its body was edited, as a careless or malicious tool would.
fn reseal(bytes: &mut [u8], bank: usize) {
    let base = bank * BANK_SIZE;
    let len = body_len(bytes, bank);
    let mut covered = bytes[base..base + 16].to_vec();
    covered.extend_from_slice(&bytes[base + HEADER_LEN..base + HEADER_LEN + len]);
    let crc = crc32c(&covered);
    bytes[base + 16..base + 20].copy_from_slice(&crc.to_be_bytes());
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
fn flipped_byte_in_the_active_bank_falls_back_to_the_older_bank() {
    let card = operational();
    let before = card.info();
    let mut bytes = nvm_of(&card);
    let active = active_bank(&bytes);
    let older = 1 - active;
    assert_eq!(seq(&bytes, active), seq(&bytes, older) + 1);
    // The older bank holds the state before the last commit (the PUK being set): find what it says.
    let older_summary = {
        let mut only_older = bytes.clone();
        only_older[active * BANK_SIZE..(active + 1) * BANK_SIZE].fill(0);
        inspect(&only_older).expect("older bank valid")
    };
    // Flip one byte of the active body (in the file contents).
    let at = active * BANK_SIZE + HEADER_LEN + 1800;
    bytes[at] ^= 0x01;
    let s = inspect(&bytes).expect("falls back");
    assert_eq!(s.sequence, seq(&bytes, older));
    assert_eq!(s.life_cycle, older_summary.life_cycle);
    let fallen_back = boot(bytes.clone()).expect("boots from the older bank");
    assert_ne!(fallen_back.info(), before, "the older bank is the state before the last commit");
    assert_eq!(fallen_back.info().life_cycle, LifeCycle::Personalised, "the last commit was the activation");
    // A flipped byte in the header (sequence number) of the active bank: the same.
    let mut bytes = nvm_of(&card);
    bytes[active * BANK_SIZE + 11] ^= 0x80;
    assert_eq!(inspect(&bytes).expect("falls back").sequence, seq(&bytes, older));
    // A flipped byte in the older bank only: the active bank is used as before.
    let mut bytes = nvm_of(&card);
    bytes[older * BANK_SIZE + HEADER_LEN + 3] ^= 0x40;
    assert_eq!(inspect(&bytes).expect("active bank").sequence, seq(&bytes, active));
    assert_eq!(boot(bytes).expect("boot").info(), before);
}

#[test]
fn flipped_bytes_in_both_banks_are_a_checksum_mismatch() {
    let card = operational();
    let mut bytes = nvm_of(&card);
    for bank in 0..2 {
        bytes[bank * BANK_SIZE + HEADER_LEN + 100] ^= 0xFF;
    }
    assert_eq!(inspect(&bytes).unwrap_err(), ImageError::ChecksumMismatch);
    assert_boot_fails(bytes, ImageError::ChecksumMismatch);
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
    bytes[active * BANK_SIZE + HEADER_LEN + 40] ^= 0x04;
    assert_eq!(inspect(&bytes).unwrap_err(), ImageError::ChecksumMismatch);
    assert_boot_fails(bytes, ImageError::ChecksumMismatch);
    // A body length beyond the bank.
    let mut bytes = nvm_of(&card);
    for bank in 0..2 {
        bytes[bank * BANK_SIZE + 12..bank * BANK_SIZE + 16].copy_from_slice(&(BANK_SIZE as u32).to_be_bytes());
    }
    assert_eq!(inspect(&bytes).unwrap_err(), ImageError::ChecksumMismatch);
}

#[test]
fn other_format_version() {
    let mut bytes = nvm_of(&operational());
    let other = FORMAT_VERSION + 1;
    for bank in 0..2 {
        bytes[bank * BANK_SIZE + 4..bank * BANK_SIZE + 6].copy_from_slice(&other.to_be_bytes());
    }
    let expected = ImageError::UnsupportedVersion { found: other, supported: FORMAT_VERSION };
    assert_eq!(inspect(&bytes).unwrap_err(), expected);
    assert_boot_fails(bytes.clone(), expected);
    // Even with the checksums made right again: the version decides first.
    for bank in 0..2 {
        reseal(&mut bytes, bank);
    }
    assert_eq!(inspect(&bytes).unwrap_err(), expected);
    // One bank of another version and one of ours: ours is used.
    let mut mixed = nvm_of(&operational());
    let active = active_bank(&mixed);
    mixed[active * BANK_SIZE + 4..active * BANK_SIZE + 6].copy_from_slice(&other.to_be_bytes());
    assert!(inspect(&mixed).is_ok());
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
fn every_single_byte_flip_of_the_header_is_caught_or_harmless() {
    // Flip every bit of the active bank's header in turn: inspect and boot never panic, and whatever boots
    // is the active state or the older one.
    let card = operational();
    let good = nvm_of(&card);
    let active = active_bank(&good);
    let states = [inspect(&good).unwrap().sequence, inspect(&good).unwrap().sequence - 1];
    for i in 0..HEADER_LEN {
        for bit in 0..8 {
            let mut b = good.clone();
            b[active * BANK_SIZE + i] ^= 1 << bit;
            if let Ok(s) = inspect(&b) {
                assert!(states.contains(&s.sequence), "byte {i} bit {bit}: sequence {}", s.sequence);
            }
            let _ = boot(b);
        }
    }
}
