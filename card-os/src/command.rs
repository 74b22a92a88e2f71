//! The typed [`Command`]: parsed once from a framed [`Apdu`], checked once by the life-cycle gate, then
//! dispatched to its handler in `handlers/`.
//!
//! Parsing happens here, at the boundary; P1/P2 modes are decoded by the handler modules' `TryFrom<u8>` types.
//! Handlers never index raw bytes. Malformed input dies here with the ISO status word, never with a panic.
//! [`gate`] is the only place that decides which commands a card in each life-cycle state accepts (ISO 7816-9:
//! personalisation commands before activation, key operations only while operational, nothing once terminated),
//! as opcard-rs's `can_lifecycle_run` does.

use crate::apdu::{Apdu, ber_tlv as tlv, describe_ins, ins};
use crate::fs::SelectBy;
use crate::handlers::data::DataObject;
use crate::handlers::file::{FileSpec, SelectAnswer};
use crate::handlers::pin::{ChangeMode, ResetMode, VerifyMode};
use crate::handlers::security::{Crt, KeyPairAction, Template};
use crate::handlers::{admin, data, file, pin, security};
use crate::platform::Platform;
use crate::state::{Answer, CardState};
use crate::status::Status;
use crate::types::{AlgorithmRef, DfName, FileId, KeyRef, LifeCycle, Path, PinRef};

/// One command, fully decoded. Secrets in it are borrowed from the host's buffer and never printed.
#[derive(Clone, PartialEq, Eq)]
pub enum Command<'a> {
    /// SELECT (`A4`).
    Select {
        /// The target.
        by: SelectBy,
        /// FCI, FCP or nothing.
        answer: SelectAnswer,
    },
    /// READ BINARY (`B0`).
    ReadBinary {
        /// Short EF identifier (selects the EF).
        sfi: Option<u8>,
        /// Offset in the EF.
        offset: usize,
        /// Bytes asked for.
        ne: usize,
    },
    /// UPDATE BINARY (`D6`).
    UpdateBinary {
        /// Short EF identifier (selects the EF).
        sfi: Option<u8>,
        /// Offset in the EF.
        offset: usize,
        /// The new bytes.
        data: &'a [u8],
    },
    /// VERIFY (`20`).
    Verify {
        /// Which secret.
        pin: PinRef,
        /// Present, ask, or log out.
        mode: VerifyMode<'a>,
    },
    /// CHANGE REFERENCE DATA (`24`).
    ChangeReferenceData {
        /// Which secret.
        pin: PinRef,
        /// Old and new, or new only.
        mode: ChangeMode<'a>,
    },
    /// RESET RETRY COUNTER (`2C`).
    ResetRetryCounter {
        /// The PIN to unblock.
        pin: PinRef,
        /// PUK and new PIN, or PUK only.
        mode: ResetMode<'a>,
    },
    /// MANAGE SECURITY ENVIRONMENT SET (`22`).
    ManageSecurityEnvironment {
        /// DST or AT.
        template: Template,
        /// The key.
        key: KeyRef,
        /// The algorithm reference (tag `80`), if given.
        algorithm: Option<AlgorithmRef>,
    },
    /// PSO COMPUTE DIGITAL SIGNATURE (`2A 9E 9A`).
    ComputeDigitalSignature {
        /// The hash (or, with reference `21` in v0, the data).
        input: &'a [u8],
    },
    /// PSO DECIPHER (`2A 80 86`).
    Decipher {
        /// The cryptogram, after the padding-indicator byte `00`.
        cryptogram: &'a [u8],
    },
    /// INTERNAL AUTHENTICATE (`88`).
    InternalAuthenticate {
        /// The key, or the one MSE AT chose.
        key: Option<KeyRef>,
        /// The challenge.
        challenge: &'a [u8],
    },
    /// GENERATE ASYMMETRIC KEY PAIR (`46`).
    GenerateKeyPair {
        /// The slot; `None` for IsoApplet's `00 46 42 00`, which takes it from MSE SET.
        key: Option<KeyRef>,
        /// Generate, or read the public key.
        action: KeyPairAction,
    },
    /// PUT DATA with a private P-256 scalar (`DA 01 <ref>`).
    ImportEcKey {
        /// The slot.
        key: KeyRef,
        /// The private scalar.
        scalar: &'a [u8],
    },
    /// PUT DATA with a private RSA key in CRT form (`DB 3F FF`, `7F48`), into the slot MSE SET chose.
    ImportRsaKey {
        /// p, q, qinv, dp, dq.
        crt: Crt<'a>,
    },
    /// GET DATA (`CA`).
    GetData {
        /// Which object.
        object: DataObject,
    },
    /// GET CHALLENGE (`84`).
    GetChallenge {
        /// Bytes asked for.
        len: usize,
    },
    /// CREATE FILE (`E0`).
    CreateFile {
        /// The FCP asked for.
        spec: FileSpec,
    },
    /// ACTIVATE FILE on the MF (`44`): end of personalisation.
    ActivateCard,
    /// TERMINATE CARD USAGE (`FE`).
    TerminateCard,
}

