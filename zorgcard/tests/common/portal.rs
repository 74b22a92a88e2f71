//! The portal service for the client tests: `zorgcard portal serve` on a database of its own
//! ([`PortalServer`]), and one HTTP/1.1 request sent through a TLS client the test starts ([`send_request`]), so
//! that the log-in is whatever certificate and key that client presents: the simulated card through a PKCS#11
//! module, never a file key.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// `zorgcard portal serve` on 127.0.0.1 (a free port) with a fresh SQLite database; stopped (that PID only) on drop.
pub struct PortalServer {
    child: Child,
    /// `127.0.0.1:PORT` of the HTTPS API.
    pub connect: String,
    /// The CA that signed the server's certificate (`--server-cert-out`), for the client's `-CAfile`.
    pub ca: PathBuf,
    /// The database.
    pub db: PathBuf,
}

impl PortalServer {
    /// Starts it with its files in `dir`, once it printed its URLs.
    pub fn start(dir: &Path) -> PortalServer {
        let db = dir.join("portal.db");
        let ca = dir.join("portal-server-ca.pem");
        let mut child = Command::new(env!("CARGO_BIN_EXE_zorgcard"))
            .arg("portal")
            .arg("--registry")
            .arg(&db)
            .args(["serve", "--listen", "127.0.0.1:0", "--ocsp-listen", "127.0.0.1:0", "--server-cert-out"])
            .arg(&ca)
            .env_remove("ZORGCARD_FIXTURES")
            .env_remove("ZORGCARD_PORTAL_CLOCK_OFFSET_DAYS")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start `zorgcard portal serve`");
        let first = BufReader::new(child.stdout.take().expect("serve's stdout")).lines().next();
        let line = first.and_then(Result::ok).unwrap_or_default();
        let url = line.split_whitespace().find(|w| w.starts_with("https://"));
        let connect = url.map(|u| u.trim_start_matches("https://").trim_end_matches("/api").to_string());
        let connect = connect.unwrap_or_else(|| panic!("`zorgcard portal serve` printed no API URL: {line:?}"));
        assert!(ca.is_file(), "portal serve wrote no server CA at {}", ca.display());
        PortalServer { child, connect, ca, db }
    }

    /// One value from the database (`sql` selects one text column of one row), or `None`.
    pub fn query(&self, sql: &str) -> Option<String> {
        let conn = rusqlite::Connection::open(&self.db).expect("open the portal database");
        conn.query_row(sql, [], |r| r.get(0)).ok()
    }
}

impl Drop for PortalServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP/1.1 request with `Connection: close`, and a JSON body if given.
pub fn http_request(method: &str, path: &str, json: Option<&str>) -> String {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    let body = json.unwrap_or_default();
    if json.is_some() {
        head.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n", body.len()));
    }
    format!("{head}\r\n{body}")
}

/// Runs `openssl` with `args` (an `s_client` that must not close on end of input: `-ign_eof`), writes `request`
/// to it and returns everything it printed: the handshake's report and the server's answer.
pub fn send_request(args: &[&str], env: &[(&str, &str)], request: &str) -> String {
    let mut child = Command::new("openssl")
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run openssl: apt-get install openssl");
    child.stdin.take().expect("stdin").write_all(request.as_bytes()).expect("write the request");
    let mut out = String::new();
    child.stdout.take().expect("stdout").read_to_string(&mut out).expect("read s_client's output");
    let mut err = String::new();
    child.stderr.take().expect("stderr").read_to_string(&mut err).expect("read s_client's errors");
    let _ = child.wait();
    format!("{out}{err}")
}

/// The status code of the HTTP answer in `output`, and its body (the text after the blank line).
pub fn answer(output: &str) -> (u16, String) {
    let at = output.find("HTTP/1.1 ").unwrap_or_else(|| panic!("no HTTP answer in:\n{output}"));
    let answer = &output[at..];
    let status = answer.get(9..12).and_then(|c| c.parse().ok()).unwrap_or_default();
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}
