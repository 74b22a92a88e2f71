//! `GET /crl/{issuer}.crl`: each TEST issuing CA's CRL (RFC 5280 §5; `application/pkix-crl`, RFC 2585 §4.2),
//! made from the portal database at each request, like `zorgcard crl serve` (`portal/src/crl.rs`): the ZORG-ID
//! Smartcard CA's lists every certificate of every revoked card (`Registry::revoked_entries`); the UZI-register
//! CAs' are empty, as the portal revokes no UZI-pas. `{issuer}` is the CA's file stem
//! (`Issuer::file_stem`, e.g. `zorg-id-ca`), as in the certificates' cRLDistributionPoints.

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use issuance::pki::Issuer;

use crate::ocsp::Revocation;

fn plain(status: StatusCode, text: String) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text + "\n").into_response()
}

/// `GET /crl/{file}`.
pub async fn crl(State(r): State<Revocation>, Path(file): Path<String>) -> Response {
    let Some(issuer) = Issuer::ALL.into_iter().find(|i| file.strip_suffix(".crl") == Some(i.file_stem())) else {
        let names: Vec<String> = Issuer::ALL.iter().map(|i| format!("/crl/{}.crl", i.file_stem())).collect();
        return plain(StatusCode::NOT_FOUND, format!("no CRL `{file}`: the CRLs are {}", names.join(", ")));
    };
    let registry = match r.portal.read().await {
        Ok(registry) => registry,
        Err(e) => return plain(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    let entries = if issuer == Issuer::ZorgId { registry.revoked_entries() } else { Vec::new() };
    match r.pki.crl(issuer, &entries, r.portal.clock().now()) {
        Ok(der) => ([(header::CONTENT_TYPE, "application/pkix-crl")], der).into_response(),
        Err(e) => plain(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}
