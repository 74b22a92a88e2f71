//! A card in a real PC/SC reader, through pcscd (or WinSCard), as a [`Transmit`] like the in-process reader.
//!
//! The harness runs the same scripts against the in-process reader, a simulated card in a vpcd slot ("Virtual PCD
//! 00 00") and a real card in a real reader (an HID Omnikey, say): this is the one type that makes the last two
//! possible. Nothing in it knows about vpcd: it is plain PC/SC (`SCardConnect`, `SCardTransmit`,
//! `SCardReconnect`), shared mode, T=0 or T=1 as the reader and card agree.
//!
//! What it does not do: it does not send GET RESPONSE for `61xx` nor resend for `6Cxx` (ISO 7816-4 §5.3.4) — the
//! caller sees the card's own answer, as a conformance check must — and it does not recover from
//! `SCARD_W_RESET_CARD` behind the caller's back, since a reset by another application drops the PIN verification.

use std::ffi::CString;
use std::time::{Duration, Instant};

use crate::reader::{ReaderError, Transmit};

/// How long [`PcscReader::connect`] waits for a card to be inserted or to come up.
pub const CONNECT_WAIT: Duration = Duration::from_secs(5);

/// What to do when there is no PC/SC service at all.
pub const HOW_TO_START_PCSCD: &str = "start the PC/SC daemon: `sudo systemctl start pcscd.socket` or `pcscd \
     --foreground &` (package pcscd); for simulated cards also install vsmartcard-vpcd and run `zorgcard serve`, or \
     run the command under `scripts/with-pcscd`";

/// Why a PC/SC reader could not be used. Every message names the reader and the fix.
#[derive(Debug, thiserror::Error)]
pub enum PcscReaderError {
    /// No PC/SC client library on this machine at all: the build needs none, the run does.
    #[error("PC/SC is not installed on this machine: {}", pcsc_runtime::HOW_TO_INSTALL)]
    NotInstalled,
    /// No resource manager: pcscd is not running (or not reachable from here).
    #[error("no PC/SC service to talk to ({source}): {HOW_TO_START_PCSCD}")]
    NoService {
        /// What `SCardEstablishContext` / `SCardListReaders` said.
        source: pcsc_runtime::Error,
    },
    /// The reader name is not one pcscd knows.
    #[error("no PC/SC reader named `{reader}`: the readers are {}: give one of them exactly", list(.available))]
    UnknownReader {
        /// The name asked for.
        reader: String,
        /// The readers pcscd knows.
        available: Vec<String>,
    },
    /// The reader stayed empty (or the card did not answer its reset) for the whole wait.
    #[error(
        "no card in PC/SC reader `{reader}` after {waited:?} ({source}): insert the card (or start `zorgcard \
             serve` for this slot) and try again"
    )]
    NoCard {
        /// The reader.
        reader: String,
        /// How long it was waited for.
        waited: Duration,
        /// The last answer of `SCardConnect`.
        source: pcsc_runtime::Error,
    },
    /// Any other PC/SC failure.
    #[error("PC/SC reader `{reader}`: {action} failed: {source}")]
    Pcsc {
        /// The reader.
        reader: String,
        /// The PC/SC call, in words.
        action: &'static str,
        /// What PC/SC said.
        source: pcsc_runtime::Error,
    },
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        return "none (is the reader plugged in, or vpcd installed?)".into();
    }
    names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
}

fn is_service_error(e: pcsc_runtime::Error) -> bool {
    matches!(e, pcsc_runtime::Error::NoService | pcsc_runtime::Error::ServiceStopped | pcsc_runtime::Error::CommError)
}

/// Errors that mean "no usable card yet": worth waiting for while connecting.
fn is_no_card_yet(e: pcsc_runtime::Error) -> bool {
    matches!(
        e,
        pcsc_runtime::Error::NoSmartcard
            | pcsc_runtime::Error::RemovedCard
            | pcsc_runtime::Error::UnpoweredCard
            | pcsc_runtime::Error::UnresponsiveCard
            | pcsc_runtime::Error::ResetCard
            | pcsc_runtime::Error::SharingViolation
            | pcsc_runtime::Error::ReaderUnavailable
    )
}

/// A PC/SC context, or why there is none: not installed, or no pcscd.
pub fn establish() -> Result<pcsc_runtime::Context, PcscReaderError> {
    pcsc_runtime::Context::establish(pcsc_runtime::Scope::User).map_err(|source| match source {
        pcsc_runtime::Error::NotInstalled => PcscReaderError::NotInstalled,
        source => PcscReaderError::NoService { source },
    })
}

fn reader_names(ctx: &pcsc_runtime::Context) -> Result<Vec<String>, PcscReaderError> {
    match ctx.list_readers_owned() {
        Ok(names) => Ok(names.into_iter().map(|n| n.to_string_lossy().into_owned()).collect()),
        Err(pcsc_runtime::Error::NoReadersAvailable) => Ok(Vec::new()),
        Err(source) if is_service_error(source) => Err(PcscReaderError::NoService { source }),
        Err(source) => Err(PcscReaderError::Pcsc { reader: "(all)".into(), action: "listing the readers", source }),
    }
}

/// The names of the readers pcscd knows, in its order (vpcd's are "Virtual PCD 00 00", "Virtual PCD 00 01", …).
pub fn list_readers() -> Result<Vec<String>, PcscReaderError> {
    reader_names(&establish()?)
}

