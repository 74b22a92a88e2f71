//! How the portal's decisions reach a card: at its next use, through the host that serves it.

use card_os::Status;
use reader_sim::reader::{Interceptor, ReaderError, Transmit};

use super::record::{CardStatus, rfc3339};
use super::registry::PortalError;
use super::store::{Store, StoreLocation};

/// TERMINATE CARD USAGE (ISO 7816-9 §6.8, DIALECT.md "Life cycle").
const TERMINATE: [u8; 4] = [0x00, 0xFE, 0x00, 0x00];

/// What the portal decided about a card, as enforced at its use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardAccess {
    /// The card is not in the registry (not issued through this portal): nothing to enforce.
    NotRegistered,
    /// Active.
    Allowed,
    /// Blocked: every use is refused with `6985` by the serving host.
    Blocked,
    /// Revoked; `terminated` once the chip has executed TERMINATE CARD USAGE.
    Revoked {
        /// The chip is terminated.
        terminated: bool,
    },
}

/// Called by the host serving a card each time the card is used: reads the portal database, checks that the card in
/// `reader` has serial `serial`, and for a revoked card whose user PIN is verified in the current session (VERIFY
/// status `00 20 00 01` answers `9000`) terminates it now and records that. A revoked card without a verified PIN
/// stays `Revoked { terminated: false }` until its holder presents the PIN ([`PortalGate`] does that at the
/// holder's next VERIFY). The card is talked to outside any write transaction; only recording the termination
/// is one ([`Store::transact`]), so a slow card never holds the database's write lock.
pub fn apply_pending(
    registry: impl Into<StoreLocation>,
    serial: &str,
    reader: &mut dyn Transmit,
) -> Result<CardAccess, PortalError> {
    let mut store = Store::open(registry)?;
    let database = store.location().clone();
    let reg = store.registry()?;
    let Some(index) = reg.cards.iter().position(|c| c.issued.serial == serial) else {
        return Ok(CardAccess::NotRegistered);
    };
    let card_err = |problem: String| PortalError::Card { database: database.clone(), serial: serial.into(), problem };
    let reader_err = |e: ReaderError| card_err(format!("the reader failed: {e}"));
    let on_card = reader.transmit(&[0x00, 0xCA, 0xDF, 0x32, 0x00]).map_err(reader_err)?;
    if !on_card.ends_with(&[0x90, 0x00]) || on_card[..on_card.len() - 2] != *serial.as_bytes() {
        return Err(card_err(format!(
            "the card in the reader is `{}`, not this card: serve the right card",
            String::from_utf8_lossy(on_card.get(..on_card.len().saturating_sub(2)).unwrap_or_default())
        )));
    }
    match reg.cards[index].status {
        CardStatus::Active => return Ok(CardAccess::Allowed),
        CardStatus::Blocked => return Ok(CardAccess::Blocked),
        CardStatus::Revoked => {}
    }
    let life_cycle = reader.transmit(&[0x00, 0xCA, 0xDF, 0x31, 0x00]).map_err(reader_err)?;
    let terminated = if life_cycle == [0x0C, 0x90, 0x00] {
        true
    } else if reader.transmit(&[0x00, 0x20, 0x00, 0x01]).map_err(reader_err)? == [0x90, 0x00] {
        let answer = reader.transmit(&TERMINATE).map_err(reader_err)?;
        if answer != [0x90, 0x00] {
            return Err(card_err(format!(
                "TERMINATE CARD USAGE answered {}: the card stays revoked on the CRL; try again at its next use",
                sw_text(&answer)
            )));
        }
        true
    } else {
        false
    };
    if terminated && reg.cards[index].terminated_at.is_none() {
        let unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        let now = rfc3339(unix);
        store.transact("host", &format!("terminate {serial}"), unix, |r| {
            // Another host may have recorded it meanwhile: then nothing changes.
            if let Some(card) = r.cards.iter_mut().find(|c| c.issued.serial == serial && c.terminated_at.is_none()) {
                card.terminated_at = Some(now.clone());
                card.events.push(format!("{now} host terminated the card (TERMINATE CARD USAGE) at its use"));
            }
            Ok(format!("card {serial} terminated"))
        })?;
    }
    Ok(CardAccess::Revoked { terminated })
}

fn sw_text(answer: &[u8]) -> String {
    match answer {
        [.., a, b] => Status::from_sw(u16::from_be_bytes([*a, *b])).to_string(),
        _ => "nothing".into(),
    }
}

