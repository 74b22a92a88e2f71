//! Card images on disk: damaged files give errors naming the file, the problem and the fix, and are left as
//! they were; saving is atomic.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use card_os::{NVM_SIZE, Platform};
use common::*;
use reader_sim::ImageFileError;
use reader_sim::image::{Rollback, banks, load, load_with, open, open_accepting_rollback, save_atomic};

const FIX: &str = "restore it from a backup or re-personalise";

fn good_image() -> Vec<u8> {
    card_with_pin().platform().nvm().as_bytes().to_vec()
}

/// Loads `bytes` written as `name`; asserts the failure names the file and the fix and leaves the file as it was.
fn load_fails(name: &str, bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
    let err = load(&path).unwrap_err();
    assert!(matches!(err, ImageFileError::Invalid { .. }), "{err}");
    assert_eq!(err.path(), path);
    let message = err.to_string();
    assert!(message.contains(&format!("card image `{}`", path.display())), "{message}");
    assert!(message.ends_with(FIX), "{message}");
    assert!(open(&path).is_err());
    assert_eq!(std::fs::read(&path).unwrap(), bytes, "a failed load changed the file");
    assert_eq!(std::fs::metadata(&path).unwrap().modified().unwrap(), modified);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "a failed load left a file behind");
    message
}

#[test]
fn a_good_image_loads_and_boots() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alice.card");
    let image = good_image();
    save_atomic(&path, &image).unwrap();
    assert_eq!(load(&path).unwrap(), image);
    let card = open(&path).unwrap();
    assert_eq!(card.atr(), uzi_atr());
    assert_eq!(card.info().serial.as_slice(), b"TEST0001");
    assert_eq!(pin_tries_left(&card), 3);
}

#[test]
fn a_truncated_image_names_the_file_and_where_it_ends() {
    let image = good_image();
    let message = load_fails("alice.card", &image[..812]);
    assert!(message.contains(&format!("is truncated at byte 812 (expected {NVM_SIZE})")), "{message}");
    let message = load_fails("empty.card", &[]);
    assert!(message.contains("truncated at byte 0"), "{message}");
}

#[test]
fn a_longer_file_is_not_an_image() {
    let mut image = good_image();
    image.extend_from_slice(b"trailing");
    let message = load_fails("long.card", &image);
    assert!(message.contains(&format!("{} bytes", NVM_SIZE + 8)), "{message}");
}

#[test]
fn a_corrupted_image_fails_its_checksum() {
    let mut image = good_image();
    // The header copies of both banks (the first 48 bytes of each): no bank checks.
    for bank in [0, NVM_SIZE / 2] {
        for copy in [0, 12] {
            image[bank + copy + 10] ^= 0x5A;
        }
    }
    let message = load_fails("bob.card", &image);
    assert!(message.contains("corrupted"), "{message}");
}

#[test]
fn something_else_is_not_an_image() {
    let message = load_fails("photo.card", &vec![0u8; NVM_SIZE]);
    assert!(message.contains("not a zorgcard card image"), "{message}");
}

#[test]
fn another_format_version_is_refused() {
    let mut image = good_image();
    // The format version, bytes 4..6 of both header copies of each bank (copy A at bank byte 0, B at 12).
    for bank in [0, NVM_SIZE / 2] {
        for copy in [0, 12] {
            image[bank + copy + 4..bank + copy + 6].copy_from_slice(&3u16.to_be_bytes());
        }
    }
    let message = load_fails("future.card", &image);
    assert!(message.contains("version 3"), "{message}");
}

#[test]
fn a_missing_image_is_never_created() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("carol.card");
    let err = load(&path).unwrap_err();
    assert!(matches!(err, ImageFileError::NotFound { .. }), "{err}");
    assert!(err.to_string().contains("carol.card"), "{err}");
    assert!(open(&path).is_err());
    assert!(!path.exists());
}

/// Every read during a stream of saves sees exactly the old or the new image.
#[test]
fn readers_never_see_a_half_written_image() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dave.card");
    let a = vec![0xAA; NVM_SIZE];
    let b = vec![0xBB; NVM_SIZE];
    save_atomic(&path, &a).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (path, a, b, done) = (path.clone(), a.clone(), b.clone(), done.clone());
        std::thread::spawn(move || {
            let mut reads = 0;
            while !done.load(Ordering::Relaxed) {
                let seen = std::fs::read(&path).unwrap();
                assert!(seen == a || seen == b, "a read saw a mix of {} bytes", seen.len());
                reads += 1;
            }
            reads
        })
    };
    for i in 0..100 {
        save_atomic(&path, if i % 2 == 0 { &b } else { &a }).unwrap();
    }
    done.store(true, Ordering::Relaxed);
    assert!(watcher.join().unwrap() > 0);
    assert_eq!(std::fs::read(&path).unwrap(), a);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "temporary files left behind");
}