impl core::fmt::Debug for Command<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(describe_ins(self.ins()))
    }
}

impl<'a> TryFrom<&Apdu<'a>> for Command<'a> {
    type Error = Status;

    fn try_from(apdu: &Apdu<'a>) -> Result<Self, Status> {
        Command::parse(apdu)
    }
}

impl<'a> Command<'a> {
    /// Decode a framed APDU (after chaining has been resolved) into a typed command: a dispatch on INS to the
    /// instruction's own parser below.
    pub fn parse(apdu: &Apdu<'a>) -> Result<Self, Status> {
        let Apdu { p1, p2, data, ne, .. } = *apdu;
        match apdu.ins {
            ins::SELECT => parse_select(p1, p2, data),
            ins::READ_BINARY => parse_read_binary(apdu),
            ins::UPDATE_BINARY => parse_update_binary(apdu),
            ins::VERIFY => parse_verify(apdu),
            ins::CHANGE_REFERENCE_DATA => parse_change_reference_data(apdu),
            ins::RESET_RETRY_COUNTER => parse_reset_retry_counter(apdu),
            ins::MANAGE_SECURITY_ENVIRONMENT => parse_mse(p1, p2, data, ne),
            ins::PERFORM_SECURITY_OPERATION => parse_pso(apdu),
            ins::INTERNAL_AUTHENTICATE => parse_internal_authenticate(apdu),
            ins::GENERATE_ASYMMETRIC_KEY_PAIR => parse_generate_key_pair(apdu),
            ins::PUT_DATA => parse_import_ec_key(apdu),
            ins::PUT_DATA_ODD => parse_import_rsa_key(apdu),
            ins::GET_DATA => parse_get_data(apdu),
            ins::GET_CHALLENGE => parse_get_challenge(apdu),
            ins::CREATE_FILE => parse_create_file(apdu),
            ins::ACTIVATE_FILE => parse_activate_card(apdu),
            ins::TERMINATE_CARD_USAGE => parse_terminate_card(apdu),
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
            Command::Decipher { .. } => ins::PERFORM_SECURITY_OPERATION,
            Command::ImportEcKey { .. } => ins::PUT_DATA,
            Command::ImportRsaKey { .. } => ins::PUT_DATA_ODD,
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

    /// What the command needs of the life cycle.
    fn phase(&self) -> Phase {
        match self {
            Command::CreateFile { .. }
            | Command::ImportEcKey { .. }
            | Command::ImportRsaKey { .. }
            | Command::ActivateCard
            | Command::ChangeReferenceData { mode: ChangeMode::NewOnly(_), .. }
            | Command::GenerateKeyPair { action: KeyPairAction::Generate, .. } => Phase::Personalisation,
            Command::ComputeDigitalSignature { .. }
            | Command::Decipher { .. }
            | Command::InternalAuthenticate { .. } => Phase::Operational,
            _ => Phase::Any,
        }
    }

    /// Check the life-cycle gate, then run the handler. The answer data goes into `answer`.
    pub fn execute<P: Platform>(
        &self,
        state: &mut CardState,
        platform: &mut P,
        answer: &mut Answer,
    ) -> Result<(), Status> {
        gate(state.life_cycle(), self)?;
        match *self {
            Command::Select { ref by, answer: what } => file::select(state, by, what, answer),
            Command::ReadBinary { sfi, offset, ne } => file::read_binary(state, platform, sfi, offset, ne, answer),
            Command::UpdateBinary { sfi, offset, data } => file::update_binary(state, platform, sfi, offset, data),
            Command::CreateFile { ref spec } => file::create_file(state, platform, spec),
            Command::Verify { pin, mode } => pin::verify(state, platform, pin, mode),
            Command::ChangeReferenceData { pin, mode } => pin::change_reference_data(state, platform, pin, mode),
            Command::ResetRetryCounter { pin, mode } => pin::reset_retry_counter(state, platform, pin, mode),
            Command::ManageSecurityEnvironment { template, key, algorithm } => {
                security::manage_security_environment(state, template, key, algorithm)
            }
            Command::ComputeDigitalSignature { input } => {
                security::compute_digital_signature(state, platform, input, answer)
            }
            Command::InternalAuthenticate { key, challenge } => {
                security::internal_authenticate(state, platform, key, challenge, answer)
            }
            Command::GenerateKeyPair { key, action } => {
                security::generate_key_pair(state, platform, key, action, answer)
            }
            Command::Decipher { cryptogram } => security::decipher(state, platform, cryptogram, answer),
            Command::ImportEcKey { key, scalar } => security::import_ec_key(state, platform, key, scalar),
            Command::ImportRsaKey { ref crt } => security::import_rsa_key(state, platform, crt),
            Command::GetData { object } => data::get_data(state, object, answer),
            Command::GetChallenge { len } => data::get_challenge(platform, len, answer),
            Command::ActivateCard => admin::activate(state, platform),
            Command::TerminateCard => admin::terminate(state, platform),
        }
    }
}

/// What a command needs of the life cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Any state but terminated.
    Any,
    /// Blank or personalised: writing the card (ISO 7816-9: creation and initialisation states).
    Personalisation,
    /// Operational: private-key operations.
    Operational,
}

/// The life-cycle gate: which commands a card in each state accepts.
/// - terminated: GET DATA only, `6285` for everything else (ISO 7816-9 §6.8) — `card.rs` applies this part before
///   it even frames a chain, through [`terminated_admits`];
/// - personalisation commands after activation: `6985`;
/// - private-key operations before activation: `6985`, on a card blocked for good: `6983`.
pub fn gate(life_cycle: LifeCycle, command: &Command<'_>) -> Result<(), Status> {
    terminated_admits(life_cycle, command.ins())?;
    match (command.phase(), life_cycle) {
        (Phase::Any, _) => Ok(()),
        (Phase::Personalisation, lc) if lc.is_personalisation() => Ok(()),
        (Phase::Operational, LifeCycle::Operational) => Ok(()),
        (Phase::Operational, LifeCycle::Blocked) => Err(Status::AuthenticationBlocked),
        _ => Err(Status::ConditionsOfUseNotSatisfied),
    }
}

/// ISO 7816-9 §6.8: a terminated card refuses everything but its status objects, before any other check.
pub fn terminated_admits(life_cycle: LifeCycle, ins_byte: u8) -> Result<(), Status> {
    if life_cycle == LifeCycle::Terminated && ins_byte != ins::GET_DATA {
        Err(Status::TerminationState)
    } else {
        Ok(())
    }
}

fn no_le(ne: Option<usize>) -> Result<(), Status> {
    match ne {
        None => Ok(()),
        Some(_) => Err(Status::WrongLength),
    }
}

/// READ BINARY (ISO 7816-4 §11.3.3): an address and an Le.
fn parse_read_binary<'a>(apdu: &Apdu<'a>) -> Result<Command<'a>, Status> {
    let (sfi, offset) = binary_address(apdu.p1, apdu.p2)?;
    let ne = apdu.ne.ok_or(Status::WrongLength)?;
    Ok(Command::ReadBinary { sfi, offset, ne })
}

