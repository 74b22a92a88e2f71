//! The card: APDU in, APDU out.
//!
//! [`Card::transmit`] frames the command (`apdu.rs`), resolves command chaining and GET RESPONSE (ISO 7816-4
//! §5.3), dispatches the typed [`Command`] to its handler (`fs.rs`, `pin.rs`, `sign.rs`, `lifecycle` handlers in
//! `admin.rs`) and fits the answer to Ne with `61xx`/`6Cxx`. The RAM state ([`CardState`]) holds the image's
//! metadata and the session; the APDU buffers ([`ApduBuffers`]) are the I/O memory a reader lends a chip.

use heapless::Vec;

use crate::apdu::{Apdu, Command, SignAlgorithm, ins};
use crate::fs::FileIndex;
use crate::image::{DATA_OFF, Meta, encode};
use crate::keys::{KeyInfo, KeyRef};
use crate::lifecycle::{LifeCycle, Validity};
use crate::nvm::{Banks, ImageError, Patch};
use crate::pin::PinRef;
use crate::platform::Platform;
use crate::profile::{ChipProfile, ISOAPPLET_AID};
use crate::status::Status;

/// Most data bytes in one answer.
pub const MAX_ANSWER: usize = 4096;
/// Most data bytes a chained command may carry in all.
pub const MAX_CHAIN: usize = 4096;

/// The session: what a reset or power-off forgets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Session {
    pub current_df: FileIndex,
    pub current_ef: Option<FileIndex>,
    /// The user PIN was verified in this session.
    pub pin_verified: bool,
    /// A fresh verification that the non-repudiation key may spend on exactly one signature.
    pub signature_armed: bool,
    /// Key and algorithm chosen by MSE SET with the digital-signature template.
    pub dst: Option<(KeyRef, SignAlgorithm)>,
    /// Key chosen by MSE SET with the authentication template.
    pub at: Option<KeyRef>,
}

/// Everything the card keeps in RAM.
#[derive(Clone, Debug)]
pub struct CardState {
    pub(crate) meta: Meta,
    pub(crate) banks: Banks,
    pub(crate) session: Session,
    /// An NVM write failed: the card answers `6581` until it is booted again, like a chip after a brown-out.
    pub(crate) halted: bool,
}

/// The I/O memory a reader lends the card: chained command data, the pending answer, the outgoing R-APDU.
pub struct ApduBuffers {
    chain: Vec<u8, MAX_CHAIN>,
    chain_header: Option<[u8; 3]>,
    pub(crate) answer: Vec<u8, MAX_ANSWER>,
    sent: usize,
    out: Vec<u8, { MAX_ANSWER + 2 }>,
}

impl ApduBuffers {
    const fn new() -> Self {
        ApduBuffers { chain: Vec::new(), chain_header: None, answer: Vec::new(), sent: 0, out: Vec::new() }
    }

    fn forget(&mut self) {
        self.chain.clear();
        self.chain_header = None;
        self.answer.clear();
        self.sent = 0;
    }
}

impl core::fmt::Debug for ApduBuffers {
    /// Chained data may hold a PIN: only lengths are shown.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "ApduBuffers {{ chain: {} bytes, answer: {} bytes }}", self.chain.len(), self.answer.len())
    }
}

/// A card on a platform.
pub struct Card<P: Platform> {
    platform: P,
    state: CardState,
    io: ApduBuffers,
}

/// What a host may know of a card: no secret in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardInfo {
    pub life_cycle: LifeCycle,
    pub atr: Vec<u8, 33>,
    pub serial: Vec<u8, 16>,
    pub pin: Tries,
    pub puk: Tries,
    pub validity: Option<Validity>,
    pub keys: Vec<KeyInfo, 3>,
    pub files: usize,
}

/// A PIN counter as seen from outside.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tries {
    pub initialised: bool,
    pub left: u8,
    pub max: u8,
}

impl<P: Platform> core::fmt::Debug for Card<P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Card").field("state", &self.state).field("io", &self.io).finish_non_exhaustive()
    }
}

impl<P: Platform> Card<P> {
    /// Make a blank card: format the NVM with the MF and the PIN/PUK policies of `profile`.
    pub fn format(mut platform: P, profile: &ChipProfile<'_>) -> Result<Self, ImageError> {
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
        Self::boot(platform)
    }

    /// Start the card from what its NVM holds (power-up).
    pub fn boot(platform: P) -> Result<Self, ImageError> {
        let banks = Banks::find(platform.nvm())?;
        let meta = Meta::load(platform.nvm(), &banks)?;
        let state = CardState { meta, banks, session: Session::default(), halted: false };
        Ok(Card { platform, state, io: ApduBuffers::new() })
    }

    /// The answer to reset.
    pub fn atr(&self) -> &[u8] {
        &self.state.meta.atr
    }

