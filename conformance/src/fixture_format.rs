//! What the three fixture file formats share: card profiles (`fixtures/profiles/*.toml`), scenarios
//! (`fixtures/scenarios/*.toml`) and suite scripts (`fixtures/scripts/*.toml`).
//!
//! Each format has its own fields and checks (in the profile, scenario and script modules that read them); reading
//! the file, the `format = N` version gate, turning a TOML error into a line and a column, hex fields, and the one
//! error type [`FixtureError`] are here. Every message names the file (marked `(embedded)` for the fixtures the
//! binary carries), the place (line and column, or the field) and the fix.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::DeserializeOwned;
use toml::Spanned;

/// A file path as shown in messages: `fixtures/profiles/x.toml (embedded)` for a file the binary carries, as given
/// otherwise ([`crate::fixtures::display`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayPath(pub PathBuf);

impl fmt::Display for DisplayPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::fixtures::display(&self.0))
    }
}

/// Which of the fixture formats a file is in: it names the file in messages and points at its documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FixtureFormat {
    /// A card profile, `fixtures/profiles/<name>.toml`.
    Profile,
    /// An application scenario, `fixtures/scenarios/<name>.toml`.
    Scenario,
    /// A conformance-suite script, `fixtures/scripts/<name>.toml`.
    Script,
}

impl FixtureFormat {
    /// The word that opens a message about such a file: `profile`, `scenario`, `script`.
    pub fn noun(self) -> &'static str {
        match self {
            FixtureFormat::Profile => "profile",
            FixtureFormat::Scenario => "scenario",
            FixtureFormat::Script => "script",
        }
    }

    /// Where the format is documented for authors.
    pub fn readme(self) -> &'static str {
        match self {
            FixtureFormat::Profile => "fixtures/README.md",
            FixtureFormat::Scenario => "fixtures/scenarios/README.md",
            FixtureFormat::Script => "fixtures/scripts/README.md",
        }
    }
}

impl fmt::Display for FixtureFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.noun())
    }
}

/// Why a fixture file could not be loaded: the file, what is wrong where, and the fix.
#[derive(Debug, thiserror::Error)]
#[error("{format} `{path}`: {kind}")]
pub struct FixtureError {
    /// The file's format.
    pub format: FixtureFormat,
    /// The file.
    pub path: DisplayPath,
    /// What is wrong, where, and the fix (boxed: errors stay small in every `Result`).
    pub kind: Box<FixtureErrorKind>,
}

/// What is wrong with a fixture file.
#[derive(Debug, thiserror::Error)]
pub enum FixtureErrorKind {
    /// The file could not be read.
    #[error("cannot read the file: {0}: check the path and permissions")]
    Io(io::Error),
    /// Not TOML, or not this format (an unknown or missing field, a wrong type).
    #[error("line {line}, column {column}: {message}: {fix}")]
    Syntax {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the TOML reader said.
        message: String,
        /// How to fix it.
        fix: String,
    },
    /// A field has a value the format does not allow.
    #[error("{}{place}field `{field}`: {problem}: {fix}", line.map(|l| format!("line {l}: ")).unwrap_or_default())]
    Field {
        /// 1-based line of the field (or of its table), when the format keeps it.
        line: Option<usize>,
        /// Where in the file, before the field: `step 3: `, or empty.
        place: String,
        /// The field, dotted for tables (`pin.value`, `setup[2].expect`).
        field: String,
        /// What is wrong.
        problem: String,
        /// How to fix it.
        fix: String,
    },
}

/// The text of one fixture file being parsed: every error made through it names the file.
#[derive(Debug, Clone, Copy)]
pub struct FixtureText<'a> {
    format: FixtureFormat,
    path: &'a Path,
    text: &'a str,
}

/// Reads a fixture file (embedded or on disk, [`crate::fixtures::read_to_string`]); an unreadable file is a
/// [`FixtureErrorKind::Io`] naming it.
pub fn read(format: FixtureFormat, path: &Path) -> Result<String, FixtureError> {
    crate::fixtures::read_to_string(path).map_err(|e| FixtureError {
        format,
        path: DisplayPath(path.to_owned()),
        kind: Box::new(FixtureErrorKind::Io(e)),
    })
}

#[derive(Deserialize)]
struct FormatProbe {
    format: Option<Spanned<toml::Value>>,
}

impl<'a> FixtureText<'a> {
    /// `text`, the contents of the `format` file at `path` (only used in messages).
    pub fn new(format: FixtureFormat, path: &'a Path, text: &'a str) -> Self {
        FixtureText { format, path, text }
    }

