//! The layout of the image body and its RAM view, [`Meta`].
//!
//! Fixed offsets, big-endian, so a field is changed by a small `Patch` and the rest of the body is copied:
//!
//! | offset | bytes | what |
//! |---|---|---|
//! | 0 | 96 | card record: life cycle, ATR, serial number, validity |
//! | 96 | 2 × 32 | PIN and PUK: policy, counter, length, value |
//! | 160 | 3 × 1160 | key slots: present, origin, algorithm, then the material (`keys.rs`): P-256 scalar and point, or RSA-2048 n, e, d, p, q, dp, dq, qinv |
//! | 3640 | 4 + 40 × 32 | file table: count, data bytes used, entries |
//! | 4928 | … | file contents (the data area) |
//!
//! This is image format version 2 (`nvm::FORMAT_VERSION`). Version 1 had 112-byte P-256-only key slots; a
//! version-1 image is refused with [`ImageError::UnsupportedVersion`], and hosts name the command that recreates
//! the card.
//!
//! [`Meta`] is everything but PIN values, private keys and file contents: those are read from the image when a
//! command needs them. Parsing checks every invariant, so a damaged image is an error, never a panic.

use heapless::Vec;

use crate::fs::{FileEntry, FileKind, FileTable, MAX_FILES};
use crate::keys::{KeySlot, MAX_MATERIAL, Material};
use crate::nvm::{BankState, BankStatus, Banks, ImageError, MAX_BODY, Nvm, Rollback, SliceNvm};
use crate::pin::PinState;
use crate::types::{
    Access, Charset, Date, DfName, FileId, KEY_SLOTS, KeyAlgorithm, KeyOrigin, KeyRef, LifeCycle, MAX_PIN_LEN,
    PinPolicy, PinRef, Tries, Validity,
};

/// The card record: life cycle, ATR, serial number, validity.
pub const CARD_OFF: usize = 0;
/// The stored life-cycle byte.
pub const LC_OFF: usize = CARD_OFF;
/// Longest ATR (ISO 7816-3: 33 bytes).
pub const MAX_ATR: usize = 33;
/// Longest serial number.
pub const MAX_SERIAL: usize = 16;
const ATR_OFF: usize = 1;
const SERIAL_OFF: usize = 35;
/// The validity window: flag, first day, anniversary.
pub const VALIDITY_OFF: usize = 52;
/// The PIN and PUK records.
pub const PIN_OFF: usize = 96;
/// Bytes of one PIN record.
pub const PIN_REC: usize = 32;
/// The key slots.
pub const KEY_OFF: usize = 160;
/// Bytes of one key slot.
pub const KEY_REC: usize = 4 + MAX_MATERIAL;
/// The file table: count, data bytes used, entries.
pub const FILES_OFF: usize = KEY_OFF + KEY_SLOTS * KEY_REC;
/// Bytes of one file-table entry.
pub const FILE_REC: usize = 32;
/// The data area: file contents.
pub const DATA_OFF: usize = (FILES_OFF + 4 + MAX_FILES * FILE_REC).next_multiple_of(16);
const _: () = assert!(FILES_OFF == 3640 && DATA_OFF == 4928);
/// Bytes of file contents a card holds.
pub const DATA_CAP: usize = MAX_BODY - DATA_OFF;

/// The RAM view of the image: no secrets, no file contents.
#[derive(Clone, Debug)]
pub struct Meta {
    /// The life-cycle byte as stored (blocked is derived).
    pub stored_lc: LifeCycle,
    /// The answer to reset.
    pub atr: Vec<u8, MAX_ATR>,
    /// The serial number.
    pub serial: Vec<u8, MAX_SERIAL>,
    /// The validity window, once activated.
    pub validity: Option<Validity>,
    /// User PIN and PUK: policy and counter.
    pub pins: [PinState; 2],
    /// Which key slots hold a key.
    pub keys: [Option<KeySlot>; KEY_SLOTS],
    /// The file table.
    pub files: FileTable,
}

