//! An OCSP responder for the TEST PKI (RFC 6960), response side only: a pure function from a DER `OCSPRequest` and a
//! status lookup to a DER `OCSPResponse`. The HTTP endpoint (RFC 6960 Appendix A) and the store lookup live elsewhere.
//!
//! Choices, each with its reason:
//! - The issuing CA signs its own responses (RFC 6960 §4.2.2.2: "the CA who issued the certificate in question" is an
//!   authorized responder), `sha256WithRSAEncryption` like the CRL, so no delegated responder certificate is needed.
//! - ResponderID is `byKey`: SHA-1 over the CA's subjectPublicKey BIT STRING value (RFC 6960 §4.2.1).
//! - `thisUpdate` = `producedAt` = now; `nextUpdate` = now + [`OCSP_VALIDITY_SECS`] (RFC 6960 §4.2.2.1), short because
//!   a block must reach relying parties quickly, yet long enough that a client may cache the answer for one session.
//! - A request nonce (id-pkix-ocsp-nonce, RFC 8954 / RFC 6960 §4.4.1) is echoed unchanged, so clients that sent one
//!   can bind the response to their request.
//! - CertID hashes SHA-1 and SHA-256 are understood; a CertID with another hash, or naming a CA this PKI does not
//!   have, is answered `unknown` (RFC 6960 §2.2: "the responder doesn't know about the certificate") rather than
//!   failing the whole request, so the other certificates in the same request still get an answer.
//! - A request that does not parse gets `malformedRequest` (RFC 6960 §2.3), never a panic or a transport error.
//!
//! The x509-ocsp release in reach (0.2) is built on `x509-cert` 0.2 / `der` 0.7, while the rest of this crate uses
//! 0.3 / 0.8; the two meet only as DER bytes and plain hashes, never as shared types.

use std::time::Duration;

use der::Encode as _;
use rsa::pkcs1v15::Signature as RsaSignature;
use rsa::signature::{SignatureEncoding, Signer};
use sha1::{Digest, Sha1};
use sha2::Sha256;
use x509_cert_02::der::asn1::{BitString, GeneralizedTime, Null, ObjectIdentifier, OctetString};
use x509_cert_02::der::{Decode as _, Encode as _};
use x509_cert_02::ext::Extension;
use x509_cert_02::ext::pkix::CrlReason;
use x509_cert_02::spki::AlgorithmIdentifierOwned;
use x509_ocsp::{
    BasicOcspResponse, CertId, OcspGeneralizedTime, OcspRequest, OcspResponse, OcspResponseStatus, ResponderId,
    ResponseBytes, ResponseData, RevokedInfo, SingleResponse, Version,
};

use super::{Issuer, TestPki};

/// How long a response stays fresh (`nextUpdate - thisUpdate`): five minutes, so a blocked card is refused within
/// minutes everywhere while a client can still reuse one answer during a login (RFC 6960 §4.2.2.1, §2.4).
pub const OCSP_VALIDITY_SECS: i64 = 5 * 60;

/// id-sha1 (RFC 3279 §2.2.1), the CertID hash OpenSSL uses by default.
const ID_SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
/// id-sha256 (RFC 5754 §2.2).
const ID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
/// sha256WithRSAEncryption (RFC 4055 §5), the same as the certificates and CRLs.
const SHA256_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
/// id-pkix-ocsp-basic (RFC 6960 §4.2.1).
const ID_PKIX_OCSP_BASIC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.1");
/// id-pkix-ocsp-nonce (RFC 6960 §4.4.1).
const ID_PKIX_OCSP_NONCE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.2");

/// What the portal knows about one certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertStatus {
    /// Issued and usable.
    Good,
    /// Revoked (or on hold) since `at` (Unix seconds), for `reason`.
    Revoked {
        /// When the card was blocked or revoked, Unix seconds.
        at: i64,
        /// Why: a hold for a blocked card, a final reason for a revoked one.
        reason: RevocationReason,
    },
    /// Not a certificate the portal has issued.
    Unknown,
}

