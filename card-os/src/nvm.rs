//! Persistent memory: the [`Nvm`] trait and the double-buffered, checksummed image on it.
//!
//! The NVM holds two banks of [`BANK_SIZE`] bytes. Each bank is a 32-byte header (magic `ZCOS`, format version,
//! sequence number, body length, CRC-32C over header and body) followed by the body (see `image.rs`). An update
//! never touches the bank in use: it writes the whole new body into the other bank, then that bank's header last.
//! A power cut at any write leaves the old bank valid and the new one invalid (its checksum fails), so after a
//! restart the card is in the old state or the new one, never a mix — the double buffer EEPROM card OSes use.

use core::fmt;

/// Bytes of one bank.
pub const BANK_SIZE: usize = 32 * 1024;
/// Bytes of NVM a card needs: two banks.
pub const NVM_SIZE: usize = 2 * BANK_SIZE;
/// Bank header length.
pub const HEADER_LEN: usize = 32;
/// Largest body a bank holds.
pub const MAX_BODY: usize = BANK_SIZE - HEADER_LEN;
/// Image format version written and accepted: 2 since RSA-2048 key slots (1 had P-256-only slots).
pub const FORMAT_VERSION: u16 = 2;
const MAGIC: [u8; 4] = *b"ZCOS";
const CHUNK: usize = 512;
const CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);

/// Persistent memory supplied by the host: EEPROM or flash on a chip, a file or RAM on a PC.
pub trait Nvm {
    /// Bytes available; must be at least [`NVM_SIZE`].
    fn capacity(&self) -> usize;
    /// Read `buf.len()` bytes at `offset`.
    fn read(&self, offset: usize, buf: &mut [u8]) -> Result<(), NvmError>;
    /// Write `data` at `offset`. A write may be torn by a power cut: then it returns [`NvmError::PowerLost`].
    fn write(&mut self, offset: usize, data: &[u8]) -> Result<(), NvmError>;
}

/// Why an NVM access failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NvmError {
    /// The access falls outside the memory.
    OutOfRange,
    /// Power was lost during the write; the written range may hold any mix of old and new bytes.
    PowerLost,
}

/// Why a byte image cannot be used. Hosts add the file name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageError {
    /// Fewer bytes than a card image has.
    Truncated {
        /// Bytes there are.
        len: usize,
        /// Bytes an image has.
        expected: usize,
    },
    /// Neither bank starts with the `ZCOS` magic: not a zorgcard image.
    NotAnImage,
    /// A bank carries another format version.
    UnsupportedVersion {
        /// The version in the bank.
        found: u16,
        /// The version this build reads and writes.
        supported: u16,
    },
    /// Both banks fail their checksum: the image was damaged.
    ChecksumMismatch,
    /// The checksum holds but the content breaks an invariant (the named field).
    Inconsistent(&'static str),
    /// The NVM could not be read or written.
    Nvm(NvmError),
}

impl fmt::Display for ImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageError::Truncated { len, expected } => {
                write!(f, "is truncated at byte {len} (expected {expected})")
            }
            ImageError::NotAnImage => f.write_str("is not a zorgcard card image (no `ZCOS` header in either bank)"),
            ImageError::UnsupportedVersion { found, supported } => {
                write!(f, "has image format version {found}, this build reads version {supported}")
            }
            ImageError::ChecksumMismatch => f.write_str("is corrupted (checksum mismatch in both banks)"),
            ImageError::Inconsistent(what) => write!(f, "is inconsistent ({what})"),
            ImageError::Nvm(NvmError::OutOfRange) => f.write_str("is smaller than the card's memory"),
            ImageError::Nvm(NvmError::PowerLost) => f.write_str("could not be written (power lost)"),
        }
    }
}

impl core::error::Error for ImageError {}

/// A body patch: write `bytes` at body offset `offset` in the new image.
#[derive(Clone, Copy)]
pub struct Patch<'a> {
    /// Body offset.
    pub offset: usize,
    /// The new bytes.
    pub bytes: &'a [u8],
}

