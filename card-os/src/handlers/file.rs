//! SELECT, READ BINARY, UPDATE BINARY and CREATE FILE (ISO 7816-4 §11.2.2, §11.3.3, §11.3.5; ISO 7816-9 §6.1).

use heapless::Vec;

use crate::fs::{FileEntry, FileIndex, FileKind, MAX_FILES, SelectBy};
use crate::image::{DATA_CAP, DATA_OFF, FILES_OFF, encode};
use crate::nvm::Patch;
use crate::platform::Platform;
use crate::profile::{APPLET_INFO, ISOAPPLET_AID};
use crate::state::{Answer, CardState};
use crate::status::Status;
use crate::types::{Access, DfName, FileId, LifeCycle};

/// What SELECT answers (ISO 7816-4 table 40, P2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SelectAnswer {
    /// `00`: FCI template `6F`.
    Fci,
    /// `04`: FCP template `62`.
    Fcp,
    /// `0C`: no data.
    Nothing,
}

impl TryFrom<u8> for SelectAnswer {
    type Error = Status;

    fn try_from(p2: u8) -> Result<Self, Status> {
        match p2 {
            0x00 => Ok(SelectAnswer::Fci),
            0x04 => Ok(SelectAnswer::Fcp),
            0x0C => Ok(SelectAnswer::Nothing),
            _ => Err(Status::IncorrectP1P2),
        }
    }
}

/// What CREATE FILE asks for (its FCP, ISO 7816-4 §7.4.3 / 7816-9 §6.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileSpec {
    /// The new file's FID.
    pub id: FileId,
    /// DF or EF.
    pub kind: SpecKind,
    /// Read access condition.
    pub read: Access,
    /// Update access condition.
    pub update: Access,
}

/// DF or EF, as requested by CREATE FILE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SpecKind {
    /// A DF, with an optional name.
    Df {
        /// The DF name (empty: none).
        name: DfName,
    },
    /// A transparent EF.
    Ef {
        /// Bytes.
        size: u16,
        /// Short EF identifier.
        sfi: Option<u8>,
    },
}

impl FileSpec {
    /// Parse `62 L { 82, 83, 80, 84, 86, 88 }`; anything else answers `6A80`.
    pub fn parse(data: &[u8]) -> Result<Self, Status> {
        let inner = match data {
            [0x62, len, rest @ ..] if *len as usize == rest.len() && *len < 0x80 => rest,
            _ => return Err(Status::IncorrectData),
        };
        let (mut descriptor, mut id, mut size, mut name, mut access, mut sfi) = (None, None, None, None, None, None);
        let mut rest = inner;
        while let [tag, len, tail @ ..] = rest {
            let len = *len as usize;
            if len > 0x7F || tail.len() < len {
                return Err(Status::IncorrectData);
            }
            let (value, next) = tail.split_at(len);
            match (*tag, value) {
                (0x82, [d, ..]) => descriptor = Some(*d),
                (0x83, [hi, lo]) => id = Some(FileId(u16::from_be_bytes([*hi, *lo]))),
                (0x80, [hi, lo]) => size = Some(u16::from_be_bytes([*hi, *lo])),
                (0x84, n) if !n.is_empty() => name = Some(DfName::from_slice(n).map_err(|_| Status::IncorrectData)?),
                (0x86, [r, u]) => access = Some((Access::from_byte(*r)?, Access::from_byte(*u)?)),
                (0x88, [s]) if (1..=30).contains(s) => sfi = Some(*s),
                (0x8A, _) => {}
                _ => return Err(Status::IncorrectData),
            }
            rest = next;
        }
        if !rest.is_empty() {
            return Err(Status::IncorrectData);
        }
        let id = id.ok_or(Status::IncorrectData)?;
        if id == FileId::MF || id == FileId::RESERVED || id == FileId::CURRENT_DF {
            return Err(Status::IncorrectData);
        }
        let (read, update) = access.unwrap_or((Access::Always, Access::Personalisation));
        let kind = match descriptor {
            Some(0x38) if size.is_none() && sfi.is_none() => SpecKind::Df { name: name.unwrap_or_default() },
            Some(0x01) if name.is_none() => SpecKind::Ef { size: size.ok_or(Status::IncorrectData)?, sfi },
            _ => return Err(Status::IncorrectData),
        };
        Ok(FileSpec { id, kind, read, update })
    }
}

/// The access condition holds in this session.
fn may(state: &CardState, access: Access) -> bool {
    match access {
        Access::Always => true,
        Access::Pin => state.session.pin_verified && state.meta.life_cycle() != LifeCycle::Blocked,
        Access::Personalisation => state.meta.life_cycle().is_personalisation(),
        Access::Never => false,
    }
}

