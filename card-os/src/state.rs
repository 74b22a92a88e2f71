//! Everything the card keeps in RAM — the image's metadata and the session — and the one way to change the NVM.
//!
//! `CardState::commit` is where every handler's change becomes persistent: it writes a new image into the other
//! bank through [`Banks::commit`] (`nvm.rs`: body first, header last) and reloads the metadata from what was
//! written, so RAM always mirrors what would survive a power cut. A failed write halts the card (`6581`).

use heapless::Vec;

use crate::fs::FileIndex;
use crate::image::{self, DATA_OFF, LC_OFF, Meta, encode};
use crate::keys::{EC_POINT, EC_SCALAR, KeyInfo, Material, PublicKey, RSA_EXPONENT, RSA_MODULUS, rsa_layout};
use crate::nvm::{Banks, ImageError, Patch, Rollback};
use crate::platform::Platform;
use crate::profile::{ChipProfile, ISOAPPLET_AID};
use crate::status::Status;
use crate::types::{Algorithm, ApiVersion, KeyAlgorithm, KeyRef, LifeCycle, PinRef, Tries, Validity};

/// Most data bytes in one answer.
pub const MAX_ANSWER: usize = 4096;

/// The answer a handler writes into.
pub type Answer = Vec<u8, MAX_ANSWER>;

/// The session: what a reset or power-off forgets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Session {
    /// The current DF.
    pub current_df: FileIndex,
    /// The current EF, if any.
    pub current_ef: Option<FileIndex>,
    /// The user PIN was verified in this session.
    pub pin_verified: bool,
    /// A fresh verification that the non-repudiation key may spend on exactly one signature.
    pub signature_armed: bool,
    /// Key and algorithm chosen by MSE SET with the digital-signature template.
    pub dst: Option<(KeyRef, Algorithm)>,
    /// Key chosen by MSE SET with the authentication template.
    pub at: Option<KeyRef>,
    /// Key chosen by MSE SET with the confidentiality template (`B8`), for PSO DECIPHER.
    pub ct: Option<KeyRef>,
    /// Slot and key type chosen by MSE SET for key generation or import (IsoApplet: P2 `00`, `80 01 F3`/`EC`).
    pub key_template: Option<(KeyRef, KeyAlgorithm)>,
    /// The IsoApplet API this session speaks: v0 until GET DATA `0101` answered v1.
    pub api: ApiVersion,
}

/// What a host may know of a card: no secret in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardInfo {
    /// The life cycle as the outside sees it.
    pub life_cycle: LifeCycle,
    /// The answer to reset.
    pub atr: Vec<u8, 33>,
    /// The serial number.
    pub serial: Vec<u8, 16>,
    /// The user PIN counter.
    pub pin: Tries,
    /// The PUK counter.
    pub puk: Tries,
    /// The validity window, once activated.
    pub validity: Option<Validity>,
    /// The key slots in use, with their public keys.
    pub keys: Vec<KeyInfo, 3>,
    /// Files on the card, the MF included.
    pub files: usize,
}

/// Everything the card keeps in RAM.
#[derive(Clone, Debug)]
pub struct CardState {
    /// The image's metadata (no secrets, no file contents).
    pub(crate) meta: Meta,
    pub(crate) banks: Banks,
    /// What a reset forgets.
    pub(crate) session: Session,
    /// An NVM write failed: the card answers `6581` until it is booted again, like a chip after a brown-out.
    pub(crate) halted: bool,
}

impl CardState {
    /// Format the NVM as a blank card of `profile`: the MF and the PIN/PUK policies.
    pub fn format<P: Platform>(platform: &mut P, profile: &ChipProfile<'_>) -> Result<(), ImageError> {
        if profile.atr.len() < 2 || profile.atr.len() > 33 {
            return Err(ImageError::Inconsistent("ATR must be 2 to 33 bytes"));
        }
        if profile.serial.is_empty() || profile.serial.len() > 16 {
            return Err(ImageError::Inconsistent("serial number must be 1 to 16 bytes"));
        }
        if !profile.pin.is_valid() || !profile.puk.is_valid() {
            return Err(ImageError::Inconsistent("PIN or PUK policy"));
        }
        let mf_name = Vec::from_slice(&ISOAPPLET_AID).map_err(|_| ImageError::Inconsistent("MF name"))?;
        let body = encode::blank(profile.atr, profile.serial, &profile.pin, &profile.puk, &mf_name);
        Banks::format(platform.nvm_mut(), &body).map_err(ImageError::Nvm)?;
        Ok(())
    }

    /// Read the state from what the NVM holds (power-up). A damaged newest state is [`ImageError::Damaged`]
    /// unless `rollback` accepts the older bank (`nvm.rs`: torn or damaged).
    pub fn boot<P: Platform>(platform: &P, rollback: Rollback) -> Result<Self, ImageError> {
        let (banks, meta) = image::open(platform.nvm(), rollback)?;
        Ok(CardState { meta, banks, session: Session::default(), halted: false })
    }

    /// The life cycle as the outside sees it.
    pub fn life_cycle(&self) -> LifeCycle {
        self.meta.life_cycle()
    }