/// The serving host's enforcement of the portal: wraps the reader of one card and applies [`apply_pending`] at
/// every *use* of the card (presenting or changing the PIN or PUK, PSO, INTERNAL AUTHENTICATE); everything else
/// passes straight through.
///
/// - blocked: the use is answered `6985` without reaching the chip;
/// - revoked, not yet terminated: a VERIFY that the chip accepts is followed by TERMINATE CARD USAGE and answered
///   `6285`; a wrong PIN is answered by the chip as usual;
/// - the portal database cannot be read: the use is answered `6F00` (fail closed) and the error kept in
///   [`PortalGate::last_error`].
#[derive(Debug)]
pub struct PortalGate<T> {
    inner: T,
    registry: StoreLocation,
    serial: String,
    last_error: Option<String>,
}

impl<T> PortalGate<T> {
    /// Enforces `registry`'s decisions about the card `serial` held in `inner`.
    pub fn new(inner: T, registry: impl Into<StoreLocation>, serial: impl Into<String>) -> Self {
        PortalGate { inner, registry: registry.into(), serial: serial.into(), last_error: None }
    }

    /// The wrapped reader.
    pub fn inner_mut(&mut self) -> &mut T {
        &mut self.inner
    }

    /// Unwraps the reader.
    pub fn into_inner(self) -> T {
        self.inner
    }

    /// Why the last use was answered `6F00`, if it was.
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }
}

/// A command that uses the card: VERIFY with a PIN (P1 `00`, data), CHANGE REFERENCE DATA, RESET RETRY COUNTER,
/// PSO, INTERNAL AUTHENTICATE.
fn is_use(apdu: &[u8]) -> bool {
    matches!(apdu, [_, 0x20, 0x00, _, _, ..] | [_, 0x24 | 0x2C | 0x2A | 0x88, ..])
}

impl<T: Transmit> Transmit for PortalGate<T> {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ReaderError> {
        gate(&self.registry, &self.serial, &mut self.last_error, apdu, &mut self.inner)
    }
}

/// The portal in a reader slot (`zorgcard serve --database DB`): the same decisions as [`PortalGate`], installed as
/// the slot's [`Interceptor`], so block, unblock and revoke reach the card through pcscd at its next use.
#[derive(Debug)]
pub struct PortalInterceptor {
    registry: StoreLocation,
    serial: String,
    last_error: Option<String>,
}

impl PortalInterceptor {
    /// Enforces `registry`'s decisions about the card `serial` in the slot it is installed on.
    pub fn new(registry: impl Into<StoreLocation>, serial: impl Into<String>) -> Self {
        PortalInterceptor { registry: registry.into(), serial: serial.into(), last_error: None }
    }
}

impl Interceptor for PortalInterceptor {
    fn exchange(&mut self, apdu: &[u8], card: &mut dyn Transmit) -> Result<Vec<u8>, ReaderError> {
        gate(&self.registry, &self.serial, &mut self.last_error, apdu, card)
    }
}

/// One exchange through the portal's decisions (see [`PortalGate`]).
fn gate(
    registry: &StoreLocation,
    serial: &str,
    last_error: &mut Option<String>,
    apdu: &[u8],
    inner: &mut dyn Transmit,
) -> Result<Vec<u8>, ReaderError> {
    if !is_use(apdu) {
        return inner.transmit(apdu);
    }
    let access = match apply_pending(registry, serial, inner) {
        Ok(access) => access,
        Err(e) => {
            *last_error = Some(e.to_string());
            return Ok(vec![0x6F, 0x00]);
        }
    };
    *last_error = None;
    match access {
        CardAccess::Blocked => Ok(vec![0x69, 0x85]),
        CardAccess::Revoked { terminated: false } if matches!(apdu, [_, 0x20, 0x00, ..]) => {
            let answer = inner.transmit(apdu)?;
            if answer != [0x90, 0x00] {
                return Ok(answer);
            }
            match apply_pending(registry, serial, inner) {
                Ok(CardAccess::Revoked { terminated: true }) => Ok(vec![0x62, 0x85]),
                Ok(_) => Ok(answer),
                Err(e) => {
                    *last_error = Some(e.to_string());
                    Ok(vec![0x6F, 0x00])
                }
            }
        }
        _ => inner.transmit(apdu),
    }
}
