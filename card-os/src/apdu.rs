//! Command APDUs: framing (ISO/IEC 7816-4 §5.1–5.4) and the typed [`Command`].
//!
//! Parsing happens once, here, at the boundary. [`Apdu::parse`] decides the case (1–4, short or extended) and the
//! class; [`Command::parse`] turns header and data into one typed command. Handlers never index raw bytes.
//! Malformed input dies here with the ISO status word, never with a panic.

use crate::fs::{FileId, FileSpec, Path, SelectAnswer, SelectBy};
use crate::keys::KeyRef;
use crate::pin::PinRef;
use crate::status::Status;

/// Instruction bytes this card knows (ISO 7816-4 table 4, 7816-8, 7816-9).
pub mod ins {
    /// DEACTIVATE FILE is not supported; listed so traces name it.
    pub const DEACTIVATE_FILE: u8 = 0x04;
    pub const VERIFY: u8 = 0x20;
    pub const MANAGE_SECURITY_ENVIRONMENT: u8 = 0x22;
    pub const CHANGE_REFERENCE_DATA: u8 = 0x24;
    pub const PERFORM_SECURITY_OPERATION: u8 = 0x2A;
    pub const RESET_RETRY_COUNTER: u8 = 0x2C;
    pub const ACTIVATE_FILE: u8 = 0x44;
    pub const GENERATE_ASYMMETRIC_KEY_PAIR: u8 = 0x46;
    pub const GET_CHALLENGE: u8 = 0x84;
    pub const INTERNAL_AUTHENTICATE: u8 = 0x88;
    pub const SELECT: u8 = 0xA4;
    pub const READ_BINARY: u8 = 0xB0;
    pub const GET_RESPONSE: u8 = 0xC0;
    pub const GET_DATA: u8 = 0xCA;
    pub const UPDATE_BINARY: u8 = 0xD6;
    pub const PUT_DATA: u8 = 0xDA;
    pub const CREATE_FILE: u8 = 0xE0;
    pub const TERMINATE_CARD_USAGE: u8 = 0xFE;
}

/// The class byte, decoded (ISO 7816-4 §5.4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Class {
    /// Bit 5 (`0x10`): more parts of this command follow.
    pub chained: bool,
}

impl Class {
    /// Interindustry classes only: channel 0, no secure messaging.
    fn parse(cla: u8) -> Result<Self, Status> {
        match cla {
            // First interindustry values: b2b1 channel, b4b3 secure messaging, b5 chaining.
            0x00..=0x1F => {
                if cla & 0x03 != 0 {
                    Err(Status::LogicalChannelNotSupported)
                } else if cla & 0x0C != 0 {
                    Err(Status::SecureMessagingNotSupported)
                } else {
                    Ok(Class { chained: cla & 0x10 != 0 })
                }
            }
            // Further interindustry values: b4..b1 channel 4–19, b6 secure messaging, b5 chaining.
            0x40..=0x7F => {
                if cla & 0x20 != 0 {
                    Err(Status::SecureMessagingNotSupported)
                } else {
                    Err(Status::LogicalChannelNotSupported)
                }
            }
            // 0x20–0x3F reserved, 0x80–0xFE proprietary, 0xFF invalid.
            _ => Err(Status::ClassNotSupported),
        }
    }
}

/// A framed command APDU, borrowing the host's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Apdu<'a> {
    pub class: Class,
    pub ins: u8,
    pub p1: u8,
    pub p2: u8,
    pub data: &'a [u8],
    /// Ne, the maximum number of response bytes; `None` when Le is absent (cases 1 and 3).
    pub ne: Option<usize>,
    /// Extended length encoding was used.
    pub extended: bool,
}