impl Meta {
    /// The life cycle as the outside sees it.
    pub fn life_cycle(&self) -> LifeCycle {
        match self.stored_lc {
            LifeCycle::Terminated => LifeCycle::Terminated,
            _ if self.pin(PinRef::Puk).is_blocked() => LifeCycle::Blocked,
            lc => lc,
        }
    }

    /// One PIN object's RAM view.
    pub fn pin(&self, r: PinRef) -> &PinState {
        let [user, puk] = &self.pins;
        match r {
            PinRef::User => user,
            PinRef::Puk => puk,
        }
    }

    /// A PIN counter as the outside sees it.
    pub fn tries(&self, r: PinRef) -> Tries {
        let p = self.pin(r);
        Tries { initialised: p.initialised, left: p.tries_left, max: p.policy.max_tries }
    }

    /// Read and check the metadata of the current bank.
    pub fn load<N: Nvm + ?Sized>(nvm: &N, banks: &Banks) -> Result<Meta, ImageError> {
        if banks.body_len < DATA_OFF {
            return Err(ImageError::Inconsistent("body shorter than its metadata"));
        }
        let mut raw = [0u8; DATA_OFF];
        banks.read_body(nvm, 0, &mut raw).map_err(ImageError::Nvm)?;
        Self::parse(&raw, banks.body_len - DATA_OFF)
    }

    fn parse(raw: &[u8; DATA_OFF], data_len: usize) -> Result<Meta, ImageError> {
        let bad = ImageError::Inconsistent;
        let stored_lc = LifeCycle::from_stored_byte(raw[LC_OFF]).ok_or(bad("life cycle byte"))?;
        let atr = bounded(&raw[ATR_OFF..], MAX_ATR).ok_or(bad("ATR length"))?;
        let serial = bounded(&raw[SERIAL_OFF..], MAX_SERIAL).ok_or(bad("serial length"))?;
        let validity = match raw[VALIDITY_OFF] {
            0 => None,
            1 => {
                let from = Date::from_bytes(field4(raw, VALIDITY_OFF + 1)).ok_or(bad("validity start"))?;
                let until = Date::from_bytes(field4(raw, VALIDITY_OFF + 5)).ok_or(bad("validity end"))?;
                Some(Validity { from, until })
            }
            _ => return Err(bad("validity flag")),
        };
        let mut pins = [PinState { policy: PinPolicy::UZI_PIN, initialised: false, tries_left: 0, len: 0 }; 2];
        for (i, pin) in pins.iter_mut().enumerate() {
            let r: &[u8; PIN_REC] = record(raw, PIN_OFF + i * PIN_REC).ok_or(bad("PIN record"))?;
            let charset = match r[5] {
                0 => Charset::Digits,
                1 => Charset::Printable,
                _ => return Err(bad("PIN character set")),
            };
            let policy = PinPolicy { min_len: r[1], max_len: r[2], max_tries: r[3], charset };
            let initialised = match r[0] {
                0 => false,
                1 => true,
                _ => return Err(bad("PIN initialised flag")),
            };
            if !policy.is_valid() || r[4] > policy.max_tries || r[6] as usize > MAX_PIN_LEN {
                return Err(bad("PIN policy or counter"));
            }
            *pin = PinState { policy, initialised, tries_left: r[4], len: r[6] };
        }
        let mut keys = [None; KEY_SLOTS];
        for (i, key) in keys.iter_mut().enumerate() {
            let at = KEY_OFF + i * KEY_REC;
            let r: &[u8; 4] = record(raw, at).ok_or(bad("key slot flags"))?;
            *key = match (r[0], r[1], KeyAlgorithm::from_byte(r[2])) {
                (0, _, _) => None,
                (1, 1, Some(algorithm)) => Some(KeySlot { origin: KeyOrigin::Generated, algorithm }),
                (1, 2, Some(algorithm)) => Some(KeySlot { origin: KeyOrigin::Imported, algorithm }),
                _ => return Err(bad("key slot flags")),
            };
        }
        let files = parse_files(raw, data_len)?;
        Ok(Meta { stored_lc, atr, serial, validity, pins, keys, files })
    }
}