/// UPDATE BINARY (ISO 7816-4 §11.3.5): an address and at least one byte, no Le.
fn parse_update_binary<'a>(apdu: &Apdu<'a>) -> Result<Command<'a>, Status> {
    let (sfi, offset) = binary_address(apdu.p1, apdu.p2)?;
    if apdu.data.is_empty() || apdu.ne.is_some() {
        return Err(Status::WrongLength);
    }
    Ok(Command::UpdateBinary { sfi, offset, data: apdu.data })
}

/// VERIFY (ISO 7816-4 §11.5.6): the PIN in P2, the mode from P1 and the data ([`VerifyMode`]).
fn parse_verify<'a>(apdu: &Apdu<'a>) -> Result<Command<'a>, Status> {
    let pin = PinRef::try_from(apdu.p2)?;
    no_le(apdu.ne)?;
    Ok(Command::Verify { pin, mode: VerifyMode::parse(apdu.p1, apdu.data)? })
}

/// CHANGE REFERENCE DATA (ISO 7816-4 §11.5.7): the PIN in P2, the mode from P1 and the data ([`ChangeMode`]).
fn parse_change_reference_data<'a>(apdu: &Apdu<'a>) -> Result<Command<'a>, Status> {
    let pin = PinRef::try_from(apdu.p2)?;
    no_le(apdu.ne)?;
    Ok(Command::ChangeReferenceData { pin, mode: ChangeMode::parse(apdu.p1, apdu.data)? })
}

