//! `POST /ocsp`: the OCSP responder over HTTP (RFC 6960 Appendix A.1: `application/ocsp-request` in,
//! `application/ocsp-response` out), answering from the portal database as committed at the moment of the request:
//! a ZORG-ID Smartcard's certificate is `good` while its card is active, `revoked` with `certificateHold` while it
//! is blocked (reversible, RFC 5280 §5.3.1) and with `cessationOfOperation` once revoked; a serial the registry
//! does not have, or of a UZI-register CA (the UZI-register answers for those, not this portal), is `unknown`.
//! The response itself is `TestPki::ocsp_response` (issuance/src/pki/ocsp.rs).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use issuance::pki::{CertStatus, Issuer, RevocationReason, TestPki};
use portal::{CardRecord, CardStatus, Registry};

use crate::identity::serial_hex;
use crate::service::{Portal, card_of_certificate};

/// RFC 6960 Appendix A.1 media types.
const OCSP_REQUEST: &str = "application/ocsp-request";
const OCSP_RESPONSE: &str = "application/ocsp-response";

/// What the OCSP and CRL handlers share.
#[derive(Debug, Clone)]
pub struct Revocation {
    /// The portal database.
    pub portal: Portal,
    /// The CAs that sign the answers.
    pub pki: Arc<TestPki>,
}

/// When a card was last blocked: the time of its last `blocked` event (`<RFC 3339> <actor> blocked`), else its
/// issue time.
fn blocked_at(card: &CardRecord) -> i64 {
    card.events
        .iter()
        .rev()
        .find(|e| e.ends_with(" blocked"))
        .and_then(|e| e.split(' ').next())
        .and_then(|t| time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok())
        .map_or(card.issued.not_before, |t| t.unix_timestamp())
}

fn revoked_at(card: &CardRecord) -> i64 {
    card.revoked_at
        .as_deref()
        .and_then(|t| time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok())
        .map_or(card.issued.not_before, |t| t.unix_timestamp())
}

/// The status of certificate `serial` of `issuer` in `registry`.
pub fn status(registry: &Registry, issuer: Issuer, serial: &[u8]) -> CertStatus {
    if issuer != Issuer::ZorgId {
        return CertStatus::Unknown;
    }
    match card_of_certificate(registry, &serial_hex(serial)) {
        None => CertStatus::Unknown,
        Some(c) => match c.status {
            CardStatus::Active => CertStatus::Good,
            CardStatus::Blocked => CertStatus::Revoked { at: blocked_at(c), reason: RevocationReason::CertificateHold },
            CardStatus::Revoked => {
                CertStatus::Revoked { at: revoked_at(c), reason: RevocationReason::CessationOfOperation }
            }
        },
    }
}

fn plain(status: StatusCode, text: String) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text + "\n").into_response()
}

/// `POST /ocsp`.
pub async fn ocsp(State(r): State<Revocation>, headers: HeaderMap, body: Bytes) -> Response {
    let media = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !media.eq_ignore_ascii_case(OCSP_REQUEST) {
        return plain(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("an OCSP request is sent as `Content-Type: {OCSP_REQUEST}` (RFC 6960 A.1), not `{media}`"),
        );
    }
    let registry = match r.portal.read().await {
        Ok(registry) => registry,
        Err(e) => return plain(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    let now = r.portal.clock().now();
    let pki = Arc::clone(&r.pki);
    let signed = tokio::task::spawn_blocking(move || {
        pki.ocsp_response(&body, |issuer, serial| status(&registry, issuer, serial), now)
    })
    .await;
    match signed {
        Ok(Ok(der)) => ([(header::CONTENT_TYPE, OCSP_RESPONSE)], der).into_response(),
        Ok(Err(e)) => plain(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(e) => plain(StatusCode::INTERNAL_SERVER_ERROR, format!("the OCSP signing task stopped ({e}): retry")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portal::{IssuedCard, IssuedCertificate};

    fn registry(status: CardStatus, events: &[&str], revoked_at: Option<&str>) -> Registry {
        let issued = IssuedCard {
            serial: "9100000000000001".into(),
            holder_name: "Test".into(),
            uzi_number: "900030001".into(),
            organisation: "Test Zorginstelling 01".into(),
            subscriber_number: "90000001".into(),
            birth_date: "1990-05-17".into(),
            made_with_uzi_pass: "9000000000000001".into(),
            not_before: 1_767_225_600,
            not_after: 1_767_225_600 + 94_608_000,
            certificates: vec![IssuedCertificate { role: "authentication".into(), serial: "01AB".into() }],
        };
        let mut card = CardRecord::new(issued);
        card.status = status;
        card.events.extend(events.iter().map(|e| e.to_string()));
        card.revoked_at = revoked_at.map(str::to_string);
        Registry { cards: vec![card], ..Registry::default() }
    }

    #[test]
    fn a_card_status_is_its_certificates_ocsp_status() {
        let serial = [0x01, 0xAB];
        assert_eq!(status(&registry(CardStatus::Active, &[], None), Issuer::ZorgId, &serial), CertStatus::Good);
        let blocked = registry(CardStatus::Blocked, &["2026-02-01T10:00:00Z 900016528 blocked"], None);
        assert_eq!(
            status(&blocked, Issuer::ZorgId, &serial),
            CertStatus::Revoked { at: 1_769_940_000, reason: RevocationReason::CertificateHold }
        );
        let revoked = registry(CardStatus::Revoked, &[], Some("2026-02-01T10:00:00Z"));
        assert_eq!(
            status(&revoked, Issuer::ZorgId, &serial),
            CertStatus::Revoked { at: 1_769_940_000, reason: RevocationReason::CessationOfOperation }
        );
        assert_eq!(status(&revoked, Issuer::ZorgId, &[0x01, 0xAC]), CertStatus::Unknown, "another serial");
        assert_eq!(
            status(&revoked, Issuer::Uzi(issuance::pki::HolderType::Z), &serial),
            CertStatus::Unknown,
            "the UZI-register answers for its own CAs"
        );
    }
}
