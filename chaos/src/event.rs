//! The life-cycle events `zorgcard chaos` can play, and the log of what it played and saw.

use std::fmt;

/// One event played on the card, decided per APDU from the seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChaosEvent {
    /// The card is pulled out on receiving the command, before it answers, and put back (ISO 7816-3 §6.4: the
    /// deactivation loses the security status and the selection).
    Pull,
    /// The card resets before the command (ISO 7816-3 §6.2.3 warm reset: verification and selection lost).
    Reset,
    /// The card takes longer over the answer.
    Slow,
    /// The PIN becomes blocked for real before the command: wrong VERIFYs in-process until `6983`.
    PinBlocked,
    /// The card's clock moves past the card's validity before the command (signing then answers `6984`).
    Expired,
    /// The card is terminated before the command (ISO 7816-9 §6.8; it answers `6285` from then on).
    Revoked,
    /// The card answers this status word instead of running the command (`6581` memory failure, `6F00` no
    /// precise diagnosis, `6A84` not enough memory: ISO 7816-4 §5.1.3).
    Transient(u16),
}

impl ChaosEvent {
    /// Whether the event changes the card for good, so it is played at most once per run.
    pub fn is_once(self) -> bool {
        matches!(self, ChaosEvent::PinBlocked | ChaosEvent::Expired | ChaosEvent::Revoked)
    }

    /// Whether the card loses its selection and verification, so an application must select again.
    pub fn loses_session(self) -> bool {
        matches!(self, ChaosEvent::Pull | ChaosEvent::Reset)
    }
}

impl fmt::Display for ChaosEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChaosEvent::Pull => f.write_str("card pulled and re-inserted"),
            ChaosEvent::Reset => f.write_str("card reset"),
            ChaosEvent::Slow => f.write_str("slow answer"),
            ChaosEvent::PinBlocked => f.write_str("PIN blocked"),
            ChaosEvent::Expired => f.write_str("clock moved past expiry"),
            ChaosEvent::Revoked => f.write_str("card revoked"),
            ChaosEvent::Transient(sw) => write!(f, "transient status word {sw:04X}"),
        }
    }
}

/// One APDU the application sent, as the chaos log keeps it: the bytes stay in memory for the reaction analysis
/// and never print (a VERIFY carries the PIN).
#[derive(Clone, PartialEq, Eq)]
pub struct SeenApdu {
    /// The C-APDU.
    pub apdu: Vec<u8>,
    /// The status word answered; `None`: no answer (the card was pulled).
    pub sw: Option<u16>,
    /// The event played on it, if any.
    pub event: Option<ChaosEvent>,
}

impl SeenApdu {
    /// The command's name (`VERIFY`, `SELECT`, …).
    pub fn name(&self) -> &'static str {
        card_os::apdu::describe(&self.apdu).name
    }
}

impl fmt::Debug for SeenApdu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SeenApdu")
            .field("command", &self.name())
            .field("sw", &self.sw.map(|sw| format!("{sw:04X}")))
            .field("event", &self.event)
            .finish()
    }
}
