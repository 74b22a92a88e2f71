//! The in-process reader: one slot holding at most one card, driven by function calls.
//!
//! It is the embedded default used by tests and the conformance harness, and the slot behind every vpcd
//! connection ([`crate::vpcd`]). It models what a contact reader does to the card (ISO 7816-3 §6: cold reset on
//! power-on, warm reset, deactivation) and nothing about what is on the card.
//!
//! **Saving.** A reader with an image file saves the card after every exchange that changed its NVM, before the
//! answer leaves. If that save fails (disk full, read-only or removed folder), the command answers `6581` (memory
//! failure), as a chip does whose EEPROM write failed: the answer the card computed is dropped, the card's NVM and
//! session go back to what they were before the command (the NVM to the bytes the file holds), and the error
//! ([`ReaderError::Save`]) names the file and the cause. The file keeps its old content: saves are atomic
//! ([`image::save_atomic`]). So a VERIFY that cannot store its decremented counter answers `6581`, not `63Cx` or
//! `9000`: no comparison result leaks, and the try is not spent.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use card_os::state::Session;
use card_os::{Card, Platform};

use crate::image::{self, ImageFileError};
use crate::platform::{HostPlatform, nvm_from_bytes};

/// A card running on the host platform.
pub type HostCard = Card<HostPlatform>;

/// A reader slot shared between a vpcd connection thread and a controlling harness.
///
/// A std `Mutex`: it is held only for one exchange with the card (microseconds), never across I/O with vpcd.
pub type SharedReader = Arc<Mutex<InProcessReader>>;

/// Why an exchange could not happen.
#[derive(Debug, thiserror::Error)]
pub enum ReaderError {
    /// The slot is empty (PC/SC `SCARD_E_NO_SMARTCARD`).
    #[error("no card in the reader: insert one first")]
    NoCard,
    /// A card is inserted but not powered (PC/SC `SCARD_W_UNPOWERED_CARD`).
    #[error("the card is not powered: power it on (or reset it) first")]
    NotPowered,
    /// The command changed the card but its new state could not be stored in its image file. The card's answer
    /// is `6581` (memory failure; vpcd sends it): the answer it computed is dropped and its state is back to
    /// what the file holds, the session to what it was before the command.
    #[error("the command was undone and answers 6581 (memory failure), because the card could not be saved: {0}")]
    Save(#[from] ImageFileError),
    /// A transport failure of another [`Transmit`] implementation (for example a PC/SC reader).
    #[error("reader transport failed: {0}")]
    Transport(String),
}

/// Sends one C-APDU and returns the R-APDU (data and SW1 SW2).
///
/// Synchronous on purpose: an APDU exchange is strictly request/response (ISO 7816-3 §7.1), so a harness that runs
/// the same script against the in-process reader and a real PC/SC reader needs nothing more.
pub trait Transmit {
    /// One exchange.
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ReaderError>;
}

/// One reader slot: an optional card, its power state and an optional image file it is saved to.
#[derive(Default)]
pub struct InProcessReader {
    card: Option<HostCard>,
    powered: bool,
    image_path: Option<PathBuf>,
    /// The NVM bytes a failed save rolls the card back to: what the image file holds (read at open, written at
    /// each save), or, before a card's first exchange with a new image path, the card as it was then.
    stored: Option<Vec<u8>>,
    /// How the image was opened; a rollback boots the stored bytes the same way.
    rollback: image::Rollback,
    interceptor: Option<Box<dyn Interceptor>>,
}

/// Something standing between a reader and its card that may answer in the card's place: the back end of a card
/// management portal that blocks a card at its next use, a test's trigger. Every APDU sent to the reader goes
/// through it; it passes what it lets through to `card`. Installed on a slot, it acts on pcscd's APDUs too.
pub trait Interceptor: Send {
    /// One exchange; `card` is the reader without the interceptor.
    fn exchange(&mut self, apdu: &[u8], card: &mut dyn Transmit) -> Result<Vec<u8>, ReaderError>;

