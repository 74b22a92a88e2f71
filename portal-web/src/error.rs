//! Why `zorgcard portal serve` could not start. Each message names the address or file and the fix.

use std::net::SocketAddr;
use std::path::PathBuf;

/// The server could not be set up; once it runs, problems are HTTP answers, not these.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// The portal database could not be opened or created.
    #[error(transparent)]
    Store(#[from] portal::StoreError),
    /// The TEST PKI (the CAs whose cards may log in) could not be loaded.
    #[error("cannot load the TEST PKI whose cards log in to the portal: {0}: check the fixture set (--fixtures)")]
    Pki(#[from] issuance::pki::PkiError),
    /// An address is not on loopback.
    #[error(
        "refusing to serve the TEST portal on {addr}: its CAs are for this machine only; bind a loopback address such as 127.0.0.1:8443"
    )]
    NotLoopback {
        /// The address asked for.
        addr: SocketAddr,
    },
    /// A listening socket could not be opened.
    #[error("cannot listen on {addr}: {problem}: pick another port (127.0.0.1:0 for any free one)")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        problem: String,
    },
    /// The server certificate could not be made.
    #[error("cannot make the portal's TLS server certificate for localhost: {0}: a bug, please report it")]
    ServerCertificate(String),
    /// TLS could not be configured.
    #[error("cannot configure TLS for the portal: {0}: a bug, please report it")]
    Tls(String),
    /// The server CA certificate could not be written.
    #[error("cannot write the server CA certificate to `{}`: {problem}: check --server-cert-out", path.display())]
    WriteCert {
        /// The file.
        path: PathBuf,
        /// The OS error.
        problem: String,
    },
    /// `--as` was given: the served portal takes each actor from their client certificate.
    #[error("portal serve takes who acts from each client certificate: drop --as")]
    ActorFlag,
    /// The async runtime could not start.
    #[error("cannot start the portal's runtime: {0}: check the process limits (threads, open files)")]
    Runtime(String),
}
