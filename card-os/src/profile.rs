//! The chip-level profile a blank card is formatted with.
//!
//! Card profiles (UZI-pas Z/N/M, ZORG-ID) are data in `fixtures/profiles/`, parsed by the host; what the chip
//! itself needs at manufacture is only this: its ATR, its serial number and the policies of its PIN and PUK.
//! Everything else (files, keys, certificates, PIN values) is written later through personalisation APDUs.

use crate::types::PinPolicy;

/// IsoApplet's AID (OpenSC `card-isoApplet.c`): the MF's DF name, so OpenSC binds the card as an IsoApplet card.
pub const ISOAPPLET_AID: [u8; 12] = [0xF2, 0x76, 0xA2, 0x88, 0xBC, 0xFB, 0xA6, 0x9D, 0x34, 0xF3, 0x10, 0x01];

/// The answer to SELECT of [`ISOAPPLET_AID`] and to GET DATA `0101`: API version 0.6, features extended APDUs
/// (`01`), secure random (`02`) and ECC (`04`). OpenSC's IsoApplet driver sets `SC_CARD_CAP_APDU_EXT` from bit `01`,
/// which it needs to send the 257-byte PSO DECIPHER of an RSA-2048 key in one extended APDU.
pub const APPLET_INFO: [u8; 3] = [0x00, 0x06, 0x07];

/// The answer to GET DATA `0101` (IsoApplet API v1, OpenSC 0.24+ `isoApplet_get_info`): version 1.0, features
/// extended APDUs (`01`), secure random (`02`), ECC (`04`) and RSA-PSS (`08`) — what this card really has (no
/// RSA-4096, `20`). Answering it switches the session to API v1 ([`crate::types::ApiVersion`]).
pub const APPLET_INFO_V1: [u8; 3] = [0x01, 0x00, 0x0F];

/// The real UZI-pas ATR (pcsc-tools `smartcard_list.txt`: "Caregiver card for Dutch Medical System called UZI").
pub const UZI_ATR: [u8; 22] = [
    0x3B, 0xDC, 0x18, 0xFF, 0x81, 0x91, 0xFE, 0x1F, 0xC3, 0x06, 0x0A, 0x2B, 0x06, 0x01, 0x04, 0x01, 0xE9, 0x10, 0x05,
    0x02, 0x03, 0xD1,
];

/// What a blank card is made with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChipProfile<'a> {
    /// Answer to reset, at most 33 bytes.
    pub atr: &'a [u8],
    /// Serial number, at most 16 bytes; every card in a process needs its own (two identical serials made two
    /// virt_cacard cards indistinguishable).
    pub serial: &'a [u8],
    /// The user PIN's policy.
    pub pin: PinPolicy,
    /// The PUK's policy.
    pub puk: PinPolicy,
}