    /// One exchange with the whole slot in hand, for interceptors that act on the reader rather than only answer:
    /// pull the card out (return [`ReaderError::NoCard`] after [`InProcessReader::remove`]: a vpcd slot then drops
    /// its connection, so pcscd sees the card go mid-command), reset it, move its clock. The reader's interceptor
    /// is taken out for the call, so `reader.transmit` reaches the card. By default, [`Interceptor::exchange`].
    fn exchange_in_reader(&mut self, apdu: &[u8], reader: &mut InProcessReader) -> Result<Vec<u8>, ReaderError> {
        self.exchange(apdu, reader)
    }
}

impl InProcessReader {
    /// An empty reader.
    pub fn new() -> Self {
        Self::default()
    }

    /// A reader with `card` inserted (not powered).
    pub fn with_card(card: HostCard) -> Self {
        let mut reader = Self::new();
        reader.insert(card);
        reader
    }

    /// A reader holding the card of an image file, which is then saved back after every exchange that changed it.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, ImageFileError> {
        Self::open_with(path, image::Rollback::Refuse)
    }

    /// [`InProcessReader::open`], `rollback` deciding about a damaged newest state (see [`image::open_with`]).
    pub fn open_with(path: impl AsRef<Path>, rollback: image::Rollback) -> Result<Self, ImageFileError> {
        let path = path.as_ref();
        let card = image::open_with(path, rollback)?;
        let stored = card.platform().nvm().as_bytes().to_vec();
        let mut reader = Self::with_card(card);
        reader.image_path = Some(path.to_path_buf());
        reader.stored = Some(stored);
        reader.rollback = rollback;
        Ok(reader)
    }

    /// Wraps the reader for sharing with a vpcd thread.
    pub fn into_shared(self) -> SharedReader {
        Arc::new(Mutex::new(self))
    }

    /// Sets (or clears) the file the card's NVM is saved to after each exchange that left it dirty.
    pub fn set_image_path(&mut self, path: Option<PathBuf>) {
        self.image_path = path;
        self.stored = None;
    }

    /// Installs (or removes) the [`Interceptor`] every exchange goes through.
    pub fn set_interceptor(&mut self, interceptor: Option<Box<dyn Interceptor>>) {
        self.interceptor = interceptor;
    }

    /// The file the card is saved to, if any.
    pub fn image_path(&self) -> Option<&Path> {
        self.image_path.as_deref()
    }

    /// Inserts a card, unpowered, returning the one that was in the slot (if any, after powering it off).
    pub fn insert(&mut self, card: HostCard) -> Option<HostCard> {
        let old = self.remove();
        self.card = Some(card);
        self.stored = None;
        old
    }

    /// Takes the card out. Removal powers it off first, so its verification state is lost (ISO 7816-4 §9: security
    /// status is reset when the card is deactivated).
    pub fn remove(&mut self) -> Option<HostCard> {
        self.power_off();
        self.card.take()
    }

    /// Whether a card is inserted.
    pub fn has_card(&self) -> bool {
        self.card.is_some()
    }

    /// Whether the card is powered.
    pub fn is_powered(&self) -> bool {
        self.powered && self.card.is_some()
    }

    /// The inserted card (for `info()`, its platform, its clock handle).
    pub fn card(&self) -> Option<&HostCard> {
        self.card.as_ref()
    }

    /// The inserted card, mutably.
    pub fn card_mut(&mut self) -> Option<&mut HostCard> {
        self.card.as_mut()
    }

    /// The card's ATR, powered or not: vpcd asks for it on every presence poll, whatever the power state
    /// (vpcd.c `vicc_present`).
    pub fn atr(&self) -> Option<Vec<u8>> {
        self.card.as_ref().map(|c| c.atr().to_vec())
    }

    /// Cold reset (ISO 7816-3 §6.2.2): powers the card and returns its ATR. Powering a powered card resets it too.
    pub fn power_on(&mut self) -> Result<Vec<u8>, ReaderError> {
        let card = self.card.as_mut().ok_or(ReaderError::NoCard)?;
        card.reset();
        self.powered = true;
        Ok(card.atr().to_vec())
    }

