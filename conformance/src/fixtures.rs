//! The fixtures zorgcard works from, and the one way to reach them: card profiles, conformance scripts, scenarios
//! (with their own profiles), chaos rates and APDU lists, the TEST PKI and the TEST-ONLY holder keys.
//!
//! They are what the product is, so the build embeds them (the `include_dir` crate, from the workspace's `fixtures/`): an
//! installed `zorgcard` works from any folder. A [`FixtureSet`] is either that embedded set or a directory of the
//! same layout (`zorgcard --fixtures DIR`, `ZORGCARD_FIXTURES=DIR`, typically written by `zorgcard fixtures export`
//! and adapted by a vendor). [`active`] is the set of this process, chosen once by [`select`].
//!
//! A set hands out paths ([`FixtureSet::path`], [`FixtureSet::folder`]); an embedded file's path sits under
//! [`EMBEDDED_ROOT`], a name no directory on disk has, so that the formats' readers keep working on paths and a
//! file the user names on the command line is read from disk as before. [`read_to_string`], [`is_file`] and
//! [`list`] read both kinds; [`display`] shows an embedded one as `fixtures/profiles/x.toml (embedded)`.
//!
//! Not embedded: `fixtures/images/`, the golden card images of the image-format tests (`reader-sim/tests`). No
//! command reads them; they pin the on-disk format for the tests, and a vendor's cards are made from profiles.

use std::fmt;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

use include_dir::{Dir, include_dir};

/// Where the paths of embedded files start. Not a real directory: only this module's readers open such paths.
pub const EMBEDDED_ROOT: &str = "(embedded)/fixtures";

/// The top-level README of `fixtures/`, the map of the layout.
const README: &[u8] = include_bytes!("../../fixtures/README.md");

/// The embedded folders, by name. `build.rs` makes cargo rebuild when a file is added to one.
static FOLDERS: [(&str, Dir<'static>); 6] = [
    ("chaos", include_dir!("$CARGO_MANIFEST_DIR/../fixtures/chaos")),
    ("keys", include_dir!("$CARGO_MANIFEST_DIR/../fixtures/keys")),
    ("pki", include_dir!("$CARGO_MANIFEST_DIR/../fixtures/pki")),
    ("profiles", include_dir!("$CARGO_MANIFEST_DIR/../fixtures/profiles")),
    ("scenarios", include_dir!("$CARGO_MANIFEST_DIR/../fixtures/scenarios")),
    ("scripts", include_dir!("$CARGO_MANIFEST_DIR/../fixtures/scripts")),
];

/// What a fixture file is: each kind has its folder in the layout and its file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FixtureKind {
    /// A card profile, `profiles/<name>.toml` (format in `fixtures/README.md`).
    Profile,
    /// A conformance script, `scripts/<name>.toml` (format in `fixtures/scripts/README.md`).
    Script,
    /// An application scenario, `scenarios/<name>.toml` (format in `fixtures/scenarios/README.md`).
    Scenario,
    /// Chaos rates, `chaos/<name>.toml` (format in `fixtures/chaos/README.md`).
    ChaosRates,
    /// An APDU list for `zorgcard chaos --client` or `record --apdus`, `chaos/<name>.apdus`.
    Apdus,
    /// A TEST CA key or certificate, `pki/<name>.pem`.
    Pki,
    /// A TEST-ONLY holder key, `keys/<name>.pem`.
    Key,
}

impl FixtureKind {
    /// The folder of the layout that holds this kind.
    pub fn folder(self) -> &'static str {
        match self {
            FixtureKind::Profile => "profiles",
            FixtureKind::Script => "scripts",
            FixtureKind::Scenario => "scenarios",
            FixtureKind::ChaosRates | FixtureKind::Apdus => "chaos",
            FixtureKind::Pki => "pki",
            FixtureKind::Key => "keys",
        }
    }

    /// The extension of its files, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            FixtureKind::Profile | FixtureKind::Script | FixtureKind::Scenario | FixtureKind::ChaosRates => "toml",
            FixtureKind::Apdus => "apdus",
            FixtureKind::Pki | FixtureKind::Key => "pem",
        }
    }
}

