//! Card images on disk: a file holds exactly the card's NVM bytes, nothing else.
//!
//! Loading checks the bytes with `card_os::image::inspect` (length, magic, version, checksum) and fails with a
//! message that names the file, the problem and the fix. A missing or damaged image is never replaced by a fresh
//! card and a failed load never writes to the file: the image may hold the only copy of a personalised card.
//! An image whose newest state is damaged is refused ([`ImageFileError::Damaged`]) rather than opened at the older
//! state it still holds, which could give back PIN tries: only [`open_with`] and [`Rollback::Accept`], asked for
//! by a person (`--accept-rollback`), open that.
//! Saving is atomic (temporary file, fsync, rename, fsync of the directory), so a crash leaves the old image or
//! the new one, never a mix. A process killed inside a save leaves its temporary file (`.NAME.PID.N.tmp`, a
//! copy of the card with its PIN and keys); the next successful save of that image removes the ones whose process
//! is gone (on Linux, where `/proc` tells).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use card_os::image::BankReport;
use card_os::nvm::BankState;
pub use card_os::nvm::Rollback;
use card_os::{Card, ImageError, LifeCycle, NVM_SIZE};

use crate::platform::{HostPlatform, nvm_from_bytes};

/// What the user can do about an unusable image; part of every "invalid image" message.
const FIX: &str = "restore it from a backup or re-personalise";

/// Loading or saving a card image failed. Messages name the file and say what to do.
#[derive(Debug, thiserror::Error)]
pub enum ImageFileError {
    /// The file does not exist. A new card is never made in its place.
    #[error("card image `{}` does not exist: check the path, or personalise a new card to that path", path.display())]
    NotFound {
        /// The image file.
        path: PathBuf,
    },
    /// The file could not be read or written.
    #[error("cannot {action} card image `{}`: {source}", path.display())]
    Io {
        /// The image file.
        path: PathBuf,
        /// "read", "write", ...
        action: &'static str,
        /// The OS error.
        source: io::Error,
    },
    /// The image is of an older format this build no longer reads (version 1: P-256-only key slots, before RSA).
    /// It is refused, never upgraded or replaced in place.
    #[error(
        "card image `{}` has image format version {found}, from before zorgcard's RSA-2048 keys; this build reads \
         version {supported} and leaves the file as it is: recreate the card with `zorgcard card new --profile \
         <PROFILE> --out {}` (new keys and certificates)",
        path.display(),
        path.display()
    )]
    OldFormat {
        /// The image file.
        path: PathBuf,
        /// The version in the file.
        found: u16,
        /// The version this build reads.
        supported: u16,
    },
    /// The newest state in the image was written completely and damaged since. It is refused rather than opened at
    /// the older state, which could give back PIN or PUK tries; the message names that state and how to open it.
    #[error(
        "card image `{}` {}: {}",
        path.display(),
        ImageError::Damaged { bank: *bank, sequence: *sequence, fallback: *fallback },
        damaged_fix(fallback.as_ref())
    )]
    Damaged {
        /// The image file.
        path: PathBuf,
        /// The bank holding the damaged newest state.
        bank: usize,
        /// Its sequence number.
        sequence: u32,
        /// The state the other bank would give, if it is usable.
        fallback: Option<BankState>,
    },
    /// The bytes are not a card this build can boot: truncated, bad magic, other version, bad checksum.
    #[error("card image `{}` {problem}: {FIX}", path.display())]
    Invalid {
        /// The image file.
        path: PathBuf,
        /// card-os's description of the problem (`card_os::ImageError`'s `Display`).
        problem: String,
    },
}

impl ImageFileError {
    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            Self::NotFound { path }
            | Self::Io { path, .. }
            | Self::OldFormat { path, .. }
            | Self::Damaged { path, .. }
            | Self::Invalid { path, .. } => path,
        }
    }

    fn io(path: &Path, action: &'static str, source: io::Error) -> Self {
        Self::Io { path: path.to_path_buf(), action, source }
    }
}

/// What to do about a damaged newest state.
fn damaged_fix(fallback: Option<&BankState>) -> &'static str {
    match fallback {
        Some(older) if older.life_cycle == LifeCycle::Personalised => {
            "restore the file from a backup, or open the older state with `--accept-rollback` (an unfinished \
             personalisation: the card is blank again at its next reset)"
        }
        Some(_) => "restore the file from a backup, or open the older state with `--accept-rollback`",
        None => FIX,
    }
}

/// Reads a card image and checks it with `card_os::image::inspect`. The file is only read, never modified.
pub fn load(path: impl AsRef<Path>) -> Result<Vec<u8>, ImageFileError> {
    load_with(path, Rollback::Refuse)
}

/// [`load`], with `rollback` deciding about a damaged newest state (`Rollback::Accept`: the older bank is checked
/// instead). The file is only read, never modified.
pub fn load_with(path: impl AsRef<Path>, rollback: Rollback) -> Result<Vec<u8>, ImageFileError> {
    let path = path.as_ref();
    let bytes = read(path)?;
    card_os::image::inspect_with(&bytes, rollback).map_err(|e| image_error(path, e))?;
    // inspect() accepts a longer buffer (an NVM may be bigger than a card needs); a file must be exact.
    if bytes.len() != NVM_SIZE {
        let problem = format!("has {} bytes, not the {NVM_SIZE} of a card image", bytes.len());
        return Err(invalid(path, problem));
    }
    Ok(bytes)
}