/// The CRLReason sent with a `revoked` answer (RFC 5280 §5.3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RevocationReason {
    /// `certificateHold` (6): a blocked card, reversible: unblocking makes it `good` again (RFC 5280 §5.3.1).
    CertificateHold,
    /// `cessationOfOperation` (5): a card revoked for good. Chosen over `unspecified` because a revoked card here is
    /// withdrawn from use (lost, replaced, holder left), not a key compromise, and RFC 5280 §5.3.1 names that case
    /// exactly; `keyCompromise` would make relying parties distrust earlier signatures, which nothing here justifies.
    CessationOfOperation,
    /// `keyCompromise` (1): the card's private key is known or suspected to be exposed.
    KeyCompromise,
    /// `unspecified` (0).
    Unspecified,
}

impl RevocationReason {
    fn crl_reason(self) -> CrlReason {
        match self {
            RevocationReason::CertificateHold => CrlReason::CertificateHold,
            RevocationReason::CessationOfOperation => CrlReason::CessationOfOperation,
            RevocationReason::KeyCompromise => CrlReason::KeyCompromise,
            RevocationReason::Unspecified => CrlReason::Unspecified,
        }
    }
}

/// Why an OCSP response could not be built. A bad *request* is not an error: it gets a `malformedRequest` response.
#[derive(Debug, thiserror::Error)]
pub enum OcspError {
    /// A time does not fit GeneralizedTime.
    #[error("OCSP {what} time {unix} is not representable as GeneralizedTime (1970..9999): pass Unix seconds in range")]
    Time {
        /// Which time.
        what: &'static str,
        /// The value given.
        unix: i64,
    },
    /// Encoding the response failed.
    #[error(
        "encoding the OCSP response failed ({0}): a bug in the responder, please report the request that caused it"
    )]
    Encode(String),
    /// The CA key refused to sign.
    #[error("signing the OCSP response with the issuing CA key failed ({0}): check the CA key in the fixture set")]
    Sign(String),
}

fn gtime(unix: i64, what: &'static str) -> Result<OcspGeneralizedTime, OcspError> {
    let secs = u64::try_from(unix).map_err(|_| OcspError::Time { what, unix })?;
    GeneralizedTime::from_unix_duration(Duration::from_secs(secs))
        .map(OcspGeneralizedTime)
        .map_err(|_| OcspError::Time { what, unix })
}

fn encode_err(e: impl std::fmt::Display) -> OcspError {
    OcspError::Encode(e.to_string())
}

/// The response with only a status and no body (RFC 6960 §4.2.1), e.g. `malformedRequest`.
fn status_only(status: OcspResponseStatus) -> Result<Vec<u8>, OcspError> {
    OcspResponse { response_status: status, response_bytes: None }.to_der().map_err(encode_err)
}

impl TestPki {
    /// The issuing CA a CertID names, if any: issuerNameHash over the CA's subject DER and issuerKeyHash over its
    /// subjectPublicKey value, with the hash the CertID names (RFC 6960 §4.1.1). `None` for another CA or hash.
    fn ocsp_issuer(&self, id: &CertId) -> Option<Issuer> {
        let hash: fn(&[u8]) -> Vec<u8> = match id.hash_algorithm.oid {
            ID_SHA1 => |b| Sha1::digest(b).to_vec(),
            ID_SHA256 => |b| Sha256::digest(b).to_vec(),
            _ => return None,
        };
        Issuer::ALL.into_iter().find(|&issuer| {
            let tbs = self.ca(issuer).cert.tbs_certificate();
            let Ok(name) = tbs.subject().to_der() else { return false };
            let key = tbs.subject_public_key_info().subject_public_key.raw_bytes();
            hash(&name) == id.issuer_name_hash.as_bytes() && hash(key) == id.issuer_key_hash.as_bytes()
        })
    }

