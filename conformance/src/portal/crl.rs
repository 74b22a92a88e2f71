//! The ZORG-ID TEST CA's certificate revocation list, for applications under test.
//!
//! Revoking a card in the portal ("intrekken", seeds `002_9d0d588546332f3e.txt` and `003_ee747b7425e6bc58.txt`)
//! puts all its certificates on the CRL of the ZORG-ID TEST CA (`TestPki::crl`, RFC 5280 §5). Applications get it
//! two ways: as a file ([`write_crl`], DER and PEM, for `openssl verify -CRLfile` or an application's CRL
//! setting) and over HTTP ([`serve_crl`]) at the URL the certificates' cRLDistributionPoints name
//! (`pki::CRL_BASE_URL` + `/zorg-id-ca.crl`), for applications that fetch it.
//!
//! The server is deliberately minimal and only for this machine: HTTP/1.1 `GET`/`HEAD` of one path, one
//! connection at a time, `Connection: close`, request heads of at most [`MAX_REQUEST_HEAD`] bytes read within
//! [`IO_TIMEOUT`], loopback addresses only (the TEST CA must never look like a real one on a network). Each
//! request gets a CRL made from the registry as it is then, so a revocation shows at the next fetch.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::issuance::pki::{self, Issuer, PkiError, TestPki};
use crate::portal::{PortalError, Registry};

/// The path the ZORG-ID TEST CA's CRL is served at (`Issuer::ZorgId.file_stem()` + `.crl`), as in the
/// certificates' cRLDistributionPoints.
pub const CRL_PATH: &str = "/zorg-id-ca.crl";

/// Largest request head read (request line and headers); longer requests are answered `431`.
pub const MAX_REQUEST_HEAD: usize = 8 * 1024;

/// How long one connection may take to send its request or receive the answer.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a CRL could not be made, written or served. Messages name the file or address and the fix.
#[derive(Debug, thiserror::Error)]
pub enum CrlError {
    /// The portal registry could not be read.
    #[error(transparent)]
    Registry(#[from] PortalError),
    /// The TEST CA could not sign the CRL.
    #[error("the ZORG-ID TEST CA could not make its CRL: {0}")]
    Pki(#[from] PkiError),
    /// A CRL file could not be written.
    #[error("cannot write CRL file `{}`: {problem}: check the directory and permissions", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        problem: String,
    },
    /// The address is not a loopback address.
    #[error(
        "refusing to serve the TEST CRL on {addr}: the TEST CA is for this machine only; bind a loopback address such as 127.0.0.1:8080 or [::1]:8080"
    )]
    NotLoopback {
        /// The address asked for.
        addr: SocketAddr,
    },
    /// The listening socket could not be opened.
    #[error("cannot listen on {addr}: {problem}: pick another port (e.g. 127.0.0.1:0 for any free one)")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        problem: String,
    },
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The current CRL (DER) of the ZORG-ID TEST CA: every certificate of every card revoked in `registry`,
/// `thisUpdate` = `now`.
pub fn current_crl(pki: &TestPki, registry: &Path, now: i64) -> Result<Vec<u8>, CrlError> {
    let registry = Registry::load(registry)?;
    Ok(pki.crl(Issuer::ZorgId, &registry.revoked_entries(), now)?)
}

/// Writes the current CRL to `out` (DER) and `out` + `.pem` (PEM, `-----BEGIN X509 CRL-----`), each atomically.
/// Returns the two paths.
pub fn write_crl(pki: &TestPki, registry: &Path, out: &Path, now: i64) -> Result<(PathBuf, PathBuf), CrlError> {
    let der = current_crl(pki, registry, now)?;
    let pem = pki::crl_pem(&der)?;
    let mut pem_path = out.as_os_str().to_owned();
    pem_path.push(".pem");
    let pem_path = PathBuf::from(pem_path);
    for (path, bytes) in [(out, der.as_slice()), (pem_path.as_path(), pem.as_bytes())] {
        reader_sim::image::save_atomic(path, bytes)
            .map_err(|e| CrlError::Write { path: path.to_path_buf(), problem: e.to_string() })?;
    }
    Ok((out.to_path_buf(), pem_path))
}

/// A running CRL server. Dropping it stops it too.
#[derive(Debug)]
pub struct CrlServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    served: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl CrlServer {
    /// The address it listens on (the real port when port 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL of the CRL.
    pub fn url(&self) -> String {
        format!("http://{}{CRL_PATH}", self.addr)
    }

    /// How many requests were answered.
    pub fn requests(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }

    /// Stops accepting, finishes the connection in progress and waits for the thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept with a connection of our own.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for CrlServer {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.shutdown();
        }
    }
}

