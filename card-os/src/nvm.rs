//! Persistent memory: the [`Nvm`] trait and the double-bank, checksummed image on it.
//!
//! The NVM holds two banks of [`BANK_SIZE`] bytes. A bank is a [`HEADER_LEN`]-byte header block, then the body
//! (see `image.rs`). The header block holds two copies, A and B, of one 24-byte header:
//!
//! | header byte | bytes | field |
//! |---|---|---|
//! | 0 | 4 | magic `ZCOS` |
//! | 4 | 2 | format version ([`FORMAT_VERSION`]) |
//! | 6 | 2 | zero |
//! | 8 | 4 | sequence number |
//! | 12 | 4 | body length |
//! | 16 | 4 | body CRC: CRC-32C over header bytes 0..16 and the body |
//! | 20 | 4 | header CRC: CRC-32C over header bytes 0..20 |
//!
//! Each copy is stored as two 12-byte halves, fronts first: bank bytes 0..12 hold A's front (so magic and version
//! sit where every format put them), 12..24 B's front, 24..36 A's back, 36..48 B's back; the body starts at 48.
//!
//! **Commit.** An update never touches the bank in use: it writes the whole new body into the other bank, then
//! that bank's header block, in one write, last. That write is the commit: a write cut anywhere before its end
//! leaves no valid copy (in its first 36 bytes neither copy is whole; the test NVM tears a write at its midpoint),
//! or a whole copy over a body that was already complete. After a restart the card is in the old state or the new
//! one, never a mix — the double buffer EEPROM card OSes use.
//!
//! **Boot: torn or damaged.** A header copy is valid when its magic, version and header CRC hold; a bank's
//! header is its valid copy with the higher sequence number, and the bank is *valid* when its body matches that
//! header's body CRC. The current bank is the valid bank with the higher sequence number. A bank that has a header
//! but fails its body CRC is one of two things:
//! - its sequence is *below* the current bank's: the leftover of an interrupted commit into it (the body is
//!   overwritten while the header of two commits ago is still there). It is *torn* and ignored.
//! - its sequence is *above* the current bank's (or no bank is valid): the header is written only after the whole
//!   body, so that body was once complete — it is the newest state, and it was *damaged* since.
//!   [`ImageError::Damaged`]: the card refuses to start rather than fall back to the older bank, which would give
//!   back PIN or PUK tries spent since. Only an explicit [`Rollback::Accept`] opens the older state.
//!
//! A byte damaged in the body fails the body CRC (CRC-32C catches every error of up to 32 bits); a byte damaged in
//! one header copy leaves the other copy, so the bank stays valid and boots unchanged. Not detected: damage that
//! breaks both copies of the newest header — that looks like a cut header write, and the older bank is used.

use core::fmt;

use crate::types::{LifeCycle, Tries};

/// Bytes of one bank.
pub const BANK_SIZE: usize = 32 * 1024;
/// Bytes of NVM a card needs: two banks.
pub const NVM_SIZE: usize = 2 * BANK_SIZE;
/// Bytes of one header copy.
pub const COPY_LEN: usize = 24;
/// Bank header block length: two header copies.
pub const HEADER_LEN: usize = 2 * COPY_LEN;
/// Largest body a bank holds.
pub const MAX_BODY: usize = BANK_SIZE - HEADER_LEN;
/// Image format version written and accepted: 2 since RSA-2048 key slots (1 had P-256-only slots).
pub const FORMAT_VERSION: u16 = 2;
const MAGIC: [u8; 4] = *b"ZCOS";
const HALF: usize = COPY_LEN / 2;
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
    /// No bank has a valid header: the image was damaged.
    ChecksumMismatch,
    /// The newest state was completely written (its header is valid, and a header is only written after its
    /// body) and was damaged since: its body fails its checksum. The card does not fall back to the older bank on
    /// its own, since that may give back PIN or PUK tries; [`Rollback::Accept`] does.
    Damaged {
        /// The bank with the damaged newest state.
        bank: usize,
        /// Its sequence number.
        sequence: u32,
        /// The state the other bank would give, if it is valid and parses.
        fallback: Option<BankState>,
    },
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
            ImageError::Damaged { bank, sequence, fallback } => {
                write!(
                    f,
                    "is damaged: bank {bank} holds its newest state (sequence {sequence}), written completely and \
                     corrupted since (its body fails its checksum)"
                )?;
                match fallback {
                    Some(older) => write!(
                        f,
                        "; the older state ({older}) is not opened on its own, since it may give back PIN or PUK tries"
                    ),
                    None => f.write_str("; the other bank holds no usable older state"),
                }
            }
            ImageError::Inconsistent(what) => write!(f, "is inconsistent ({what})"),
            ImageError::Nvm(NvmError::OutOfRange) => f.write_str("is smaller than the card's memory"),
            ImageError::Nvm(NvmError::PowerLost) => f.write_str("could not be written (power lost)"),
        }
    }
}