impl fmt::Debug for Patch<'_> {
    /// Patches carry PINs and keys: only where and how much.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Patch {{ offset: {}, len: {} }}", self.offset, self.bytes.len())
    }
}

/// Which bank is current.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Banks {
    /// The current bank, 0 or 1.
    pub active: usize,
    /// Its sequence number (the higher valid one wins).
    pub seq: u32,
    /// Its body length.
    pub body_len: usize,
}

impl Banks {
    fn base(bank: usize) -> usize {
        bank * BANK_SIZE
    }

    /// Read from the body of the current bank.
    pub fn read_body<N: Nvm + ?Sized>(&self, nvm: &N, offset: usize, buf: &mut [u8]) -> Result<(), NvmError> {
        if offset + buf.len() > self.body_len {
            return Err(NvmError::OutOfRange);
        }
        nvm.read(Self::base(self.active) + HEADER_LEN + offset, buf)
    }

    /// Find the current bank: the valid one with the highest sequence number.
    pub fn find<N: Nvm + ?Sized>(nvm: &N) -> Result<Banks, ImageError> {
        if nvm.capacity() < NVM_SIZE {
            return Err(ImageError::Truncated { len: nvm.capacity(), expected: NVM_SIZE });
        }
        let a = check_bank(nvm, 0);
        let b = check_bank(nvm, 1);
        match (a, b) {
            (Ok(a), Ok(b)) => Ok(if b.seq > a.seq { b } else { a }),
            (Ok(x), Err(_)) | (Err(_), Ok(x)) => Ok(x),
            // Report the more telling of the two failures.
            (Err(ea), Err(eb)) => Err(match (ea, eb) {
                (e @ ImageError::UnsupportedVersion { .. }, _) | (_, e @ ImageError::UnsupportedVersion { .. }) => e,
                (ImageError::NotAnImage, ImageError::NotAnImage) => ImageError::NotAnImage,
                (e @ ImageError::Nvm(_), _) | (_, e @ ImageError::Nvm(_)) => e,
                _ => ImageError::ChecksumMismatch,
            }),
        }
    }

    /// Write a new image into the other bank: the current body with `patches` applied, `new_len` bytes long
    /// (bytes past the old body are zero). The header goes last; only then is the new bank current.
    pub fn commit<N: Nvm + ?Sized>(
        &mut self,
        nvm: &mut N,
        new_len: usize,
        patches: &[Patch<'_>],
    ) -> Result<(), NvmError> {
        if new_len > MAX_BODY || patches.iter().any(|p| p.offset + p.bytes.len() > new_len) {
            return Err(NvmError::OutOfRange);
        }
        let target = 1 - self.active;
        let seq = self.seq.wrapping_add(1);
        let head = header_prefix(seq, new_len);
        let mut digest = CRC.digest();
        digest.update(&head);
        let mut buf = [0u8; CHUNK];
        let mut at = 0;
        while at < new_len {
            let n = CHUNK.min(new_len - at);
            let chunk = buf.get_mut(..n).ok_or(NvmError::OutOfRange)?;
            chunk.fill(0);
            if at < self.body_len {
                let old = n.min(self.body_len - at);
                let old_part = chunk.get_mut(..old).ok_or(NvmError::OutOfRange)?;
                nvm.read(Self::base(self.active) + HEADER_LEN + at, old_part)?;
            }
            for p in patches {
                let (start, end) = (p.offset.max(at), (p.offset + p.bytes.len()).min(at + n));
                if start < end {
                    let dst = chunk.get_mut(start - at..end - at).ok_or(NvmError::OutOfRange)?;
                    let src = p.bytes.get(start - p.offset..end - p.offset).ok_or(NvmError::OutOfRange)?;
                    for (d, b) in dst.iter_mut().zip(src) {
                        *d = *b;
                    }
                }
            }
            nvm.write(Self::base(target) + HEADER_LEN + at, chunk)?;
            digest.update(chunk);
            at += n;
        }
        nvm.write(Self::base(target), &full_header(head, digest.finalize()))?;
        *self = Banks { active: target, seq, body_len: new_len };
        Ok(())
    }

    /// Write a first image: invalidate bank 1, then write `body` into bank 0 (sequence 1).
    pub fn format<N: Nvm + ?Sized>(nvm: &mut N, body: &[u8]) -> Result<Banks, NvmError> {
        if nvm.capacity() < NVM_SIZE || body.len() > MAX_BODY {
            return Err(NvmError::OutOfRange);
        }
        nvm.write(Self::base(1), &[0u8; HEADER_LEN])?;
        nvm.write(Self::base(0), &[0u8; HEADER_LEN])?;
        let mut banks = Banks { active: 1, seq: 0, body_len: 0 };
        banks.commit(nvm, body.len(), &[Patch { offset: 0, bytes: body }])?;
        Ok(banks)
    }
}

fn header_prefix(seq: u32, len: usize) -> [u8; 16] {
    let mut h = [0u8; 16];
    h[..4].copy_from_slice(&MAGIC);
    h[4..6].copy_from_slice(&FORMAT_VERSION.to_be_bytes());
    h[8..12].copy_from_slice(&seq.to_be_bytes());
    h[12..16].copy_from_slice(&(len as u32).to_be_bytes());
    h
}

fn full_header(prefix: [u8; 16], crc: u32) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..16].copy_from_slice(&prefix);
    h[16..20].copy_from_slice(&crc.to_be_bytes());
    h
}

