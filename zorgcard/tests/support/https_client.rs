//! A holder's software log-in and a small HTTPS client for `zorgcard portal serve`, shared by
//! `tests/portal_serve_load.rs` and `examples/portal_bench.rs` (each includes this file with `#[path]`).
//!
//! [`Login::new`] makes an RSA-2048 key with `openssl genpkey` and has the TEST PKI certify it
//! (`TestPki::issue`), as `tests/portal_serve.rs` does. [`HttpsClient`] speaks HTTP/1.1 (RFC 9112) over rustls
//! in this process, presenting that certificate as the TLS client certificate (RFC 8446 §4.4.2), so a load of
//! many requests costs no process start per request. It keeps its connection open between requests when asked
//! to (RFC 9112 §9.3), and reads only what the portal sends: a `Content-Length` body.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use issuance::pki::{self, CertRole, Holder, HolderPublicKey, HolderType, Issuer, TestPki};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

/// A holder's software "card": key and authentication certificate in PEM files.
pub struct Login {
    /// The certificate (PEM).
    pub cert: PathBuf,
    /// Its private key (PKCS #8 PEM).
    pub key: PathBuf,
}

impl Login {
    /// A UZI-zorgverlenerspas (card type Z) certificate for `uzi` of the organisation `ura`, key in `dir`.
    pub fn new(pki: &TestPki, dir: &Path, uzi: &str, ura: &str) -> Login {
        let key = dir.join(format!("{uzi}.key.pem"));
        let made = Command::new("openssl")
            .args(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out"])
            .arg(&key)
            .output()
            .expect("run openssl genpkey");
        assert!(made.status.success(), "openssl genpkey: {made:?}");
        let spki = Command::new("openssl")
            .arg("pkey")
            .arg("-in")
            .arg(&key)
            .args(["-pubout", "-outform", "DER"])
            .output()
            .expect("run openssl pkey")
            .stdout;
        let public = HolderPublicKey::from_spki_der(&spki).expect("an RSA public key");
        let holder = Holder {
            holder_type: HolderType::Z,
            uzi_number: uzi.into(),
            given_name: Some("Test".into()),
            surname: Some(format!("Holder-{uzi}")),
            common_name: format!("Test Holder-{uzi}"),
            title: Some("Arts".into()),
            organisation: format!("Test Zorginstelling {ura}"),
            subscriber_number: ura.into(),
            role: "01.015".into(),
            agb_code: "00000000".into(),
            oid_ca: issuance::pki::OidCa::Test,
        };
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
        let der = pki
            .issue(Issuer::Uzi(HolderType::Z), &holder, CertRole::Authentication, &public, uzi.as_bytes(), now - 60)
            .expect("issue a TEST UZI-pas certificate");
        let cert = dir.join(format!("{uzi}.cert.pem"));
        std::fs::write(&cert, pki::certificate_pem(&der).unwrap()).unwrap();
        Login { cert, key }
    }
}

/// One answer: HTTP status and body.
#[derive(Debug)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The body, as text.
    pub body: String,
}

/// An HTTPS client of one server, logged in with one [`Login`].
pub struct HttpsClient {
    addr: SocketAddr,
    config: Arc<ClientConfig>,
    keep_alive: bool,
    connection: Option<StreamOwned<ClientConnection, TcpStream>>,
}

impl HttpsClient {
    /// A client of `https` (`https://127.0.0.1:PORT`), trusting the server CA in `server_ca` and logging in as
    /// `login`; with `keep_alive` it sends its requests on one connection while the server keeps it open.
    pub fn new(https: &str, server_ca: &Path, login: &Login, keep_alive: bool) -> HttpsClient {
        let addr = https.trim_start_matches("https://").trim_end_matches('/').parse().expect("an https://IP:PORT");
        let mut roots = RootCertStore::empty();
        roots.add(CertificateDer::from_pem_file(server_ca).expect("the server CA PEM")).expect("a CA certificate");
        let chain = vec![CertificateDer::from_pem_file(&login.cert).expect("the client certificate PEM")];
        let key = PrivateKeyDer::from_pem_file(&login.key).expect("the client key PEM");
        let config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("TLS 1.2 and 1.3")
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .expect("a usable client certificate and key");
        HttpsClient { addr, config: Arc::new(config), keep_alive, connection: None }
    }

