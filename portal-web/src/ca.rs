//! `GET /ca/{issuer}.cer`: each TEST issuing CA's certificate, DER (`application/pkix-cert`, RFC 2585 §4.1), where
//! the holder certificates' authorityInfoAccess id-ad-caIssuers points (RFC 5280 §4.2.2.1, `Issuer::ca_issuers_url`
//! in issuance/src/pki/holder.rs), so a relying party holding only a card's certificate can build the chain.
//! `{issuer}` is the CA's file stem (`Issuer::file_stem`, e.g. `zorg-id-ca`), as for the CRLs ([`crate::crl`]).

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use issuance::pki::Issuer;

use crate::ocsp::Revocation;

/// RFC 2585 §4.1: a single DER certificate.
const PKIX_CERT: &str = "application/pkix-cert";

/// `GET /ca/{file}`.
pub async fn ca(State(r): State<Revocation>, Path(file): Path<String>) -> Response {
    match Issuer::ALL.into_iter().find(|i| file.strip_suffix(".cer") == Some(i.file_stem())) {
        Some(issuer) => ([(header::CONTENT_TYPE, PKIX_CERT)], r.pki.ca_der(issuer)).into_response(),
        None => {
            let names: Vec<String> = Issuer::ALL.iter().map(|i| i.ca_issuers_path()).collect();
            let text = format!("no CA certificate `{file}`: the CA certificates are {}\n", names.join(", "));
            (StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
        }
    }
}