impl<'a> Apdu<'a> {
    /// ISO 7816-4 §5.1: decide the case from the body length; anything else is `6700`.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Status> {
        let (header, body) = match bytes.split_first_chunk::<4>() {
            Some(split) => split,
            None => return Err(Status::WrongLength),
        };
        let [cla, ins, p1, p2] = *header;
        let (data, ne, extended) = match body {
            [] => (&body[..0], None, false),
            [le] => (&body[..0], Some(short_ne(*le)), false),
            [0, rest @ ..] if rest.len() >= 2 => {
                let n = u16::from_be_bytes([rest[0], rest[1]]) as usize;
                let rest = &rest[2..];
                if rest.is_empty() {
                    (&body[..0], Some(extended_ne(n)), true)
                } else if n == 0 {
                    return Err(Status::WrongLength);
                } else if rest.len() == n {
                    (rest, None, true)
                } else if rest.len() == n + 2 {
                    let le = u16::from_be_bytes([rest[n], rest[n + 1]]) as usize;
                    (&rest[..n], Some(extended_ne(le)), true)
                } else {
                    return Err(Status::WrongLength);
                }
            }
            [0, ..] => return Err(Status::WrongLength),
            [lc, rest @ ..] => {
                let n = *lc as usize;
                if rest.len() == n {
                    (rest, None, false)
                } else if rest.len() == n + 1 {
                    (&rest[..n], Some(short_ne(rest[n])), false)
                } else {
                    return Err(Status::WrongLength);
                }
            }
        };
        // The class is checked after the length so that a mangled frame answers 6700 first.
        let class = Class::parse(cla)?;
        if matches!(ins & 0xF0, 0x60 | 0x90) {
            // ISO 7816-4 §5.4.2: INS 6X and 9X are invalid.
            return Err(Status::InstructionNotSupported);
        }
        Ok(Apdu { class, ins, p1, p2, data, ne, extended })
    }
}

fn short_ne(le: u8) -> usize {
    if le == 0 { 256 } else { le as usize }
}

fn extended_ne(le: usize) -> usize {
    if le == 0 { 65_536 } else { le }
}

/// VERIFY's three forms (ISO 7816-4 §11.5.6).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum VerifyAction<'a> {
    /// Empty data: ask the tries left.
    Status,
    /// Present the PIN.
    Present(&'a [u8]),
    /// P1 `FF`: reset the verification status.
    LogOut,
}

/// CHANGE REFERENCE DATA (ISO 7816-4 §11.5.7).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum ChangeMode<'a> {
    /// P1 `00`: old value followed by the new value.
    OldAndNew(&'a [u8]),
    /// P1 `01`: the new value only (personalisation).
    NewOnly(&'a [u8]),
}

/// RESET RETRY COUNTER (ISO 7816-4 §11.5.10).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum ResetMode<'a> {
    /// P1 `00`: PUK followed by the new PIN.
    PukAndNewPin(&'a [u8]),
    /// P1 `01`: PUK only; the PIN keeps its value.
    PukOnly(&'a [u8]),
}

macro_rules! masked_debug {
    ($($t:ident),*) => {$(
        impl core::fmt::Debug for $t<'_> {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(concat!(stringify!($t), "(***)"))
            }
        }
    )*};
}
// PINs and PUKs never reach Debug output.
masked_debug!(VerifyAction, ChangeMode, ResetMode);

/// The control reference template of MSE SET (ISO 7816-8 §5.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Template {
    /// `B6`: digital signature template.
    DigitalSignature,
    /// `A4`: authentication template.
    Authentication,
}

/// MSE algorithm reference `21`: IsoApplet 0.6's ECDSA-SHA1, the card hashes the PSO input with SHA-1. It is what
/// OpenSC's IsoApplet driver sends for the `ECDSA-SHA1` mechanism (the only EC mechanism of Debian 12's OpenSC 0.23
/// for this driver).
pub const ALG_ECDSA_SHA1: u8 = 0x21;

/// What PSO COMPUTE DIGITAL SIGNATURE signs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SignAlgorithm {
    /// No algorithm reference: ECDSA on a hash computed by the host (32 bytes SHA-256; 20–64 bytes accepted).
    #[default]
    Prehashed,
    /// Reference `21`: ECDSA over SHA-1 of the input, hashed on the card (IsoApplet 0.6).
    Sha1OnCard,
}