/// `N` bytes of `raw` at `at`, as an array (so that constant indices into it need no bounds check).
fn record<const N: usize>(raw: &[u8], at: usize) -> Option<&[u8; N]> {
    raw.get(at..at.checked_add(N)?)?.try_into().ok()
}

fn field4(raw: &[u8], at: usize) -> [u8; 4] {
    record(raw, at).copied().unwrap_or([0; 4])
}

fn bounded<const N: usize>(at: &[u8], max: usize) -> Option<Vec<u8, N>> {
    let len = *at.first()? as usize;
    if len > max {
        return None;
    }
    Vec::from_slice(at.get(1..1 + len)?).ok()
}

fn access(b: u8) -> Result<Access, ImageError> {
    Access::from_byte(b).map_err(|_| ImageError::Inconsistent("file access byte"))
}

fn parse_files(raw: &[u8; DATA_OFF], data_len: usize) -> Result<FileTable, ImageError> {
    let bad = ImageError::Inconsistent;
    let count = raw[FILES_OFF] as usize;
    let data_used = u16::from_be_bytes([raw[FILES_OFF + 2], raw[FILES_OFF + 3]]);
    if count == 0 || count > MAX_FILES {
        return Err(bad("file count"));
    }
    if data_used as usize != data_len {
        return Err(bad("data area length"));
    }
    let mut table = FileTable { entries: Vec::new(), data_used };
    for i in 0..count {
        let r: &[u8; FILE_REC] = record(raw, FILES_OFF + 4 + i * FILE_REC).ok_or(bad("file count"))?;
        let id = FileId(u16::from_be_bytes([r[0], r[1]]));
        let parent = r[2];
        let kind = match r[3] {
            0x38 => {
                let name = r.get(12..).and_then(|n| bounded::<16>(n, 16)).ok_or(bad("DF name length"))?;
                FileKind::Df { name }
            }
            0x01 => {
                let size = u16::from_be_bytes([r[8], r[9]]);
                let offset = u16::from_be_bytes([r[10], r[11]]);
                if offset as usize + size as usize > data_used as usize {
                    return Err(bad("EF outside the data area"));
                }
                let sfi = if r[6] == 0 { None } else { Some(r[6]) };
                FileKind::Ef { size, offset, sfi }
            }
            _ => return Err(bad("file descriptor")),
        };
        let valid_parent = if i == 0 {
            id == FileId::MF && parent == 0 && matches!(kind, FileKind::Df { .. })
        } else {
            (parent as usize) < i
                && table.entries.get(parent as usize).is_some_and(FileEntry::is_df)
                && id != FileId::MF
        };
        if !valid_parent {
            return Err(bad("file tree"));
        }
        let entry = FileEntry { id, parent, kind, read: access(r[4])?, update: access(r[5])? };
        table.entries.push(entry).map_err(|_| bad("file count"))?;
    }
    Ok(table)
}

/// Encoders for the records, used to build `Patch`es.
pub mod encode {
    use super::*;

    /// Copy `bytes` into `dst` at `at`. Every caller writes a field whose length the record reserves (ATR ≤ 33,
    /// serial ≤ 16, PIN ≤ 16, DF name ≤ 16, all checked before a card is formatted or a value accepted).
    fn put(dst: &mut [u8], at: usize, bytes: &[u8]) {
        for (d, b) in dst.iter_mut().skip(at).zip(bytes) {
            *d = *b;
        }
    }

    /// A PIN record: initialised, policy, tries, length, value.
    pub fn pin_record(policy: &PinPolicy, initialised: bool, tries: u8, value: &[u8]) -> [u8; PIN_REC] {
        let mut r = [0u8; PIN_REC];
        r[0] = u8::from(initialised);
        r[1] = policy.min_len;
        r[2] = policy.max_len;
        r[3] = policy.max_tries;
        r[4] = tries;
        r[5] = match policy.charset {
            Charset::Digits => 0,
            Charset::Printable => 1,
        };
        let n = value.len().min(MAX_PIN_LEN);
        r[6] = n as u8;
        put(&mut r, 8, value.get(..n).unwrap_or(&[]));
        r
    }