fn check_bank<N: Nvm + ?Sized>(nvm: &N, bank: usize) -> Result<Banks, ImageError> {
    let base = Banks::base(bank);
    let mut h = [0u8; HEADER_LEN];
    nvm.read(base, &mut h).map_err(ImageError::Nvm)?;
    if h[..4] != MAGIC {
        return Err(ImageError::NotAnImage);
    }
    let version = u16::from_be_bytes([h[4], h[5]]);
    if version != FORMAT_VERSION {
        return Err(ImageError::UnsupportedVersion { found: version, supported: FORMAT_VERSION });
    }
    let seq = u32::from_be_bytes([h[8], h[9], h[10], h[11]]);
    let len = u32::from_be_bytes([h[12], h[13], h[14], h[15]]) as usize;
    let stored = u32::from_be_bytes([h[16], h[17], h[18], h[19]]);
    if len > MAX_BODY {
        return Err(ImageError::ChecksumMismatch);
    }
    let mut digest = CRC.digest();
    digest.update(h.get(..16).unwrap_or(&[]));
    let mut buf = [0u8; CHUNK];
    let mut at = 0;
    while at < len {
        let n = CHUNK.min(len - at);
        let part = buf.get_mut(..n).ok_or(ImageError::Nvm(NvmError::OutOfRange))?;
        nvm.read(base + HEADER_LEN + at, part).map_err(ImageError::Nvm)?;
        digest.update(part);
        at += n;
    }
    if digest.finalize() != stored {
        return Err(ImageError::ChecksumMismatch);
    }
    Ok(Banks { active: bank, seq, body_len: len })
}

/// A read-only NVM over a byte slice, for checking an image file without a card.
pub struct SliceNvm<'a>(pub &'a [u8]);

impl fmt::Debug for SliceNvm<'_> {
    /// The bytes hold PINs and keys: only the length is shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SliceNvm({} bytes)", self.0.len())
    }
}

impl Nvm for SliceNvm<'_> {
    fn capacity(&self) -> usize {
        self.0.len()
    }

    fn read(&self, offset: usize, buf: &mut [u8]) -> Result<(), NvmError> {
        let src = self.0.get(offset..offset + buf.len()).ok_or(NvmError::OutOfRange)?;
        buf.copy_from_slice(src);
        Ok(())
    }

    fn write(&mut self, _offset: usize, _data: &[u8]) -> Result<(), NvmError> {
        Err(NvmError::OutOfRange)
    }
}
