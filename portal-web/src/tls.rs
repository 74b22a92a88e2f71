//! TLS for the portal: its own server certificate for `localhost`, and the client-certificate check that is the
//! log-in.
//!
//! - **Server certificate.** The TEST PKI issues only card certificates (`TestPki::issue`: the UZI-register
//!   subject and 2.5.5.5 otherName profile, no dNSName, no serverAuth), so it cannot name `localhost`. Each start
//!   makes a fresh throw-away CA and a `localhost` / `127.0.0.1` / `::1` certificate under it with `rcgen`
//!   (ECDSA P-256); only the CA certificate is written out, for `curl --cacert`. The keys stay in memory.
//! - **Client certificates.** rustls' `WebPkiClientVerifier` (RFC 5280 §6 path validation, extendedKeyUsage
//!   clientAuth) with the four TEST issuing CAs as trust anchors — the UZI-register Zorgverlener, Medewerker op
//!   naam and Medewerker niet op naam CAs and the ZORG-ID Smartcard CA — so nothing else the TEST root might sign
//!   can log in, and a card only needs to send its own certificate. [`PortalClientVerifier`] wraps it: during the
//!   handshake it only checks that the client holds the key (CertificateVerify, RFC 8446 §4.4.3) and accepts
//!   clients without a certificate; the path is validated afterwards by [`PortalClientVerifier::check`], at the
//!   portal's clock, so a refused log-in is an HTTP 401 whose body says why (nginx's `ssl_verify_client
//!   optional_no_ca` works the same way) rather than a bare TLS alert.
//! - TLS 1.3 and 1.2 (RFC 8446, RFC 5246), ALPN `http/1.1` only.

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme};

use issuance::pki::{Issuer, TestPki};

use crate::clock::PortalClock;
use crate::error::WebError;

/// The portal's server certificate and the throw-away CA that signed it.
pub struct ServerCertificate {
    /// The CA certificate, PEM: what a client passes to `curl --cacert`.
    pub ca_pem: String,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl std::fmt::Debug for ServerCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The private key never reaches Debug output.
        f.debug_struct("ServerCertificate").field("chain", &self.chain.len()).field("key", &"***").finish()
    }
}

impl ServerCertificate {
    /// A new CA (`CN=TEST zorgcard portal server CA`) and under it a certificate for `localhost`, `127.0.0.1`
    /// and `::1`.
    pub fn generate() -> Result<ServerCertificate, WebError> {
        let err = |e: rcgen::Error| WebError::ServerCertificate(e.to_string());
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(err)?;
        ca_params.distinguished_name.push(rcgen::DnType::CommonName, "TEST zorgcard portal server CA");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
        ca_params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign];
        let ca_key = rcgen::KeyPair::generate().map_err(err)?;
        let ca_cert = ca_params.self_signed(&ca_key).map_err(err)?;
        let ca = rcgen::Issuer::new(ca_params, ca_key);

        let names = vec!["localhost".to_string(), "127.0.0.1".to_string(), "::1".to_string()];
        let mut params = rcgen::CertificateParams::new(names).map_err(err)?;
        params.distinguished_name.push(rcgen::DnType::CommonName, "localhost");
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let key = rcgen::KeyPair::generate().map_err(err)?;
        let cert = params.signed_by(&key, &ca).map_err(err)?;
        Ok(ServerCertificate {
            ca_pem: ca_cert.pem(),
            chain: vec![cert.der().clone(), ca_cert.der().clone()],
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        })
    }
}

/// The client-certificate check: see the module documentation.
#[derive(Debug)]
pub struct PortalClientVerifier {
    inner: Arc<dyn ClientCertVerifier>,
    clock: PortalClock,
}

impl PortalClientVerifier {
    /// Trusts the four issuing CAs of `pki`; validity is judged at `clock`.
    pub fn new(pki: &TestPki, clock: PortalClock) -> Result<PortalClientVerifier, WebError> {
        let mut roots = RootCertStore::empty();
        for issuer in Issuer::ALL {
            roots.add(CertificateDer::from(pki.ca_der(issuer))).map_err(|e| WebError::Tls(e.to_string()))?;
        }
        let inner = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
            .allow_unauthenticated()
            .build()
            .map_err(|e| WebError::Tls(e.to_string()))?;
        Ok(PortalClientVerifier { inner, clock })
    }

    /// RFC 5280 path validation of a client's certificate chain to one of the TEST issuing CAs, for TLS client
    /// authentication (extendedKeyUsage clientAuth), at the portal's clock.
    pub fn check(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
    ) -> Result<(), rustls::Error> {
        self.inner.verify_client_cert(end_entity, intermediates, self.clock.unix_time()).map(|_| ())
    }

    /// The portal's clock.
    pub fn clock(&self) -> PortalClock {
        self.clock.clone()
    }
}

impl ClientCertVerifier for PortalClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    /// Accepted here and checked by [`PortalClientVerifier::check`] before any request is answered, so the
    /// refusal reaches the client as an HTTP 401 with its reason.
    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// rustls' *ring* provider. rustls 0.23.48 deprecates it for lacking a post-quantum key exchange
/// (X25519MLKEM768 comes only with aws-lc-rs, a large C/CMake build); a TEST portal on loopback does not need one.
#[allow(deprecated)]
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The server side: TLS 1.3 and 1.2, `http/1.1`, the portal's certificate, client certificates through
/// `verifier`.
pub fn server_config(
    certificate: &ServerCertificate,
    verifier: Arc<PortalClientVerifier>,
) -> Result<ServerConfig, WebError> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| WebError::Tls(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certificate.chain.clone(), certificate.key.clone_key())
        .map_err(|e| WebError::Tls(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}