    /// Reset or power cycle: the session is lost, and an unfinished personalisation is rolled back.
    pub fn reset<P: Platform>(&mut self, platform: &mut P) {
        self.session = Session::default();
        self.roll_back_unfinished_personalisation(platform);
    }

    /// Write a new image with `patches` and `data_used` bytes of file contents, then reload the metadata from
    /// it, so RAM always mirrors what would survive a power cut.
    pub(crate) fn commit<P: Platform>(
        &mut self,
        platform: &mut P,
        data_used: u16,
        patches: &[Patch<'_>],
    ) -> Result<(), Status> {
        let len = DATA_OFF + data_used as usize;
        if self.banks.commit(platform.nvm_mut(), len, patches).is_err() {
            self.halted = true;
            return Err(Status::MemoryFailure);
        }
        match Meta::load(platform.nvm(), &self.banks) {
            Ok(meta) => {
                self.meta = meta;
                Ok(())
            }
            Err(_) => {
                self.halted = true;
                Err(Status::MemoryFailure)
            }
        }
    }

    /// Commit without changing the data area's size.
    pub(crate) fn commit_meta<P: Platform>(&mut self, platform: &mut P, patches: &[Patch<'_>]) -> Result<(), Status> {
        self.commit(platform, self.meta.files.data_used, patches)
    }

    /// Read bytes of the current image body (file contents, PIN values, key material) for one operation.
    pub(crate) fn read_body<P: Platform>(&self, platform: &P, offset: usize, buf: &mut [u8]) -> Result<(), Status> {
        self.banks.read_body(platform.nvm(), offset, buf).map_err(|_| Status::MemoryFailure)
    }

    /// A slot's key material, read for one operation (zeroed when dropped).
    pub(crate) fn key_material<P: Platform>(&self, platform: &P, key: KeyRef) -> Result<Material, Status> {
        let mut material = Material::zero();
        self.read_body(platform, encode::key_material_offset(key), &mut material.bytes)?;
        Ok(material)
    }

    /// A slot's public key, read without touching its private part (`info`, GENERATE P1 `01`).
    pub(crate) fn public_key<P: Platform>(
        &self,
        platform: &P,
        key: KeyRef,
        algorithm: KeyAlgorithm,
    ) -> Result<PublicKey, Status> {
        let (at, len) = match algorithm {
            KeyAlgorithm::P256 => (EC_SCALAR, EC_POINT),
            KeyAlgorithm::Rsa2048 => (rsa_layout::N, RSA_MODULUS + RSA_EXPONENT),
        };
        let mut material = Material::zero();
        let part = material.bytes.get_mut(at..at + len).ok_or(Status::NoPreciseDiagnosis)?;
        self.read_body(platform, encode::key_material_offset(key) + at, part)?;
        Ok(PublicKey::of(algorithm, &material))
    }

    /// All-or-nothing personalisation: a card that was being personalised when it was reset or powered off in a
    /// reader (readers call `reset` at power-up and power-down) goes back to blank (same ATR, serial and PIN/PUK
    /// policies), in one atomic image write. Pulling the card during the ZORG-ID creation flow thus leaves it
    /// blank, never half personalised.
    fn roll_back_unfinished_personalisation<P: Platform>(&mut self, platform: &mut P) {
        if self.meta.stored_lc != LifeCycle::Personalised || self.halted {
            return;
        }
        let (pin, puk) = (self.meta.pin(PinRef::User).policy, self.meta.pin(PinRef::Puk).policy);
        let Ok(mf_name) = Vec::from_slice(&ISOAPPLET_AID) else { return };
        let body = encode::blank(&self.meta.atr, &self.meta.serial, &pin, &puk, &mf_name);
        // A failed write halts the card (6581); the next boot tries again.
        let _ = self.commit(platform, 0, &[Patch { offset: 0, bytes: &body }]);
    }

    /// The life-cycle patch of a personalisation write: the first one moves a blank card to personalised.
    pub(crate) fn personalised_lc(&self) -> Patch<'static> {
        const PERSONALISED: [u8; 1] = [LifeCycle::Personalised.to_byte()];
        const OPERATIONAL: [u8; 1] = [LifeCycle::Operational.to_byte()];
        const TERMINATED: [u8; 1] = [LifeCycle::Terminated.to_byte()];
        let bytes: &'static [u8] = match self.meta.stored_lc {
            LifeCycle::Operational => &OPERATIONAL,
            LifeCycle::Terminated => &TERMINATED,
            _ => &PERSONALISED,
        };
        Patch { offset: LC_OFF, bytes }
    }

    /// Life cycle, counters, validity and public keys.
    pub fn info<P: Platform>(&self, platform: &P) -> CardInfo {
        let meta = &self.meta;
        let mut keys = Vec::new();
        for key in KeyRef::ALL {
            if let Some(Some(slot)) = meta.keys.get(key.index())
                && let Ok(public) = self.public_key(platform, key, slot.algorithm)
            {
                let _ = keys.push(KeyInfo { key, origin: slot.origin, public });
            }
        }
        CardInfo {
            life_cycle: meta.life_cycle(),
            atr: meta.atr.clone(),
            serial: meta.serial.clone(),
            pin: meta.tries(PinRef::User),
            puk: meta.tries(PinRef::Puk),
            validity: meta.validity,
            keys,
            files: meta.files.entries.len(),
        }
    }
}
