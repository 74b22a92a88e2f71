//! `zorgcard card inspect`: what a card image holds, never a secret.

use std::fmt::Write as _;
use std::path::Path;

use card_os::{KeyRef, LifeCycle};
use reader_sim::image::{self, ImageFileError};
use reader_sim::reader::{InProcessReader, Transmit};

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
            let _ = writeln!(out, "validity    usable from {} , expired from {} (3 years)", v.from, v.until);
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
        let _ = writeln!(
            out,
            "key {:02X}      {role}, {:?}, P-256 public key {}…",
            key.key.to_byte(),
            key.origin,
            &hex::encode_upper(&key.public[..9])
        );
    }
    if !matches!(info.life_cycle, LifeCycle::Blank | LifeCycle::Terminated) && reader.power_on().is_ok() {
        for (fid, what) in [(0x4301u16, "authentication"), (0x4302, "signature"), (0x4303, "encryption")] {
            if let Some(der) = read_file(&mut reader, &[0x50, 0x15, (fid >> 8) as u8, fid as u8]) {
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

/// Read a whole EF by path from the MF, through the card's own commands.
pub fn read_file(reader: &mut dyn Transmit, path: &[u8]) -> Option<Vec<u8>> {
    let mut select = vec![0x00, 0xA4, 0x08, 0x04, path.len() as u8];
    select.extend_from_slice(path);
    select.push(0x00);
    let fcp = reader.transmit(&select).ok()?;
    let size = fcp
        .windows(2)
        .position(|w| w == [0x80, 0x02])
        .map(|i| u16::from_be_bytes([fcp[i + 2], fcp[i + 3]]) as usize)?;
    let mut data = Vec::with_capacity(size);
    while data.len() < size {
        let n = (size - data.len()).min(0xE0);
        let [p1, p2] = (data.len() as u16).to_be_bytes();
        let r = reader.transmit(&[0x00, 0xB0, p1, p2, n as u8]).ok()?;
        if r.len() < 2 || r[r.len() - 2..] != [0x90, 0x00] {
            return None;
        }
        data.extend_from_slice(&r[..r.len() - 2]);
    }
    Some(data)
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