/// A save that fails leaves the old image untouched and no temporary file.
#[test]
fn a_failed_save_leaves_the_old_file() {
    let dir = tempfile::tempdir().unwrap();
    // A non-empty directory where the image should go: rename(2) onto it fails.
    let path = dir.path().join("erin.card");
    std::fs::create_dir(&path).unwrap();
    std::fs::write(path.join("keep"), b"old").unwrap();
    let err = save_atomic(&path, &good_image()).unwrap_err();
    assert!(err.to_string().contains("erin.card"), "{err}");
    assert_eq!(std::fs::read(path.join("keep")).unwrap(), b"old");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "temporary file left behind");

    let in_missing_dir = dir.path().join("nowhere").join("x.card");
    assert!(save_atomic(&in_missing_dir, b"new").is_err());
    assert!(!Path::new(&in_missing_dir).exists());
}

#[cfg(unix)]
#[test]
fn images_are_private_to_their_owner() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("frank.card");
    save_atomic(&path, &good_image()).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

/// The golden version-1 image (`fixtures/images/v1/`, made before RSA): refused with the command that recreates
/// the card, and the file is left byte for byte as it was.
#[test]
fn the_golden_version_1_image_is_refused_with_the_command_that_recreates_it() {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/images/v1/uzi-zorgverlener.card");
    let before = std::fs::read(&golden).expect("the golden v1 image is committed");
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("alice.card");
    std::fs::write(&copy, &before).unwrap();
    for result in [load(&copy).map(|_| ()), open(&copy).map(|_| ())] {
        let err = result.expect_err("a version-1 image does not boot");
        assert!(matches!(err, ImageFileError::OldFormat { found: 1, supported: 2, .. }), "{err:?}");
        let message = err.to_string();
        assert!(message.contains("alice.card"), "{message}");
        assert!(message.contains("version 1"), "{message}");
        assert!(message.contains("zorgcard card new --profile <PROFILE> --out"), "{message}");
    }
    assert_eq!(std::fs::read(&copy).unwrap(), before, "the file is never silently replaced");
    assert_eq!(std::fs::read(&golden).unwrap(), before);
}

/// An operational card that answered one wrong PIN (`63C2`), with one byte of that newest state flipped: refused
/// with a message naming the file, the bank and the older state, the file left as it was; opened at the older
/// state only when asked, and its banks shown either way.
#[test]
fn a_damaged_newest_state_is_refused_naming_the_bank_and_the_older_state() {
    let mut card = card_with_pin();
    assert_eq!(card.transmit(&verify(b"999999")), [0x63, 0xC2]);
    let mut image = card.platform().nvm().as_bytes().to_vec();
    let reports = card_os::image::inspect_banks(&image).unwrap();
    let current = reports.iter().position(|b| b.current).unwrap();
    image[current * (NVM_SIZE / 2) + 48 + 200] ^= 0x01;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("grace.card");
    std::fs::write(&path, &image).unwrap();
    for err in [load(&path).unwrap_err(), open(&path).unwrap_err()] {
        let ImageFileError::Damaged { bank, fallback: Some(older), .. } = &err else { panic!("{err:?}") };
        assert_eq!((*bank, older.bank, older.pin.left), (current, 1 - current, 3));
        let message = err.to_string();
        for words in [
            format!("card image `{}` is damaged", path.display()),
            format!("bank {current} holds its newest state"),
            format!("bank {}, sequence", 1 - current),
            "operational, PIN 3 of 3 tries left".into(),
            "--accept-rollback".into(),
        ] {
            assert!(message.contains(&words), "{words:?} not in {message}");
        }
        assert_eq!(err.path(), path);
    }
    assert_eq!(std::fs::read(&path).unwrap(), image, "a refused open changed the file");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);

    assert_eq!(load_with(&path, Rollback::Accept).unwrap(), image);
    let older = open_accepting_rollback(&path).expect("the older state, when asked");
    assert_eq!(pin_tries_left(&older), 3, "the older state: before the wrong PIN");
    assert_eq!(std::fs::read(&path).unwrap(), image, "opening does not write");

    let [a, b] = banks(&path).unwrap();
    let (newest, other) = if current == 0 { (a, b) } else { (b, a) };
    assert_eq!(newest.status, card_os::nvm::BankStatus::Damaged);
    assert_eq!((other.status, other.current), (card_os::nvm::BankStatus::Valid, true));
}