    /// Answers a DER `OCSPRequest` (RFC 6960 §4.1) with a DER `OCSPResponse` (§4.2): one SingleResponse per CertID,
    /// `status(issuer, serial)` deciding good / revoked / unknown for CertIDs of a TEST issuing CA (`serial` is the
    /// INTEGER's content bytes, as in the certificate), `unknown` for any other CA or an unsupported hash. Signed by
    /// the issuing CA of the first CertID that names one (RFC 6960 §4.2.2.2); if none does, by the first issuing
    /// CA, whose answers are then all `unknown`. A request that does not parse, or has no CertID, gets
    /// `malformedRequest`.
    pub fn ocsp_response(
        &self,
        request_der: &[u8],
        status: impl Fn(Issuer, &[u8]) -> CertStatus,
        now: i64,
    ) -> Result<Vec<u8>, OcspError> {
        let Ok(request) = OcspRequest::from_der(request_der) else {
            return status_only(OcspResponseStatus::MalformedRequest);
        };
        let tbs = request.tbs_request;
        if tbs.request_list.is_empty() {
            return status_only(OcspResponseStatus::MalformedRequest);
        }
        let this_update = gtime(now, "thisUpdate")?;
        let next_update = gtime(now.saturating_add(OCSP_VALIDITY_SECS), "nextUpdate")?;
        let mut signer = None;
        let mut responses = Vec::with_capacity(tbs.request_list.len());
        for req in tbs.request_list {
            let issuer = self.ocsp_issuer(&req.req_cert);
            signer = signer.or(issuer);
            let answer = issuer.map_or(CertStatus::Unknown, |i| status(i, req.req_cert.serial_number.as_bytes()));
            let cert_status = match answer {
                CertStatus::Good => x509_ocsp::CertStatus::good(),
                CertStatus::Unknown => x509_ocsp::CertStatus::unknown(),
                CertStatus::Revoked { at, reason } => x509_ocsp::CertStatus::Revoked(RevokedInfo {
                    revocation_time: gtime(at, "revocationTime")?,
                    revocation_reason: Some(reason.crl_reason()),
                }),
            };
            responses.push(SingleResponse {
                cert_id: req.req_cert,
                cert_status,
                this_update,
                next_update: Some(next_update),
                single_extensions: None,
            });
        }
        let nonce: Vec<Extension> = tbs
            .request_extensions
            .unwrap_or_default()
            .into_iter()
            .filter(|e| e.extn_id == ID_PKIX_OCSP_NONCE)
            .collect();
        self.sign_ocsp(signer.unwrap_or(Issuer::ALL[0]), responses, nonce, this_update)
    }

    /// Wraps the SingleResponses in a BasicOCSPResponse signed by `issuer`'s CA key (RFC 6960 §4.2.1).
    fn sign_ocsp(
        &self,
        issuer: Issuer,
        responses: Vec<SingleResponse>,
        extensions: Vec<Extension>,
        produced_at: OcspGeneralizedTime,
    ) -> Result<Vec<u8>, OcspError> {
        let ca = self.ca(issuer);
        let key = ca.cert.tbs_certificate().subject_public_key_info().subject_public_key.raw_bytes();
        let key_hash = OctetString::new(Sha1::digest(key).to_vec()).map_err(encode_err)?;
        let tbs_response_data = ResponseData {
            version: Version::V1,
            responder_id: ResponderId::ByKey(key_hash),
            produced_at,
            responses,
            response_extensions: if extensions.is_empty() { None } else { Some(extensions) },
        };
        let tbs_der = tbs_response_data.to_der().map_err(encode_err)?;
        let sig: RsaSignature = ca.key.try_sign(&tbs_der).map_err(|e| OcspError::Sign(e.to_string()))?;
        let basic = BasicOcspResponse {
            tbs_response_data,
            signature_algorithm: AlgorithmIdentifierOwned { oid: SHA256_WITH_RSA, parameters: Some(Null.into()) },
            signature: BitString::from_bytes(&sig.to_vec()).map_err(encode_err)?,
            certs: None,
        };
        let response = OctetString::new(basic.to_der().map_err(encode_err)?).map_err(encode_err)?;
        OcspResponse {
            response_status: OcspResponseStatus::Successful,
            response_bytes: Some(ResponseBytes { response_type: ID_PKIX_OCSP_BASIC, response }),
        }
        .to_der()
        .map_err(encode_err)
    }
}
