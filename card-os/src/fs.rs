//! The file system (ISO/IEC 7816-4 §7): MF, DFs (also by DF name), transparent EFs, FCP/FCI.
//!
//! The file *table* lives in RAM (parsed from the image at boot); file *contents* stay in the NVM image and are
//! read from it directly, like EEPROM on a real chip. The table is a fixed-capacity array indexed by position;
//! a file's parent always comes before it.

use heapless::Vec;

use crate::status::Status;

/// Most files a card holds (MF included).
pub const MAX_FILES: usize = 40;
/// Longest DF name (ISO 7816-4 §8.2.1.2: 1 to 16 bytes).
pub const MAX_DF_NAME: usize = 16;
/// Deepest path SELECT accepts.
pub const MAX_PATH: usize = 8;

/// A file identifier (ISO 7816-4 §7.1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct FileId(pub u16);

impl FileId {
    /// The master file.
    pub const MF: FileId = FileId(0x3F00);
    /// `FFFF` is reserved (ISO 7816-4 §7.1.1).
    pub const RESERVED: FileId = FileId(0xFFFF);
    /// `3FFF` is reserved for "current DF" in paths.
    pub const CURRENT_DF: FileId = FileId(0x3FFF);
}

/// A DF name (application identifier).
pub type DfName = Vec<u8, MAX_DF_NAME>;

/// A path of file identifiers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Path(pub Vec<FileId, MAX_PATH>);

impl Path {
    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<Self, Status> {
        let mut ids = Vec::new();
        for pair in bytes.chunks_exact(2) {
            ids.push(FileId(u16::from_be_bytes([pair[0], pair[1]]))).map_err(|_| Status::WrongLength)?;
        }
        Ok(Path(ids))
    }
}

/// How SELECT names its target (ISO 7816-4 table 39, P1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SelectBy {
    /// P1 `00`: MF, DF or EF by FID.
    Id(FileId),
    /// P1 `01`: a DF under the current DF.
    ChildDf(FileId),
    /// P1 `02`: an EF under the current DF.
    Ef(FileId),
    /// P1 `03`: the parent of the current DF.
    Parent,
    /// P1 `04`: a DF by name.
    DfName(DfName),
    /// P1 `08`: a path from the MF (without `3F00`).
    PathFromMf(Path),
    /// P1 `09`: a path from the current DF.
    PathFromCurrent(Path),
}

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

/// Who may read or update a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// No condition.
    Always,
    /// The user PIN has been verified in this session.
    Pin,
    /// Only while the card is being personalised (blank or personalised, not yet operational).
    Personalisation,
    /// Nobody.
    Never,
}

impl Access {
    /// The byte used in FCP tag `86` and in the image.
    /// The byte of tag `86` (CREATE FILE) and of the image; unknown bytes answer `6A80`.
    pub(crate) fn from_byte(b: u8) -> Result<Access, Status> {
        match b {
            0x00 => Ok(Access::Always),
            0x01 => Ok(Access::Pin),
            0x02 => Ok(Access::Personalisation),
            0xFF => Ok(Access::Never),
            _ => Err(Status::IncorrectData),
        }
    }

    pub const fn to_byte(self) -> u8 {
        match self {
            Access::Always => 0x00,
            Access::Pin => 0x01,
            Access::Personalisation => 0x02,
            Access::Never => 0xFF,
        }
    }
}

/// DF or transparent EF.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// A dedicated file, with an optional DF name.
    Df { name: DfName },
    /// A transparent EF: `size` bytes at `offset` in the image's data area.
    Ef { size: u16, offset: u16, sfi: Option<u8> },
}

/// One entry of the file table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileEntry {
    pub id: FileId,
    /// Index of the parent DF in the table; the MF is its own parent.
    pub parent: u8,
    pub kind: FileKind,
    pub read: Access,
    pub update: Access,
}

impl FileEntry {
    pub fn is_df(&self) -> bool {
        matches!(self.kind, FileKind::Df { .. })
    }
}