/// What GENERATE ASYMMETRIC KEY PAIR does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyPairAction {
    /// P1 `00`: generate a new pair on the card.
    Generate,
    /// P1 `01`: answer the public key of an existing pair.
    ReadPublic,
}

/// GET DATA objects (ISO 7816-4 §11.4.3; tags in the `DF` proprietary range).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataObject {
    /// `0101`: IsoApplet API version and features.
    AppletInfo,
    /// `DF30`: validity window.
    Validity,
    /// `DF31`: life cycle.
    LifeCycle,
    /// `DF32`: serial number.
    Serial,
    /// `DF33`: PIN and PUK tries.
    Tries,
}

/// One command, fully decoded. Secrets in it are borrowed from the host's buffer and never printed.
#[derive(Clone, PartialEq, Eq)]
pub enum Command<'a> {
    Select { by: SelectBy, answer: SelectAnswer },
    ReadBinary { sfi: Option<u8>, offset: usize, ne: usize },
    UpdateBinary { sfi: Option<u8>, offset: usize, data: &'a [u8] },
    Verify { pin: PinRef, action: VerifyAction<'a> },
    ChangeReferenceData { pin: PinRef, mode: ChangeMode<'a> },
    ResetRetryCounter { pin: PinRef, mode: ResetMode<'a> },
    ManageSecurityEnvironment { template: Template, key: KeyRef, algorithm: SignAlgorithm },
    ComputeDigitalSignature { input: &'a [u8] },
    InternalAuthenticate { key: Option<KeyRef>, challenge: &'a [u8] },
    GenerateKeyPair { key: KeyRef, action: KeyPairAction },
    ImportPrivateKey { key: KeyRef, scalar: &'a [u8] },
    GetData { object: DataObject },
    GetChallenge { len: usize },
    CreateFile { spec: FileSpec },
    ActivateCard,
    TerminateCard,
}

impl core::fmt::Debug for Command<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(describe_ins(self.ins()))
    }
}

impl<'a> Command<'a> {
    /// Decode a framed APDU (after chaining has been resolved) into a typed command.
    pub fn parse(apdu: &Apdu<'a>) -> Result<Self, Status> {
        let Apdu { p1, p2, data, ne, .. } = *apdu;
        match apdu.ins {
            ins::SELECT => parse_select(p1, p2, data),
            ins::READ_BINARY => {
                let (sfi, offset) = binary_address(p1, p2)?;
                let ne = ne.ok_or(Status::WrongLength)?;
                Ok(Command::ReadBinary { sfi, offset, ne })
            }
            ins::UPDATE_BINARY => {
                let (sfi, offset) = binary_address(p1, p2)?;
                if data.is_empty() || ne.is_some() {
                    return Err(Status::WrongLength);
                }
                Ok(Command::UpdateBinary { sfi, offset, data })
            }
            ins::VERIFY => {
                let pin = PinRef::from_p2(p2)?;
                no_le(ne)?;
                let action = match (p1, data.is_empty()) {
                    (0x00, true) => VerifyAction::Status,
                    (0x00, false) => VerifyAction::Present(data),
                    (0xFF, true) => VerifyAction::LogOut,
                    (0xFF, false) => return Err(Status::WrongLength),
                    _ => return Err(Status::IncorrectP1P2),
                };
                Ok(Command::Verify { pin, action })
            }
            ins::CHANGE_REFERENCE_DATA => {
                let pin = PinRef::from_p2(p2)?;
                no_le(ne)?;
                if data.is_empty() {
                    return Err(Status::WrongLength);
                }
                let mode = match p1 {
                    0x00 => ChangeMode::OldAndNew(data),
                    0x01 => ChangeMode::NewOnly(data),
                    _ => return Err(Status::IncorrectP1P2),
                };
                Ok(Command::ChangeReferenceData { pin, mode })
            }
            ins::RESET_RETRY_COUNTER => {
                let pin = PinRef::from_p2(p2)?;
                if pin != PinRef::User {
                    return Err(Status::ReferenceNotFound);
                }
                no_le(ne)?;
                let mode = match p1 {
                    0x00 => ResetMode::PukAndNewPin(data),
                    0x01 => ResetMode::PukOnly(data),
                    // 02/03 reset without the PUK: this card always wants the PUK.
                    0x02 | 0x03 => return Err(Status::FunctionNotSupported),
                    _ => return Err(Status::IncorrectP1P2),
                };
                if data.is_empty() {
                    return Err(Status::WrongLength);
                }
                Ok(Command::ResetRetryCounter { pin, mode })
            }
            ins::MANAGE_SECURITY_ENVIRONMENT => parse_mse(p1, p2, data, ne),
            ins::PERFORM_SECURITY_OPERATION => match (p1, p2) {
                (0x9E, 0x9A) => {
                    if data.is_empty() {
                        return Err(Status::WrongLength);
                    }
                    Ok(Command::ComputeDigitalSignature { input: data })
                }
                // Decipher, encipher, hash, verify: not on this card.
                (0x80, 0x86) | (0x86, 0x80) | (0x90, 0x80) | (0x90, 0xA0) | (0x00, 0xA8) => {
                    Err(Status::FunctionNotSupported)
                }
                _ => Err(Status::IncorrectP1P2),
            },
            ins::INTERNAL_AUTHENTICATE => {
                if p1 != 0x00 {
                    return Err(Status::IncorrectP1P2);
                }
                let key = if p2 == 0x00 { None } else { Some(KeyRef::from_byte(p2)?) };
                if data.is_empty() || data.len() > 256 {
                    return Err(Status::WrongLength);
                }
                Ok(Command::InternalAuthenticate { key, challenge: data })
            }
            ins::GENERATE_ASYMMETRIC_KEY_PAIR => {
                let action = match p1 {
                    0x00 => KeyPairAction::Generate,
                    0x01 => KeyPairAction::ReadPublic,
                    _ => return Err(Status::IncorrectP1P2),
                };
                let key = KeyRef::from_byte(p2)?;
                if !data.is_empty() {
                    return Err(Status::IncorrectData);
                }
                Ok(Command::GenerateKeyPair { key, action })
            }
            ins::PUT_DATA => {
                if p1 != 0x01 {
                    return Err(Status::IncorrectP1P2);
                }
                let key = KeyRef::from_byte(p2)?;
                no_le(ne)?;
                if data.len() != 32 {
                    return Err(Status::WrongLength);
                }
                Ok(Command::ImportPrivateKey { key, scalar: data })
            }
            ins::GET_DATA => {
                let object = match (p1, p2) {
                    (0x01, 0x01) => DataObject::AppletInfo,
                    (0xDF, 0x30) => DataObject::Validity,
                    (0xDF, 0x31) => DataObject::LifeCycle,
                    (0xDF, 0x32) => DataObject::Serial,
                    (0xDF, 0x33) => DataObject::Tries,
                    _ => return Err(Status::ReferenceNotFound),
                };
                if !data.is_empty() {
                    return Err(Status::WrongLength);
                }
                Ok(Command::GetData { object })
            }
            ins::GET_CHALLENGE => {
                if (p1, p2) != (0, 0) {
                    return Err(Status::IncorrectP1P2);
                }
                match ne {
                    Some(len) if data.is_empty() && len <= 256 => Ok(Command::GetChallenge { len }),
                    _ => Err(Status::WrongLength),
                }
            }
            ins::CREATE_FILE => {
                if (p1, p2) != (0, 0) {
                    return Err(Status::IncorrectP1P2);
                }
                no_le(ne)?;
                Ok(Command::CreateFile { spec: FileSpec::parse(data)? })
            }
            ins::ACTIVATE_FILE => {
                // P1 00 with empty data or the MF's FID: activate the card (end of personalisation).
                if (p1, p2) != (0, 0) {
                    return Err(Status::IncorrectP1P2);
                }
                if !(data.is_empty() || data == FileId::MF.0.to_be_bytes()) {
                    return Err(Status::FileNotFound);
                }
                Ok(Command::ActivateCard)
            }
            ins::TERMINATE_CARD_USAGE => {
                if (p1, p2) != (0, 0) {
                    return Err(Status::IncorrectP1P2);
                }
                if !data.is_empty() {
                    return Err(Status::WrongLength);
                }
                Ok(Command::TerminateCard)
            }
            _ => Err(Status::InstructionNotSupported),
        }
    }

    /// The instruction byte of this command.
    pub fn ins(&self) -> u8 {
        match self {
            Command::Select { .. } => ins::SELECT,
            Command::ReadBinary { .. } => ins::READ_BINARY,
            Command::UpdateBinary { .. } => ins::UPDATE_BINARY,
            Command::Verify { .. } => ins::VERIFY,
            Command::ChangeReferenceData { .. } => ins::CHANGE_REFERENCE_DATA,
            Command::ResetRetryCounter { .. } => ins::RESET_RETRY_COUNTER,
            Command::ManageSecurityEnvironment { .. } => ins::MANAGE_SECURITY_ENVIRONMENT,
            Command::ComputeDigitalSignature { .. } => ins::PERFORM_SECURITY_OPERATION,
            Command::InternalAuthenticate { .. } => ins::INTERNAL_AUTHENTICATE,
            Command::GenerateKeyPair { .. } => ins::GENERATE_ASYMMETRIC_KEY_PAIR,
            Command::ImportPrivateKey { .. } => ins::PUT_DATA,
            Command::GetData { .. } => ins::GET_DATA,
            Command::GetChallenge { .. } => ins::GET_CHALLENGE,
            Command::CreateFile { .. } => ins::CREATE_FILE,
            Command::ActivateCard => ins::ACTIVATE_FILE,
            Command::TerminateCard => ins::TERMINATE_CARD_USAGE,
        }
    }

    /// Idempotent reads answer `6Cxx` for a short Le; computations answer `61xx` (ISO 7816-4 §5.3.4).
    pub fn is_idempotent(&self) -> bool {
        matches!(self, Command::Select { .. } | Command::GetData { .. })
    }
}

fn no_le(ne: Option<usize>) -> Result<(), Status> {
    match ne {
        None => Ok(()),
        Some(_) => Err(Status::WrongLength),
    }
}

/// READ/UPDATE BINARY addressing (ISO 7816-4 §11.3.3): 15-bit offset, or SFI in P1 b5..b1 with an 8-bit offset.
fn binary_address(p1: u8, p2: u8) -> Result<(Option<u8>, usize), Status> {
    if p1 & 0x80 != 0 {
        if p1 & 0x60 != 0 || p1 & 0x1F == 0 {
            return Err(Status::IncorrectP1P2);
        }
        Ok((Some(p1 & 0x1F), p2 as usize))
    } else {
        Ok((None, ((p1 as usize) << 8) | p2 as usize))
    }
}

fn parse_select(p1: u8, p2: u8, data: &[u8]) -> Result<Command<'_>, Status> {
    let answer = match p2 {
        0x00 => SelectAnswer::Fci,
        0x04 => SelectAnswer::Fcp,
        0x0C => SelectAnswer::Nothing,
        _ => return Err(Status::IncorrectP1P2),
    };
    let fid = || -> Result<FileId, Status> {
        match data {
            [hi, lo] => Ok(FileId(u16::from_be_bytes([*hi, *lo]))),
            _ => Err(Status::WrongLength),
        }
    };
    let by = match p1 {
        0x00 if data.is_empty() => SelectBy::Id(FileId::MF),
        0x00 => SelectBy::Id(fid()?),
        0x01 => SelectBy::ChildDf(fid()?),
        0x02 => SelectBy::Ef(fid()?),
        0x03 if data.is_empty() => SelectBy::Parent,
        0x03 => return Err(Status::WrongLength),
        0x04 => {
            if data.is_empty() || data.len() > 16 {
                return Err(Status::WrongLength);
            }
            SelectBy::DfName(crate::fs::DfName::from_slice(data).map_err(|_| Status::WrongLength)?)
        }
        0x08 | 0x09 => {
            if data.is_empty() || !data.len().is_multiple_of(2) {
                return Err(Status::WrongLength);
            }
            let path = Path::from_bytes(data)?;
            if p1 == 0x08 { SelectBy::PathFromMf(path) } else { SelectBy::PathFromCurrent(path) }
        }
        _ => return Err(Status::IncorrectP1P2),
    };
    Ok(Command::Select { by, answer })
}

/// MSE SET (ISO 7816-8 §5.2): P1 `41` = set for computation; CRT tag in P2; BER-TLV data objects.
fn parse_mse<'a>(p1: u8, p2: u8, data: &'a [u8], ne: Option<usize>) -> Result<Command<'a>, Status> {
    no_le(ne)?;
    match p1 {
        0x41 => {}
        // 81 = set for verification/encipherment, F2/F3 = store/restore: not on this card.
        0x81 | 0xF2 | 0xF3 => return Err(Status::FunctionNotSupported),
        _ => return Err(Status::IncorrectP1P2),
    }
    let template = match p2 {
        0xB6 => Template::DigitalSignature,
        0xA4 => Template::Authentication,
        // B8 = confidentiality (decipher): the encryption key is not used on-card here.
        0xB8 => return Err(Status::FunctionNotSupported),
        _ => return Err(Status::IncorrectP1P2),
    };
    let mut key = None;
    let mut algorithm = SignAlgorithm::Prehashed;
    let mut rest = data;
    while let [tag, len, tail @ ..] = rest {
        let len = *len as usize;
        if tail.len() < len || len > 0x7F {
            return Err(Status::IncorrectData);
        }
        let (value, next) = tail.split_at(len);
        match (*tag, value) {
            (0x80, [ALG_ECDSA_SHA1]) => algorithm = SignAlgorithm::Sha1OnCard,
            (0x80, _) => return Err(Status::IncorrectData),
            (0x81, _) => {} // file reference: the key is found by its reference alone
            (0x83 | 0x84, [r]) => key = Some(KeyRef::from_byte(*r)?),
            _ => return Err(Status::IncorrectData),
        }
        rest = next;
    }
    if !rest.is_empty() {
        return Err(Status::IncorrectData);
    }
    let key = key.ok_or(Status::IncorrectData)?;
    Ok(Command::ManageSecurityEnvironment { template, key, algorithm })
}

/// Command name and what part of it is secret, for host traces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Description {
    /// The command's name, e.g. `VERIFY`.
    pub name: &'static str,
    /// Byte offset in the C-APDU from which the data is secret (PIN, PUK, private key) and must be masked.
    pub secret_from: Option<usize>,
}