/// Both banks of an image file as the card would judge them, with the state each holds (no secret), even when
/// the image does not open. The file is only read.
pub fn banks(path: impl AsRef<Path>) -> Result<[BankReport; 2], ImageFileError> {
    let path = path.as_ref();
    card_os::image::inspect_banks(&read(path)?).map_err(|e| image_error(path, e))
}

fn read(path: &Path) -> Result<Vec<u8>, ImageFileError> {
    fs::read(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => ImageFileError::NotFound { path: path.to_path_buf() },
        _ => ImageFileError::io(path, "read", e),
    })
}

fn image_error(path: &Path, e: ImageError) -> ImageFileError {
    match e {
        ImageError::UnsupportedVersion { found, supported } if found < supported => {
            ImageFileError::OldFormat { path: path.to_path_buf(), found, supported }
        }
        ImageError::Damaged { bank, sequence, fallback } => {
            ImageFileError::Damaged { path: path.to_path_buf(), bank, sequence, fallback }
        }
        e => invalid(path, e),
    }
}

/// Loads an image and boots the card in it, on a [`HostPlatform`] with the system clock and the OS RNG. A damaged
/// newest state is refused.
pub fn open(path: impl AsRef<Path>) -> Result<Card<HostPlatform>, ImageFileError> {
    open_with(path, Rollback::Refuse)
}

/// [`open`], opening the older state if the newest one is damaged. Only when a person asked for it: PIN and PUK
/// tries spent since that state are given back. The file is not changed until the card next writes.
pub fn open_accepting_rollback(path: impl AsRef<Path>) -> Result<Card<HostPlatform>, ImageFileError> {
    open_with(path, Rollback::Accept)
}

/// [`open`], `rollback` deciding about a damaged newest state.
pub fn open_with(path: impl AsRef<Path>, rollback: Rollback) -> Result<Card<HostPlatform>, ImageFileError> {
    let path = path.as_ref();
    let bytes = load_with(path, rollback)?;
    let nvm = nvm_from_bytes(bytes).map_err(|e| invalid(path, e))?;
    Card::boot_with(HostPlatform::with_nvm(nvm), rollback).map_err(|e| image_error(path, e))
}

fn invalid(path: &Path, problem: impl std::fmt::Display) -> ImageFileError {
    ImageFileError::Invalid { path: path.to_path_buf(), problem: problem.to_string() }
}

/// Writes `bytes` to `path` so that a crash at any point leaves either the old file or the new one.
///
/// POSIX rename(2) replaces the target atomically; the fsync of the data before it and of the directory after it
/// make the new content and the new directory entry durable (the ext4/XFS "write, fsync, rename, fsync dir"
/// pattern). The temporary file lives in the same directory, because rename cannot cross file systems. On Unix
/// the file is created `0600`: an image holds PINs and private keys.
pub fn save_atomic(path: impl AsRef<Path>, bytes: &[u8]) -> Result<(), ImageFileError> {
    let path = path.as_ref();
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = temp_path(&dir, path);
    let result = write_synced(&tmp, bytes).and_then(|()| fs::rename(&tmp, path));
    if let Err(e) = result {
        // Best effort: the temporary file is ours and useless now; the target was not touched.
        let _ = fs::remove_file(&tmp);
        return Err(ImageFileError::io(path, "write", e));
    }
    sync_dir(&dir).map_err(|e| ImageFileError::io(path, "sync the directory of", e))?;
    remove_stale_temporaries(&dir, path);
    Ok(())
}

/// Removes the temporary files of `path`'s saves by processes that no longer run (killed inside a save). Best
/// effort: a file that cannot be removed stays; a live process's file is never touched.
#[cfg(target_os = "linux")]
fn remove_stale_temporaries(dir: &Path, path: &Path) {
    let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else { return };
    let prefix = format!(".{name}.");
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = file.strip_prefix(&prefix).and_then(|r| r.strip_suffix(".tmp")) else { continue };
        let Some(Ok(pid)) = rest.split('.').next().map(str::parse::<u32>) else { continue };
        if pid != std::process::id() && !Path::new("/proc").join(pid.to_string()).exists() {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Elsewhere there is no cheap way to tell whether the writer still runs: the files stay.
#[cfg(not(target_os = "linux"))]
fn remove_stale_temporaries(_dir: &Path, _path: &Path) {}

fn temp_path(dir: &Path, path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "card".into());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    dir.join(format!(".{name}.{}.{n}.tmp", std::process::id()))
}

fn write_synced(tmp: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(tmp)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Windows cannot open a directory as a file to fsync it; NTFS journals the rename itself.
#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_replaces_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.card");
        save_atomic(&path, b"old").unwrap();
        save_atomic(&path, b"new").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn a_save_removes_the_temporary_files_of_dead_writers_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.card");
        // PIDs stop at 2^22 on Linux: 999999999 never ran. Our own PID runs.
        let dead = dir.path().join(".a.card.999999999.3.tmp");
        let live = dir.path().join(format!(".a.card.{}.999.tmp", std::process::id()));
        let other = dir.path().join(".b.card.999999999.0.tmp");
        for file in [&dead, &live, &other] {
            fs::write(file, b"x").unwrap();
        }
        save_atomic(&path, b"new").unwrap();
        assert!(!dead.exists(), "a dead writer's temporary file stays");
        assert!(live.exists() && other.exists(), "a live writer's or another image's file was removed");
    }

    #[test]
    fn missing_file_is_not_created() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ghost.card");
        let err = load(&path).unwrap_err();
        assert!(matches!(err, ImageFileError::NotFound { .. }), "{err}");
        assert!(err.to_string().contains("ghost.card"));
        assert!(!path.exists());
    }
}
