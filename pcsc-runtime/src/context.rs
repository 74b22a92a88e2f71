//! A connection to the PC/SC resource manager, and the reader states it reports.

use std::ffi::{CStr, CString};
use std::sync::Arc;
use std::time::Duration;

use crate::card::Card;
use crate::error::Error;
use crate::ffi::{self, ContextHandle, Dword};
use crate::flags::{Protocol, Protocols, Scope, ShareMode, State};

/// A PC/SC context (`SCardEstablishContext`). Cloning shares it.
#[derive(Debug, Clone)]
pub struct Context {
    handle: Arc<ContextHandle>,
}

impl Context {
    /// Opens the PC/SC library if it is not open yet, and establishes a context with the resource manager.
    /// [`Error::NotInstalled`] when there is no library, [`Error::NoService`] when pcscd does not run.
    pub fn establish(scope: Scope) -> Result<Context, Error> {
        let handle = ffi::establish_context(scope.raw())?;
        Ok(Context { handle: Arc::new(ContextHandle(handle)) })
    }

    /// The readers pcscd knows, in its order (`SCardListReaders`). No reader at all is
    /// [`Error::NoReadersAvailable`], as PC/SC answers.
    pub fn list_readers_owned(&self) -> Result<Vec<CString>, Error> {
        ffi::list_readers(self.handle.0)
    }

    /// Connects to the card in `reader` (`SCardConnect`).
    pub fn connect(&self, reader: &CStr, share: ShareMode, protocols: Protocols) -> Result<Card, Error> {
        let (card, active) = ffi::connect(self.handle.0, reader, share.raw(), Dword::from(protocols.bits()))?;
        Ok(Card::new(self.handle.clone(), card, Protocol::from_raw(active)))
    }

    /// Waits until one of `readers` differs from the state it holds, or for `timeout` (`None`: for ever)
    /// (`SCardGetStatusChange`); a wait that runs out is [`Error::Timeout`]. Each reader's event state and ATR are
    /// updated.
    pub fn get_status_change(
        &self,
        timeout: impl Into<Option<Duration>>,
        readers: &mut [ReaderState],
    ) -> Result<(), Error> {
        let timeout_ms = match timeout.into() {
            None => 0xFFFF_FFFF,
            Some(t) => Dword::try_from(t.as_millis()).unwrap_or(0xFFFF_FFFE).min(0xFFFF_FFFE),
        };
        let mut queries: Vec<ffi::StatusQuery<'_>> = readers
            .iter()
            .map(|r| ffi::StatusQuery {
                reader: &r.name,
                current: Dword::from(r.current.bits()),
                event: 0,
                atr: Vec::new(),
            })
            .collect();
        ffi::get_status_change(self.handle.0, timeout_ms, &mut queries)?;
        let reported: Vec<(Dword, Vec<u8>)> = queries.into_iter().map(|q| (q.event, q.atr)).collect();
        for (r, (event, atr)) in readers.iter_mut().zip(reported) {
            r.event = State::from_bits_retain(u32::try_from(event & 0xFFFF_FFFF).unwrap_or(0));
            r.atr = atr;
        }
        Ok(())
    }
}

/// One reader in a [`Context::get_status_change`] call: its name, the state the caller knows, and what PC/SC
/// reported.
#[derive(Debug, Clone)]
pub struct ReaderState {
    name: CString,
    current: State,
    event: State,
    atr: Vec<u8>,
}

impl ReaderState {
    /// A reader whose state the caller believes to be `current` (`State::UNAWARE`: report it at once).
    pub fn new(name: impl Into<CString>, current: State) -> ReaderState {
        ReaderState { name: name.into(), current, event: State::UNAWARE, atr: Vec::new() }
    }

    /// The reader's name.
    pub fn name(&self) -> &CStr {
        &self.name
    }

    /// The state last reported.
    pub fn event_state(&self) -> State {
        self.event
    }

    /// The state the next call starts from.
    pub fn current_state(&self) -> State {
        self.current
    }

    /// The ATR of the card in the reader, as last reported (empty without a card).
    pub fn atr(&self) -> &[u8] {
        &self.atr
    }

    /// Takes the reported state as the known one, so that the next call waits for a change from it.
    pub fn sync_current_state(&mut self) {
        self.current = self.event - State::CHANGED;
    }
}