    /// Reset or power cycle: the session (verification, selection, security environment) is lost, and a
    /// personalisation that was not finished with ACTIVATE is rolled back: the card is blank again.
    pub fn reset(&mut self) {
        self.state.session = Session::default();
        self.io.forget();
        self.state.roll_back_unfinished_personalisation(&mut self.platform);
    }

    pub fn platform(&self) -> &P {
        &self.platform
    }

    pub fn platform_mut(&mut self) -> &mut P {
        &mut self.platform
    }

    pub fn into_platform(self) -> P {
        self.platform
    }

    /// RAM state and the lent I/O buffers, for the size report.
    pub fn sizes() -> (usize, usize) {
        (core::mem::size_of::<CardState>(), core::mem::size_of::<ApduBuffers>())
    }

    /// The session, for tests and hosts that show it.
    pub fn session(&self) -> Session {
        self.state.session
    }

    /// Life cycle, counters, validity and public keys.
    pub fn info(&self) -> CardInfo {
        let meta = &self.state.meta;
        let tries = |r: PinRef| {
            let p = meta.pin(r);
            Tries { initialised: p.initialised, left: p.tries_left, max: p.policy.max_tries }
        };
        let mut keys = Vec::new();
        for key in KeyRef::ALL {
            if let Some(origin) = meta.keys[key.index()] {
                let mut public = [0u8; 65];
                if self.state.read_body(&self.platform, encode::key_offset(key) + 36, &mut public).is_ok() {
                    let _ = keys.push(KeyInfo { key, origin, public });
                }
            }
        }
        CardInfo {
            life_cycle: meta.life_cycle(),
            atr: meta.atr.clone(),
            serial: meta.serial.clone(),
            pin: tries(PinRef::User),
            puk: tries(PinRef::Puk),
            validity: meta.validity,
            keys,
            files: meta.files.entries.len(),
        }
    }

    /// Process one command APDU; the answer is the R-APDU (data and SW1 SW2). Never panics.
    pub fn transmit(&mut self, bytes: &[u8]) -> &[u8] {
        let Card { platform, state, io } = self;
        io.out.clear();
        let status = match Apdu::parse(bytes) {
            Err(status) => {
                io.forget();
                status
            }
            Ok(apdu) if state.halted => {
                let _ = apdu;
                Status::MemoryFailure
            }
            Ok(apdu) if apdu.ins == ins::GET_RESPONSE => get_response(io, &apdu),
            Ok(apdu) => {
                io.answer.clear();
                io.sent = 0;
                process(platform, state, io, &apdu)
            }
        };
        let _ = io.out.extend_from_slice(&status.to_bytes());
        &io.out
    }
}

/// GET RESPONSE (ISO 7816-4 §11.4.1): the next part of a pending answer.
fn get_response(io: &mut ApduBuffers, apdu: &Apdu<'_>) -> Status {
    io.chain.clear();
    io.chain_header = None;
    if (apdu.p1, apdu.p2) != (0, 0) {
        return Status::IncorrectP1P2;
    }
    let ne = match apdu.ne {
        Some(ne) if apdu.data.is_empty() => ne,
        _ => return Status::WrongLength,
    };
    if io.sent >= io.answer.len() {
        return Status::ConditionsOfUseNotSatisfied;
    }
    send_part(io, ne)
}

/// Put up to `ne` pending answer bytes in the output; `61xx` if more remain.
fn send_part(io: &mut ApduBuffers, ne: usize) -> Status {
    let end = io.answer.len().min(io.sent + ne);
    let _ = io.out.extend_from_slice(&io.answer[io.sent..end]);
    io.sent = end;
    let left = io.answer.len() - end;
    if left == 0 {
        io.answer.clear();
        io.sent = 0;
        Status::Success
    } else {
        Status::MoreAvailable(left.min(256) as u8)
    }
}

fn process<P: Platform>(platform: &mut P, state: &mut CardState, io: &mut ApduBuffers, apdu: &Apdu<'_>) -> Status {
    // ISO 7816-9 §6.8: a terminated card refuses everything but its status objects, before any other check.
    if state.meta.life_cycle() == LifeCycle::Terminated && apdu.ins != ins::GET_DATA {
        io.forget();
        return Status::TerminationState;
    }
    let header = [apdu.ins, apdu.p1, apdu.p2];
    // Command chaining (ISO 7816-4 §5.3.3): collect the parts; the last one (bit 5 clear) runs the command.
    if apdu.class.chained || io.chain_header.is_some() {
        if io.chain_header.is_some_and(|h| h != header) {
            io.forget();
            return Status::LastCommandOfChainExpected;
        }
        if io.chain.extend_from_slice(apdu.data).is_err() {
            io.forget();
            return Status::WrongLength;
        }
        if apdu.class.chained {
            if apdu.ne.is_some() {
                io.forget();
                return Status::WrongLength;
            }
            io.chain_header = Some(header);
            return Status::Success;
        }
        io.chain_header = None;
        let chain = core::mem::take(&mut io.chain);
        let whole = Apdu { data: &chain, ..*apdu };
        let status = run(platform, state, io, &whole);
        io.chain = chain;
        io.chain.clear();
        return status;
    }
    run(platform, state, io, apdu)
}