    /// The text.
    pub fn text(&self) -> &'a str {
        self.text
    }

    /// The file.
    pub fn path(&self) -> &'a Path {
        self.path
    }

    /// An error about this file.
    pub fn error(&self, kind: FixtureErrorKind) -> FixtureError {
        FixtureError { format: self.format, path: DisplayPath(self.path.to_owned()), kind: Box::new(kind) }
    }

    /// The 1-based line and column of a byte offset in the text (the end for an offset past it).
    pub fn line_column(&self, offset: usize) -> (usize, usize) {
        let before = self.text.get(..offset.min(self.text.len())).unwrap_or(self.text);
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, column)
    }

    /// A TOML reader's error as a [`FixtureErrorKind::Syntax`] with the line, the column and a fix.
    pub fn syntax(&self, e: &toml::de::Error) -> FixtureError {
        let (line, column) = self.line_column(e.span().map_or(self.text.len(), |s| s.start));
        let message = e.message().trim().to_owned();
        let readme = self.format.readme();
        let fix = if message.contains("unknown field") {
            format!("remove or rename the field (see the format in {readme})")
        } else if message.contains("missing field") {
            format!("add the field (see the format in {readme})")
        } else {
            "fix the TOML there (a truncated or damaged file: restore it from git)".to_owned()
        };
        self.error(FixtureErrorKind::Syntax { line, column, message, fix })
    }

    /// The text deserialised as `T`.
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, FixtureError> {
        toml::from_str(self.text).map_err(|e| self.syntax(&e))
    }

    /// Checks `format = N` before anything else, so that a newer file says "format N is not supported" rather than
    /// "unknown field".
    pub fn check_version(&self, supported: i64) -> Result<(), FixtureError> {
        let probe: FormatProbe = self.deserialize()?;
        let Some(format) = probe.format else {
            return Err(self.field("format", "missing", format!("add `format = {supported}` as the first line")));
        };
        if format.get_ref().as_integer() == Some(supported) {
            return Ok(());
        }
        Err(self.field_at(
            format.span().start,
            "",
            "format",
            format!("format {} is not supported (this zorgcard reads format {supported})", format.get_ref()),
            format!(
                "write the {} in format {supported} (see {}) or update zorgcard",
                self.format.noun(),
                self.format.readme()
            ),
        ))
    }

    /// A [`FixtureErrorKind::Field`] without a line.
    pub fn field(&self, field: impl Into<String>, problem: impl Into<String>, fix: impl Into<String>) -> FixtureError {
        self.error(FixtureErrorKind::Field {
            line: None,
            place: String::new(),
            field: field.into(),
            problem: problem.into(),
            fix: fix.into(),
        })
    }

    /// A [`FixtureErrorKind::Field`] on the line of byte `offset`, after `place` (`step 3: ` or empty).
    pub fn field_at(
        &self,
        offset: usize,
        place: &str,
        field: impl Into<String>,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) -> FixtureError {
        self.error(FixtureErrorKind::Field {
            line: Some(self.line_column(offset).0),
            place: place.to_owned(),
            field: field.into(),
            problem: problem.into(),
            fix: fix.into(),
        })
    }

    /// The hex field `field` as bytes ([`parse_hex`]).
    pub fn hex(&self, field: &str, text: &str) -> Result<Vec<u8>, FixtureError> {
        parse_hex(text).map_err(|e| {
            self.field(field, format!("`{text}` is not hex ({e})"), "write bytes as hex, e.g. \"00 A4 04 00\"")
        })
    }
}

/// Hex bytes as fixtures write them: `3B 8C 80 01`, `00A40400`, `61:0F`; whitespace and `:` are ignored.
pub fn parse_hex(s: &str) -> Result<Vec<u8>, String> {
    let compact: String = s.chars().filter(|c| !c.is_whitespace() && *c != ':').collect();
    if let Some((i, c)) = compact.char_indices().find(|(_, c)| !c.is_ascii_hexdigit()) {
        return Err(format!("`{c}` at character {} is not a hex digit", i + 1));
    }
    if !compact.len().is_multiple_of(2) {
        return Err(format!("{} hex digits is not a whole number of bytes", compact.len()));
    }
    hex::decode(&compact).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_ignores_spaces_and_colons_and_names_the_bad_digit() {
        assert_eq!(parse_hex("3B 8C:80 01"), Ok(vec![0x3B, 0x8C, 0x80, 0x01]));
        assert_eq!(parse_hex("3G").unwrap_err(), "`G` at character 2 is not a hex digit");
        assert!(parse_hex("ABC").unwrap_err().contains("3 hex digits"));
    }

    #[test]
    fn version_gate_names_file_line_and_fix() {
        let path = Path::new("x.toml");
        let text = "# a comment\nformat = 2\n";
        let e = FixtureText::new(FixtureFormat::Scenario, path, text).check_version(1).unwrap_err().to_string();
        assert_eq!(
            e,
            "scenario `x.toml`: line 2: field `format`: format 2 is not supported (this zorgcard reads format 1): \
             write the scenario in format 1 (see fixtures/scenarios/README.md) or update zorgcard"
        );
        let e = FixtureText::new(FixtureFormat::Profile, path, "kind = 1\n").check_version(1).unwrap_err();
        assert!(e.to_string().contains("field `format`: missing: add `format = 1`"), "{e}");
    }

    #[test]
    fn syntax_errors_carry_line_and_column() {
        let text = "format = 1\nkind = \n";
        let e = FixtureText::new(FixtureFormat::Script, Path::new("s.toml"), text).check_version(1).unwrap_err();
        let FixtureErrorKind::Syntax { line, column, .. } = *e.kind else { panic!("{e}") };
        assert_eq!((line, column), (2, 8));
    }
}