    /// Where a PIN record starts.
    pub const fn pin_offset(r: PinRef) -> usize {
        PIN_OFF + r.index() * PIN_REC
    }

    /// Where a PIN's counter is.
    pub const fn pin_tries_offset(r: PinRef) -> usize {
        pin_offset(r) + 4
    }

    /// Where a PIN's value is.
    pub const fn pin_value_offset(r: PinRef) -> usize {
        pin_offset(r) + 8
    }

    /// Where a key slot starts.
    pub const fn key_offset(k: KeyRef) -> usize {
        KEY_OFF + k.index() * KEY_REC
    }

    /// Where a key slot's material starts.
    pub const fn key_material_offset(k: KeyRef) -> usize {
        key_offset(k) + 4
    }

    /// Key record: present, origin, algorithm, then the material at +4.
    pub fn key_record(slot: KeySlot, material: &Material) -> [u8; KEY_REC] {
        let mut r = [0u8; KEY_REC];
        r[0] = 1;
        r[1] = match slot.origin {
            KeyOrigin::Generated => 1,
            KeyOrigin::Imported => 2,
        };
        r[2] = slot.algorithm.to_byte();
        r[4..].copy_from_slice(&material.bytes);
        r
    }

    /// The validity record.
    pub fn validity(v: &Validity) -> [u8; 9] {
        let mut r = [0u8; 9];
        r[0] = 1;
        r[1..5].copy_from_slice(&v.from.to_bytes());
        r[5..9].copy_from_slice(&v.until.to_bytes());
        r
    }

    /// Where a file-table entry starts.
    pub const fn file_offset(index: usize) -> usize {
        FILES_OFF + 4 + index * FILE_REC
    }

    /// A file-table entry.
    pub fn file_record(e: &FileEntry) -> [u8; FILE_REC] {
        let mut r = [0u8; FILE_REC];
        r[..2].copy_from_slice(&e.id.0.to_be_bytes());
        r[2] = e.parent;
        r[4] = e.read.to_byte();
        r[5] = e.update.to_byte();
        match &e.kind {
            FileKind::Df { name } => {
                r[3] = 0x38;
                r[12] = name.len() as u8;
                put(&mut r, 13, name);
            }
            FileKind::Ef { size, offset, sfi } => {
                r[3] = 0x01;
                r[6] = sfi.unwrap_or(0);
                r[8..10].copy_from_slice(&size.to_be_bytes());
                r[10..12].copy_from_slice(&offset.to_be_bytes());
            }
        }
        r
    }

    /// File count and data bytes used.
    pub fn file_header(count: usize, data_used: u16) -> [u8; 4] {
        let [hi, lo] = data_used.to_be_bytes();
        [count as u8, 0, hi, lo]
    }

    /// The metadata of a blank card: MF only (named with `mf_name`), PIN and PUK policies without values.
    pub fn blank(atr: &[u8], serial: &[u8], pin: &PinPolicy, puk: &PinPolicy, mf_name: &DfName) -> [u8; DATA_OFF] {
        let mut raw = [0u8; DATA_OFF];
        raw[LC_OFF] = LifeCycle::Blank.to_byte();
        raw[ATR_OFF] = atr.len() as u8;
        put(&mut raw, ATR_OFF + 1, atr);
        raw[SERIAL_OFF] = serial.len() as u8;
        put(&mut raw, SERIAL_OFF + 1, serial);
        put(&mut raw, pin_offset(PinRef::User), &pin_record(pin, false, 0, &[]));
        put(&mut raw, pin_offset(PinRef::Puk), &pin_record(puk, false, 0, &[]));
        raw[FILES_OFF..FILES_OFF + 4].copy_from_slice(&file_header(1, 0));
        let mf = FileEntry {
            id: FileId::MF,
            parent: 0,
            kind: FileKind::Df { name: mf_name.clone() },
            read: Access::Always,
            update: Access::Personalisation,
        };
        put(&mut raw, file_offset(0), &file_record(&mf));
        raw
    }
}

