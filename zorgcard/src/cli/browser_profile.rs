//! `zorgcard browser-profile`: a Firefox profile folder that logs in with the simulated card, for a vendor's
//! browser tests (Selenium, WebDriver through geckodriver).
//!
//! The folder holds `user.js` ([`USER_JS`]: the card's certificate picked without a dialog, no first-run pages,
//! telemetry, updates or background connections), an NSS database (`cert9.db`, `key4.db`, `pkcs11.txt`) with
//! the TEST CAs of the fixture set trusted and OpenSC's PKCS#11 module added, and `pin-prompt.js` ([`PIN_PROMPT`]),
//! the chrome-context script a WebDriver session runs to answer the PIN prompt. It is made with NSS's own tools
//! (`certutil`, `modutil`), as Firefox's profile manager would; nothing of Firefox runs here.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use fixtures::FixtureKind;

/// Debian 12's OpenSC PKCS#11 module, which shows a card in a pcscd reader as a token.
pub const OPENSC_MODULE: &str = "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so";

/// Firefox preferences (`user.js`, read at every start, mozilla-central `modules/libpref/init/all.js` names them).
/// TLS stays at most 1.2 (`security.tls.version.max = 3`): TLS 1.3 with RSA needs RSA-PSS, which OpenSC 0.23 does
/// not sign with for the card.
pub const USER_JS: &str = include_str!("user.js");

/// The chrome-context script that registers an `nsIPromptFactory` answering the PIN prompt and logs the tokens in.
pub const PIN_PROMPT: &str = include_str!("pin-prompt.js");

/// The NSS nickname of OpenSC's module in the profile.
const MODULE_NAME: &str = "OpenSC";

/// Why the profile could not be made; each message names the fix.
#[derive(Debug, thiserror::Error)]
pub enum BrowserProfileError {
    /// An NSS tool is not installed.
    #[error("`{tool}` not found ({source}): apt-get install libnss3-tools")]
    ToolMissing {
        /// `certutil` or `modutil`.
        tool: &'static str,
        /// Why it could not be started.
        source: std::io::Error,
    },
    /// The PKCS#11 module is not there.
    #[error("no PKCS#11 module at {0}: apt-get install opensc, or give the module with --module PATH")]
    ModuleMissing(PathBuf),
    /// An NSS tool ran and failed.
    #[error("`{tool} {args}` failed: {output}; remove {} and run browser-profile again", dir.display())]
    ToolFailed {
        /// The tool.
        tool: &'static str,
        /// Its arguments.
        args: String,
        /// What it printed.
        output: String,
        /// The profile folder.
        dir: PathBuf,
    },
    /// The folder already holds an NSS database.
    #[error("{} already holds an NSS database (cert9.db): give a new folder with --out, or remove it", .0.display())]
    Exists(PathBuf),
    /// A file could not be read or written.
    #[error("{}: {source}: check the path and its permissions", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
}

/// What goes into the profile.
#[derive(Debug)]
pub struct ProfileSpec<'a> {
    /// The profile folder (made if missing).
    pub out: &'a Path,
    /// The PKCS#11 module that shows the card.
    pub module: &'a Path,
    /// More CA certificates (PEM) to trust, such as a test server's own CA.
    pub trust: &'a [PathBuf],
}

/// Makes the profile folder; returns the nicknames of the CA certificates it trusts.
pub fn make_profile(spec: &ProfileSpec<'_>) -> Result<Vec<String>, BrowserProfileError> {
    let dir = spec.out;
    if !spec.module.is_file() {
        return Err(BrowserProfileError::ModuleMissing(spec.module.to_path_buf()));
    }
    if dir.join("cert9.db").exists() {
        return Err(BrowserProfileError::Exists(dir.to_path_buf()));
    }
    std::fs::create_dir_all(dir).map_err(file(dir))?;
    let db = format!("sql:{}", dir.display());
    nss(dir, "certutil", &["-N", "-d", &db, "--empty-password"], None)?;
    let mut trusted = Vec::new();
    let pki = fixtures::active().folder(FixtureKind::Pki);
    for path in fixtures::list(&pki).map_err(file(&pki))? {
        let Some(name) = path.file_name().and_then(|n| n.to_str()?.strip_suffix(".cert.pem")) else { continue };
        let pem = fixtures::read(&path).map_err(file(&path))?;
        trusted.push(trust(dir, &db, &format!("TEST {name}"), &pem)?);
    }
    for path in spec.trust {
        let pem = std::fs::read(path).map_err(file(path))?;
        let name = path.file_stem().and_then(|n| n.to_str()).unwrap_or("extra CA");
        trusted.push(trust(dir, &db, name, &pem)?);
    }
    let module = spec.module.to_string_lossy();
    nss(dir, "modutil", &["-dbdir", &db, "-add", MODULE_NAME, "-libfile", &module, "-force"], None)?;
    for (name, text) in [("user.js", USER_JS), ("pin-prompt.js", PIN_PROMPT)] {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(file(&path))?;
    }
    Ok(trusted)
}

/// Adds a CA certificate (PEM, on certutil's standard input) trusted for TLS servers and clients and e-mail.
fn trust(dir: &Path, db: &str, nickname: &str, pem: &[u8]) -> Result<String, BrowserProfileError> {
    nss(dir, "certutil", &["-A", "-d", db, "-n", nickname, "-t", "CT,C,C", "-a"], Some(pem))?;
    Ok(nickname.to_string())
}

/// The error of a file operation on `path`.
fn file(path: &Path) -> impl FnOnce(std::io::Error) -> BrowserProfileError + '_ {
    move |source| BrowserProfileError::File { path: path.to_path_buf(), source }
}

/// Runs an NSS tool, with `input` on its standard input.
fn nss(dir: &Path, tool: &'static str, args: &[&str], input: Option<&[u8]>) -> Result<(), BrowserProfileError> {
    let mut child = Command::new(tool)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| BrowserProfileError::ToolMissing { tool, source })?;
    let written = child.stdin.take().map(|mut stdin| stdin.write_all(input.unwrap_or_default()));
    let output = child.wait_with_output();
    let failed =
        |output: String| BrowserProfileError::ToolFailed { tool, args: args.join(" "), output, dir: dir.to_path_buf() };
    let output = output.map_err(|e| failed(e.to_string()))?;
    if let Some(Err(e)) = written {
        return Err(failed(e.to_string()));
    }
    if !output.status.success() {
        let text = String::from_utf8_lossy(&output.stderr).trim().to_string();
        return Err(failed(format!("{} ({})", text, output.status)));
    }
    Ok(())
}
