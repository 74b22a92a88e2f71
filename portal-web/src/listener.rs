//! The accept loops: one task per connection, each bounded so that slow or half-open clients cannot starve the
//! others — a TLS handshake must finish within [`Limits::handshake`], a request head within [`Limits::header`]
//! (hyper's `header_read_timeout`) and fit in [`Limits::max_header_bytes`], a whole request within
//! [`Limits::request`] (tower-http's `TimeoutLayer`, 408), a body in [`Limits::max_body_bytes`] (axum's
//! `DefaultBodyLimit`, 413), and a connection lives at most [`Limits::connection`].

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Request, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;
use tower_http::timeout::TimeoutLayer;

use crate::api::ConnectionLogin;
use crate::identity;
use crate::tls::PortalClientVerifier;

/// The bounds on every connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Time for the TLS handshake.
    pub handshake: Duration,
    /// Time for a request head (request line and headers), also while a kept-alive connection waits.
    pub header: Duration,
    /// Time for a whole request, body and answer included.
    pub request: Duration,
    /// Time a connection may stay open at all.
    pub connection: Duration,
    /// Bytes of a request head (hyper's read buffer; at least 8192).
    pub max_header_bytes: usize,
    /// Bytes of a request body.
    pub max_body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            handshake: Duration::from_secs(10),
            header: Duration::from_secs(10),
            request: Duration::from_secs(30),
            connection: Duration::from_secs(300),
            max_header_bytes: 16 * 1024,
            max_body_bytes: 64 * 1024,
        }
    }
}

impl Limits {
    /// `router` with the request timeout and the body limit.
    pub fn apply(&self, router: Router) -> Router {
        router
            .layer(DefaultBodyLimit::max(self.max_body_bytes))
            .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, self.request))
    }
}

/// Serves HTTP/1.1 on one connection until it closes or a limit cuts it off.
async fn serve_connection<S>(io: S, app: Router, login: Option<ConnectionLogin>, limits: Limits)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = app.map_request(move |mut req: Request<Incoming>| {
        if let Some(login) = &login {
            req.extensions_mut().insert(login.clone());
        }
        req
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header)
        .max_buf_size(limits.max_header_bytes.max(8192))
        .serve_connection(TokioIo::new(io), TowerToHyperService::new(service));
    // A client that breaks off or is cut off is no error of the server's.
    let _ = tokio::time::timeout(limits.connection, connection).await;
}

/// A failed `accept` (e.g. out of file descriptors) waits a moment instead of spinning.
async fn pause_after_accept_error() {
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// HTTPS: the handshake, then the log-in from the client certificate ([`identity::login`]), then HTTP.
pub async fn serve_tls(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    verifier: Arc<PortalClientVerifier>,
    app: Router,
    limits: Limits,
) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            pause_after_accept_error().await;
            continue;
        };
        let (acceptor, verifier, app) = (acceptor.clone(), Arc::clone(&verifier), app.clone());
        tokio::spawn(async move {
            let Ok(Ok(tls)) = tokio::time::timeout(limits.handshake, acceptor.accept(tcp)).await else {
                return;
            };
            let login = identity::login(&verifier, tls.get_ref().1.peer_certificates());
            serve_connection(tls, app, Some(ConnectionLogin(Arc::new(login))), limits).await;
        });
    }
}

/// Plain HTTP, for OCSP and the CRLs.
pub async fn serve_plain(listener: TcpListener, app: Router, limits: Limits) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            pause_after_accept_error().await;
            continue;
        };
        tokio::spawn(serve_connection(tcp, app.clone(), None, limits));
    }
}
