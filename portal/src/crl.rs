//! The ZORG-ID TEST CA's certificate revocation list, for applications under test.
//!
//! Revoking a card in the portal ("intrekken", seeds `002_9d0d588546332f3e.txt` and `003_ee747b7425e6bc58.txt`)
//! puts all its certificates on the CRL of the ZORG-ID TEST CA (`TestPki::crl`, RFC 5280 §5). Applications get it
//! two ways: as a file ([`write_crl`], DER and PEM, for `openssl verify -CRLfile` or an application's CRL
//! setting) and over HTTP ([`serve_crl`]) at the URL the certificates' cRLDistributionPoints name
//! (`pki::CRL_BASE_URL` + `/zorg-id-ca.crl`), for applications that fetch it.
//!
//! The HTTP side is the `tiny_http` crate (parsing, keep-alive, `HEAD` without a body, `400` for a request it
//! cannot parse); this module only answers: `GET`/`HEAD` of one path, loopback addresses only (the TEST CA must
//! never look like a real one on a network). Each request gets a CRL made from the portal database as it is then, so a
//! revocation shows at the next fetch. `tiny_http` sets no limit on a request head and no read timeout: a client
//! that never finishes its request holds one connection thread, and other clients are still served — acceptable
//! for a test server that only this machine can reach.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::store::StoreLocation;
use crate::{PortalError, Store};
use issuance::pki::{self, Issuer, PkiError, TestPki};

/// The path the ZORG-ID TEST CA's CRL is served at (`Issuer::ZorgId.file_stem()` + `.crl`), as in the
/// certificates' cRLDistributionPoints.
pub const CRL_PATH: &str = "/zorg-id-ca.crl";

/// Why a CRL could not be made, written or served. Messages name the file or address and the fix.
#[derive(Debug, thiserror::Error)]
pub enum CrlError {
    /// The portal database could not be read.
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
pub fn current_crl(pki: &TestPki, registry: impl Into<StoreLocation>, now: i64) -> Result<Vec<u8>, CrlError> {
    let registry = Store::open(registry).and_then(|mut s| s.registry()).map_err(PortalError::from)?;
    Ok(pki.crl(Issuer::ZorgId, &registry.revoked_entries(), now)?)
}

/// Writes the current CRL to `out` (DER) and `out` + `.pem` (PEM, `-----BEGIN X509 CRL-----`), each atomically.
/// Returns the two paths.
pub fn write_crl(
    pki: &TestPki,
    registry: impl Into<StoreLocation>,
    out: &Path,
    now: i64,
) -> Result<(PathBuf, PathBuf), CrlError> {
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
pub struct CrlServer {
    addr: SocketAddr,
    server: Option<Arc<tiny_http::Server>>,
    served: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for CrlServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CrlServer").field("addr", &self.addr).field("requests", &self.requests()).finish()
    }
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

    /// How many requests reached this module (`tiny_http` itself answers those it cannot parse).
    pub fn requests(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }

    /// Stops accepting, lets the request in progress finish and waits for the thread; when it returns, the
    /// address no longer accepts connections.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(server) = self.server.take() {
            server.unblock();
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
            // The last reference: dropping it tells tiny_http's accept thread to close the listener, which it does
            // on its own time; wait (at most a second) until it has.
            drop(server);
            for _ in 0..100 {
                if std::net::TcpStream::connect_timeout(&self.addr, Duration::from_millis(100)).is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

impl Drop for CrlServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Serves the current CRL at `http://<addr>/zorg-id-ca.crl` (`GET` and `HEAD`, `application/pkix-crl`, RFC 2585
/// §4.2); `404` for any other path, `405` for other methods. `addr` must be a loopback address; port 0 picks a
/// free port ([`CrlServer::addr`]). The portal database must exist when the server starts.
pub fn serve_crl(addr: SocketAddr, registry: impl Into<StoreLocation>, pki: TestPki) -> Result<CrlServer, CrlError> {
    let registry = registry.into();
    if !addr.ip().is_loopback() {
        return Err(CrlError::NotLoopback { addr });
    }
    Store::open(&registry).map_err(PortalError::from)?;
    let server = tiny_http::Server::http(addr).map_err(|e| CrlError::Bind { addr, problem: e.to_string() })?;
    let local = server
        .server_addr()
        .to_ip()
        .ok_or_else(|| CrlError::Bind { addr, problem: "the server has no IP address".into() })?;
    let server = Arc::new(server);
    let served = Arc::new(AtomicU64::new(0));
    let (server_t, served_t) = (server.clone(), served.clone());
    let thread = std::thread::Builder::new()
        .name("zorgcard-crl".into())
        .spawn(move || {
            // Ends when `CrlServer::stop` unblocks the server.
            for request in server_t.incoming_requests() {
                // Counted before the answer, so a client that has read its answer sees it in `requests()`.
                served_t.fetch_add(1, Ordering::SeqCst);
                // A client that goes away only loses its own answer.
                let _ = answer(request, &pki, &registry);
            }
        })
        .map_err(|e| CrlError::Bind { addr, problem: e.to_string() })?;
    Ok(CrlServer { addr: local, server: Some(server), served, thread: Some(thread) })
}

/// Answers one request (`tiny_http` leaves out the body of a `HEAD` answer).
fn answer(request: tiny_http::Request, pki: &TestPki, registry: &StoreLocation) -> std::io::Result<()> {
    use tiny_http::Method;
    if !matches!(request.method(), Method::Get | Method::Head) {
        return request.respond(response(405, "text/plain", b"only GET and HEAD\n".to_vec()));
    }
    let path = request.url().split('?').next().unwrap_or_default();
    if path != CRL_PATH {
        let body = format!("no such file; the ZORG-ID TEST CRL is at {CRL_PATH}\n");
        return request.respond(response(404, "text/plain", body.into_bytes()));
    }
    match current_crl(pki, registry, now_unix()) {
        Ok(der) => request.respond(response(200, "application/pkix-crl", der)),
        Err(e) => request.respond(response(500, "text/plain", format!("cannot make the CRL: {e}\n").into_bytes())),
    }
}

fn response(status: u16, content_type: &str, body: Vec<u8>) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
    let mut response = tiny_http::Response::from_data(body).with_status_code(status);
    for (name, value) in [("Content-Type", content_type), ("Server", "zorgcard-test-crl")] {
        if let Ok(header) = tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()) {
            response.add_header(header);
        }
    }
    response
}

/// `zorgcard crl …`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CrlCommand {
    /// `crl write --database DB --out FILE`: the current CRL as `FILE` (DER) and `FILE.pem`.
    Write {
        /// Portal database.
        registry: StoreLocation,
        /// DER output; the PEM goes next to it with `.pem` appended.
        out: PathBuf,
    },
    /// `crl serve --database DB [--addr 127.0.0.1:8080] [--for SECONDS]`: serve until killed or for a while.
    Serve {
        /// Portal database.
        registry: StoreLocation,
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
