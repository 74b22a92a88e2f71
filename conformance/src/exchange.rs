//! Host-side APDU exchanges as PC/SC middleware does them: `61xx` fetched with GET RESPONSE (ISO 7816-4 §5.3.4),
//! and whole EFs read by path. Shared by the fixture personaliser (`card_new`), the ZORG-ID personaliser and
//! `card inspect`; the conformance suite keeps its own, because it checks every raw answer.

use card_os::Status;
use reader_sim::reader::{ReaderError, Transmit};

/// Most bytes asked per READ BINARY: fits a short Le on every reader.
const READ_CHUNK: usize = 0xE0;

/// One exchange, with `61xx` followed by GET RESPONSE: the data of all parts and the final status.
pub fn exchange(reader: &mut dyn Transmit, apdu: &[u8]) -> Result<(Vec<u8>, Status), ReaderError> {
    let mut data = Vec::new();
    let mut next = apdu.to_vec();
    loop {
        let r = reader.transmit(&next)?;
        let (body, sw) = r.split_at(r.len().saturating_sub(2));
        data.extend_from_slice(body);
        let status = match sw {
            [a, b] => Status::from_sw(u16::from_be_bytes([*a, *b])),
            _ => Status::NoPreciseDiagnosis,
        };
        match status {
            Status::MoreAvailable(n) => next = vec![0x00, 0xC0, 0x00, 0x00, n],
            status => return Ok((data, status)),
        }
    }
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
    let size = fcp
        .windows(2)
        .position(|w| w == [0x80, 0x02])
        .and_then(|i| fcp.get(i + 2..i + 4))
        .map(|s| usize::from(u16::from_be_bytes([s[0], s[1]])))
        .ok_or(ReadEfError::NoSize)?;
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