impl fmt::Display for FixtureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FixtureKind::Profile => "profile",
            FixtureKind::Script => "script",
            FixtureKind::Scenario => "scenario",
            FixtureKind::ChaosRates => "chaos rates file",
            FixtureKind::Apdus => "APDU list",
            FixtureKind::Pki => "TEST PKI file",
            FixtureKind::Key => "TEST-ONLY key",
        })
    }
}

/// Why a fixture set could not be chosen, searched or exported. Every message names the file or folder and the fix.
#[derive(Debug, thiserror::Error)]
pub enum FixturesError {
    /// No file of that kind and name in the set.
    #[error("no {kind} named `{name}` in {folder}: use one of {known}")]
    Unknown {
        /// What was looked for.
        kind: FixtureKind,
        /// The name asked for.
        name: String,
        /// The folder searched, as shown by [`display`].
        folder: String,
        /// The names that exist, comma-separated (`none` when the folder is empty or absent).
        known: String,
    },
    /// `--fixtures DIR` or `ZORGCARD_FIXTURES` names something that is not a directory.
    #[error(
        "fixtures directory `{}`: {source}: give a directory laid out like fixtures/ (write one with `zorgcard \
         fixtures export DIR`), or drop --fixtures and ZORGCARD_FIXTURES to use the embedded set",
        .path.display()
    )]
    Dir {
        /// The directory.
        path: PathBuf,
        /// Why it cannot be used.
        source: io::Error,
    },
    /// The set of this process was already chosen (or already used) when [`select`] was called.
    #[error("the fixture set is already chosen: call conformance::fixtures::select once, before any fixture is read")]
    AlreadySelected,
    /// Export would overwrite files.
    #[error(
        "`{}` already exists (and {more} more of the files to export): export to a new or empty directory, or give \
         --force to overwrite them",
        .path.display()
    )]
    Exists {
        /// The first file that exists.
        path: PathBuf,
        /// How many more exist.
        more: usize,
    },
    /// A file or directory could not be written.
    #[error("cannot write `{}`: {source}: check that the directory is writable", .path.display())]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}

/// A set of fixtures: the one embedded in this binary, or a directory of the same layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FixtureSet {
    /// The files of the workspace's `fixtures/` at build time (without `images/`).
    Embedded,
    /// A directory laid out like `fixtures/` (`profiles/`, `scripts/`, …).
    Dir(PathBuf),
}

impl FixtureSet {
    /// A directory of the `fixtures/` layout; refused when it is not a directory.
    pub fn dir(path: impl Into<PathBuf>) -> Result<FixtureSet, FixturesError> {
        let path = path.into();
        match std::fs::metadata(&path) {
            Ok(m) if m.is_dir() => Ok(FixtureSet::Dir(path)),
            Ok(_) => Err(FixturesError::Dir { path, source: io::Error::other("not a directory") }),
            Err(source) => Err(FixturesError::Dir { path, source }),
        }
    }

    /// The top of the set: [`EMBEDDED_ROOT`] or the directory.
    pub fn root(&self) -> PathBuf {
        match self {
            FixtureSet::Embedded => PathBuf::from(EMBEDDED_ROOT),
            FixtureSet::Dir(dir) => dir.clone(),
        }
    }

    /// The folder of `kind` (`…/profiles`).
    pub fn folder(&self, kind: FixtureKind) -> PathBuf {
        self.root().join(kind.folder())
    }

    /// Where the file of `kind` named `name` is, whether or not it exists (`…/profiles/<name>.toml`).
    pub fn path(&self, kind: FixtureKind, name: &str) -> PathBuf {
        self.folder(kind).join(format!("{name}.{}", kind.extension()))
    }