/// Serves the current CRL at `http://<addr>/zorg-id-ca.crl` (`GET` and `HEAD`, `application/pkix-crl`, RFC 2585
/// §4.2); `404` for any other path, `405` for other methods. `addr` must be a loopback address; port 0 picks a
/// free port ([`CrlServer::addr`]). The registry must exist when the server starts.
pub fn serve_crl(addr: SocketAddr, registry: PathBuf, pki: TestPki) -> Result<CrlServer, CrlError> {
    if !addr.ip().is_loopback() {
        return Err(CrlError::NotLoopback { addr });
    }
    Registry::load(&registry)?;
    let listener = TcpListener::bind(addr).map_err(|e| CrlError::Bind { addr, problem: e.to_string() })?;
    let local = listener.local_addr().map_err(|e| CrlError::Bind { addr, problem: e.to_string() })?;
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicU64::new(0));
    let (stop_t, served_t) = (stop.clone(), served.clone());
    let thread = std::thread::Builder::new()
        .name("zorgcard-crl".into())
        .spawn(move || {
            for stream in listener.incoming() {
                if stop_t.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(mut stream) = stream {
                    // A client that misbehaves only loses its own connection.
                    let _ = answer(&mut stream, &pki, &registry);
                    // Counted before the connection closes, so a client that has read its whole
                    // answer already sees it in `requests()`.
                    served_t.fetch_add(1, Ordering::SeqCst);
                }
            }
        })
        .map_err(|e| CrlError::Bind { addr, problem: e.to_string() })?;
    Ok(CrlServer { addr: local, stop, served, thread: Some(thread) })
}

/// Reads one request head and answers it.
fn answer(stream: &mut TcpStream, pki: &TestPki, registry: &Path) -> std::io::Result<()> {
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    let complete = loop {
        if head.windows(4).any(|w| w == b"\r\n\r\n") || head.windows(2).any(|w| w == b"\n\n") {
            break true;
        }
        if head.len() > MAX_REQUEST_HEAD {
            break false;
        }
        match stream.read(&mut buf) {
            Ok(0) => break !head.is_empty(),
            Ok(n) => head.extend_from_slice(&buf[..n]),
            Err(e) => return Err(e),
        }
    };
    if !complete {
        return respond(stream, "431 Request Header Fields Too Large", "text/plain", b"request head too large\n", true);
    }
    let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.trim_end().split(' ');
    let (method, target, version) = (parts.next(), parts.next(), parts.next());
    let Some((method, target)) = method.zip(target).filter(|_| version.is_some_and(|v| v.starts_with("HTTP/1.")))
    else {
        return respond(stream, "400 Bad Request", "text/plain", b"not an HTTP/1.x request\n", true);
    };
    let body_wanted = match method {
        "GET" => true,
        "HEAD" => false,
        _ => {
            return respond(stream, "405 Method Not Allowed", "text/plain", b"only GET and HEAD\n", true);
        }
    };
    let path = target.split('?').next().unwrap_or(target);
    if path != CRL_PATH {
        let body = format!("no such file; the ZORG-ID TEST CRL is at {CRL_PATH}\n");
        return respond(stream, "404 Not Found", "text/plain", body.as_bytes(), body_wanted);
    }
    match current_crl(pki, registry, now_unix()) {
        Ok(der) => respond(stream, "200 OK", "application/pkix-crl", &der, body_wanted),
        Err(e) => {
            let body = format!("cannot make the CRL: {e}\n");
            respond(stream, "500 Internal Server Error", "text/plain", body.as_bytes(), body_wanted)
        }
    }
}

fn respond(
    stream: &mut TcpStream,
    status: &str,
    content_type: &str,
    body: &[u8],
    with_body: bool,
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\nServer: zorgcard-test-crl\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    if with_body {
        stream.write_all(body)?;
    }
    stream.flush()
}

/// `zorgcard crl …`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CrlCommand {
    /// `crl write --registry FILE --out FILE`: the current CRL as `FILE` (DER) and `FILE.pem`.
    Write {
        /// Portal registry.
        registry: PathBuf,
        /// DER output; the PEM goes next to it with `.pem` appended.
        out: PathBuf,
    },
    /// `crl serve --registry FILE [--addr 127.0.0.1:8080] [--for SECONDS]`: serve until killed or for a while.
    Serve {
        /// Portal registry.
        registry: PathBuf,
        /// Loopback address (default: the host and port of `pki::CRL_BASE_URL`).
        addr: SocketAddr,
        /// Stop after this long; `None` serves until the process ends.
        duration: Option<Duration>,
    },
}

/// The address of `pki::CRL_BASE_URL`, where the certificates say the CRL is.
pub fn default_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

/// Runs a `crl` command. `serve` prints one line with the URL on standard output when it is listening.
pub fn crl_main(cmd: CrlCommand) -> Result<(), CrlError> {
    let pki = TestPki::fixtures()?;
    match cmd {
        CrlCommand::Write { registry, out } => {
            let (der, pem) = write_crl(&pki, &registry, &out, now_unix())?;
            println!("CRL of the ZORG-ID TEST CA written to {} (DER) and {} (PEM)", der.display(), pem.display());
            Ok(())
        }
        CrlCommand::Serve { registry, addr, duration } => {
            let server = serve_crl(addr, registry, pki)?;
            println!("serving the ZORG-ID TEST CRL at {}", server.url());
            match duration {
                Some(d) => {
                    std::thread::sleep(d);
                    server.stop();
                }
                None => loop {
                    std::thread::park();
                },
            }
            Ok(())
        }
    }
}