/// RESET RETRY COUNTER (ISO 7816-4 §11.5.10): only the user PIN is unblocked; the mode from P1 and the data
/// ([`ResetMode`]).
fn parse_reset_retry_counter<'a>(apdu: &Apdu<'a>) -> Result<Command<'a>, Status> {
    let pin = PinRef::try_from(apdu.p2)?;
    if pin != PinRef::User {
        return Err(Status::ReferenceNotFound);
    }
    no_le(apdu.ne)?;
    Ok(Command::ResetRetryCounter { pin, mode: ResetMode::parse(apdu.p1, apdu.data)? })
}

/// PERFORM SECURITY OPERATION (ISO 7816-8 §5.3): COMPUTE DIGITAL SIGNATURE (`9E 9A`) and DECIPHER (`80 86`); the
/// other operations are not on this card.
fn parse_pso<'a>(apdu: &Apdu<'a>) -> Result<Command<'a>, Status> {
    match (apdu.p1, apdu.p2) {
        (0x9E, 0x9A) => {
            if apdu.data.is_empty() {
                return Err(Status::WrongLength);
            }
            Ok(Command::ComputeDigitalSignature { input: apdu.data })
        }
        (0x80, 0x86) => {
            // ISO 7816-8 §5.9: the padding-indicator byte `00`, then the cryptogram (RSA-2048: 256 bytes).
            match apdu.data {
                [0x00, cryptogram @ ..] if cryptogram.len() == 256 => Ok(Command::Decipher { cryptogram }),
                [0x00, ..] | [] => Err(Status::WrongLength),
                _ => Err(Status::IncorrectData),
            }
        }
        // Encipher, hash, verify: not on this card.
        (0x86, 0x80) | (0x90, 0x80) | (0x90, 0xA0) | (0x00, 0xA8) => Err(Status::FunctionNotSupported),
        _ => Err(Status::IncorrectP1P2),
    }
}