    /// The file of `kind` named `name`; when there is none, the error lists the names there are.
    pub fn find(&self, kind: FixtureKind, name: &str) -> Result<PathBuf, FixturesError> {
        let path = self.path(kind, name);
        if is_file(&path) {
            return Ok(path);
        }
        let names = self.names(kind);
        let known = if names.is_empty() {
            "none".to_owned()
        } else {
            names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
        };
        Err(FixturesError::Unknown { kind, name: name.to_owned(), folder: display(&self.folder(kind)), known })
    }

    /// Whether the set has a file of `kind` named `name`.
    pub fn contains(&self, kind: FixtureKind, name: &str) -> bool {
        is_file(&self.path(kind, name))
    }

    /// The names (file stems) of the files of `kind`, sorted; empty when the folder is absent.
    pub fn names(&self, kind: FixtureKind) -> Vec<String> {
        let mut names: Vec<String> = list(&self.folder(kind))
            .unwrap_or_default()
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == kind.extension()))
            .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .collect();
        names.sort();
        names
    }
}

impl fmt::Display for FixtureSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FixtureSet::Embedded => f.write_str("the embedded fixtures"),
            FixtureSet::Dir(dir) => write!(f, "the fixtures in `{}`", dir.display()),
        }
    }
}

static ACTIVE: OnceLock<FixtureSet> = OnceLock::new();

/// The fixture set of this process: the one [`select`] chose, else the embedded set.
pub fn active() -> &'static FixtureSet {
    ACTIVE.get_or_init(|| FixtureSet::Embedded)
}

/// Chooses the fixture set of this process (the CLI's `--fixtures`); once, before any fixture is read.
pub fn select(set: FixtureSet) -> Result<(), FixturesError> {
    if ACTIVE.get() == Some(&set) {
        return Ok(());
    }
    ACTIVE.set(set).map_err(|_| FixturesError::AlreadySelected)
}

/// The embedded file at `path` relative to [`EMBEDDED_ROOT`] (`profiles/x.toml`), `.` and `..` resolved.
fn embedded_relative(path: &Path) -> Option<PathBuf> {
    let rest = path.strip_prefix(EMBEDDED_ROOT).ok()?;
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    for component in rest.components() {
        match component {
            Component::Normal(part) => parts.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(parts.iter().collect())
}

/// The embedded folder `relative` is in, and the rest of the path inside it.
fn embedded_folder(relative: &Path) -> Option<(&'static Dir<'static>, PathBuf)> {
    let mut components = relative.components();
    let first = components.next()?.as_os_str();
    let dir = FOLDERS.iter().find(|(name, _)| first == *name).map(|(_, dir)| dir)?;
    Some((dir, components.as_path().to_owned()))
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("{} is not a file of this zorgcard", display(path)))
}

/// The bytes of an embedded file, or `None` when `path` is not under [`EMBEDDED_ROOT`] or names no embedded file.
fn embedded_file(path: &Path) -> Option<&'static [u8]> {
    let relative = embedded_relative(path)?;
    if relative == Path::new("README.md") {
        return Some(README);
    }
    let (dir, inside) = embedded_folder(&relative)?;
    dir.get_file(inside).map(|f| f.contents())
}

/// The bytes of the file at `path`: embedded, or on disk.
pub fn read(path: &Path) -> io::Result<Vec<u8>> {
    if path.starts_with(EMBEDDED_ROOT) {
        return embedded_file(path).map(<[u8]>::to_vec).ok_or_else(|| not_found(path));
    }
    std::fs::read(path)
}

/// The text of the file at `path`: embedded, or on disk.
pub fn read_to_string(path: &Path) -> io::Result<String> {
    if path.starts_with(EMBEDDED_ROOT) {
        let bytes = embedded_file(path).ok_or_else(|| not_found(path))?;
        return String::from_utf8(bytes.to_vec()).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e));
    }
    std::fs::read_to_string(path)
}

/// Whether `path` is a file: embedded, or on disk.
pub fn is_file(path: &Path) -> bool {
    if path.starts_with(EMBEDDED_ROOT) {
        return embedded_file(path).is_some();
    }
    path.is_file()
}