/// Open an image: the current bank and its metadata. A damaged newest state is [`ImageError::Damaged`], with the
/// state the older bank would give, unless `rollback` is [`Rollback::Accept`]: then the older bank is opened.
pub fn open<N: Nvm + ?Sized>(nvm: &N, rollback: Rollback) -> Result<(Banks, Meta), ImageError> {
    let scan = Banks::scan(nvm)?;
    match scan.choose(rollback) {
        Ok(banks) => Ok((banks, Meta::load(nvm, &banks)?)),
        Err(ImageError::Damaged { bank, sequence, .. }) => {
            let fallback = scan.current.and_then(|b| Some(bank_state(&b, &Meta::load(nvm, &b).ok()?)));
            Err(ImageError::Damaged { bank, sequence, fallback })
        }
        Err(e) => Err(e),
    }
}

fn bank_state(banks: &Banks, meta: &Meta) -> BankState {
    BankState {
        bank: banks.active,
        sequence: banks.seq,
        life_cycle: meta.life_cycle(),
        pin: meta.tries(PinRef::User),
        puk: meta.tries(PinRef::Puk),
    }
}

/// What a host may learn of an image file without running the card.
#[derive(Clone, Debug)]
pub struct ImageSummary {
    /// The current bank's sequence number.
    pub sequence: u32,
    /// Its body length.
    pub body_len: usize,
    /// The life cycle it holds.
    pub life_cycle: LifeCycle,
    /// The serial number.
    pub serial: Vec<u8, MAX_SERIAL>,
    /// The user PIN counter.
    pub pin: Tries,
    /// The PUK counter.
    pub puk: Tries,
}

/// Check an image (the NVM bytes of a card) without a card: length, magic, version, checksum, invariants. A
/// damaged newest state is [`ImageError::Damaged`], as at boot.
pub fn inspect(nvm_bytes: &[u8]) -> Result<ImageSummary, ImageError> {
    inspect_with(nvm_bytes, Rollback::Refuse)
}

/// [`inspect`], with `rollback` deciding about a damaged newest state as [`open`] does.
pub fn inspect_with(nvm_bytes: &[u8], rollback: Rollback) -> Result<ImageSummary, ImageError> {
    let (banks, meta) = open(&SliceNvm(nvm_bytes), rollback)?;
    Ok(ImageSummary {
        sequence: banks.seq,
        body_len: banks.body_len,
        life_cycle: meta.life_cycle(),
        pin: meta.tries(PinRef::User),
        puk: meta.tries(PinRef::Puk),
        serial: meta.serial,
    })
}

/// One bank of an image, for a host to show: no secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BankReport {
    /// The bank, 0 or 1.
    pub bank: usize,
    /// Valid, damaged, torn, no header, other version.
    pub status: BankStatus,
    /// Its header's sequence number, if it has a valid header.
    pub sequence: Option<u32>,
    /// Header copies that check, 0 to 2 (one is enough).
    pub valid_copies: u8,
    /// The bank `Card::boot` uses; with a damaged newer bank, the one a boot accepting the rollback uses.
    pub current: bool,
    /// What its metadata says, when the bank has a header and its metadata parses. For a damaged or torn bank
    /// this is unverified: the body fails its checksum.
    pub state: Option<BankState>,
}

/// Both banks of an image, as boot judges them, with the state each holds. Only reads.
pub fn inspect_banks(nvm_bytes: &[u8]) -> Result<[BankReport; 2], ImageError> {
    let nvm = SliceNvm(nvm_bytes);
    let scan = Banks::scan(&nvm)?;
    Ok(scan.banks.map(|check| {
        let state = check.header.and_then(|b| Some(bank_state(&b, &Meta::load(&nvm, &b).ok()?)));
        BankReport {
            bank: check.bank,
            status: scan.status(check.bank),
            sequence: check.sequence(),
            valid_copies: check.valid_copies,
            current: scan.current.is_some_and(|c| c.active == check.bank),
            state,
        }
    }))
}
