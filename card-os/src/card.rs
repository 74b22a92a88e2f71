//! The transport: APDU bytes in, APDU bytes out.
//!
//! [`Card::transmit`] frames the bytes (`apdu.rs`), resolves command chaining and GET RESPONSE (ISO 7816-4
//! §5.3), hands the whole command to [`Command::execute`] (`command.rs`: the life-cycle gate and the dispatch to
//! `handlers/`), and fits the answer to Ne with `61xx`/`6Cxx`. The RAM state ([`CardState`], `state.rs`) holds
//! the image's metadata and the session; the APDU buffers ([`ApduBuffers`]) are the I/O memory a reader lends a
//! chip. Nothing here knows what a command means.

use heapless::Vec;

use crate::apdu::{Apdu, ins};
use crate::command::{self, Command};
use crate::nvm::{ImageError, Rollback};
use crate::platform::Platform;
use crate::profile::ChipProfile;
use crate::state::{Answer, CardInfo, CardState, MAX_ANSWER, Session};
use crate::status::Status;

/// Most data bytes a chained command may carry in all.
pub const MAX_CHAIN: usize = 4096;

/// The I/O memory a reader lends the card: chained command data, the pending answer, the outgoing R-APDU.
pub struct ApduBuffers {
    chain: Vec<u8, MAX_CHAIN>,
    chain_header: Option<[u8; 3]>,
    answer: Answer,
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

impl<P: Platform> core::fmt::Debug for Card<P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Card").field("state", &self.state).field("io", &self.io).finish_non_exhaustive()
    }
}

impl<P: Platform> Card<P> {
    /// Make a blank card: format the NVM with the MF and the PIN/PUK policies of `profile`.
    pub fn format(mut platform: P, profile: &ChipProfile<'_>) -> Result<Self, ImageError> {
        CardState::format(&mut platform, profile)?;
        Self::boot(platform)
    }

    /// Start the card from what its NVM holds (power-up). A damaged newest state is refused with
    /// [`ImageError::Damaged`]: the card does not fall back to an older state on its own, which could give back
    /// PIN or PUK tries.
    pub fn boot(platform: P) -> Result<Self, ImageError> {
        Self::boot_with(platform, Rollback::Refuse)
    }

    /// Start the card from the older bank if the newest state is damaged. Only for a person who asked for it
    /// (`--accept-rollback`): tries spent since the older state are given back.
    pub fn boot_accepting_rollback(platform: P) -> Result<Self, ImageError> {
        Self::boot_with(platform, Rollback::Accept)
    }

    /// Start the card, `rollback` deciding about a damaged newest state.
    pub fn boot_with(platform: P, rollback: Rollback) -> Result<Self, ImageError> {
        let state = CardState::boot(&platform, rollback)?;
        Ok(Card { platform, state, io: ApduBuffers::new() })
    }

    /// Read the state again from the NVM, after the host put back an earlier content in it, and resume with
    /// `session`.
    ///
    /// For a host that keeps the NVM elsewhere too (an image file) and could not store the change a command
    /// made: it puts back the content it did store and the session from before that command, so the command did
    /// not happen, like one whose EEPROM write failed (`6581`, ISO 7816-4 §5.1.3). Pending answers and chains are
    /// dropped. If the NVM does not boot, the card halts (`6581` to every command) and the error says why.
    pub fn reload(&mut self, rollback: Rollback, session: Session) -> Result<(), ImageError> {
        self.io.forget();
        match CardState::boot(&self.platform, rollback) {
            Ok(state) => {
                self.state = CardState { session, ..state };
                Ok(())
            }
            Err(e) => {
                self.state.halted = true;
                Err(e)
            }
        }
    }

    /// The answer to reset.
    pub fn atr(&self) -> &[u8] {
        &self.state.meta.atr
    }

    /// Reset or power cycle: the session (verification, selection, security environment) is lost, and a
    /// personalisation that was not finished with ACTIVATE is rolled back: the card is blank again.
    pub fn reset(&mut self) {
        self.io.forget();
        self.state.reset(&mut self.platform);
    }

    /// The host's side of the card.
    pub fn platform(&self) -> &P {
        &self.platform
    }

    /// The host's side of the card, to move the clock or cut the power.
    pub fn platform_mut(&mut self) -> &mut P {
        &mut self.platform
    }

    /// Take the platform back (its NVM holds the card).
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
        self.state.info(&self.platform)
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
            Ok(_) if state.halted => Status::MemoryFailure,
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
    let _ = io.out.extend_from_slice(io.answer.get(io.sent..end).unwrap_or(&[]));
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
    // The life-cycle gate's first rule holds even before a chain is framed.
    if let Err(status) = command::terminated_admits(state.life_cycle(), apdu.ins) {
        io.forget();
        return status;
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
    let status = match command.execute(state, platform, &mut io.answer) {
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