impl core::error::Error for ImageError {}

/// What one bank's state is, as far as a host may know it: no secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BankState {
    /// The bank, 0 or 1.
    pub bank: usize,
    /// Its sequence number.
    pub sequence: u32,
    /// The life cycle it holds, as the outside would see it.
    pub life_cycle: LifeCycle,
    /// Its user PIN counter.
    pub pin: Tries,
    /// Its PUK counter.
    pub puk: Tries,
}

impl fmt::Display for BankState {
    /// "bank 0, sequence 6: operational, PIN 3 of 3 tries left, PUK 3 of 3 tries left".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "bank {}, sequence {}: {}, PIN {} of {} tries left, PUK {} of {} tries left",
            self.bank, self.sequence, self.life_cycle, self.pin.left, self.pin.max, self.puk.left, self.puk.max
        )
    }
}

/// Whether opening an image may fall back to the older bank when the newest state is damaged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Rollback {
    /// Refuse: [`ImageError::Damaged`]. What `Card::boot` does.
    #[default]
    Refuse,
    /// Open the older bank: only when a person asked for it (`--accept-rollback`).
    Accept,
}

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

/// How boot judges one bank (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BankStatus {
    /// Header and body check: a state that can be booted.
    Valid,
    /// The newest complete state, damaged since: a valid header newer than every valid bank, its body failing.
    Damaged,
    /// A valid header older than the current bank's over a body that fails: an interrupted commit into this bank.
    Torn,
    /// No valid header copy: never written, or its header write was cut (or both copies were damaged).
    NoHeader,
    /// A header of another image format version.
    OtherVersion(u16),
}

/// One bank as [`Banks::scan`] found it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BankCheck {
    /// The bank, 0 or 1.
    pub bank: usize,
    /// The bank's header (its valid copy with the higher sequence number): where its body is, if it has one.
    pub header: Option<Banks>,
    /// Header copies whose header CRC holds, 0 to 2.
    pub valid_copies: u8,
    /// The body matches the header's body CRC.
    pub body_ok: bool,
    /// Why the bank has no header, if it has none.
    problem: Option<ImageError>,
}

impl BankCheck {
    /// The sequence number of the bank's header.
    pub fn sequence(&self) -> Option<u32> {
        self.header.map(|h| h.seq)
    }
}

/// Both banks as boot judges them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scan {
    /// Bank 0 and bank 1.
    pub banks: [BankCheck; 2],
    /// The valid bank with the higher sequence number.
    pub current: Option<Banks>,
    /// A bank whose header is newer than `current` (or there is no `current`) while its body fails: the newest
    /// state, damaged.
    pub damaged: Option<Banks>,
}

impl Scan {
    /// How boot judges `bank`.
    pub fn status(&self, bank: usize) -> BankStatus {
        let Some(check) = self.banks.get(bank) else { return BankStatus::NoHeader };
        match (check.header, check.body_ok, check.problem) {
            (Some(_), true, _) => BankStatus::Valid,
            (Some(h), false, _) if self.damaged == Some(h) => BankStatus::Damaged,
            (Some(_), false, _) => BankStatus::Torn,
            (None, _, Some(ImageError::UnsupportedVersion { found, .. })) => BankStatus::OtherVersion(found),
            (None, _, _) => BankStatus::NoHeader,
        }
    }

    /// The current bank; [`ImageError::Damaged`] if the newest state is damaged (and `rollback` refuses, or
    /// there is nothing to fall back to); otherwise the more telling of the two banks' problems.
    pub fn choose(&self, rollback: Rollback) -> Result<Banks, ImageError> {
        // A bank of another format may hold a newer state whose sequence this build cannot read: never use the
        // other bank behind its back.
        for check in &self.banks {
            if let (None, Some(e @ ImageError::UnsupportedVersion { .. })) = (check.header, check.problem) {
                return Err(e);
            }
        }
        match (self.damaged, self.current) {
            (Some(d), current) if rollback == Rollback::Refuse || current.is_none() => {
                Err(ImageError::Damaged { bank: d.active, sequence: d.seq, fallback: None })
            }
            (_, Some(current)) => Ok(current),
            (_, None) => {
                let [a, b] = self.banks.map(|c| c.problem);
                Err(match (a, b) {
                    (Some(ImageError::NotAnImage), Some(ImageError::NotAnImage)) => ImageError::NotAnImage,
                    _ => ImageError::ChecksumMismatch,
                })
            }
        }
    }
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