/// INTERNAL AUTHENTICATE (ISO 7816-4 §11.5.2): the key in P2 (`00`: the one MSE SET AT chose), a challenge of
/// 1–256 bytes.
fn parse_internal_authenticate<'a>(apdu: &Apdu<'a>) -> Result<Command<'a>, Status> {
    if apdu.p1 != 0x00 {
        return Err(Status::IncorrectP1P2);
    }
    let key = if apdu.p2 == 0x00 { None } else { Some(KeyRef::try_from(apdu.p2)?) };
    if apdu.data.is_empty() || apdu.data.len() > 256 {
        return Err(Status::WrongLength);
    }
    Ok(Command::InternalAuthenticate { key, challenge: apdu.data })
}

/// GENERATE ASYMMETRIC KEY PAIR (ISO 7816-8 §5.1): generate (P1 `00`) or read the public key (P1 `01`) of the
/// key in P2, or IsoApplet's `42 00`; no data.
fn parse_generate_key_pair<'a>(apdu: &Apdu<'a>) -> Result<Command<'a>, Status> {
    let (action, key) = match (apdu.p1, apdu.p2) {
        // IsoApplet's RSA generation: slot and type from MSE SET (`80 01 F3`).
        (0x42, 0x00) => (KeyPairAction::Generate, None),
        (0x00, r) => (KeyPairAction::Generate, Some(KeyRef::try_from(r)?)),
        (0x01, r) => (KeyPairAction::ReadPublic, Some(KeyRef::try_from(r)?)),
        _ => return Err(Status::IncorrectP1P2),
    };
    if !apdu.data.is_empty() {
        return Err(Status::IncorrectData);
    }
    Ok(Command::GenerateKeyPair { key, action })
}

/// PUT DATA `DA 01 <ref>` (DIALECT.md): a private P-256 scalar of 32 bytes into the key in P2.
fn parse_import_ec_key<'a>(apdu: &Apdu<'a>) -> Result<Command<'a>, Status> {
    if apdu.p1 != 0x01 {
        return Err(Status::IncorrectP1P2);
    }
    let key = KeyRef::try_from(apdu.p2)?;
    no_le(apdu.ne)?;
    if apdu.data.len() != 32 {
        return Err(Status::WrongLength);
    }
    Ok(Command::ImportEcKey { key, scalar: apdu.data })
}

/// PUT DATA `DB 3F FF` (IsoApplet): a private RSA key in CRT form ([`parse_crt`]).
fn parse_import_rsa_key<'a>(apdu: &Apdu<'a>) -> Result<Command<'a>, Status> {
    if (apdu.p1, apdu.p2) != (0x3F, 0xFF) {
        return Err(Status::IncorrectP1P2);
    }
    no_le(apdu.ne)?;
    Ok(Command::ImportRsaKey { crt: parse_crt(apdu.data)? })
}

/// GET DATA (ISO 7816-4 §11.4.3): the object in P1 P2 ([`DataObject`]), no data.
fn parse_get_data<'a>(apdu: &Apdu<'a>) -> Result<Command<'a>, Status> {
    let object = DataObject::try_from((apdu.p1, apdu.p2))?;
    if !apdu.data.is_empty() {
        return Err(Status::WrongLength);
    }
    Ok(Command::GetData { object })
}

/// GET CHALLENGE (ISO 7816-4 §11.5.3): P1 P2 `00 00`, no data, Le of at most 256.
fn parse_get_challenge<'a>(apdu: &Apdu<'a>) -> Result<Command<'a>, Status> {
    if (apdu.p1, apdu.p2) != (0, 0) {
        return Err(Status::IncorrectP1P2);
    }
    match apdu.ne {
        Some(len) if apdu.data.is_empty() && len <= 256 => Ok(Command::GetChallenge { len }),
        _ => Err(Status::WrongLength),
    }
}