/// A card in a PC/SC reader, connected in shared mode. Dropping it disconnects with a reset
/// (`SCARD_RESET_CARD`), so no PIN verification outlives the session.
pub struct PcscReader {
    card: pcsc_runtime::Card,
    name: String,
    atr: Vec<u8>,
    protocol: Option<pcsc_runtime::Protocol>,
}

impl PcscReader {
    /// Connects to the card in `reader_name`, waiting up to [`CONNECT_WAIT`] for one to be inserted.
    pub fn connect(reader_name: &str) -> Result<PcscReader, PcscReaderError> {
        Self::connect_waiting(reader_name, CONNECT_WAIT)
    }

    /// Connects to the card in `reader_name`, waiting up to `wait` for one to be inserted.
    pub fn connect_waiting(reader_name: &str, wait: Duration) -> Result<PcscReader, PcscReaderError> {
        let ctx = establish()?;
        let available = reader_names(&ctx)?;
        if !available.iter().any(|n| n == reader_name) {
            return Err(PcscReaderError::UnknownReader { reader: reader_name.into(), available });
        }
        let c_name = CString::new(reader_name)
            .map_err(|_| PcscReaderError::UnknownReader { reader: reader_name.into(), available: available.clone() })?;
        let deadline = Instant::now() + wait;
        let card = loop {
            match ctx.connect(&c_name, pcsc_runtime::ShareMode::Shared, pcsc_runtime::Protocols::ANY) {
                Ok(card) => break card,
                Err(source) if is_service_error(source) => return Err(PcscReaderError::NoService { source }),
                Err(source) if is_no_card_yet(source) => {
                    if Instant::now() >= deadline {
                        return Err(PcscReaderError::NoCard { reader: reader_name.into(), waited: wait, source });
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(source) => {
                    return Err(PcscReaderError::Pcsc {
                        reader: reader_name.into(),
                        action: "connecting to the card",
                        source,
                    });
                }
            }
        };
        let mut reader = PcscReader { card, name: reader_name.into(), atr: Vec::new(), protocol: None };
        reader.refresh_status()?;
        Ok(reader)
    }

    fn refresh_status(&mut self) -> Result<(), PcscReaderError> {
        let status = self.card.status2_owned().map_err(|source| PcscReaderError::Pcsc {
            reader: self.name.clone(),
            action: "reading the card status (ATR)",
            source,
        })?;
        self.atr = status.atr().to_vec();
        self.protocol = status.protocol2();
        Ok(())
    }

    /// Warm reset (ISO 7816-3 §6.2.3) through `SCardReconnect(SCARD_RESET_CARD)`: the card's security state
    /// (PIN verification) is lost. The ATR is read again.
    pub fn reset(&mut self) -> Result<(), PcscReaderError> {
        self.card
            .reconnect(
                pcsc_runtime::ShareMode::Shared,
                pcsc_runtime::Protocols::ANY,
                pcsc_runtime::Disposition::ResetCard,
            )
            .map_err(|source| PcscReaderError::Pcsc {
                reader: self.name.clone(),
                action: "resetting the card",
                source,
            })?;
        self.refresh_status()
    }

    /// The card's answer-to-reset as the reader reported it at connect (or the last [`PcscReader::reset`]).
    pub fn atr(&self) -> Vec<u8> {
        self.atr.clone()
    }

    /// The reader's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The transmission protocol in use (T=0 or T=1), if pcscd says.
    pub fn protocol(&self) -> Option<pcsc_runtime::Protocol> {
        self.protocol
    }
}

impl Transmit for PcscReader {
    /// One `SCardTransmit`. Every PC/SC failure becomes [`ReaderError::Transport`] with the reader's name and what
    /// to do (a removed card, a card reset by another application, pcscd gone).
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ReaderError> {
        let mut buf = vec![0u8; pcsc_runtime::MAX_BUFFER_SIZE_EXTENDED];
        match self.card.transmit(apdu, &mut buf) {
            Ok(rapdu) => Ok(rapdu.to_vec()),
            Err(e) => {
                let hint = match e {
                    pcsc_runtime::Error::RemovedCard | pcsc_runtime::Error::NoSmartcard => {
                        ": the card was removed; reinsert it and connect again"
                    }
                    pcsc_runtime::Error::ResetCard => {
                        ": another application reset the card (PIN verification is lost); reset or connect again"
                    }
                    pcsc_runtime::Error::NoService | pcsc_runtime::Error::ServiceStopped => {
                        ": pcscd went away; start it again"
                    }
                    _ => "",
                };
                Err(ReaderError::Transport(format!("PC/SC reader `{}`: SCardTransmit failed: {e}{hint}", self.name)))
            }
        }
    }
}

impl std::fmt::Debug for PcscReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcscReader")
            .field("name", &self.name)
            .field("atr", &hex::encode_upper(&self.atr))
            .field("protocol", &self.protocol)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_say_how_to_fix() {
        let e = PcscReaderError::NotInstalled;
        assert_eq!(
            e.to_string(),
            "PC/SC is not installed on this machine: apt-get install pcscd libpcsclite1 vsmartcard-vpcd"
        );
        let e = PcscReaderError::NoService { source: pcsc_runtime::Error::NoService };
        assert!(e.to_string().contains("pcscd"), "{e}");
        let e =
            PcscReaderError::UnknownReader { reader: "Omnikey".into(), available: vec!["Virtual PCD 00 00".into()] };
        assert!(e.to_string().contains("`Virtual PCD 00 00`"), "{e}");
        let e = PcscReaderError::UnknownReader { reader: "Omnikey".into(), available: vec![] };
        assert!(e.to_string().contains("none"), "{e}");
    }
}
