//! Step 8's one-time PUK: drawn from the OS RNG, set on the card, shown to the holder once.

use zeroize::Zeroize;

use super::*;

/// The one-time PUK of a new ZORG-ID Smartcard (seed: *Aanmaken ZORG-ID Smartcard*, stap 7: "U krijgt nu de eenmalige
/// pukcode … te zien").
///
/// Not `Clone`, `Debug` prints `***`, no `Display`: the only way to the digits is [`OneTimePuk::show`], which
/// consumes it, so the PUK is shown exactly once and by whoever holds the value — never by a log, trace or file
/// of this crate.
pub struct OneTimePuk(pub(super) Secret<Vec<u8>>);

impl OneTimePuk {
    /// Writes the digits (nothing else) to `out` and forgets them.
    pub fn show(self, out: &mut dyn Write) -> io::Result<()> {
        out.write_all(self.0.expose())
    }
}

impl fmt::Debug for OneTimePuk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OneTimePuk(***)")
    }
}

/// [`PUK_DIGITS`] uniform random digits from the OS RNG (bytes ≥ 250 are drawn again, so `% 10` has no bias).
pub(super) fn generate_puk() -> Result<Secret<Vec<u8>>, PersonaliseError> {
    let mut digits = Vec::with_capacity(PUK_DIGITS);
    let mut buf = [0u8; 16];
    while digits.len() < PUK_DIGITS {
        getrandom::fill(&mut buf).map_err(|e| PersonaliseError::Setup {
            problem: format!("the operating system gave no random bytes for the PUK ({e})"),
        })?;
        for b in buf.iter().filter(|b| **b < 250) {
            if digits.len() < PUK_DIGITS {
                digits.push(b'0' + b % 10);
            }
        }
    }
    buf.zeroize();
    Ok(Secret::new(digits))
}