fn run<P: Platform>(platform: &mut P, state: &mut CardState, io: &mut ApduBuffers, apdu: &Apdu<'_>) -> Status {
    let command = match Command::parse(apdu) {
        Ok(c) => c,
        Err(status) => return status,
    };
    let result = state.execute(platform, &command, &mut io.answer);
    let status = match result {
        Ok(()) => Status::Success,
        Err(s) if s.is_warning() => s,
        Err(s) => {
            io.answer.clear();
            return s;
        }
    };
    if io.answer.is_empty() {
        return status;
    }
    // Data but no Le (a case-3 command): this card speaks T=1 (its ATR says so), which carries the whole R-APDU,
    // so it answers the data directly, as Java Cards do; OpenSC's IsoApplet driver reads the applet version
    // that way (SELECT by AID, case 3). Anything beyond one short answer still goes through GET RESPONSE.
    let ne = apdu.ne.unwrap_or(256);
    if io.answer.len() <= ne {
        let _ = io.out.extend_from_slice(&io.answer);
        io.answer.clear();
        status
    } else if apdu.ne.is_some() && command.is_idempotent() && io.answer.len() <= 256 && !apdu.extended {
        let exact = io.answer.len();
        io.answer.clear();
        Status::WrongLe(exact as u8)
    } else {
        send_part(io, ne)
    }
}

impl CardState {
    fn execute<P: Platform>(
        &mut self,
        platform: &mut P,
        command: &Command<'_>,
        answer: &mut Vec<u8, MAX_ANSWER>,
    ) -> Result<(), Status> {
        match *command {
            Command::Select { ref by, answer: what } => self.select(by, what, answer),
            Command::ReadBinary { sfi, offset, ne } => self.read_binary(platform, sfi, offset, ne, answer),
            Command::UpdateBinary { sfi, offset, data } => self.update_binary(platform, sfi, offset, data),
            Command::CreateFile { ref spec } => self.create_file(platform, spec),
            Command::Verify { pin, action } => self.verify(platform, pin, action),
            Command::ChangeReferenceData { pin, mode } => self.change_reference_data(platform, pin, mode),
            Command::ResetRetryCounter { pin, mode } => self.reset_retry_counter(platform, pin, mode),
            Command::ManageSecurityEnvironment { template, key, algorithm } => {
                self.manage_security_environment(template, key, algorithm)
            }
            Command::ComputeDigitalSignature { input } => self.compute_digital_signature(platform, input, answer),
            Command::InternalAuthenticate { key, challenge } => {
                self.internal_authenticate(platform, key, challenge, answer)
            }
            Command::GenerateKeyPair { key, action } => self.generate_key_pair(platform, key, action, answer),
            Command::ImportPrivateKey { key, scalar } => self.import_private_key(platform, key, scalar),
            Command::GetData { object } => self.get_data(object, answer),
            Command::GetChallenge { len } => {
                let start = answer.len();
                answer.resize(start + len, 0).map_err(|_| Status::WrongLength)?;
                rand_core::Rng::fill_bytes(platform.rng(), &mut answer[start..]);
                Ok(())
            }
            Command::ActivateCard => self.activate(platform),
            Command::TerminateCard => self.terminate(platform),
        }
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

    pub(crate) fn read_body<P: Platform>(&self, platform: &P, offset: usize, buf: &mut [u8]) -> Result<(), Status> {
        self.banks.read_body(platform.nvm(), offset, buf).map_err(|_| Status::MemoryFailure)
    }

    /// All-or-nothing personalisation: a card that was being personalised when it was reset or powered off in a
    /// reader (`reset`; readers call it at power-up and power-down) goes back to blank (same ATR, serial and PIN/PUK policies), in one atomic image write. Pulling the card during
    /// the ZORG-ID creation flow thus leaves it blank, never half personalised.
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

    /// Personalisation commands run only before activation (`6985` after).
    pub(crate) fn require_personalisation(&self) -> Result<(), Status> {
        if self.meta.life_cycle().is_personalisation() { Ok(()) } else { Err(Status::ConditionsOfUseNotSatisfied) }
    }

    /// The first personalisation write moves a blank card to personalised.
    pub(crate) fn personalised_lc(&self) -> [u8; 1] {
        match self.meta.stored_lc {
            LifeCycle::Blank => [LifeCycle::Personalised.to_byte()],
            lc => [lc.to_byte()],
        }
    }
}
