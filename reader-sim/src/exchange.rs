//! Host-side APDU exchanges as PC/SC middleware does them: `6Cxx` sent again with the right Le and `61xx` fetched
//! with GET RESPONSE (ISO 7816-4 §5.3.4), and whole EFs read by path. The one place for this: the fixture
//! personaliser (`card_new`), the ZORG-ID personaliser, `card inspect` and the conformance suite all use it (the
//! suite's raw `apdu = …` steps alone go to the reader as they are, because they check the bare answer).

use crate::reader::{ReaderError, Transmit};
use card_os::Status;
use card_os::apdu::{Apdu, Class};

/// Most bytes asked per READ BINARY: fits a short Le on every reader.
const READ_CHUNK: usize = 0xE0;

/// A command APDU written by card-os's own encoder ([`card_os::apdu::Apdu::encode_into`], ISO 7816-4 §5.1), the
/// one APDU builder of the host side: short Lc/Le when they fit, extended otherwise. `header` is CLA INS P1 P2 with
/// CLA `00` or `10` (chained); `ne` is `None` for no Le (cases 1 and 3), `Some(256)` for a short `00`,
/// `Some(65_536)` for an extended `00 00`. A CLA or length that cannot be encoded is `6700`/`6E00`.
pub fn command(header: [u8; 4], data: &[u8], ne: Option<usize>) -> Result<Vec<u8>, Status> {
    let [cla, ins, p1, p2] = header;
    let class = match cla {
        0x00 => Class { chained: false },
        0x10 => Class { chained: true },
        _ => return Err(Status::ClassNotSupported),
    };
    let apdu = Apdu { class, ins, p1, p2, data, ne, extended: false };
    let mut out = vec![0; 4 + 3 + data.len() + 3];
    let n = apdu.encode_into(&mut out)?;
    out.truncate(n);
    Ok(out)
}

/// Most GET RESPONSEs after one command: a card that keeps answering `61xx` is not followed for ever.
const MAX_GET_RESPONSE: usize = 64;

/// One exchange as a client does it (ISO 7816-4 §5.3.4): a `6Cxx` answer to a command with Le is sent again once
/// with Le = xx, and `61xx` is followed by GET RESPONSE. Returns the data of all parts and the final status; an
/// answer shorter than a status word counts as `6F00`.
pub fn exchange(reader: &mut dyn Transmit, apdu: &[u8]) -> Result<(Vec<u8>, Status), ReaderError> {
    let (mut data, mut status) = split(reader.transmit(apdu)?);
    if let Status::WrongLe(exact) = status
        && apdu.len() >= 5
    {
        let mut again = apdu.to_vec();
        if let Some(le) = again.last_mut() {
            *le = exact;
        }
        (data, status) = split(reader.transmit(&again)?);
    }
    for _ in 0..MAX_GET_RESPONSE {
        let Status::MoreAvailable(n) = status else { break };
        let (mut more, next) = split(reader.transmit(&[0x00, 0xC0, 0x00, 0x00, n])?);
        data.append(&mut more);
        status = next;
    }
    Ok((data, status))
}

/// A response APDU as its data and status word.
fn split(mut response: Vec<u8>) -> (Vec<u8>, Status) {
    let sw = response.split_off(response.len().saturating_sub(2));
    let status = match sw.as_slice() {
        [a, b] => Status::from_sw(u16::from_be_bytes([*a, *b])),
        _ => Status::NoPreciseDiagnosis,
    };
    (response, status)
}

/// The file size (tag `80`) in a SELECT answer's FCP `62 L { … }` (ISO 7816-4 §7.4.3, table 12).
pub fn fcp_size(fcp: &[u8]) -> Option<usize> {
    let body = match fcp {
        [0x62 | 0x6F, len, rest @ ..] => rest.get(..usize::from(*len))?,
        _ => return None,
    };
    let mut rest = body;
    while let [tag, len, tail @ ..] = rest {
        let len = usize::from(*len);
        let value = tail.get(..len)?;
        if *tag == 0x80 && (1..=4).contains(&len) {
            return Some(value.iter().fold(0usize, |acc, b| acc << 8 | usize::from(*b)));
        }
        rest = tail.get(len..)?;
    }
    None
}

/// Why a whole EF could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadEfError {
    /// The reader (PC/SC or in-process) failed.
    #[error("the reader failed: {0}")]
    Reader(#[from] ReaderError),
    /// SELECT by path answered this status word (ISO 7816-4 §11.1.1).
    #[error("cannot be selected: {0}")]
    Select(Status),
    /// The FCP has no `80` (size) tag, so the EF's length is unknown.
    #[error("has no size (tag 80) in its FCP")]
    NoSize,
    /// READ BINARY failed part-way.
    #[error("READ BINARY at offset {offset} answered {status}")]
    Read {
        /// The offset asked for.
        offset: usize,
        /// What the card answered.
        status: Status,
    },
}

