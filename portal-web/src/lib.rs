//! `zorgcard portal serve`: the ZORG-ID TEST portal over HTTPS, where the log-in is the client certificate of a
//! UZI-pas or ZORG-ID Smartcard, as at the real portal (seed *Registreren organisatie*: the representative logs
//! in with their UZI pass), plus its OCSP responder and CRLs over plain HTTP.
//!
//! It is not the registry: the rules, the database and its transactions are the `portal` crate's
//! (`portal/src/registry.rs`, `portal/src/store.rs`); this crate only carries them to HTTP, with the
//! certificate's UZI number as the actor where the CLI takes `--as`. It is a separate crate so that `portal`,
//! which the card-serving host and the personaliser use too, does not carry tokio, hyper and rustls.
//!
//! Two listeners, both on loopback only (the TEST CAs are for this machine):
//! - HTTPS (`--listen`): the JSON API ([`api`]) and the HTML pages beside it ([`pages`]). OCSP and CRLs are not served here: relying parties fetch them over
//!   plain HTTP (RFC 6960 Appendix A.1, RFC 5280 §4.2.1.13), and a revocation check must not need a TLS
//!   connection whose own certificate check may need the revocation check.
//! - HTTP (`--ocsp-listen`): `POST /ocsp` ([`ocsp`]), `GET /crl/{issuer}.crl` ([`crl`]) and `GET /ca/{issuer}.cer`
//!   ([`ca`]), where the holder certificates' authorityInfoAccess points (RFC 5280 §4.2.2.1; the URLs are
//!   `Issuer::ocsp_url` and `Issuer::ca_issuers_url` in issuance/src/pki/holder.rs, the default address
//!   `issuance::pki::PORTAL_HTTP_ADDR`).
//!
//! Modules: [`clock`] (the injectable time), [`tls`] (server certificate, client-certificate check), [`identity`]
//! (the identity in a UZI certificate), [`service`] (the operations, without HTTP), [`api`] (the JSON routes), [`pages`] (the HTML pages), [`error_page`] (their error page),
//! [`session`] (the log-in's session and its 20-minute idle limit), [`test_clock`] (`--test-clock`, tests only),
//! [`ocsp`], [`crl`], [`ca`], [`listener`] (accept loops and their limits), [`error`].

pub mod api;
pub mod ca;
pub mod clock;
pub mod crl;
pub mod error;
pub mod error_page;
pub mod identity;
pub mod listener;
pub mod ocsp;
pub mod pages;
pub mod service;
pub mod session;
pub mod test_clock;
pub mod tls;

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use tokio::net::TcpListener;

use issuance::pki::{CA_ISSUERS_PATH, OCSP_PATH, PORTAL_HTTP_ADDR, TestPki};
use portal::StoreLocation;

pub use self::clock::PortalClock;
pub use self::error::WebError;
use self::listener::Limits;
use self::ocsp::Revocation;
use self::service::Portal;

/// `zorgcard portal serve` (the doc comments are the command-line help).
#[derive(clap::Args, Debug, Clone, PartialEq, Eq)]
pub struct ServeArgs {
    /// HTTPS address of the API (loopback only; port 0 for any free one).
    #[arg(long, default_value = "127.0.0.1:8443")]
    pub listen: SocketAddr,
    /// Plain-HTTP address of OCSP (`POST /ocsp`), the CRLs (`GET /crl/ISSUER.crl`) and the CA certificates
    /// (`GET /ca/ISSUER.cer`), loopback only; the certificates' authorityInfoAccess names the default.
    #[arg(long, default_value = PORTAL_HTTP_ADDR)]
    pub ocsp_listen: SocketAddr,
    /// Where to write the CA certificate (PEM) of the server's TLS certificate, for `curl --cacert`.
    #[arg(long, default_value = "zorgcard-portal-server-ca.pem")]
    pub server_cert_out: PathBuf,
    /// Shift the portal's clock by this many days (certificate validity, registry times, OCSP and CRLs).
    #[arg(long, env = "ZORGCARD_PORTAL_CLOCK_OFFSET_DAYS", default_value_t = 0, allow_negative_numbers = true)]
    pub clock_offset_days: i64,
    /// Seconds a client has to finish the TLS handshake, and to send each request's head (request line and headers).
    #[arg(long, default_value_t = 10)]
    pub header_timeout_secs: u64,
    /// Seconds a whole request may take.
    #[arg(long, default_value_t = 30)]
    pub request_timeout_secs: u64,
    /// TESTS ONLY, never in production: serve `POST /test/clock {"advance_secs": N}` on the plain-HTTP listener,
    /// which moves the portal's clock forward for everyone (sessions, certificates, registry times). Off unless
    /// given; there is no environment variable for it, so it cannot be switched on by accident.
    #[arg(long)]
    pub test_clock: bool,
    /// Stop after this many seconds (default: until killed).
    #[arg(long)]
    pub seconds: Option<u64>,
}

