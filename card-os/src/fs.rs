//! The file system (ISO/IEC 7816-4 §7): MF, DFs (also by DF name), transparent EFs, FCP/FCI.
//!
//! The file *table* lives in RAM (parsed from the image at boot); file *contents* stay in the NVM image and are
//! read from it directly, like EEPROM on a real chip. The table is a fixed-capacity array indexed by position;
//! a file's parent always comes before it. [`SelectBy`] is how SELECT names a file; [`FileTable::resolve`]
//! finds it.

use heapless::Vec;

use crate::status::Status;
use crate::types::{Access, DfName, FileId, Path};

/// Most files a card holds (MF included).
pub const MAX_FILES: usize = 40;

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

/// DF or transparent EF.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// A dedicated file, with an optional DF name.
    Df {
        /// The DF name (empty: none).
        name: DfName,
    },
    /// A transparent EF: `size` bytes at `offset` in the image's data area.
    Ef {
        /// Bytes.
        size: u16,
        /// Where its contents start in the data area.
        offset: u16,
        /// Short EF identifier.
        sfi: Option<u8>,
    },
}

/// One entry of the file table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileEntry {
    /// The FID.
    pub id: FileId,
    /// Index of the parent DF in the table; the MF is its own parent.
    pub parent: u8,
    /// DF or EF.
    pub kind: FileKind,
    /// Read access condition.
    pub read: Access,
    /// Update access condition.
    pub update: Access,
}

impl FileEntry {
    /// A dedicated file (not an EF).
    pub fn is_df(&self) -> bool {
        matches!(self.kind, FileKind::Df { .. })
    }
}

/// The file table: every file's identity, place and access conditions.
#[derive(Clone, Debug, Default)]
pub struct FileTable {
    /// Every file, parents before children; the MF first.
    pub entries: Vec<FileEntry, MAX_FILES>,
    /// Bytes of the data area in use.
    pub data_used: u16,
}

/// Index of a file in the table.
pub type FileIndex = u8;

impl FileTable {
    /// The MF is always entry 0.
    pub const MF: FileIndex = 0;

    /// The entry at an index.
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
            SelectBy::ChildDf(id) => self.child(current_df, *id).filter(|&i| self.get(i).is_some_and(FileEntry::is_df)),
            SelectBy::Ef(id) => self.child(current_df, *id).filter(|&i| self.get(i).is_some_and(|e| !e.is_df())),
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
