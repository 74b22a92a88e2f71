//! Card images on disk: damaged files give errors naming the file, the problem and the fix, and are left as
//! they were; saving is atomic.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use card_os::{NVM_SIZE, Platform};
use common::*;
use reader_sim::ImageFileError;
use reader_sim::image::{load, open, save_atomic};

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
    // A body byte of both banks (32-byte header, then the body): whichever bank is current no longer checks.
    for bank in [0, NVM_SIZE / 2] {
        image[bank + 40] ^= 0x5A;
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
    // The format version, bytes 4..6 of each bank header.
    for bank in [0, NVM_SIZE / 2] {
        image[bank + 4..bank + 6].copy_from_slice(&3u16.to_be_bytes());
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