    /// Deactivation (ISO 7816-3 §6.4): verification is lost. Harmless on an empty or unpowered slot.
    pub fn power_off(&mut self) {
        if let Some(card) = self.card.as_mut().filter(|_| self.powered) {
            card.reset();
        }
        self.powered = false;
    }

    /// Warm reset (ISO 7816-3 §6.2.3): verification is lost, the ATR is returned. Powers an unpowered card.
    pub fn reset(&mut self) -> Result<Vec<u8>, ReaderError> {
        self.power_on()
    }

    /// Writes the card's NVM to the image file now if it is dirty. Called after every exchange; public for a
    /// harness that changes the card through `card_mut()`. If the write fails, the card rolls back to what the
    /// file holds (its session is kept); a card that has no stored state yet stays dirty and is saved next time.
    pub fn save_if_dirty(&mut self) -> Result<(), ImageFileError> {
        let session = self.card.as_ref().map(Card::session).unwrap_or_default();
        self.save_or_roll_back(session)
    }

    /// Saves a dirty card; if that fails, puts back the stored NVM bytes and `session` (see the module docs).
    fn save_or_roll_back(&mut self, session: Session) -> Result<(), ImageFileError> {
        let (Some(card), Some(path)) = (self.card.as_mut(), self.image_path.as_ref()) else {
            return Ok(());
        };
        let nvm = card.platform_mut().nvm_mut();
        if !nvm.take_dirty() {
            return Ok(());
        }
        let Err(error) = image::save_atomic(path, nvm.as_bytes()) else {
            match self.stored.as_mut() {
                Some(stored) => stored.copy_from_slice(nvm.as_bytes()),
                None => self.stored = Some(nvm.as_bytes().to_vec()),
            }
            return Ok(());
        };
        let Some(stored) = self.stored.as_ref() else {
            nvm.mark_dirty();
            return Err(error);
        };
        // Both came from a card's NVM, so the size holds; and they booted before (at open, or as the card was).
        if let Ok(restored) = nvm_from_bytes(stored.clone()) {
            *nvm = restored;
        }
        if let Err(e) = card.reload(self.rollback, session) {
            // The card halted and answers 6581 to everything: the bytes in the file did not boot again.
            return Err(ImageFileError::Invalid { path: path.clone(), problem: e.to_string() });
        }
        Err(error)
    }
}

impl Transmit for InProcessReader {
    /// Sends the APDU to the card and, if the exchange changed the NVM and an image path is set, saves the image
    /// before answering: a card whose answer was seen must never come back from disk without that change (a PIN
    /// try counted, a key generated).
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ReaderError> {
        if let Some(mut interceptor) = self.interceptor.take() {
            let answer = interceptor.exchange_in_reader(apdu, self);
            self.interceptor = Some(interceptor);
            return answer;
        }
        let card = self.card.as_mut().ok_or(ReaderError::NoCard)?;
        if !self.powered {
            return Err(ReaderError::NotPowered);
        }
        let session = card.session();
        if self.image_path.is_some() && self.stored.is_none() {
            self.stored = Some(card.platform().nvm().as_bytes().to_vec());
        }
        let response = card.transmit(apdu).to_vec();
        self.save_or_roll_back(session)?;
        Ok(response)
    }
}

impl<T: Transmit + ?Sized> Transmit for &mut T {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ReaderError> {
        (**self).transmit(apdu)
    }
}

impl<T: Transmit + ?Sized> Transmit for Box<T> {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ReaderError> {
        (**self).transmit(apdu)
    }
}

impl Transmit for SharedReader {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ReaderError> {
        // card-os never panics, so a poisoned lock can only come from a harness panic; the reader is still sound.
        self.lock().unwrap_or_else(PoisonError::into_inner).transmit(apdu)
    }
}

impl std::fmt::Debug for InProcessReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcessReader")
            .field("card", &self.card.is_some())
            .field("powered", &self.powered)
            .field("image_path", &self.image_path)
            .field("interceptor", &self.interceptor.is_some())
            .finish()
    }
}
