//! Steps 4 and 5: the second card is a blank ZORG-ID Smartcard, and the new PIN meets its policy.

use super::*;

/// GET DATA `DF31` = `01` and no DF `5015`; the card serial.
pub(super) fn check_blank(blank: &mut dyn Transmit) -> Result<String, PersonaliseError> {
    let step = Step::BlankCard;
    let not_blank = |problem: String| PersonaliseError::NotBlank { problem };
    let (lc, status) = get_data(blank, 0xDF31, step, Which::NewCard)?;
    match (status, lc.as_slice()) {
        (Status::Success, [0x01]) => {}
        (Status::Success, [0x03]) => {
            return Err(not_blank(
                "the second card is being personalised (life cycle 03): remove and reinsert it, it rolls back to blank, then start again".into(),
            ));
        }
        (Status::Success, [b]) => {
            return Err(not_blank(format!(
                "the second card is not blank (life cycle {b:02X}: {}): put a new, blank ZORG-ID Smartcard in the second reader",
                match b {
                    0x05 => "operational, already personalised",
                    0x06 => "blocked",
                    0x0C => "terminated",
                    _ => "unknown",
                }
            )));
        }
        (status, _) => {
            return Err(not_blank(format!(
                "the second card answered {status} to GET DATA DF31: put a blank ZORG-ID Smartcard in the second reader"
            )));
        }
    }
    let (_, status) = exchange(blank, &[0x00, 0xA4, 0x08, 0x0C, 0x02, 0x50, 0x15], step, Which::NewCard)?;
    if status != Status::FileNotFound {
        return Err(not_blank(format!(
            "the second card already has a PKCS#15 application (SELECT 3F00/5015 answered {status}): put a blank ZORG-ID Smartcard in the second reader"
        )));
    }
    let (serial, status) = get_data(blank, 0xDF32, step, Which::NewCard)?;
    if status != Status::Success || serial.is_empty() {
        return Err(not_blank(format!("the second card has no serial number (GET DATA DF32 answered {status})")));
    }
    String::from_utf8(serial).map_err(|_| not_blank("the second card's serial number is not text".into()))
}

// ---- Step 5: the new PIN ----------------------------------------------------------------------

/// Both entries equal, length inside the ZORG-ID policy, printable ASCII (the card's `Charset::Printable`).
pub(super) fn check_new_pin(
    pin: &Secret<Vec<u8>>,
    again: &Secret<Vec<u8>>,
    policy: &PinSettings,
) -> Result<(), PersonaliseError> {
    if pin.expose() != again.expose() {
        return Err(PersonaliseError::PinMismatch);
    }
    let n = pin.expose().len();
    if n < usize::from(policy.min_len) || n > usize::from(policy.max_len) {
        return Err(PersonaliseError::PinPolicy {
            problem: format!(
                "has {n} characters; the ZORG-ID Smartcard needs {} to {}: choose another PIN",
                policy.min_len, policy.max_len
            ),
        });
    }
    if !pin.expose().iter().all(|b| (0x20..=0x7E).contains(b)) {
        return Err(PersonaliseError::PinPolicy {
            problem:
                "has a character outside printable ASCII (letters, digits, punctuation, space): choose another PIN"
                    .into(),
        });
    }
    Ok(())
}