    /// `POST path` with an optional JSON body. A reused connection the server closed meanwhile is opened anew
    /// once, when nothing of the answer had come (RFC 9112 §9.3.1); any other failure is an error.
    pub fn post(&mut self, path: &str, json: Option<&str>) -> Result<Answer, String> {
        let reused = self.connection.is_some();
        match self.exchange(path, json) {
            Err(Failure::BeforeAnswer(_)) if reused => {
                self.connection = None;
                self.exchange(path, json).map_err(|f| f.to_string())
            }
            other => other.map_err(|f| f.to_string()),
        }
    }

    fn exchange(&mut self, path: &str, json: Option<&str>) -> Result<Answer, Failure> {
        let stream = match self.connection.take() {
            Some(s) => s,
            None => self.connect().map_err(Failure::BeforeAnswer)?,
        };
        let mut stream = stream;
        let body = json.unwrap_or("");
        let content_type = if json.is_some() { "Content-Type: application/json\r\n" } else { "" };
        let connection = if self.keep_alive { "keep-alive" } else { "close" };
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: localhost\r\n{content_type}Content-Length: {}\r\nConnection: {connection}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).map_err(|e| Failure::BeforeAnswer(format!("send: {e}")))?;
        stream.flush().map_err(|e| Failure::BeforeAnswer(format!("send: {e}")))?;
        let (answer, open) = read_answer(&mut stream)?;
        if open && self.keep_alive {
            self.connection = Some(stream);
        }
        Ok(answer)
    }

    fn connect(&self) -> Result<StreamOwned<ClientConnection, TcpStream>, String> {
        let tcp = TcpStream::connect(self.addr).map_err(|e| format!("connect to {}: {e}", self.addr))?;
        tcp.set_read_timeout(Some(Duration::from_secs(60))).map_err(|e| e.to_string())?;
        tcp.set_nodelay(true).map_err(|e| e.to_string())?;
        let name = ServerName::try_from("localhost").expect("a DNS name");
        let tls = ClientConnection::new(Arc::clone(&self.config), name).map_err(|e| e.to_string())?;
        Ok(StreamOwned::new(tls, tcp))
    }
}

/// rustls' *ring* provider, as the portal's own (`portal-web/src/tls.rs`): rustls 0.23.48 deprecates it for
/// lacking a post-quantum key exchange, which a TEST portal on loopback does not need.
#[allow(deprecated)]
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Why an exchange failed: before any byte of the answer (the request may be sent again on a new connection
/// only if it was a reused one), or after.
enum Failure {
    BeforeAnswer(String),
    InAnswer(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::BeforeAnswer(e) => write!(f, "no answer: {e}"),
            Failure::InAnswer(e) => write!(f, "broken answer: {e}"),
        }
    }
}

/// Reads one answer; also says whether the server keeps the connection open.
fn read_answer(stream: &mut impl Read) -> Result<(Answer, bool), Failure> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            Ok(_) if head.is_empty() => return Err(Failure::BeforeAnswer("closed".into())),
            Err(e) if head.is_empty() => return Err(Failure::BeforeAnswer(e.to_string())),
            Ok(_) => return Err(Failure::InAnswer("closed in the head".into())),
            Err(e) => return Err(Failure::InAnswer(e.to_string())),
        }
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Failure::InAnswer(format!("no status in {head:?}")))?;
    let header = |name: &str| {
        head.lines().find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(':')).map(|v| v.trim().to_string()))
    };
    let length: usize = header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).map_err(|e| Failure::InAnswer(format!("body: {e}")))?;
    let open = header("connection").is_none_or(|v| v != "close");
    Ok((Answer { status, body: String::from_utf8_lossy(&body).into() }, open))
}
