//! Object identifiers of the X.509 attributes, extensions and policies the TEST PKI writes (RFC 5280, CPS
//! UZI-register §7.1), and the TEST-only policy and CA OIDs.

use super::*;

// ---------------------------------------------------------------------------------------------
// Object identifiers
// ---------------------------------------------------------------------------------------------

/// `id-at-countryName` (2.5.4.6).
pub(super) const OID_C: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.6");
/// `id-at-organizationName` (2.5.4.10).
pub(super) const OID_O: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.10");
/// `id-at-commonName` (2.5.4.3).
pub(super) const OID_CN: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
/// `id-at-serialNumber` (2.5.4.5): the UZI number in UZI-pas subjects.
pub(super) const OID_SERIAL_NUMBER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.5");
/// `id-at-givenName` (2.5.4.42).
pub(super) const OID_GN: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.42");
/// `id-at-surname` (2.5.4.4).
pub(super) const OID_SN: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.4");
/// `id-at-title` (2.5.4.12).
pub(super) const OID_TITLE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.12");
/// `id-at-organizationIdentifier` (2.5.4.97), used in the UZI-register G3 CA names.
pub(super) const OID_ORG_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.97");

/// The otherName type-id under which the UZI-register puts its identity string
/// (CPS UZI-register §7.1, SubjectAltName).
pub const OID_UZI_OTHERNAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.5.5");
/// Microsoft User Principal Name otherName (1.3.6.1.4.1.311.20.2.3), present on the
/// authentication certificate so Windows smartcard logon can map the card to an account.
pub const OID_MS_UPN: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.20.2.3");

/// OID of the production UZI-register Zorgverlener CA as used in the 2.5.5.5 otherName (CPS UZI-register v10.2
/// §7.1.5 Table 11).
pub const OID_CA_ZORGVERLENER: &str = "2.16.528.1.1003.1.3.5.5.2";
/// OID of the production UZI-register Medewerker op naam CA as used in the 2.5.5.5 otherName (CPS §7.1.5 Table 11).
pub const OID_CA_MEDEWERKER_OP_NAAM: &str = "2.16.528.1.1003.1.3.5.5.3";
/// OID of the production UZI-register Medewerker niet op naam CA as used in the 2.5.5.5 otherName (CPS §7.1.5
/// Table 11).
pub const OID_CA_MEDEWERKER_NIET_OP_NAAM: &str = "2.16.528.1.1003.1.3.5.5.4";
/// OID CA of the TEST UZI-register Zorgverlener CA G3 in the 2.5.5.5 otherName, as on the real TEST pass
/// certificates (`minvws/pUZI-php:tests/certs-with-pki/real/expired_1/Authenticiteit.cer`:
/// `2.16.528.1.1007.99.217-1-900016528-Z-…`).
pub const OID_CA_ZORGVERLENER_TEST: &str = "2.16.528.1.1007.99.217";
/// OID CA of the TEST UZI-register Medewerker op naam CA in the 2.5.5.5 otherName, as in the TEST N-pass signer
/// attributes of `nuts-foundation/nuts-node`'s UZI tests (`oidCa: 2.16.528.1.1007.99.218`).
pub const OID_CA_MEDEWERKER_OP_NAAM_TEST: &str = "2.16.528.1.1007.99.218";
/// OID CA of the TEST UZI-register Medewerker niet op naam CA in the 2.5.5.5 otherName: this project's choice,
/// the next in the TEST series after Z (`…99.217`) and N (`…99.218`); no public TEST M-pass certificate was found.
pub const OID_CA_MEDEWERKER_NIET_OP_NAAM_TEST: &str = "2.16.528.1.1007.99.219";
/// TEST OID standing in for the ZORG-ID Smartcard CA in the 2.5.5.5 otherName.
pub const OID_CA_ZORG_ID_TEST: &str = "2.16.528.1.1007.99.400";