/// Name a raw C-APDU and say which bytes a trace must mask. Works on malformed input too.
pub fn describe(bytes: &[u8]) -> Description {
    let name = bytes.get(1).map_or("(short)", |ins| describe_ins(*ins));
    let secret_ins = matches!(
        bytes.get(1),
        Some(&ins::VERIFY | &ins::CHANGE_REFERENCE_DATA | &ins::RESET_RETRY_COUNTER | &ins::PUT_DATA)
    );
    let secret_from = if secret_ins && bytes.len() > 5 {
        // Short Lc is 1 byte; extended Lc is 00 + 2 bytes.
        Some(if bytes[4] == 0 && bytes.len() > 7 { 7 } else { 5 })
    } else {
        None
    };
    Description { name, secret_from }
}

/// The name of an instruction byte.
pub fn describe_ins(ins: u8) -> &'static str {
    match ins {
        ins::DEACTIVATE_FILE => "DEACTIVATE FILE",
        ins::VERIFY => "VERIFY",
        ins::MANAGE_SECURITY_ENVIRONMENT => "MSE",
        ins::CHANGE_REFERENCE_DATA => "CHANGE REFERENCE DATA",
        ins::PERFORM_SECURITY_OPERATION => "PSO",
        ins::RESET_RETRY_COUNTER => "RESET RETRY COUNTER",
        ins::ACTIVATE_FILE => "ACTIVATE FILE",
        ins::GENERATE_ASYMMETRIC_KEY_PAIR => "GENERATE ASYMMETRIC KEY PAIR",
        ins::GET_CHALLENGE => "GET CHALLENGE",
        ins::INTERNAL_AUTHENTICATE => "INTERNAL AUTHENTICATE",
        ins::SELECT => "SELECT",
        ins::READ_BINARY => "READ BINARY",
        ins::GET_RESPONSE => "GET RESPONSE",
        ins::GET_DATA => "GET DATA",
        ins::UPDATE_BINARY => "UPDATE BINARY",
        ins::PUT_DATA => "PUT DATA",
        ins::CREATE_FILE => "CREATE FILE",
        ins::TERMINATE_CARD_USAGE => "TERMINATE CARD USAGE",
        _ => "UNKNOWN",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn cases_short_and_extended() {
        let c1 = Apdu::parse(&[0, 0xA4, 0, 0]).unwrap();
        assert_eq!((c1.data.len(), c1.ne), (0, None));
        let c2 = Apdu::parse(&[0, 0xB0, 0, 0, 0]).unwrap();
        assert_eq!(c2.ne, Some(256));
        let c3 = Apdu::parse(&[0, 0xA4, 0, 0, 2, 0x3F, 0]).unwrap();
        assert_eq!((c3.data, c3.ne), (&[0x3F, 0][..], None));
        let c4 = Apdu::parse(&[0, 0xA4, 0, 0, 2, 0x3F, 0, 0]).unwrap();
        assert_eq!(c4.ne, Some(256));
        let e2 = Apdu::parse(&[0, 0xB0, 0, 0, 0, 0, 0]).unwrap();
        assert_eq!((e2.ne, e2.extended), (Some(65_536), true));
        let e4 = Apdu::parse(&[0, 0xA4, 0, 0, 0, 0, 2, 0x3F, 0, 0x01, 0x00]).unwrap();
        assert_eq!((e4.data.len(), e4.ne), (2, Some(256)));
    }

    #[test]
    fn malformed_frames_get_iso_words() {
        assert_eq!(Apdu::parse(&[0, 0xA4, 0]), Err(Status::WrongLength));
        assert_eq!(Apdu::parse(&[0, 0xA4, 0, 0, 3, 1]), Err(Status::WrongLength));
        assert_eq!(Apdu::parse(&[0, 0xA4, 0, 0, 0, 0]), Err(Status::WrongLength));
        assert_eq!(Apdu::parse(&[0xFF, 0xA4, 0, 0]), Err(Status::ClassNotSupported));
        assert_eq!(Apdu::parse(&[0x80, 0xA4, 0, 0]), Err(Status::ClassNotSupported));
        assert_eq!(Apdu::parse(&[0x01, 0xA4, 0, 0]), Err(Status::LogicalChannelNotSupported));
        assert_eq!(Apdu::parse(&[0x0C, 0xA4, 0, 0]), Err(Status::SecureMessagingNotSupported));
        assert_eq!(Apdu::parse(&[0x00, 0x60, 0, 0]), Err(Status::InstructionNotSupported));
    }

    #[test]
    fn describe_masks_verify_data() {
        let d = describe(&[0, 0x20, 0, 1, 6, b'1', b'2', b'3', b'4', b'5', b'6']);
        assert_eq!((d.name, d.secret_from), ("VERIFY", Some(5)));
        assert_eq!(describe(&[0, 0x20, 0, 1]).secret_from, None);
    }
}