/// CREATE FILE (ISO 7816-9 §6.1): P1 P2 `00 00`, the FCP in the data ([`FileSpec::parse`]).
fn parse_create_file<'a>(apdu: &Apdu<'a>) -> Result<Command<'a>, Status> {
    if (apdu.p1, apdu.p2) != (0, 0) {
        return Err(Status::IncorrectP1P2);
    }
    no_le(apdu.ne)?;
    Ok(Command::CreateFile { spec: FileSpec::parse(apdu.data)? })
}

/// ACTIVATE FILE (ISO 7816-9 §6.5) of the MF: P1 `00` with empty data or the MF's FID activates the card, the
/// end of personalisation.
fn parse_activate_card<'a>(apdu: &Apdu<'a>) -> Result<Command<'a>, Status> {
    if (apdu.p1, apdu.p2) != (0, 0) {
        return Err(Status::IncorrectP1P2);
    }
    if !(apdu.data.is_empty() || apdu.data == FileId::MF.to_bytes()) {
        return Err(Status::FileNotFound);
    }
    Ok(Command::ActivateCard)
}

/// TERMINATE CARD USAGE (ISO 7816-9 §6.8): P1 P2 `00 00`, no data.
fn parse_terminate_card<'a>(apdu: &Apdu<'a>) -> Result<Command<'a>, Status> {
    if (apdu.p1, apdu.p2) != (0, 0) {
        return Err(Status::IncorrectP1P2);
    }
    if !apdu.data.is_empty() {
        return Err(Status::WrongLength);
    }
    Ok(Command::TerminateCard)
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
    let answer = SelectAnswer::try_from(p2)?;
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
            SelectBy::DfName(DfName::from_slice(data).map_err(|_| Status::WrongLength)?)
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
        0xB8 => Template::Confidentiality,
        0xA4 => Template::Authentication,
        0x00 => Template::KeyGeneration,
        _ => return Err(Status::IncorrectP1P2),
    };
    let mut key = None;
    let mut algorithm = None;
    let mut rest = data;
    while let [tag, len, tail @ ..] = rest {
        let len = *len as usize;
        if tail.len() < len || len > 0x7F {
            return Err(Status::IncorrectData);
        }
        let (value, next) = tail.split_at(len);
        match (*tag, value) {
            (0x80, [a]) => algorithm = Some(AlgorithmRef::try_from(*a)?),
            (0x80, _) => return Err(Status::IncorrectData),
            (0x81, _) => {} // file reference: the key is found by its reference alone
            (0x83 | 0x84, [r]) => key = Some(KeyRef::try_from(*r)?),
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

/// IsoApplet's RSA private key data object (OpenSC `isoApplet_put_data_prkey_rsa`): `7F48 { 92 p, 93 q,
/// 94 qinv, 95 dp, 96 dq }`, each value 1–128 bytes. Anything else answers `6A80`.
fn parse_crt(data: &[u8]) -> Result<Crt<'_>, Status> {
    let (tag, mut inner, rest) = tlv(data)?;
    if tag != 0x7F48 || !rest.is_empty() {
        return Err(Status::IncorrectData);
    }
    let mut parts: [Option<&[u8]>; 5] = [None; 5];
    while !inner.is_empty() {
        let (tag, value, next) = tlv(inner)?;
        let index = match tag {
            0x92..=0x96 => (tag - 0x92) as usize,
            _ => return Err(Status::IncorrectData),
        };
        if value.is_empty() || value.len() > 128 {
            return Err(Status::IncorrectData);
        }
        let part = parts.get_mut(index).ok_or(Status::IncorrectData)?;
        if part.replace(value).is_some() {
            return Err(Status::IncorrectData);
        }
        inner = next;
    }
    match parts {
        [Some(p), Some(q), Some(qinv), Some(dp), Some(dq)] => Ok(Crt { p, q, qinv, dp, dq }),
        _ => Err(Status::IncorrectData),
    }
}
