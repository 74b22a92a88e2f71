//! A connection to the card in one reader.

use std::sync::Arc;

use crate::error::Error;
use crate::ffi::{self, ContextHandle, Dword, Handle};
use crate::flags::{Disposition, Protocol, Protocols, ShareMode};

/// A connected card (`SCardConnect`). Dropping it disconnects with a reset (`SCARD_RESET_CARD`), so that no PIN
/// verification outlives the connection, as the `pcsc` crate does.
#[derive(Debug)]
pub struct Card {
    // Keeps the context alive as long as the card handle is used.
    _context: Arc<ContextHandle>,
    handle: Handle,
    protocol: Option<Protocol>,
    connected: bool,
}

/// What `SCardStatus` says of a connected card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardStatus {
    atr: Vec<u8>,
    protocol: Option<Protocol>,
}

impl CardStatus {
    /// The card's answer-to-reset.
    pub fn atr(&self) -> &[u8] {
        &self.atr
    }

    /// The protocol in use, if there is one (none in direct mode).
    pub fn protocol2(&self) -> Option<Protocol> {
        self.protocol
    }
}

impl Card {
    pub(crate) fn new(context: Arc<ContextHandle>, handle: Handle, protocol: Option<Protocol>) -> Card {
        Card { _context: context, handle, protocol, connected: true }
    }

    /// Sends one command APDU and returns the response (data and status word) in `response`
    /// (`SCardTransmit`). `response` should hold [`crate::MAX_BUFFER_SIZE_EXTENDED`] bytes for any answer.
    pub fn transmit<'r>(&self, command: &[u8], response: &'r mut [u8]) -> Result<&'r [u8], Error> {
        let protocol = self.protocol.unwrap_or(Protocol::T1).raw();
        let len = ffi::transmit(self.handle, protocol, command, response)?;
        Ok(response.get(..len).unwrap_or_default())
    }

    /// Connects again (`SCardReconnect`), for example with [`Disposition::ResetCard`] for a warm reset.
    pub fn reconnect(&mut self, share: ShareMode, protocols: Protocols, init: Disposition) -> Result<(), Error> {
        let active = ffi::reconnect(self.handle, share.raw(), Dword::from(protocols.bits()), init.raw())?;
        self.protocol = Protocol::from_raw(active);
        Ok(())
    }

    /// The card's ATR and protocol (`SCardStatus`).
    pub fn status2_owned(&self) -> Result<CardStatus, Error> {
        let (_state, protocol, atr) = ffi::status(self.handle)?;
        Ok(CardStatus { atr, protocol: Protocol::from_raw(protocol) })
    }

    /// Disconnects with `disposition` (`SCardDisconnect`). On failure the card is given back with the error, as
    /// the `pcsc` crate does.
    pub fn disconnect(mut self, disposition: Disposition) -> Result<(), (Card, Error)> {
        match ffi::disconnect(self.handle, disposition.raw()) {
            Ok(()) => {
                self.connected = false;
                Ok(())
            }
            Err(e) => Err((self, e)),
        }
    }
}

impl Drop for Card {
    fn drop(&mut self) {
        if self.connected {
            let _ = ffi::disconnect(self.handle, Disposition::ResetCard.raw());
        }
    }
}
