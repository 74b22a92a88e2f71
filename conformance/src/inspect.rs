//! `zorgcard card inspect`: what a card image holds, never a secret.

use std::fmt::Write as _;
use std::path::Path;

use card_os::{KeyRef, LifeCycle, PublicKey};
use reader_sim::image::{self, ImageFileError};
use reader_sim::reader::InProcessReader;

use crate::pki::certificate_summary;

/// A readable report of an image file: holder, type, life cycle, tries, validity, keys and certificates.
pub fn inspect(path: &Path) -> Result<String, ImageFileError> {
    let card = image::open(path)?;
    let info = card.info();
    let mut reader = InProcessReader::with_card(card);
    let mut out = String::new();
    let _ = writeln!(out, "card image  {}", path.display());
    let _ = writeln!(out, "serial      {}", String::from_utf8_lossy(&info.serial));
    let _ = writeln!(out, "ATR         {}", hex::encode_upper(&info.atr));
    let _ = writeln!(out, "life cycle  {}", info.life_cycle);
    let _ = writeln!(
        out,
        "PIN         {} of {} tries left{}",
        info.pin.left,
        info.pin.max,
        if info.pin.initialised { "" } else { " (not set)" }
    );
    let _ = writeln!(
        out,
        "PUK         {} of {} tries left{}",
        info.puk.left,
        info.puk.max,
        if info.puk.initialised { "" } else { " (not set)" }
    );
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
            if let Ok(der) = crate::exchange::read_ef(&mut reader, &[0x5015, fid]) {
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
    Ok(out)
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