/// SELECT (ISO 7816-4 §11.2.2). Selecting the IsoApplet AID answers its version bytes, as IsoApplet does.
pub fn select(state: &mut CardState, by: &SelectBy, what: SelectAnswer, answer: &mut Answer) -> Result<(), Status> {
    let index = state.meta.files.resolve(state.session.current_df, by)?;
    let entry = state.meta.files.get(index).ok_or(Status::FileNotFound)?;
    if entry.is_df() {
        state.session.current_df = index;
        state.session.current_ef = None;
    } else {
        state.session.current_df = entry.parent;
        state.session.current_ef = Some(index);
    }
    let applet = matches!(by, SelectBy::DfName(name) if name.as_slice() == ISOAPPLET_AID);
    let template = match what {
        SelectAnswer::Nothing => return Ok(()),
        _ if applet => return answer.extend_from_slice(&APPLET_INFO).map_err(|_| Status::NoPreciseDiagnosis),
        SelectAnswer::Fci => 0x6F,
        SelectAnswer::Fcp => 0x62,
    };
    let mut fcp: Vec<u8, 64> = Vec::new();
    state.meta.files.control_parameters(index, template, state.meta.life_cycle().to_byte(), &mut fcp)?;
    answer.extend_from_slice(&fcp).map_err(|_| Status::NoPreciseDiagnosis)
}

/// The EF a READ/UPDATE BINARY addresses: by SFI (which selects it) or the current EF. Answers its index, size,
/// data offset and access conditions.
fn binary_target(state: &mut CardState, sfi: Option<u8>) -> Result<(u16, u16, Access, Access), Status> {
    let index = match sfi {
        Some(s) => {
            let i = state.meta.files.by_sfi(state.session.current_df, s).ok_or(Status::FileNotFound)?;
            state.session.current_ef = Some(i);
            i
        }
        None => state.session.current_ef.ok_or(Status::NoCurrentEf)?,
    };
    match state.meta.files.get(index) {
        Some(FileEntry { kind: FileKind::Ef { size, offset, .. }, read, update, .. }) => {
            Ok((*size, *offset, *read, *update))
        }
        Some(FileEntry { kind: FileKind::Df { .. }, .. }) => Err(Status::IncompatibleFileStructure),
        None => Err(Status::NoCurrentEf),
    }
}

/// READ BINARY (ISO 7816-4 §11.3.3): `6282` with the data when the file ends before Le bytes.
pub fn read_binary<P: Platform>(
    state: &mut CardState,
    platform: &P,
    sfi: Option<u8>,
    offset: usize,
    ne: usize,
    answer: &mut Answer,
) -> Result<(), Status> {
    let (size, start, read, _) = binary_target(state, sfi)?;
    if !may(state, read) {
        return Err(Status::SecurityStatusNotSatisfied);
    }
    let size = size as usize;
    if offset >= size {
        return Err(Status::OffsetOutsideFile);
    }
    let n = ne.min(size - offset).min(answer.capacity());
    answer.resize(n, 0).map_err(|_| Status::NoPreciseDiagnosis)?;
    state.read_body(platform, DATA_OFF + start as usize + offset, answer)?;
    if ne > size - offset && n == size - offset { Err(Status::EndOfFileBeforeLe) } else { Ok(()) }
}

/// UPDATE BINARY (ISO 7816-4 §11.3.5), atomic against power loss.
pub fn update_binary<P: Platform>(
    state: &mut CardState,
    platform: &mut P,
    sfi: Option<u8>,
    offset: usize,
    data: &[u8],
) -> Result<(), Status> {
    let (size, start, _, update) = binary_target(state, sfi)?;
    if !may(state, update) {
        return Err(Status::SecurityStatusNotSatisfied);
    }
    if offset >= size as usize || offset + data.len() > size as usize {
        return Err(Status::OffsetOutsideFile);
    }
    let patch = Patch { offset: DATA_OFF + start as usize + offset, bytes: data };
    state.commit_meta(platform, &[patch])
}

/// CREATE FILE (ISO 7816-9 §6.1), personalisation only (the life-cycle gate checks); the new file is selected.
pub fn create_file<P: Platform>(state: &mut CardState, platform: &mut P, spec: &FileSpec) -> Result<(), Status> {
    let files = &state.meta.files;
    let df: FileIndex = state.session.current_df;
    if files.child(df, spec.id).is_some() {
        return Err(Status::FileAlreadyExists);
    }
    if files.entries.len() >= MAX_FILES {
        return Err(Status::NotEnoughMemory);
    }
    let mut data_used = files.data_used;
    let kind = match &spec.kind {
        SpecKind::Df { name } => {
            if !name.is_empty() && files.by_name(name).is_some() {
                return Err(Status::DfNameAlreadyExists);
            }
            FileKind::Df { name: name.clone() }
        }
        SpecKind::Ef { size, sfi } => {
            if sfi.is_some_and(|s| files.by_sfi(df, s).is_some()) {
                return Err(Status::FileAlreadyExists);
            }
            let end = data_used as usize + *size as usize;
            if end > DATA_CAP {
                return Err(Status::NotEnoughMemory);
            }
            let offset = data_used;
            data_used = end as u16;
            FileKind::Ef { size: *size, offset, sfi: *sfi }
        }
    };
    let is_df = matches!(kind, FileKind::Df { .. });
    let entry = FileEntry { id: spec.id, parent: df, kind, read: spec.read, update: spec.update };
    let index = files.entries.len();
    let record = encode::file_record(&entry);
    let header = encode::file_header(index + 1, data_used);
    let patches = [
        Patch { offset: encode::file_offset(index), bytes: &record },
        Patch { offset: FILES_OFF, bytes: &header },
        state.personalised_lc(),
    ];
    state.commit(platform, data_used, &patches)?;
    if is_df {
        state.session.current_df = index as FileIndex;
        state.session.current_ef = None;
    } else {
        state.session.current_ef = Some(index as FileIndex);
    }
    Ok(())
}
