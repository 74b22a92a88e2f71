//! `zorgcard card inspect`: both NVM banks of an image, and a damaged newest state refused unless
//! `--accept-rollback` is given (`card-os/src/image.rs`). The image file is only read.

use std::process::Command;

use card_os::Platform as _;
use card_os::image::inspect_banks;
use card_os::nvm::{BANK_SIZE, HEADER_LEN};
use issuance::card_new::{NewCardOptions, new_card};
use issuance::inspect::inspect;
use issuance::pki::TestPki;
use issuance::profile;
use reader_sim::ImageFileError;
use reader_sim::image::Rollback;

/// A UZI card that answered one wrong PIN (`63C2`), saved with one byte of that newest state flipped; the bank
/// holding it.
fn damaged_image(dir: &std::path::Path) -> (std::path::PathBuf, Vec<u8>, usize) {
    let profile = profile::load("uzi-zorgverlener").unwrap();
    let pki = TestPki::fixtures().unwrap();
    let mut card = new_card(&profile, &pki, &NewCardOptions::default()).unwrap().card;
    assert_eq!(card.transmit(&[0x00, 0x20, 0x00, 0x01, 0x06, b'9', b'9', b'9', b'9', b'9', b'9']), [0x63, 0xC2]);
    let mut bytes = card.platform().nvm().as_bytes().to_vec();
    let current = inspect_banks(&bytes).unwrap().iter().position(|b| b.current).unwrap();
    bytes[current * BANK_SIZE + HEADER_LEN + 500] ^= 0x08;
    let path = dir.join("alice.card");
    std::fs::write(&path, &bytes).unwrap();
    (path, bytes, current)
}

#[test]
fn a_damaged_image_shows_both_banks_and_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (path, bytes, current) = damaged_image(dir.path());
    let older = 1 - current;

    let found = inspect(&path, Rollback::Refuse).unwrap();
    assert!(matches!(found.refused, Some(ImageFileError::Damaged { bank, .. }) if bank == current), "{found:?}");
    let report = &found.report;
    assert!(report.contains("alice.card"), "{report}");
    let line = |bank: usize| report.lines().find(|l| l.starts_with(&format!("bank {bank} "))).unwrap_or_default();
    assert!(line(current).contains("DAMAGED"), "{report}");
    assert!(line(current).contains("PIN 2 of 3 tries left"), "{report}");
    assert!(line(older).contains("valid, older state (`--accept-rollback` opens it)"), "{report}");
    assert!(line(older).contains("operational, PIN 3 of 3 tries left, PUK 3 of 3 tries left"), "{report}");
    assert!(!report.contains("serial"), "no card report for a refused card: {report}");

    let found = inspect(&path, Rollback::Accept).unwrap();
    assert!(found.refused.is_none());
    assert!(found.report.contains("PIN         3 of 3 tries left"), "{}", found.report);
    assert!(found.report.contains("DAMAGED"), "{}", found.report);
    assert_eq!(std::fs::read(&path).unwrap(), bytes, "inspect only reads");
}

#[test]
fn card_inspect_fails_on_a_damaged_image_unless_accepting_the_rollback() {
    let dir = tempfile::tempdir().unwrap();
    let (path, bytes, current) = damaged_image(dir.path());
    let zorgcard = || Command::new(env!("CARGO_BIN_EXE_zorgcard"));

    let out = zorgcard().args(["card", "inspect"]).arg(&path).output().unwrap();
    assert!(!out.status.success());
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains(&format!("bank {current}")) && stdout.contains("DAMAGED"), "{stdout}");
    assert!(stderr.contains("is damaged") && stderr.contains("--accept-rollback"), "{stderr}");

    let out = zorgcard().args(["card", "inspect", "--accept-rollback"]).arg(&path).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("PIN         3 of 3 tries left"));
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
}
