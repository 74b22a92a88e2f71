//! Command APDU framing (ISO/IEC 7816-4 §5.1–5.4): the case (1–4, short or extended), the class, the INS.
//!
//! [`Apdu::parse`] is the first thing a byte string meets; [`crate::command::Command`] turns the framed APDU into a
//! typed command. Malformed frames die here with the ISO status word, never with a panic. [`Apdu::encode_into`] is
//! the inverse, for hosts that build commands: short lengths where they fit, extended ones where they do not.

use crate::status::Status;

/// Instruction bytes this card knows (ISO 7816-4 table 4, 7816-8, 7816-9).
pub mod ins {
    /// DEACTIVATE FILE is not supported; listed so traces name it.
    pub const DEACTIVATE_FILE: u8 = 0x04;
    /// VERIFY (ISO 7816-4 §11.5.6).
    pub const VERIFY: u8 = 0x20;
    /// MANAGE SECURITY ENVIRONMENT (ISO 7816-4 §11.5.11).
    pub const MANAGE_SECURITY_ENVIRONMENT: u8 = 0x22;
    /// CHANGE REFERENCE DATA (§11.5.7).
    pub const CHANGE_REFERENCE_DATA: u8 = 0x24;
    /// PERFORM SECURITY OPERATION (ISO 7816-8 §5.3).
    pub const PERFORM_SECURITY_OPERATION: u8 = 0x2A;
    /// RESET RETRY COUNTER (§11.5.10).
    pub const RESET_RETRY_COUNTER: u8 = 0x2C;
    /// ACTIVATE FILE (ISO 7816-9 §6.5).
    pub const ACTIVATE_FILE: u8 = 0x44;
    /// GENERATE ASYMMETRIC KEY PAIR (ISO 7816-8 §5.1).
    pub const GENERATE_ASYMMETRIC_KEY_PAIR: u8 = 0x46;
    /// GET CHALLENGE (§11.5.3).
    pub const GET_CHALLENGE: u8 = 0x84;
    /// INTERNAL AUTHENTICATE (§11.5.4).
    pub const INTERNAL_AUTHENTICATE: u8 = 0x88;
    /// SELECT (§11.2.2).
    pub const SELECT: u8 = 0xA4;
    /// READ BINARY (§11.3.3).
    pub const READ_BINARY: u8 = 0xB0;
    /// GET RESPONSE (§11.4.1).
    pub const GET_RESPONSE: u8 = 0xC0;
    /// GET DATA (§11.4.3).
    pub const GET_DATA: u8 = 0xCA;
    /// UPDATE BINARY (§11.3.5).
    pub const UPDATE_BINARY: u8 = 0xD6;
    /// PUT DATA (§11.4.6): key import here.
    pub const PUT_DATA: u8 = 0xDA;
    /// PUT DATA, odd INS (BER-TLV data): IsoApplet's RSA key import `DB 3F FF`.
    pub const PUT_DATA_ODD: u8 = 0xDB;
    /// CREATE FILE (ISO 7816-9 §6.1).
    pub const CREATE_FILE: u8 = 0xE0;
    /// TERMINATE CARD USAGE (ISO 7816-9 §6.8).
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
    /// The decoded class byte.
    pub class: Class,
    /// The instruction byte.
    pub ins: u8,
    /// Parameter 1.
    pub p1: u8,
    /// Parameter 2.
    pub p2: u8,
    /// The command data (Nc bytes).
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
        const NONE: &[u8] = &[];
        let (data, ne, extended) = match body {
            [] => (NONE, None, false),
            [le] => (NONE, Some(short_ne(*le)), false),
            [0, hi, lo, rest @ ..] => {
                let n = u16::from_be_bytes([*hi, *lo]) as usize;
                match (rest.len(), rest.split_at_checked(n)) {
                    (0, _) => (NONE, Some(extended_ne(n)), true),
                    _ if n == 0 => return Err(Status::WrongLength),
                    (len, Some((data, []))) if len == n => (data, None, true),
                    (_, Some((data, [le_hi, le_lo]))) => {
                        (data, Some(extended_ne(u16::from_be_bytes([*le_hi, *le_lo]) as usize)), true)
                    }
                    _ => return Err(Status::WrongLength),
                }
            }
            [0, ..] => return Err(Status::WrongLength),
            [lc, rest @ ..] => match rest.split_at_checked(*lc as usize) {
                Some((data, [])) => (data, None, false),
                Some((data, [le])) => (data, Some(short_ne(*le)), false),
                _ => return Err(Status::WrongLength),
            },
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

impl Apdu<'_> {
    /// Write the C-APDU (ISO 7816-4 §5.1): short Lc/Le when data ≤ 255 bytes and Ne ≤ 256 (and `extended` is not
    /// asked for), extended otherwise. Answers the length written; `6700` if `out` is too small or Ne/Lc cannot
    /// be encoded.
    pub fn encode_into(&self, out: &mut [u8]) -> Result<usize, Status> {
        let cla = if self.class.chained { 0x10 } else { 0x00 };
        let extended = self.extended || self.data.len() > 255 || self.ne.is_some_and(|ne| ne > 256);
        if self.data.len() > 65_535 || self.ne.is_some_and(|ne| ne == 0 || ne > 65_536) {
            return Err(Status::WrongLength);
        }
        let mut n = 0;
        let mut put = |bytes: &[u8]| -> Result<(), Status> {
            let dst = out.get_mut(n..n + bytes.len()).ok_or(Status::WrongLength)?;
            dst.copy_from_slice(bytes);
            n += bytes.len();
            Ok(())
        };
        put(&[cla, self.ins, self.p1, self.p2])?;
        if extended {
            if !self.data.is_empty() {
                put(&[0])?;
                put(&(self.data.len() as u16).to_be_bytes())?;
                put(self.data)?;
            }
            if let Some(ne) = self.ne {
                if self.data.is_empty() {
                    put(&[0])?;
                }
                put(&((ne % 65_536) as u16).to_be_bytes())?;
            }
        } else {
            if !self.data.is_empty() {
                put(&[self.data.len() as u8])?;
                put(self.data)?;
            }
            if let Some(ne) = self.ne {
                put(&[(ne % 256) as u8])?;
            }
        }
        Ok(n)
    }
}

fn short_ne(le: u8) -> usize {
    if le == 0 { 256 } else { le as usize }
}

fn extended_ne(le: usize) -> usize {
    if le == 0 { 65_536 } else { le }
}

/// One BER-TLV data object (ISO 7816-4 §5.2.2, lengths up to `82 xx xx`): the tag (one or two bytes), the value
/// and the rest. The card parses IsoApplet's key import with it, hosts the public-key templates it answers; a
/// truncated or malformed object is `6A80`.
pub fn ber_tlv(bytes: &[u8]) -> Result<(u16, &[u8], &[u8]), Status> {
    let (tag, rest) = match bytes {
        [first, second, rest @ ..] if first & 0x1F == 0x1F => (u16::from_be_bytes([*first, *second]), rest),
        [first, rest @ ..] => (u16::from(*first), rest),
        [] => return Err(Status::IncorrectData),
    };
    let (len, rest) = match rest {
        [n @ 0..=0x7F, rest @ ..] => (*n as usize, rest),
        [0x81, n, rest @ ..] => (*n as usize, rest),
        [0x82, hi, lo, rest @ ..] => (u16::from_be_bytes([*hi, *lo]) as usize, rest),
        _ => return Err(Status::IncorrectData),
    };
    if rest.len() < len {
        return Err(Status::IncorrectData);
    }
    let (value, rest) = rest.split_at(len);
    Ok((tag, value, rest))
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
        Some(
            &ins::VERIFY
                | &ins::CHANGE_REFERENCE_DATA
                | &ins::RESET_RETRY_COUNTER
                | &ins::PUT_DATA
                | &ins::PUT_DATA_ODD
        )
    );
    let secret_from = if secret_ins && bytes.len() > 5 {
        // Short Lc is 1 byte; extended Lc is 00 + 2 bytes.
        Some(if bytes.get(4) == Some(&0) && bytes.len() > 7 { 7 } else { 5 })
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
        ins::PUT_DATA | ins::PUT_DATA_ODD => "PUT DATA",
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