/// The files directly in the folder `dir` (embedded, or on disk), sorted.
pub fn list(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut files = if dir.starts_with(EMBEDDED_ROOT) {
        let folder = embedded_relative(dir).and_then(|r| embedded_folder(&r));
        let (folder, inside) = folder.ok_or_else(|| not_found(dir))?;
        let folder = if inside.as_os_str().is_empty() { Some(folder) } else { folder.get_dir(&inside) };
        let files = folder.ok_or_else(|| not_found(dir))?.files();
        files.filter_map(|f| f.path().file_name().map(|n| dir.join(n))).collect()
    } else {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.is_file() {
                files.push(path);
            }
        }
        files
    };
    files.sort();
    Ok(files)
}

/// A path as shown in messages: `fixtures/profiles/x.toml (embedded)` for an embedded file, as given otherwise.
pub fn display(path: &Path) -> String {
    match embedded_relative(path) {
        Some(relative) => format!("fixtures/{} (embedded)", relative.display()),
        None => path.display().to_string(),
    }
}

/// A path as named in reports (a JUnit `file`): `fixtures/scripts/x.toml` for an embedded file, where it sits in
/// the source tree and in an export; as given otherwise.
pub fn report_name(path: &Path) -> String {
    match embedded_relative(path) {
        Some(relative) => format!("fixtures/{}", relative.display()),
        None => path.display().to_string(),
    }
}