    /// Judge both banks: valid, damaged, torn (the rule is in the module documentation). Only reads.
    pub fn scan<N: Nvm + ?Sized>(nvm: &N) -> Result<Scan, ImageError> {
        if nvm.capacity() < NVM_SIZE {
            return Err(ImageError::Truncated { len: nvm.capacity(), expected: NVM_SIZE });
        }
        let banks = [check_bank(nvm, 0)?, check_bank(nvm, 1)?];
        let newest = |valid: bool| {
            banks
                .iter()
                .filter(|c| c.body_ok == valid)
                .filter_map(|c| c.header)
                .reduce(|a, b| if b.seq > a.seq { b } else { a })
        };
        let current = newest(true);
        let damaged = newest(false).filter(|d| current.is_none_or(|c| d.seq > c.seq));
        Ok(Scan { banks, current, damaged })
    }

    /// Find the current bank: the valid one with the higher sequence number. A damaged newest state is
    /// [`ImageError::Damaged`] (its `fallback` left to `image::open`, which can read bodies) unless `rollback`
    /// accepts the older bank.
    pub fn find<N: Nvm + ?Sized>(nvm: &N, rollback: Rollback) -> Result<Banks, ImageError> {
        Self::scan(nvm)?.choose(rollback)
    }

    /// Write a new image into the other bank: the current body with `patches` applied, `new_len` bytes long
    /// (bytes past the old body are zero). The header block goes last, in one write; only then is the new bank
    /// current.
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
        // After a boot that accepted a rollback, the other bank still holds the damaged newer header: clear it
        // before its body is overwritten, or a cut during that write would look like damage again.
        let mut block = [0u8; HEADER_LEN];
        nvm.read(Self::base(target), &mut block)?;
        if header_of(&block).0.is_some_and(|h| h.seq > self.seq) {
            nvm.write(Self::base(target), &[0u8; HEADER_LEN])?;
        }
        let front = copy_front(seq, new_len);
        let mut digest = CRC.digest();
        digest.update(&front);
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
        nvm.write(Self::base(target), &header_block(&header_copy(front, digest.finalize())))?;
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

/// Header bytes 0..16: magic, version, sequence number, body length (what the body CRC covers first).
fn copy_front(seq: u32, len: usize) -> [u8; 16] {
    let mut h = [0u8; 16];
    h[..4].copy_from_slice(&MAGIC);
    h[4..6].copy_from_slice(&FORMAT_VERSION.to_be_bytes());
    h[8..12].copy_from_slice(&seq.to_be_bytes());
    h[12..16].copy_from_slice(&(len as u32).to_be_bytes());
    h
}

/// One header copy: the front, the body CRC, the header CRC over both.
fn header_copy(front: [u8; 16], body_crc: u32) -> [u8; COPY_LEN] {
    let mut h = [0u8; COPY_LEN];
    h[..16].copy_from_slice(&front);
    h[16..20].copy_from_slice(&body_crc.to_be_bytes());
    let header_crc = CRC.checksum(&h[..20]);
    h[20..24].copy_from_slice(&header_crc.to_be_bytes());
    h
}

/// The header block: both copies of `copy`, halves stored A front, B front, A back, B back.
fn header_block(copy: &[u8; COPY_LEN]) -> [u8; HEADER_LEN] {
    let mut b = [0u8; HEADER_LEN];
    b[..HALF].copy_from_slice(&copy[..HALF]);
    b[HALF..2 * HALF].copy_from_slice(&copy[..HALF]);
    b[2 * HALF..3 * HALF].copy_from_slice(&copy[HALF..]);
    b[3 * HALF..].copy_from_slice(&copy[HALF..]);
    b
}

/// Copies A and B out of a header block.
fn copies(b: &[u8; HEADER_LEN]) -> [[u8; COPY_LEN]; 2] {
    let mut a = [0u8; COPY_LEN];
    let mut c = [0u8; COPY_LEN];
    a[..HALF].copy_from_slice(&b[..HALF]);
    c[..HALF].copy_from_slice(&b[HALF..2 * HALF]);
    a[HALF..].copy_from_slice(&b[2 * HALF..3 * HALF]);
    c[HALF..].copy_from_slice(&b[3 * HALF..]);
    [a, c]
}

/// A header copy that checks: where the body is and what its CRC must be.
#[derive(Clone, Copy)]
struct Header {
    seq: u32,
    len: usize,
    body_crc: u32,
}

/// One copy: valid, or why not (magic and version first, so another format is named as such).
fn check_copy(h: &[u8; COPY_LEN]) -> Result<Header, ImageError> {
    if h[..4] != MAGIC {
        return Err(ImageError::NotAnImage);
    }
    let version = u16::from_be_bytes([h[4], h[5]]);
    if version != FORMAT_VERSION {
        return Err(ImageError::UnsupportedVersion { found: version, supported: FORMAT_VERSION });
    }
    let header_crc = u32::from_be_bytes([h[20], h[21], h[22], h[23]]);
    let len = u32::from_be_bytes([h[12], h[13], h[14], h[15]]) as usize;
    if CRC.checksum(&h[..20]) != header_crc || len > MAX_BODY {
        return Err(ImageError::ChecksumMismatch);
    }
    let seq = u32::from_be_bytes([h[8], h[9], h[10], h[11]]);
    Ok(Header { seq, len, body_crc: u32::from_be_bytes([h[16], h[17], h[18], h[19]]) })
}

/// The block's header (the valid copy with the higher sequence number), how many copies are valid, and why
/// there is no header (the more telling of the two copies' problems).
fn header_of(block: &[u8; HEADER_LEN]) -> (Option<Header>, u8, ImageError) {
    let [a, b] = copies(block).map(|c| check_copy(&c));
    let valid_copies = u8::from(a.is_ok()) + u8::from(b.is_ok());
    let problem = match (a, b) {
        (Err(e @ ImageError::UnsupportedVersion { .. }), _) | (_, Err(e @ ImageError::UnsupportedVersion { .. })) => e,
        (Err(ImageError::NotAnImage), Err(ImageError::NotAnImage)) => ImageError::NotAnImage,
        _ => ImageError::ChecksumMismatch,
    };
    let header = match (a, b) {
        (Ok(a), Ok(b)) => Some(if b.seq > a.seq { b } else { a }),
        (Ok(h), Err(_)) | (Err(_), Ok(h)) => Some(h),
        (Err(_), Err(_)) => None,
    };
    (header, valid_copies, problem)
}

fn check_bank<N: Nvm + ?Sized>(nvm: &N, bank: usize) -> Result<BankCheck, ImageError> {
    let base = Banks::base(bank);
    let mut block = [0u8; HEADER_LEN];
    nvm.read(base, &mut block).map_err(ImageError::Nvm)?;
    let (header, valid_copies, problem) = header_of(&block);
    let Some(h) = header else {
        return Ok(BankCheck { bank, header: None, valid_copies, body_ok: false, problem: Some(problem) });
    };
    let mut digest = CRC.digest();
    digest.update(&copy_front(h.seq, h.len));
    let mut buf = [0u8; CHUNK];
    let mut at = 0;
    while at < h.len {
        let n = CHUNK.min(h.len - at);
        let part = buf.get_mut(..n).ok_or(ImageError::Nvm(NvmError::OutOfRange))?;
        nvm.read(base + HEADER_LEN + at, part).map_err(ImageError::Nvm)?;
        digest.update(part);
        at += n;
    }
    Ok(BankCheck {
        bank,
        header: Some(Banks { active: bank, seq: h.seq, body_len: h.len }),
        valid_copies,
        body_ok: digest.finalize() == h.body_crc,
        problem: None,
    })
}

/// A read-only NVM over a byte slice, for checking an image file without a card. The one place bytes are read
/// out of a RAM buffer: [`crate::virt::RamNvm`] reads through it.
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
        let end = offset.checked_add(buf.len()).ok_or(NvmError::OutOfRange)?;
        let src = self.0.get(offset..end).ok_or(NvmError::OutOfRange)?;
        buf.copy_from_slice(src);
        Ok(())
    }

    fn write(&mut self, _offset: usize, _data: &[u8]) -> Result<(), NvmError> {
        Err(NvmError::OutOfRange)
    }
}