/// SELECT by path from the MF with the FCP, then READ BINARY of the whole EF in short pieces.
pub fn read_ef(reader: &mut dyn Transmit, path: &[u16]) -> Result<Vec<u8>, ReadEfError> {
    let bytes: Vec<u8> = path.iter().flat_map(|f| f.to_be_bytes()).collect();
    let mut select = vec![0x00, 0xA4, 0x08, 0x04, bytes.len() as u8];
    select.extend_from_slice(&bytes);
    select.push(0x00);
    let (fcp, status) = exchange(reader, &select)?;
    if status != Status::Success {
        return Err(ReadEfError::Select(status));
    }
    let size = fcp_size(&fcp).ok_or(ReadEfError::NoSize)?;
    let mut data = Vec::with_capacity(size);
    while data.len() < size {
        let n = (size - data.len()).min(READ_CHUNK);
        let [p1, p2] = (data.len() as u16).to_be_bytes();
        let (chunk, status) = exchange(reader, &[0x00, 0xB0, p1, p2, n as u8])?;
        if status != Status::Success || chunk.is_empty() {
            return Err(ReadEfError::Read { offset: data.len(), status });
        }
        data.extend_from_slice(&chunk);
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A card that answers from a list and records what it was sent.
    struct Script {
        answers: Vec<Vec<u8>>,
        sent: Vec<Vec<u8>>,
    }

    impl Transmit for Script {
        fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ReaderError> {
            self.sent.push(apdu.to_vec());
            Ok(if self.answers.is_empty() { vec![0x61, 0x01] } else { self.answers.remove(0) })
        }
    }

    #[test]
    fn commands_come_from_the_card_os_encoder_and_parse_back() {
        let select = command([0x00, 0xA4, 0x08, 0x04], &[0x50, 0x15], Some(256)).unwrap();
        assert_eq!(select, [0x00, 0xA4, 0x08, 0x04, 0x02, 0x50, 0x15, 0x00]);
        let long = vec![0x5A; 300];
        let bytes = command([0x00, 0x2A, 0x80, 0x86], &long, Some(65_536)).unwrap();
        let parsed = Apdu::parse(&bytes).unwrap();
        assert!(parsed.extended);
        assert_eq!((parsed.data, parsed.ne), (long.as_slice(), Some(65_536)));
        assert_eq!(command([0x80, 0xA4, 0, 0], &[], None), Err(Status::ClassNotSupported));
    }

    #[test]
    fn wrong_le_is_sent_again_and_more_data_is_fetched() {
        let mut card = Script {
            answers: vec![vec![0x6C, 0x02], vec![0xAA, 0xBB, 0x61, 0x01], vec![0xCC, 0x90, 0x00]],
            sent: Vec::new(),
        };
        let (data, status) = exchange(&mut card, &[0x00, 0xCA, 0x01, 0x01, 0x00]).unwrap();
        assert_eq!((data.as_slice(), status), (&[0xAA, 0xBB, 0xCC][..], Status::Success));
        assert_eq!(card.sent[1], [0x00, 0xCA, 0x01, 0x01, 0x02], "Le corrected to 02");
        assert_eq!(card.sent[2], [0x00, 0xC0, 0x00, 0x00, 0x01], "GET RESPONSE for the rest");
    }

    #[test]
    fn a_card_that_always_has_more_is_not_followed_for_ever() {
        let mut card = Script { answers: Vec::new(), sent: Vec::new() };
        let (data, status) = exchange(&mut card, &[0x00, 0xB0, 0x00, 0x00, 0x00]).unwrap();
        assert_eq!(status, Status::MoreAvailable(1));
        assert_eq!(card.sent.len(), 1 + MAX_GET_RESPONSE);
        assert!(data.is_empty());
    }

    #[test]
    fn fcp_size_reads_tag_80_and_refuses_a_truncated_fcp() {
        assert_eq!(fcp_size(&[0x62, 0x08, 0x80, 0x02, 0x01, 0x23, 0x82, 0x01, 0x01, 0x00]), Some(0x123));
        assert_eq!(fcp_size(&[0x62, 0x03, 0x82, 0x01, 0x38]), None);
        assert_eq!(fcp_size(&[0x62, 0x09, 0x80, 0x02]), None);
    }
}