/// Every embedded file, as its path relative to the top of the set and its bytes, sorted by path.
pub fn embedded_files() -> Vec<(PathBuf, &'static [u8])> {
    fn walk(prefix: &Path, dir: &'static Dir<'static>, out: &mut Vec<(PathBuf, &'static [u8])>) {
        for file in dir.files() {
            out.push((prefix.join(file.path()), file.contents()));
        }
        for sub in dir.dirs() {
            walk(prefix, sub, out);
        }
    }
    let mut out = vec![(PathBuf::from("README.md"), README)];
    for (name, dir) in &FOLDERS {
        walk(Path::new(name), dir, &mut out);
    }
    out.sort();
    out
}

/// Writes the embedded set into `dir` in the `fixtures/` layout (made if absent) and returns the files written.
/// Refuses, before writing anything, when one of them exists, unless `force`.
pub fn export(dir: &Path, force: bool) -> Result<Vec<PathBuf>, FixturesError> {
    let files: Vec<(PathBuf, &[u8])> = embedded_files().into_iter().map(|(p, bytes)| (dir.join(p), bytes)).collect();
    if !force {
        let existing: Vec<&PathBuf> = files.iter().map(|(p, _)| p).filter(|p| p.exists()).collect();
        if let Some(first) = existing.first() {
            return Err(FixturesError::Exists { path: (*first).clone(), more: existing.len() - 1 });
        }
    }
    let mut written = Vec::with_capacity(files.len());
    for (path, bytes) in files {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|source| FixturesError::Write { path: parent.to_owned(), source })?;
        }
        std::fs::write(&path, bytes).map_err(|source| FixturesError::Write { path: path.clone(), source })?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_lookup_by_kind_and_name() {
        let set = FixtureSet::Embedded;
        let path = set.find(FixtureKind::Profile, "uzi-zorgverlener").unwrap();
        assert_eq!(display(&path), "fixtures/profiles/uzi-zorgverlener.toml (embedded)");
        assert_eq!(report_name(&path), "fixtures/profiles/uzi-zorgverlener.toml");
        assert!(read_to_string(&path).unwrap().contains("kind = \"uzi\""));
        let names = set.names(FixtureKind::Script);
        assert!(names.contains(&"pin-counters".to_owned()) && !names.contains(&"README".to_owned()), "{names:?}");
        assert!(set.contains(FixtureKind::Apdus, "login-and-sign"));
        assert!(set.contains(FixtureKind::Pki, "root-ca.key"));
        assert!(set.contains(FixtureKind::Key, "test-only-rsa2048-31"));
        // A scenario's profile is found relative to the scenario, `..` included.
        let relative = set.folder(FixtureKind::Scenario).join("profiles/../profiles/unknown-card.toml");
        assert!(is_file(&relative), "{}", relative.display());
        // The golden images are test data, not part of the product.
        assert!(!is_file(&set.root().join("images/v1/uzi-zorgverlener.card")));
    }

    #[test]
    fn embedded_files_are_the_source_tree_files() {
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures");
        for (relative, bytes) in embedded_files() {
            let on_disk = std::fs::read(source.join(&relative)).unwrap();
            assert_eq!(on_disk, bytes, "{} differs from the source tree: rebuild", relative.display());
        }
        let profiles = std::fs::read_dir(source.join("profiles")).unwrap().count();
        assert_eq!(FixtureSet::Embedded.names(FixtureKind::Profile).len(), profiles);
    }

    #[test]
    fn a_missing_name_lists_what_exists() {
        let e = FixtureSet::Embedded.find(FixtureKind::Scenario, "no-such-scenario").unwrap_err().to_string();
        assert!(e.starts_with("no scenario named `no-such-scenario` in fixtures/scenarios (embedded): use one of "));
        assert!(e.contains("`last-pin-try`") && e.contains("`wrong-card`"), "{e}");
        let empty = tempfile::tempdir().unwrap();
        let e = FixtureSet::dir(empty.path()).unwrap().find(FixtureKind::Profile, "zorg-id").unwrap_err();
        assert!(e.to_string().ends_with("use one of none"), "{e}");
    }

    #[test]
    fn a_directory_replaces_the_embedded_set() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("profiles")).unwrap();
        std::fs::write(dir.path().join("profiles/mine.toml"), "format = 1\n").unwrap();
        let set = FixtureSet::dir(dir.path()).unwrap();
        assert_eq!(set.names(FixtureKind::Profile), ["mine"]);
        let path = set.find(FixtureKind::Profile, "mine").unwrap();
        assert_eq!(display(&path), dir.path().join("profiles/mine.toml").display().to_string());
        assert_eq!(read_to_string(&path).unwrap(), "format = 1\n");
        assert!(!set.contains(FixtureKind::Profile, "uzi-zorgverlener"), "no fallback to the embedded set");
        let file = dir.path().join("profiles/mine.toml");
        assert!(matches!(FixtureSet::dir(&file), Err(FixturesError::Dir { .. })));
        assert!(matches!(FixtureSet::dir(dir.path().join("absent")), Err(FixturesError::Dir { .. })));
    }

    #[test]
    fn export_writes_every_embedded_file_and_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let written = export(dir.path(), false).unwrap();
        let embedded = embedded_files();
        assert_eq!(written.len(), embedded.len());
        for (relative, bytes) in &embedded {
            assert_eq!(std::fs::read(dir.path().join(relative)).unwrap(), *bytes, "{}", relative.display());
        }
        let set = FixtureSet::dir(dir.path()).unwrap();
        for kind in [FixtureKind::Profile, FixtureKind::Script, FixtureKind::Scenario, FixtureKind::Key] {
            assert_eq!(set.names(kind), FixtureSet::Embedded.names(kind), "{kind}");
        }

        let changed = dir.path().join("profiles/zorg-id.toml");
        std::fs::write(&changed, "mine").unwrap();
        let e = export(dir.path(), false).unwrap_err();
        assert!(matches!(e, FixturesError::Exists { more, .. } if more == embedded.len() - 1), "{e}");
        assert!(e.to_string().contains("--force"), "{e}");
        assert_eq!(std::fs::read_to_string(&changed).unwrap(), "mine", "a refused export wrote nothing");
        export(dir.path(), true).unwrap();
        assert_ne!(std::fs::read_to_string(&changed).unwrap(), "mine");
    }

    #[test]
    fn embedded_paths_outside_the_set_are_not_found() {
        let outside = Path::new(EMBEDDED_ROOT).join("../../etc/passwd");
        assert!(!is_file(&outside));
        assert_eq!(read(&outside).unwrap_err().kind(), io::ErrorKind::NotFound);
        assert!(list(&Path::new(EMBEDDED_ROOT).join("images")).is_err());
    }
}