/// TEST certificate policy OIDs for the authentication / signature / encryption certificates.
/// The real UZI policies live under 2.16.528.1.1003.1.2.8.*; these deliberately do not.
pub const OID_POLICY_AUTH_TEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.528.1.1007.99.211");
/// TEST policy OID of the non-repudiation (signature) certificate.
pub const OID_POLICY_SIGN_TEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.528.1.1007.99.212");
/// TEST policy OID of the encryption certificate.
pub const OID_POLICY_ENC_TEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.528.1.1007.99.213");

/// `rsaEncryption` (RFC 8017 Appendix A.1).
pub(super) const OID_RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
/// `id-ecPublicKey` (RFC 5480 §2.1.1).
pub(super) const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// `prime256v1` / `secp256r1` (RFC 5480 §2.1.1.1).
pub(super) const OID_PRIME256V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");

pub(super) const OID_EKU_CLIENT_AUTH: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.2");
pub(super) const OID_EKU_EMAIL_PROTECTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.4");
/// Microsoft Document Signing.
pub(super) const OID_EKU_MS_DOCUMENT_SIGNING: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.10.3.12");
/// Microsoft Encrypting File System.
pub(super) const OID_EKU_MS_EFS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.10.3.4");

/// `id-ad-ocsp` (RFC 5280 §4.2.2.1): the accessMethod of the OCSP responder in authorityInfoAccess.
pub(super) const OID_AD_OCSP: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1");
/// `id-ad-caIssuers` (RFC 5280 §4.2.2.1): the accessMethod of the issuing CA's certificate in authorityInfoAccess.
pub(super) const OID_AD_CA_ISSUERS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.2");

/// Address of `zorgcard portal serve`'s plain-HTTP listener (the `--ocsp-listen` default in
/// `portal-web/src/lib.rs`), where [`Issuer::ocsp_url`] and [`Issuer::ca_issuers_url`] point.
pub const PORTAL_HTTP_ADDR: &str = "127.0.0.1:8081";
/// Path of the OCSP responder on [`PORTAL_HTTP_ADDR`] (`POST`, RFC 6960 Appendix A.1).
pub const OCSP_PATH: &str = "/ocsp";
/// Folder of the issuing CA certificates on [`PORTAL_HTTP_ADDR`]: `GET <CA_ISSUERS_PATH>/<Issuer::file_stem()>.cer`
/// answers the DER certificate (RFC 5280 §4.2.2.1, `application/pkix-cert`).
pub const CA_ISSUERS_PATH: &str = "/ca";

/// Base URL of the CRL distribution points written into end-entity certificates; the
/// conformance harness serves `<Issuer::file_stem()>.crl` there.
pub const CRL_BASE_URL: &str = "http://127.0.0.1:8080";

/// How long a CRL from [`TestPki::crl`] is valid (`nextUpdate - thisUpdate`): seven days.
pub const CRL_VALIDITY_SECS: i64 = 7 * 24 * 60 * 60;

/// Size of the TEST CA keys in bits: "The key length of a CA-Certificate is 4096 bits RSA"
/// (CPS UZI-register v10.2 §6.1.4).
pub const CA_KEY_BITS: usize = 4096;

/// Smallest RSA holder key [`TestPki::issue`] accepts: "The key length of a Certificate is at
/// least 2048 bits RSA" (CPS UZI-register v10.2 §6.1.4).
pub const MIN_HOLDER_RSA_BITS: usize = 2048;

/// Largest RSA holder key [`TestPki::issue`] accepts (the RustCrypto `rsa` default limit).
pub const MAX_HOLDER_RSA_BITS: usize = 4096;

/// CA certificate validity: 2020-01-01T00:00:00Z ..
pub(super) const CA_NOT_BEFORE: i64 = 1_577_836_800;
/// .. 2050-01-01T00:00:00Z.
pub(super) const CA_NOT_AFTER: i64 = 2_524_608_000;