impl ServeArgs {
    fn limits(&self) -> Limits {
        let defaults = Limits::default();
        Limits {
            handshake: Duration::from_secs(self.header_timeout_secs),
            header: Duration::from_secs(self.header_timeout_secs),
            request: Duration::from_secs(self.request_timeout_secs),
            ..defaults
        }
    }
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, WebError> {
    if !addr.ip().is_loopback() {
        return Err(WebError::NotLoopback { addr });
    }
    TcpListener::bind(addr).await.map_err(|e| WebError::Bind { addr, problem: e.to_string() })
}

/// Serves the portal database `registry` (created if absent) until killed or `--seconds` have passed. Prints
/// the URLs and the server CA file to `out` once both listeners are up.
pub fn serve_main(registry: &StoreLocation, args: &ServeArgs, out: &mut dyn Write) -> Result<(), WebError> {
    portal::Store::open_or_create(registry)?;
    let pki = Arc::new(TestPki::fixtures()?);
    let clock = PortalClock::offset_days(args.clock_offset_days);
    let certificate = tls::ServerCertificate::generate()?;
    write_file(&args.server_cert_out, certificate.ca_pem.as_bytes())?;
    let verifier = Arc::new(tls::PortalClientVerifier::new(&pki, clock.clone())?);
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls::server_config(&certificate, Arc::clone(&verifier))?));
    let portal = Portal::new(registry.clone(), clock.clone());
    let limits = args.limits();
    let sessions = session::Sessions::new(clock.clone());
    let api = limits.apply(
        pages::router(portal.clone())
            .merge(api::router(portal.clone()))
            .layer(axum::middleware::from_fn_with_state(sessions, session::session_layer)),
    );
    let revocation = Revocation { portal, pki };
    let mut plain = Router::new()
        .route(OCSP_PATH, post(ocsp::ocsp))
        .route("/crl/{file}", get(crl::crl))
        .route(&format!("{CA_ISSUERS_PATH}/{{file}}"), get(ca::ca))
        .with_state(revocation);
    if args.test_clock {
        plain = plain.merge(test_clock::router(clock));
    }
    let plain = limits.apply(plain);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| WebError::Runtime(e.to_string()))?;
    runtime.block_on(async {
        let https = bind(args.listen).await?;
        let http = bind(args.ocsp_listen).await?;
        let (https_addr, http_addr) = (local(&https, args.listen), local(&http, args.ocsp_listen));
        let _ =
            writeln!(out, "portal API  https://{https_addr}/api (log in with a UZI-pas or ZORG-ID client certificate)");
        let _ = writeln!(out, "server CA   {} (curl --cacert)", args.server_cert_out.display());
        let _ = writeln!(out, "OCSP        http://{http_addr}/ocsp");
        let _ = writeln!(out, "CRLs        http://{http_addr}/crl/zorg-id-ca.crl (and the UZI-register CAs')");
        let _ =
            writeln!(out, "CA certs    http://{http_addr}{CA_ISSUERS_PATH}/zorg-id-ca.cer (and the UZI-register CAs')");
        if args.test_clock {
            let _ = writeln!(
                out,
                "TEST CLOCK  POST http://{http_addr}/test/clock (--test-clock: tests only, never production)"
            );
        }
        let _ = out.flush();
        tokio::spawn(listener::serve_tls(https, acceptor, verifier, api, limits));
        tokio::spawn(listener::serve_plain(http, plain, limits));
        match args.seconds {
            Some(s) => tokio::time::sleep(Duration::from_secs(s)).await,
            None => std::future::pending::<()>().await,
        }
        Ok::<(), WebError>(())
    })?;
    runtime.shutdown_timeout(Duration::from_secs(1));
    Ok(())
}

fn local(listener: &TcpListener, asked: SocketAddr) -> SocketAddr {
    listener.local_addr().unwrap_or(asked)
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), WebError> {
    std::fs::write(path, bytes).map_err(|e| WebError::WriteCert { path: path.to_path_buf(), problem: e.to_string() })
}
