//! `zorgcard card inspect`: what a card image holds, never a secret — the card it boots, and both NVM banks as
//! the card judges them (valid, torn, damaged), with the life cycle and tries each holds.

use std::fmt::Write as _;
use std::path::Path;

use card_os::image::BankReport;
use card_os::nvm::BankStatus;
use card_os::{KeyRef, LifeCycle, PublicKey, Tries};
use reader_sim::image::{self, ImageFileError, Rollback};
use reader_sim::reader::InProcessReader;

use crate::pki::certificate_summary;

/// What `card inspect` found: the report, and why the card was refused if it was (the report then shows the
/// banks only).
#[derive(Debug)]
pub struct Inspection {
    /// The readable report.
    pub report: String,
    /// The card did not open: a damaged newest state (refused unless `rollback` accepts the older one), or another
    /// problem its banks show.
    pub refused: Option<ImageFileError>,
}

/// A readable report of an image file: holder, type, life cycle, tries, validity, keys and certificates, then both
/// banks. `rollback` decides about a damaged newest state, as at boot. Only reads the file.
pub fn inspect(path: &Path, rollback: Rollback) -> Result<Inspection, ImageFileError> {
    let banks = image::banks(path)?;
    let mut out = String::new();
    let _ = writeln!(out, "card image  {}", path.display());
    match image::open_with(path, rollback) {
        Ok(card) => {
            card_report(&mut out, card);
            banks_report(&mut out, &banks);
            Ok(Inspection { report: out, refused: None })
        }
        Err(
            e @ (ImageFileError::Damaged { .. } | ImageFileError::Invalid { .. } | ImageFileError::OldFormat { .. }),
        ) => {
            banks_report(&mut out, &banks);
            Ok(Inspection { report: out, refused: Some(e) })
        }
        Err(e) => Err(e),
    }
}

/// One line per bank: sequence, status, and the state it holds when its metadata parses.
fn banks_report(out: &mut String, banks: &[BankReport; 2]) {
    let damaged = banks.iter().any(|b| b.status == BankStatus::Damaged);
    for b in banks {
        let sequence = b.sequence.map_or("-".to_string(), |s| s.to_string());
        let status = match b.status {
            BankStatus::Valid if b.current && damaged => "valid, older state (`--accept-rollback` opens it)".into(),
            BankStatus::Valid if b.current => "valid, current".to_string(),
            BankStatus::Valid => "valid, older state".into(),
            BankStatus::Damaged => "DAMAGED: the newest state, written completely and corrupted since".into(),
            BankStatus::Torn => "torn: an interrupted write into it (ignored)".into(),
            BankStatus::NoHeader => "no valid header (never written, or its header write was cut)".into(),
            BankStatus::OtherVersion(v) => format!("image format version {v}"),
        };
        let copies = if b.sequence.is_some() && b.valid_copies < 2 { ", one header copy damaged" } else { "" };
        let _ = write!(out, "bank {}      sequence {sequence}, {status}{copies}", b.bank);
        if let Some(state) = b.state {
            let unverified = if b.status == BankStatus::Valid { "" } else { " (unverified: its checksum fails)" };
            let _ = write!(
                out,
                "; {}, PIN {} of {} tries left, PUK {} of {} tries left{unverified}",
                state.life_cycle, state.pin.left, state.pin.max, state.puk.left, state.puk.max
            );
        }
        out.push('\n');
    }
}

/// `PIN         2 of 3 tries left`, with ` (not set)` while the card has no value for it yet.
fn tries_line(out: &mut String, name: &str, tries: Tries) {
    let unset = if tries.initialised { "" } else { " (not set)" };
    let _ = writeln!(out, "{name:<12}{} of {} tries left{unset}", tries.left, tries.max);
}

/// Holder, type, life cycle, tries, validity, keys and certificates of the card.
fn card_report(out: &mut String, card: reader_sim::HostCard) {
    let info = card.info();
    let mut reader = InProcessReader::with_card(card);
    let _ = writeln!(out, "serial      {}", String::from_utf8_lossy(&info.serial));
    let _ = writeln!(out, "ATR         {}", hex::encode_upper(&info.atr));
    let _ = writeln!(out, "life cycle  {}", info.life_cycle);
    tries_line(out, "PIN", info.pin);
    tries_line(out, "PUK", info.puk);
    match info.validity {
        Some(v) => {
            let _ = writeln!(out, "validity    usable from {}, expired from {} (3 years)", v.from, v.until);
        }
        None => {
            let _ = writeln!(out, "validity    not started (card not activated)");
        }
    }
    for key in &info.keys {
        let role = match key.key {
            KeyRef::Authentication => "authentication",
            KeyRef::Signature => "signature (non-repudiation)",
            KeyRef::Encryption => "encryption",
        };
        let public = match key.public {
            PublicKey::P256(point) => format!("P-256 public key {}…", hex::encode_upper(&point[..9])),
            PublicKey::Rsa2048 { modulus, exponent } => {
                format!("RSA-2048 public key, e = {exponent}, n = {}…", hex::encode_upper(&modulus[..8]))
            }
        };
        let _ = writeln!(out, "key {:02X}      {role}, {:?}, {public}", key.key.to_byte(), key.origin);
    }
    if !matches!(info.life_cycle, LifeCycle::Blank | LifeCycle::Terminated) && reader.power_on().is_ok() {
        for (fid, what) in [(0x4301u16, "authentication"), (0x4302, "signature"), (0x4303, "encryption")] {
            if let Ok(der) = reader_sim::exchange::read_ef(&mut reader, &[0x5015, fid]) {
                match certificate_summary(&der) {
                    Ok(c) => {
                        let _ = writeln!(out, "cert {what}: {}", c.subject);
                        let _ = writeln!(out, "            SAN {}", c.san_uzi.as_deref().unwrap_or("-"));
                        let _ = writeln!(out, "            valid {} .. {}", utc(c.not_before), utc(c.not_after));
                    }
                    Err(e) => {
                        let _ = writeln!(out, "cert {what}: unreadable ({e})");
                    }
                }
            }
        }
    }
}

/// A Unix time as `YYYY-MM-DD HH:MM:SSZ`.
pub fn utc(unix: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(unix) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        Err(_) => unix.to_string(),
    }
}