/// What CREATE FILE asks for (its FCP, ISO 7816-4 §7.4.3 / 7816-9 §6.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileSpec {
    pub id: FileId,
    pub kind: SpecKind,
    pub read: Access,
    pub update: Access,
}

/// DF or EF, as requested by CREATE FILE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SpecKind {
    Df { name: DfName },
    Ef { size: u16, sfi: Option<u8> },
}

impl FileSpec {
    /// Parse `62 L { 82, 83, 80, 84, 86, 88 }`.
    pub(crate) fn parse(data: &[u8]) -> Result<Self, Status> {
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

/// The file table: every file's identity, place and access conditions.
#[derive(Clone, Debug, Default)]
pub struct FileTable {
    pub entries: Vec<FileEntry, MAX_FILES>,
    /// Bytes of the data area in use.
    pub data_used: u16,
}

/// Index of a file in the table.
pub type FileIndex = u8;

impl FileTable {
    /// The MF is always entry 0.
    pub const MF: FileIndex = 0;

    pub fn get(&self, index: FileIndex) -> Option<&FileEntry> {
        self.entries.get(index as usize)
    }

    fn children(&self, df: FileIndex) -> impl Iterator<Item = (FileIndex, &FileEntry)> {
        self.entries.iter().enumerate().skip(1).filter(move |(_, e)| e.parent == df).map(|(i, e)| (i as FileIndex, e))
    }

    /// A direct child of `df` with this FID.
    pub fn child(&self, df: FileIndex, id: FileId) -> Option<FileIndex> {
        self.children(df).find(|(_, e)| e.id == id).map(|(i, _)| i)
    }

    /// The parent DF of a file (the MF for the MF).
    pub fn parent(&self, index: FileIndex) -> FileIndex {
        self.get(index).map_or(Self::MF, |e| e.parent)
    }

    /// A DF with this name, anywhere on the card.
    pub fn by_name(&self, name: &[u8]) -> Option<FileIndex> {
        self.entries
            .iter()
            .position(|e| matches!(&e.kind, FileKind::Df { name: n } if !n.is_empty() && n.as_slice() == name))
            .map(|i| i as FileIndex)
    }

    /// An EF of the DF with this short EF identifier.
    pub fn by_sfi(&self, df: FileIndex, sfi: u8) -> Option<FileIndex> {
        self.children(df).find(|(_, e)| matches!(e.kind, FileKind::Ef { sfi: Some(s), .. } if s == sfi)).map(|(i, _)| i)
    }

    /// Resolve a SELECT target, starting from the current DF (ISO 7816-4 §7.1.1 search order for P1 `00`:
    /// the MF, children of the current DF, the current DF itself, its parent, the parent's children).
    pub fn resolve(&self, current_df: FileIndex, by: &SelectBy) -> Result<FileIndex, Status> {
        let found = match by {
            SelectBy::Id(id) if *id == FileId::MF => Some(Self::MF),
            SelectBy::Id(id) => {
                let parent = self.parent(current_df);
                self.child(current_df, *id)
                    .or_else(|| self.get(current_df).filter(|e| e.id == *id).map(|_| current_df))
                    .or_else(|| self.get(parent).filter(|e| e.id == *id).map(|_| parent))
                    .or_else(|| self.child(parent, *id))
            }
            SelectBy::ChildDf(id) => self.child(current_df, *id).filter(|&i| self.entries[i as usize].is_df()),
            SelectBy::Ef(id) => self.child(current_df, *id).filter(|&i| !self.entries[i as usize].is_df()),
            SelectBy::Parent => Some(self.parent(current_df)),
            SelectBy::DfName(name) => self.by_name(name),
            SelectBy::PathFromMf(path) => {
                // OpenSC strips a leading 3F00; tolerate it when a client sends it anyway.
                let ids = match path.0.split_first() {
                    Some((first, rest)) if *first == FileId::MF => rest,
                    _ => path.0.as_slice(),
                };
                self.walk(Self::MF, ids)
            }
            SelectBy::PathFromCurrent(path) => self.walk(current_df, &path.0),
        };
        found.ok_or(Status::FileNotFound)
    }

    fn walk(&self, start: FileIndex, ids: &[FileId]) -> Option<FileIndex> {
        let mut at = start;
        for (n, id) in ids.iter().enumerate() {
            if !self.get(at)?.is_df() {
                return None;
            }
            at = if *id == FileId::CURRENT_DF && n == 0 { at } else { self.child(at, *id)? };
        }
        Some(at)
    }

    /// FCP (`62`) or FCI (`6F`) template for a file (ISO 7816-4 §7.4, table 12).
    pub fn control_parameters(
        &self,
        index: FileIndex,
        template: u8,
        life_cycle: u8,
        out: &mut Vec<u8, 64>,
    ) -> Result<(), Status> {
        let entry = self.get(index).ok_or(Status::FileNotFound)?;
        let mut body: Vec<u8, 62> = Vec::new();
        let mut put = |bytes: &[u8]| body.extend_from_slice(bytes).map_err(|_| Status::NoPreciseDiagnosis);
        match &entry.kind {
            FileKind::Ef { size, sfi, .. } => {
                put(&[0x80, 0x02])?;
                put(&size.to_be_bytes())?;
                put(&[0x82, 0x01, 0x01])?;
                put(&[0x83, 0x02])?;
                put(&entry.id.0.to_be_bytes())?;
                if let Some(s) = sfi {
                    put(&[0x88, 0x01, *s])?;
                }
            }
            FileKind::Df { name } => {
                put(&[0x82, 0x01, 0x38])?;
                put(&[0x83, 0x02])?;
                put(&entry.id.0.to_be_bytes())?;
                if !name.is_empty() {
                    put(&[0x84, name.len() as u8])?;
                    put(name)?;
                }
            }
        }
        put(&[0x86, 0x02, entry.read.to_byte(), entry.update.to_byte()])?;
        put(&[0x8A, 0x01, life_cycle])?;
        out.clear();
        out.extend_from_slice(&[template, body.len() as u8]).map_err(|_| Status::NoPreciseDiagnosis)?;
        out.extend_from_slice(&body).map_err(|_| Status::NoPreciseDiagnosis)
    }
}

use crate::card::{CardState, MAX_ANSWER};
use crate::image::{DATA_CAP, DATA_OFF, encode};
use crate::nvm::Patch;
use crate::platform::Platform;
use crate::profile::{APPLET_INFO, ISOAPPLET_AID};

impl CardState {
    fn may(&self, access: Access) -> bool {
        match access {
            Access::Always => true,
            Access::Pin => self.session.pin_verified && self.meta.life_cycle() != crate::lifecycle::LifeCycle::Blocked,
            Access::Personalisation => self.meta.life_cycle().is_personalisation(),
            Access::Never => false,
        }
    }

    /// SELECT (ISO 7816-4 §11.2.2). Selecting the IsoApplet AID answers its version bytes, as IsoApplet does.
    pub(crate) fn select(
        &mut self,
        by: &SelectBy,
        what: SelectAnswer,
        answer: &mut Vec<u8, MAX_ANSWER>,
    ) -> Result<(), Status> {
        let index = self.meta.files.resolve(self.session.current_df, by)?;
        let entry = self.meta.files.get(index).ok_or(Status::FileNotFound)?;
        if entry.is_df() {
            self.session.current_df = index;
            self.session.current_ef = None;
        } else {
            self.session.current_df = entry.parent;
            self.session.current_ef = Some(index);
        }
        let applet = matches!(by, SelectBy::DfName(name) if name.as_slice() == ISOAPPLET_AID);
        let template = match what {
            SelectAnswer::Nothing => return Ok(()),
            _ if applet => return answer.extend_from_slice(&APPLET_INFO).map_err(|_| Status::NoPreciseDiagnosis),
            SelectAnswer::Fci => 0x6F,
            SelectAnswer::Fcp => 0x62,
        };
        let mut fcp: Vec<u8, 64> = Vec::new();
        self.meta.files.control_parameters(index, template, self.meta.life_cycle().to_byte(), &mut fcp)?;
        answer.extend_from_slice(&fcp).map_err(|_| Status::NoPreciseDiagnosis)
    }

    /// The EF a READ/UPDATE BINARY addresses: by SFI (which selects it) or the current EF.
    fn binary_target(&mut self, sfi: Option<u8>) -> Result<(FileIndex, u16, u16), Status> {
        let index = match sfi {
            Some(s) => {
                let i = self.meta.files.by_sfi(self.session.current_df, s).ok_or(Status::FileNotFound)?;
                self.session.current_ef = Some(i);
                i
            }
            None => self.session.current_ef.ok_or(Status::NoCurrentEf)?,
        };
        match self.meta.files.get(index).map(|e| &e.kind) {
            Some(FileKind::Ef { size, offset, .. }) => Ok((index, *size, *offset)),
            Some(FileKind::Df { .. }) => Err(Status::IncompatibleFileStructure),
            None => Err(Status::NoCurrentEf),
        }
    }

    /// READ BINARY (ISO 7816-4 §11.3.3): `6282` with the data when the file ends before Le bytes.
    pub(crate) fn read_binary<P: Platform>(
        &mut self,
        platform: &P,
        sfi: Option<u8>,
        offset: usize,
        ne: usize,
        answer: &mut Vec<u8, MAX_ANSWER>,
    ) -> Result<(), Status> {
        let (index, size, start) = self.binary_target(sfi)?;
        let read = self.meta.files.entries[index as usize].read;
        if !self.may(read) {
            return Err(Status::SecurityStatusNotSatisfied);
        }
        let size = size as usize;
        if offset >= size {
            return Err(Status::OffsetOutsideFile);
        }
        let n = ne.min(size - offset).min(MAX_ANSWER);
        answer.resize(n, 0).map_err(|_| Status::NoPreciseDiagnosis)?;
        self.read_body(platform, DATA_OFF + start as usize + offset, answer)?;
        if ne > size - offset && n == size - offset { Err(Status::EndOfFileBeforeLe) } else { Ok(()) }
    }

    /// UPDATE BINARY (ISO 7816-4 §11.3.5), atomic against power loss.
    pub(crate) fn update_binary<P: Platform>(
        &mut self,
        platform: &mut P,
        sfi: Option<u8>,
        offset: usize,
        data: &[u8],
    ) -> Result<(), Status> {
        let (index, size, start) = self.binary_target(sfi)?;
        let update = self.meta.files.entries[index as usize].update;
        if !self.may(update) {
            return Err(Status::SecurityStatusNotSatisfied);
        }
        if offset >= size as usize || offset + data.len() > size as usize {
            return Err(Status::OffsetOutsideFile);
        }
        let patch = Patch { offset: DATA_OFF + start as usize + offset, bytes: data };
        self.commit_meta(platform, &[patch])
    }

    /// CREATE FILE (ISO 7816-9 §6.1), personalisation only; the new file is selected.
    pub(crate) fn create_file<P: Platform>(&mut self, platform: &mut P, spec: &FileSpec) -> Result<(), Status> {
        self.require_personalisation()?;
        let files = &self.meta.files;
        let df = self.session.current_df;
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
        let lc = self.personalised_lc();
        let patches = [
            Patch { offset: encode::file_offset(index), bytes: &record },
            Patch { offset: crate::image::FILES_OFF, bytes: &header },
            Patch { offset: crate::image::LC_OFF, bytes: &lc },
        ];
        self.commit(platform, data_used, &patches)?;
        if is_df {
            self.session.current_df = index as FileIndex;
            self.session.current_ef = None;
        } else {
            self.session.current_ef = Some(index as FileIndex);
        }
        Ok(())
    }
}
