//! The enumerations and bit sets of the PC/SC calls, with pcsc-lite's values (`pcsclite.h`); Windows's differ only
//! for [`Protocol::Raw`].

use crate::ffi::Dword;

/// Whose context (`SCARD_SCOPE_*`). pcsc-lite treats both alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// `SCARD_SCOPE_USER`.
    User,
    /// `SCARD_SCOPE_SYSTEM`.
    System,
}

impl Scope {
    pub(crate) fn raw(self) -> Dword {
        match self {
            Scope::User => 0,
            Scope::System => 2,
        }
    }
}

/// How the card is shared with other applications (`SCARD_SHARE_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShareMode {
    /// `SCARD_SHARE_EXCLUSIVE`: no other application may connect.
    Exclusive,
    /// `SCARD_SHARE_SHARED`: others may connect too.
    Shared,
    /// `SCARD_SHARE_DIRECT`: the reader itself, with or without a card.
    Direct,
}

impl ShareMode {
    pub(crate) fn raw(self) -> Dword {
        match self {
            ShareMode::Exclusive => 1,
            ShareMode::Shared => 2,
            ShareMode::Direct => 3,
        }
    }
}

/// The transmission protocol in use (ISO/IEC 7816-3 §10 and §11).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// T=0, character-oriented.
    T0,
    /// T=1, block-oriented.
    T1,
    /// Raw (`SCARD_PROTOCOL_RAW`).
    Raw,
}

#[cfg(not(windows))]
const RAW: Dword = 0x4;
#[cfg(windows)]
const RAW: Dword = 0x1_0000;

impl Protocol {
    pub(crate) fn from_raw(raw: Dword) -> Option<Protocol> {
        match raw {
            1 => Some(Protocol::T0),
            2 => Some(Protocol::T1),
            RAW => Some(Protocol::Raw),
            _ => None,
        }
    }

    pub(crate) fn raw(self) -> Dword {
        match self {
            Protocol::T0 => 1,
            Protocol::T1 => 2,
            Protocol::Raw => RAW,
        }
    }
}

bitflags::bitflags! {
    /// The protocols a connection accepts (`SCARD_PROTOCOL_*`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Protocols: u32 {
        /// T=0.
        const T0 = 0x1;
        /// T=1.
        const T1 = 0x2;
        /// T=0 or T=1, as the reader and card agree.
        const ANY = 0x3;
    }
}

/// What happens to the card when a connection ends or is reconnected (`SCARD_*_CARD`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// `SCARD_LEAVE_CARD`: nothing.
    LeaveCard,
    /// `SCARD_RESET_CARD`: a warm reset (the card's security state is lost).
    ResetCard,
    /// `SCARD_UNPOWER_CARD`: power off.
    UnpowerCard,
    /// `SCARD_EJECT_CARD`: eject, where the reader can.
    EjectCard,
}

impl Disposition {
    pub(crate) fn raw(self) -> Dword {
        match self {
            Disposition::LeaveCard => 0,
            Disposition::ResetCard => 1,
            Disposition::UnpowerCard => 2,
            Disposition::EjectCard => 3,
        }
    }
}

bitflags::bitflags! {
    /// A reader's state as `SCardGetStatusChange` reports it (`SCARD_STATE_*`). The upper 16 bits of an event
    /// state count the reader's events (pcsc-lite); they are kept so that the state can be handed back unchanged.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct State: u32 {
        /// Nothing known yet: report the current state at once.
        const UNAWARE = 0x0000;
        /// Ignore this reader.
        const IGNORE = 0x0001;
        /// The state differs from the one given.
        const CHANGED = 0x0002;
        /// The reader is not known.
        const UNKNOWN = 0x0004;
        /// The state cannot be had.
        const UNAVAILABLE = 0x0008;
        /// No card in the reader.
        const EMPTY = 0x0010;
        /// A card is in the reader.
        const PRESENT = 0x0020;
        /// The card's ATR matches the one given.
        const ATRMATCH = 0x0040;
        /// Another application has the card exclusively.
        const EXCLUSIVE = 0x0080;
        /// Another application uses the card.
        const INUSE = 0x0100;
        /// The card does not answer its reset.
        const MUTE = 0x0200;
        /// The card is not powered.
        const UNPOWERED = 0x0400;
        const _ = !0;
    }
}
