//! The test-only PKI: a TEST CA hierarchy and end-entity certificates shaped after the
//! UZI-register certificate profile (CPS UZI-register v10.2) and the ZORG-ID Smartcard.
//!
//! Why this exists: a simulated UZI-pas or ZORG-ID Smartcard is only useful to relying-party
//! software (OpenSC, browsers, signing tools, the conformance suite) if the certificates on it
//! look like the real ones — same subject attributes, same SubjectAltName otherName layout, same
//! key usages — while being unmistakably *not* real. Every CA name therefore contains `TEST`, the
//! CA keys are committed test fixtures (see `fixtures/pki/README.md`), and nothing here can chain
//! to the real UZI-register or ZORG-ID roots.
//!
//! Algorithms follow the UZI-register: the CA keys are 4096-bit RSA (CPS UZI-register v10.2
//! §6.1.4) and every certificate and CRL is signed `sha256WithRSAEncryption` (RSASSA-PKCS1-v1_5,
//! RFC 8017 §8.2; CPS §7.1.1 Table 7). Holder keys are a [`HolderPublicKey`]: RSA-2048, as on a
//! real UZI-pas (CPS §6.1.4, "at least 2048 bits"), or P-256 for project-specific profiles.
//!
//! Everything is deterministic: the CA keys are fixed, PKCS#1 v1.5 signatures are a function
//! of key and message, serial numbers are derived from the inputs and times are passed in
//! explicitly, so the same inputs produce byte-identical certificates and CRLs (golden
//! snapshots stay stable).
//!
//! All X.509 structures are built with the RustCrypto `x509-cert` types (certificate builder,
//! `TbsCertList`), extension and otherName values with `der` types; no DER is hand-written.
//!
//! Hierarchy:
//!
//! ```text
//! CN=TEST Zorgcard Root CA, O=zorgcard TEST, C=NL                     fixtures/pki/root-ca.*
//! ├── CN=TEST UZI-register Zorgverlener CA G3               (Z)       uzi-zorgverlener-ca.*
//! ├── CN=TEST UZI-register Medewerker op naam CA G3         (N)       uzi-medewerker-op-naam-ca.*
//! ├── CN=TEST UZI-register Medewerker niet op naam CA G3    (M)       uzi-medewerker-niet-op-naam-ca.*
//! └── CN=TEST ZORG-ID Smartcard CA                                    zorg-id-ca.*
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use der::asn1::{
    Ia5String, Ia5StringRef, ObjectIdentifier, PrintableString, PrintableStringRef, TeletexStringRef, Utf8StringRef,
};
use der::pem::LineEnding;
use der::referenced::OwnedToRef;
use der::{Any, DateTime, Decode, Encode, EncodePem, Tag, Tagged};
use rsa::pkcs1::{DecodeRsaPublicKey, EncodeRsaPublicKey};
use rsa::pkcs1v15::{Signature as RsaSignature, SigningKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePublicKey};
use rsa::signature::{Keypair, Signer};
use rsa::traits::PublicKeyParts;
use sha2::{Digest, Sha256};
use spki::{
    DynSignatureAlgorithmIdentifier, SignatureBitStringEncoding, SubjectPublicKeyInfoOwned, SubjectPublicKeyInfoRef,
};
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::builder::profile::BuilderProfile;
use x509_cert::builder::{Builder, CertificateBuilder};
use x509_cert::certificate::{Certificate, TbsCertificate, Version};
use x509_cert::crl::{CertificateList, RevokedCert, TbsCertList};
use x509_cert::ext::pkix::certpolicy::PolicyInformation;
use x509_cert::ext::pkix::crl::dp::DistributionPoint;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName, OtherName};
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, CertificatePolicies, CrlDistributionPoints, CrlNumber, ExtendedKeyUsage,
    KeyUsage, KeyUsages, SubjectAltName, SubjectKeyIdentifier,
};
use x509_cert::ext::{Extension, ToExtension};
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};

// ---------------------------------------------------------------------------------------------
// Object identifiers
// ---------------------------------------------------------------------------------------------

/// `id-at-countryName` (2.5.4.6).
const OID_C: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.6");
/// `id-at-organizationName` (2.5.4.10).
const OID_O: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.10");
/// `id-at-commonName` (2.5.4.3).
const OID_CN: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
/// `id-at-serialNumber` (2.5.4.5): the UZI number in UZI-pas subjects.
const OID_SERIAL_NUMBER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.5");
/// `id-at-givenName` (2.5.4.42).
const OID_GN: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.42");
/// `id-at-surname` (2.5.4.4).
const OID_SN: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.4");
/// `id-at-title` (2.5.4.12).
const OID_TITLE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.12");
/// `id-at-organizationIdentifier` (2.5.4.97), used in the UZI-register G3 CA names.
const OID_ORG_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.97");

/// The otherName type-id under which the UZI-register puts its identity string
/// (CPS UZI-register §7.1, SubjectAltName).
pub const OID_UZI_OTHERNAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.5.5");
/// Microsoft User Principal Name otherName (1.3.6.1.4.1.311.20.2.3), present on the
/// authentication certificate so Windows smartcard logon can map the card to an account.
pub const OID_MS_UPN: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.20.2.3");

/// OID of the UZI-register Zorgverlener CA as used in the 2.5.5.5 otherName.
pub const OID_CA_ZORGVERLENER: &str = "2.16.528.1.1003.1.3.5.5.2";
/// OID of the UZI-register Medewerker op naam CA as used in the 2.5.5.5 otherName.
pub const OID_CA_MEDEWERKER_OP_NAAM: &str = "2.16.528.1.1003.1.3.5.5.3";
/// OID of the UZI-register Medewerker niet op naam CA as used in the 2.5.5.5 otherName.
pub const OID_CA_MEDEWERKER_NIET_OP_NAAM: &str = "2.16.528.1.1003.1.3.5.5.4";
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
const OID_RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
/// `id-ecPublicKey` (RFC 5480 §2.1.1).
const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// `prime256v1` / `secp256r1` (RFC 5480 §2.1.1.1).
const OID_PRIME256V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");

const OID_EKU_CLIENT_AUTH: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.2");
const OID_EKU_EMAIL_PROTECTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.4");
/// Microsoft Document Signing.
const OID_EKU_MS_DOCUMENT_SIGNING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.10.3.12");
/// Microsoft Encrypting File System.
const OID_EKU_MS_EFS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.10.3.4");

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
const CA_NOT_BEFORE: i64 = 1_577_836_800;
/// .. 2050-01-01T00:00:00Z.
const CA_NOT_AFTER: i64 = 2_524_608_000;

// ---------------------------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------------------------

/// The three UZI-pas card types (CPS UZI-register §1.3 and §3.1): the type letter appears in
/// the 2.5.5.5 otherName and selects the issuing CA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum HolderType {
    /// Zorgverlenerpas: a registered healthcare professional (BIG-registered or similar).
    Z,
    /// Medewerkerpas op naam: a named employee of a healthcare organisation.
    N,
    /// Medewerkerpas niet op naam: a card bound to a function, not a person.
    M,
}

impl HolderType {
    /// The card-type letter used in the 2.5.5.5 otherName.
    pub fn letter(self) -> char {
        match self {
            HolderType::Z => 'Z',
            HolderType::N => 'N',
            HolderType::M => 'M',
        }
    }

    /// The OID of the issuing UZI-register CA as it appears in the 2.5.5.5 otherName
    /// (CPS UZI-register §7.1).
    pub fn uzi_ca_oid(self) -> &'static str {
        match self {
            HolderType::Z => OID_CA_ZORGVERLENER,
            HolderType::N => OID_CA_MEDEWERKER_OP_NAAM,
            HolderType::M => OID_CA_MEDEWERKER_NIET_OP_NAAM,
        }
    }
}

/// The three key pairs and certificates on a card (CPS UZI-register §1.4 and §6.1.7):
/// each has its own key usage and policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum CertRole {
    /// Authentication certificate: TLS client authentication, Windows logon (keyUsage
    /// digitalSignature).
    Authentication,
    /// Non-repudiation certificate for qualified-style electronic signatures (keyUsage
    /// nonRepudiation).
    Signature,
    /// Encryption certificate (keyUsage keyEncipherment + dataEncipherment).
    Encryption,
}

impl CertRole {
    /// All roles, in the order they appear on a card.
    pub const ALL: [CertRole; 3] = [CertRole::Authentication, CertRole::Signature, CertRole::Encryption];

    /// One byte identifying the role in serial-number derivation.
    fn tag(self) -> u8 {
        match self {
            CertRole::Authentication => 1,
            CertRole::Signature => 2,
            CertRole::Encryption => 3,
        }
    }

    /// The TEST certificate-policy OID of this role.
    pub fn policy_oid(self) -> ObjectIdentifier {
        match self {
            CertRole::Authentication => OID_POLICY_AUTH_TEST,
            CertRole::Signature => OID_POLICY_SIGN_TEST,
            CertRole::Encryption => OID_POLICY_ENC_TEST,
        }
    }
}

/// Which TEST CA issues a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Issuer {
    /// One of the three TEST UZI-register CAs, selected by card type.
    Uzi(HolderType),
    /// The TEST ZORG-ID Smartcard CA.
    ZorgId,
}

impl Issuer {
    /// All issuing (intermediate) CAs.
    pub const ALL: [Issuer; 4] =
        [Issuer::Uzi(HolderType::Z), Issuer::Uzi(HolderType::N), Issuer::Uzi(HolderType::M), Issuer::ZorgId];

    /// File stem of this CA in `fixtures/pki/` (`<stem>.key.pem`, `<stem>.cert.pem`) and of
    /// its CRL (`<CRL_BASE_URL>/<stem>.crl`).
    pub fn file_stem(self) -> &'static str {
        match self {
            Issuer::Uzi(HolderType::Z) => "uzi-zorgverlener-ca",
            Issuer::Uzi(HolderType::N) => "uzi-medewerker-op-naam-ca",
            Issuer::Uzi(HolderType::M) => "uzi-medewerker-niet-op-naam-ca",
            Issuer::ZorgId => "zorg-id-ca",
        }
    }

    /// The CA's common name (the real name with `TEST` in it).
    pub fn common_name(self) -> &'static str {
        match self {
            Issuer::Uzi(HolderType::Z) => "TEST UZI-register Zorgverlener CA G3",
            Issuer::Uzi(HolderType::N) => "TEST UZI-register Medewerker op naam CA G3",
            Issuer::Uzi(HolderType::M) => "TEST UZI-register Medewerker niet op naam CA G3",
            Issuer::ZorgId => "TEST ZORG-ID Smartcard CA",
        }
    }

    /// URL of this CA's CRL, as written in the cRLDistributionPoints extension.
    pub fn crl_url(self) -> String {
        format!("{CRL_BASE_URL}/{}.crl", self.file_stem())
    }

    /// The CA OID written at the start of the 2.5.5.5 otherName.
    fn san_ca_oid(self) -> &'static str {
        match self {
            Issuer::Uzi(t) => t.uzi_ca_oid(),
            Issuer::ZorgId => OID_CA_ZORG_ID_TEST,
        }
    }

    fn index(self) -> usize {
        match self {
            Issuer::Uzi(HolderType::Z) => 0,
            Issuer::Uzi(HolderType::N) => 1,
            Issuer::Uzi(HolderType::M) => 2,
            Issuer::ZorgId => 3,
        }
    }
}

/// File stem of the TEST root CA in `fixtures/pki/`.
pub const ROOT_FILE_STEM: &str = "root-ca";
/// Common name of the TEST root CA.
pub const ROOT_COMMON_NAME: &str = "TEST Zorgcard Root CA";

/// The card holder as the certificate profile needs it (CPS UZI-register §3.1 naming and
/// §7.1 subject / SubjectAltName).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Holder {
    /// Card type; must match the UZI CA passed to [`TestPki::issue`].
    pub holder_type: HolderType,
    /// The 9-digit UZI number: subject serialNumber and part of the 2.5.5.5 otherName.
    pub uzi_number: String,
    /// givenName; required for Z and N cards and ZORG-ID cards, ignored for M cards.
    pub given_name: Option<String>,
    /// surname; required for Z and N cards and ZORG-ID cards, ignored for M cards.
    pub surname: Option<String>,
    /// commonName: the full name, or for M cards the function name.
    pub common_name: String,
    /// title; only written for Z cards (the profession).
    pub title: Option<String>,
    /// organizationName: the subscriber (healthcare organisation).
    pub organisation: String,
    /// Subscriber number (URA number), digits only; in the otherName and the UPN.
    pub subscriber_number: String,
    /// Role code such as `01.015`; in the otherName.
    pub role: String,
    /// AGB code, 8 digits, or `00000000` when the holder has none; in the otherName.
    pub agb_code: String,
}

/// One CRL entry for [`TestPki::crl`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedEntry {
    /// Serial number of the revoked certificate as unsigned big-endian bytes (leading zeros
    /// are allowed), e.g. [`CertSummary::serial`].
    pub serial: Vec<u8>,
    /// Revocation time, Unix seconds.
    pub revoked_at: i64,
}

/// The public key a certificate is issued for: the holder's key pair lives on the card, only
/// the public half reaches the CA (CPS UZI-register v10.2 §6.1.2).
///
/// RSA is what a real UZI-pas carries (CPS §6.1.4 and §7.1.1 Table 7: "2048 bits RSA
/// PublicKey of the Subject"); P-256 stays available as a per-key choice of a profile.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HolderPublicKey {
    /// An RSA public key (RFC 8017 §3.1), both integers unsigned big-endian without leading
    /// zero bytes.
    Rsa {
        /// The modulus `n` (256 bytes for RSA-2048).
        modulus: Vec<u8>,
        /// The public exponent `e` (`01 00 01` for 65537).
        exponent: Vec<u8>,
    },
    /// A P-256 public key as a SEC1 point (`04‖X‖Y`, 65 bytes, or 33 bytes compressed).
    P256 {
        /// The SEC1 encoding.
        sec1: Vec<u8>,
    },
}

impl HolderPublicKey {
    /// An RSA key from its modulus and exponent (unsigned big-endian; leading zero bytes are
    /// dropped so that equal keys compare equal).
    pub fn rsa(modulus: &[u8], exponent: &[u8]) -> HolderPublicKey {
        HolderPublicKey::Rsa { modulus: strip_leading_zeros(modulus), exponent: strip_leading_zeros(exponent) }
    }

    /// The public half of a RustCrypto RSA key.
    pub fn from_rsa(key: &rsa::PublicKey) -> HolderPublicKey {
        HolderPublicKey::rsa(&key.n_bytes(), &key.e_bytes())
    }

    /// Parses a DER SubjectPublicKeyInfo (RFC 5280 §4.1.2.7) holding an `rsaEncryption`
    /// (RFC 8017 Appendix A.1) or `id-ecPublicKey`/`prime256v1` (RFC 5480) key; `None` for
    /// any other algorithm or a malformed key.
    pub fn from_spki_der(der: &[u8]) -> Option<HolderPublicKey> {
        let spki = SubjectPublicKeyInfoOwned::from_der(der).ok()?;
        HolderPublicKey::from_spki(&spki)
    }

    fn from_spki(spki: &SubjectPublicKeyInfoOwned) -> Option<HolderPublicKey> {
        let bits = spki.subject_public_key.as_bytes()?;
        match spki.algorithm.oid {
            OID_RSA_ENCRYPTION => {
                let key = rsa::pkcs1::RsaPublicKeyRef::from_der(bits).ok()?;
                Some(HolderPublicKey::rsa(key.modulus.as_bytes(), key.public_exponent.as_bytes()))
            }
            OID_EC_PUBLIC_KEY => {
                let curve = spki.algorithm.parameters.as_ref()?.decode_as::<ObjectIdentifier>().ok()?;
                (curve == OID_PRIME256V1).then(|| HolderPublicKey::P256 { sec1: bits.to_vec() })
            }
            _ => None,
        }
    }

    /// The key size in bits: the modulus length for RSA, 256 for P-256.
    pub fn bits(&self) -> usize {
        match self {
            HolderPublicKey::Rsa { modulus, .. } => match modulus.first() {
                Some(&top) => modulus.len() * 8 - top.leading_zeros() as usize,
                None => 0,
            },
            HolderPublicKey::P256 { .. } => 256,
        }
    }

    /// `true` for an RSA key.
    pub fn is_rsa(&self) -> bool {
        matches!(self, HolderPublicKey::Rsa { .. })
    }

    /// The SubjectPublicKeyInfo DER of the key (RFC 5280 §4.1.2.7): `rsaEncryption` with NULL
    /// parameters and a PKCS#1 `RSAPublicKey` (RFC 8017 Appendix A.1.1), or `id-ecPublicKey`
    /// with namedCurve `prime256v1` (RFC 5480 §2). Fails if the key is unusable: an RSA key
    /// outside [`MIN_HOLDER_RSA_BITS`]..=[`MAX_HOLDER_RSA_BITS`] or with a bad exponent, or a
    /// point that is not on P-256.
    pub fn spki_der(&self) -> Result<Vec<u8>, PkiError> {
        Ok(self.spki()?.to_der()?)
    }

    /// The PKCS#1 `RSAPublicKey ::= SEQUENCE { modulus, publicExponent }` DER (RFC 8017
    /// Appendix A.1.1) of an RSA key, validated like [`HolderPublicKey::spki_der`]; `None` for
    /// a P-256 key.
    pub fn rsa_public_key_der(&self) -> Option<Result<Vec<u8>, PkiError>> {
        match self {
            HolderPublicKey::Rsa { .. } => {
                Some(self.checked_rsa().and_then(|k| {
                    Ok(k.to_pkcs1_der().map_err(|e| PkiError::Build(e.to_string()))?.as_bytes().to_vec())
                }))
            }
            HolderPublicKey::P256 { .. } => None,
        }
    }

    /// The key as a RustCrypto RSA public key, with the size limits of [`TestPki::issue`].
    pub fn checked_rsa(&self) -> Result<rsa::PublicKey, PkiError> {
        let HolderPublicKey::Rsa { modulus, exponent } = self else {
            return Err(PkiError::Build("checked_rsa called on a P-256 key".into()));
        };
        let bits = self.bits();
        let err = |reason: String| PkiError::RsaPublicKey { bits, reason };
        if !(MIN_HOLDER_RSA_BITS..=MAX_HOLDER_RSA_BITS).contains(&bits) {
            return Err(err(format!(
                "holder keys are {MIN_HOLDER_RSA_BITS}..={MAX_HOLDER_RSA_BITS} bits (CPS UZI-register §6.1.4: at least 2048)"
            )));
        }
        let der = rsa::pkcs1::RsaPublicKeyRef {
            modulus: rsa::pkcs1::UintRef::new(modulus)?,
            public_exponent: rsa::pkcs1::UintRef::new(exponent)?,
        }
        .to_der()?;
        rsa::PublicKey::from_pkcs1_der(&der).map_err(|e| err(e.to_string()))
    }

    fn spki(&self) -> Result<SubjectPublicKeyInfoOwned, PkiError> {
        match self {
            HolderPublicKey::Rsa { .. } => {
                let doc = self.checked_rsa()?.to_public_key_der()?;
                Ok(SubjectPublicKeyInfoOwned::from_der(doc.as_bytes())?)
            }
            HolderPublicKey::P256 { sec1 } => {
                let public_key =
                    p256::PublicKey::from_sec1_bytes(sec1).map_err(|_| PkiError::PublicKey { len: sec1.len() })?;
                Ok(SubjectPublicKeyInfoOwned::from_key(&public_key)?)
            }
        }
    }
}

fn strip_leading_zeros(bytes: &[u8]) -> Vec<u8> {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    bytes[start..].to_vec()
}

/// Errors of the test PKI. Each message names the file or field at fault and how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// A fixture file could not be read.
    #[error(
        "cannot read {path}: {source}; the TEST PKI keys live in fixtures/pki/ (see fixtures/pki/README.md), restore them from git"
    )]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A CA key file is not a PKCS#8 PEM RSA-4096 private key.
    #[error(
        "{path} is not an unencrypted PKCS#8 PEM RSA-4096 private key ({reason}); restore it from git or regenerate with `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:4096` (then re-bless the CA certificates, see fixtures/pki/README.md)"
    )]
    Key {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        reason: String,
    },
    /// The subject public key is not a P-256 SEC1 point.
    #[error(
        "the subject public key is not a valid SEC1-encoded P-256 point ({len} bytes; expected 65 bytes 04||X||Y or 33 bytes compressed, on the curve)"
    )]
    PublicKey {
        /// Length of what was given.
        len: usize,
    },
    /// The subject public key is an unusable RSA key.
    #[error(
        "the subject RSA public key ({bits} bits) is unusable: {reason}; give the modulus and exponent of an RSA-2048 key (e = 65537), e.g. from conformance::issuance::test_keys::test_rsa_key"
    )]
    RsaPublicKey {
        /// Size of the modulus given, in bits.
        bits: usize,
        /// What is wrong.
        reason: String,
    },
    /// A TEST-ONLY holder key from `fixtures/keys/` is unusable.
    #[error(
        "TEST-ONLY holder key {path} is unusable ({reason}); restore fixtures/keys/ from git (see fixtures/keys/README.md)"
    )]
    TestKey {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An RSA private key cannot be turned into the card's import form.
    #[error(
        "the RSA private key cannot be injected: {reason}; the card imports two-prime RSA-2048 keys, e.g. from conformance::issuance::test_keys::test_rsa_key"
    )]
    KeyImport {
        /// What is wrong.
        reason: String,
    },
    /// A holder field does not fit the certificate profile.
    #[error("holder field `{field}`: {reason}")]
    Holder {
        /// The [`Holder`] field.
        field: &'static str,
        /// What is wrong and what is expected.
        reason: String,
    },
    /// The issuing CA does not match the holder's card type.
    #[error(
        "a {holder_type:?} card certificate cannot be issued by {issuer}; use Issuer::Uzi(HolderType::{holder_type:?}) or Issuer::ZorgId"
    )]
    IssuerMismatch {
        /// The holder's card type.
        holder_type: HolderType,
        /// Common name of the CA asked for.
        issuer: &'static str,
    },
    /// A time is outside what an X.509 certificate can carry.
    #[error("time {unix} (Unix seconds) is out of range for X.509 ({what}); use a time between 1970 and 9999")]
    Time {
        /// Which time.
        what: &'static str,
        /// The value.
        unix: i64,
    },
    /// A serial number for a CRL entry is unusable.
    #[error("revoked serial {serial_hex} is not a valid certificate serial number ({reason})")]
    Serial {
        /// Hex of the bytes given.
        serial_hex: String,
        /// Why.
        reason: String,
    },
    /// DER encoding or decoding failed.
    #[error("DER error: {0}")]
    Der(#[from] der::Error),
    /// The x509-cert builder or the signer failed.
    #[error("certificate builder error: {0}")]
    Build(String),
    /// [`certificate_summary`] was given something that is not an X.509 certificate.
    #[error("not a DER X.509 certificate: {0}")]
    Parse(String),
}

impl From<x509_cert::builder::Error> for PkiError {
    fn from(e: x509_cert::builder::Error) -> Self {
        PkiError::Build(e.to_string())
    }
}

impl From<spki::Error> for PkiError {
    fn from(e: spki::Error) -> Self {
        PkiError::Build(e.to_string())
    }
}

impl From<rsa::pkcs1::Error> for PkiError {
    fn from(e: rsa::pkcs1::Error) -> Self {
        PkiError::Build(e.to_string())
    }
}

// ---------------------------------------------------------------------------------------------
// The PKI
// ---------------------------------------------------------------------------------------------

/// A CA's signer: RSASSA-PKCS1-v1_5 with SHA-256, i.e. `sha256WithRSAEncryption`
/// (RFC 8017 §8.2, RFC 4055 §5; CPS UZI-register §7.1.1 Table 7).
type CaKey = SigningKey<Sha256>;

/// One CA: its key and its (deterministically generated) certificate.
struct Ca {
    key: CaKey,
    cert: Certificate,
    der: Vec<u8>,
    file_stem: &'static str,
}

/// The loaded TEST PKI: the root CA and the four issuing CAs, each with its private key.
pub struct TestPki {
    root: Ca,
    /// Indexed by [`Issuer::index`].
    issuing: Vec<Ca>,
}

impl std::fmt::Debug for TestPki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material, even test keys.
        f.debug_struct("TestPki")
            .field("root", &self.root.file_stem)
            .field("issuing", &self.issuing.iter().map(|c| c.file_stem).collect::<Vec<_>>())
            .finish()
    }
}

impl TestPki {
    /// Loads the CA keys from `dir` (normally `fixtures/pki`) and regenerates the CA
    /// certificates from them. The certificates are a pure function of the keys, so the
    /// committed `*.cert.pem` files are for people (`openssl verify`) and are checked against
    /// this output by a test rather than read here.
    pub fn load(dir: &Path) -> Result<TestPki, PkiError> {
        let root_key = read_key(&dir.join(format!("{ROOT_FILE_STEM}.key.pem")))?;
        let root_name = ca_name(ROOT_COMMON_NAME, "zorgcard TEST", None)?;
        let root_cert =
            build_ca_cert(&root_key, &root_key, root_name.clone(), root_name.clone(), ROOT_FILE_STEM, None)?;
        let root = Ca { der: root_cert.to_der()?, cert: root_cert, key: root_key, file_stem: ROOT_FILE_STEM };

        let mut issuing = Vec::with_capacity(Issuer::ALL.len());
        for issuer in Issuer::ALL {
            let key = read_key(&dir.join(format!("{}.key.pem", issuer.file_stem())))?;
            let (org, org_id) = match issuer {
                Issuer::Uzi(_) => ("TEST CIBG", Some("NTRNL-50000535")),
                Issuer::ZorgId => ("TEST VZVZ", None),
            };
            let subject = ca_name(issuer.common_name(), org, org_id)?;
            let cert = build_ca_cert(&key, &root.key, subject, root_name.clone(), issuer.file_stem(), Some(0))?;
            issuing.push(Ca { der: cert.to_der()?, cert, key, file_stem: issuer.file_stem() });
        }
        Ok(TestPki { root, issuing })
    }

    /// Loads the workspace's committed TEST PKI (`<workspace>/fixtures/pki`).
    pub fn fixtures() -> Result<TestPki, PkiError> {
        TestPki::load(&fixtures_dir())
    }

    fn ca(&self, issuer: Issuer) -> &Ca {
        &self.issuing[issuer.index()]
    }

    /// Issues an end-entity certificate (DER) for `public_key` following the
    /// UZI-register certificate profile (CPS UZI-register v10.2 §7.1) or its ZORG-ID analogue.
    ///
    /// - subject `C=NL, O=<organisation>, CN=<common name>, serialNumber=<UZI number>`, plus
    ///   `GN`/`SN` for named holders and `title` for Z cards (CPS §3.1.1); for ZORG-ID
    ///   `C, O, CN, GN, SN, serialNumber`. No e-mail address anywhere.
    /// - SubjectAltName otherName 2.5.5.5 (IA5String)
    ///   `<CA OID>-1-<UZI no>-<Z|N|M>-<subscriber no>-<role>-<AGB code>`; the authentication
    ///   certificate also carries a Microsoft UPN otherName `<UZI no>@<subscriber no>`.
    /// - keyUsage (critical) per role (CPS §6.1.7), extendedKeyUsage, TEST certificatePolicies,
    ///   basicConstraints CA:FALSE (critical), SKI, AKI and a CRL distribution point at
    ///   [`Issuer::crl_url`].
    /// - validity from `issued_at` to [`add_three_years`]`(issued_at) - 1`: at most three years
    ///   (CPS §6.3.2).
    /// - serial number: SHA-256 over the card serial and role, 16 bytes, positive, so
    ///   re-issuing the same card gives the same serial (and the same certificate).
    /// - subjectPublicKeyInfo: `public_key` (RSA 2048..=4096 bits or P-256, see
    ///   [`HolderPublicKey::spki_der`]); signed `sha256WithRSAEncryption` by the CA.
    pub fn issue(
        &self,
        issuer: Issuer,
        holder: &Holder,
        role: CertRole,
        public_key: &HolderPublicKey,
        card_serial: &[u8],
        issued_at: i64,
    ) -> Result<Vec<u8>, PkiError> {
        validate_holder(issuer, holder)?;
        let spki = public_key.spki()?;

        let not_before = unix_to_time(issued_at, "issued_at")?;
        let not_after = unix_to_time(add_three_years(issued_at) - 1, "issued_at + 3 years")?;

        let ca = self.ca(issuer);
        let subject = end_entity_name(issuer, holder)?;
        let extensions = end_entity_extensions(issuer, holder, role, &subject)?;
        let profile = Profile {
            subject,
            issuer: ca.cert.tbs_certificate().subject().clone(),
            basic_constraints: BasicConstraints { ca: false, path_len_constraint: None },
            extra: extensions,
        };
        let serial = derived_serial(&[b"zorgcard end-entity", card_serial, &[role.tag()]])?;
        let builder = CertificateBuilder::new(profile, serial, Validity::new(not_before, not_after), spki)?;
        let cert = builder.build::<_, RsaSignature>(&ca.key)?;
        Ok(cert.to_der()?)
    }

    /// The chain a relying party needs for certificates of `issuer`:
    /// `[intermediate DER, root DER]`.
    pub fn ca_chain(&self, issuer: Issuer) -> Vec<Vec<u8>> {
        vec![self.ca(issuer).der.clone(), self.root.der.clone()]
    }

    /// The TEST root CA certificate (DER): the only trust anchor of this PKI.
    pub fn root_der(&self) -> Vec<u8> {
        self.root.der.clone()
    }

    /// The issuing CA certificate (DER) of `issuer`.
    pub fn ca_der(&self, issuer: Issuer) -> Vec<u8> {
        self.ca(issuer).der.clone()
    }

    /// All five CA certificates as `(file name, PEM)` in the form committed to `fixtures/pki/`
    /// (`<stem>.cert.pem`): the root first, then the issuing CAs in [`Issuer::ALL`] order.
    pub fn ca_certificate_files(&self) -> Result<Vec<(String, String)>, PkiError> {
        std::iter::once(&self.root)
            .chain(self.issuing.iter())
            .map(|ca| Ok((format!("{}.cert.pem", ca.file_stem), ca.cert.to_pem(LineEnding::LF)?)))
            .collect()
    }

    /// An X.509 v2 CRL (DER) of `issuer` listing `revoked`, valid from `this_update` for
    /// [`CRL_VALIDITY_SECS`] (CPS UZI-register §4.9.7 and §7.2). The CRL number is
    /// `this_update`, so later CRLs have higher numbers; the AKI is the issuing CA's own key
    /// identifier (x509-cert's `CrlBuilder` would copy the CA certificate's AKI, which for an
    /// intermediate names the root's key, so the `TbsCertList` is assembled here and signed
    /// with the CA key).
    pub fn crl(&self, issuer: Issuer, revoked: &[RevokedEntry], this_update: i64) -> Result<Vec<u8>, PkiError> {
        let ca = self.ca(issuer);
        let issuer_name = ca.cert.tbs_certificate().subject().clone();

        let revoked_certificates = revoked
            .iter()
            .map(|entry| {
                Ok(RevokedCert {
                    serial_number: crl_serial(&entry.serial)?,
                    revocation_date: unix_to_time(entry.revoked_at, "revoked_at")?,
                    crl_entry_extensions: None,
                })
            })
            .collect::<Result<Vec<_>, PkiError>>()?;

        let crl_number = CrlNumber::try_from(
            u64::try_from(this_update).map_err(|_| PkiError::Time { what: "this_update", unix: this_update })?,
        )?;
        let ski = SubjectKeyIdentifier::try_from(ca.cert.tbs_certificate().subject_public_key_info().owned_to_ref())?;
        let aki = AuthorityKeyIdentifier { key_identifier: Some(ski.0), ..Default::default() };
        let aki_ext = (&aki).to_extension(&issuer_name, &[])?;
        let number_ext = (&crl_number).to_extension(&issuer_name, std::slice::from_ref(&aki_ext))?;
        let crl_extensions = vec![aki_ext, number_ext];

        let signature_algorithm = ca.key.signature_algorithm_identifier()?;
        let tbs = TbsCertList {
            version: Version::V2,
            signature: signature_algorithm.clone(),
            issuer: issuer_name,
            this_update: unix_to_time(this_update, "this_update")?,
            next_update: Some(unix_to_time(
                this_update.saturating_add(CRL_VALIDITY_SECS),
                "this_update + CRL validity",
            )?),
            revoked_certificates: if revoked_certificates.is_empty() { None } else { Some(revoked_certificates) },
            crl_extensions: Some(crl_extensions),
        };
        let tbs_der = tbs.to_der()?;
        let sig: RsaSignature = ca.key.try_sign(&tbs_der).map_err(|e| PkiError::Build(e.to_string()))?;
        let crl = CertificateList { tbs_cert_list: tbs, signature_algorithm, signature: sig.to_bitstring()? };
        Ok(crl.to_der()?)
    }
}

/// `sha256WithRSAEncryption` (RFC 4055 §5), the signature algorithm of the TEST CAs.
pub const OID_SHA256_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");

/// X.509 signature check (RFC 5280 §6.1.3 (a)(1)) of `cert_der` under the key of `ca_der`, and
/// the issuer name. The TEST CAs sign `sha256WithRSAEncryption` (CPS UZI-register §7.1.1
/// Table 7), so that is the only algorithm accepted. The error says what is wrong, to be
/// prefixed with what the certificate is.
pub fn verify_issued_by(cert_der: &[u8], ca_der: &[u8]) -> Result<(), String> {
    use rsa::signature::Verifier;
    let cert = Certificate::from_der(cert_der).map_err(|e| format!("is not a DER certificate ({e})"))?;
    let ca = Certificate::from_der(ca_der).map_err(|e| format!("CA certificate unreadable ({e})"))?;
    if cert.tbs_certificate().issuer() != ca.tbs_certificate().subject() {
        return Err("is not issued by the expected CA (issuer name differs)".into());
    }
    if cert.signature_algorithm().oid != OID_SHA256_WITH_RSA {
        return Err(format!("is signed with {}, not sha256WithRSAEncryption", cert.signature_algorithm().oid));
    }
    let ca_spki = ca.tbs_certificate().subject_public_key_info().to_der().map_err(|e| e.to_string())?;
    let key =
        rsa::PublicKey::from_public_key_der(&ca_spki).map_err(|_| "CA public key is not an RSA key".to_string())?;
    let tbs = cert.tbs_certificate().to_der().map_err(|e| format!("cannot be re-encoded ({e})"))?;
    let signature = cert
        .signature()
        .as_bytes()
        .and_then(|b| RsaSignature::try_from(b).ok())
        .ok_or_else(|| "has a malformed signature".to_string())?;
    rsa::pkcs1v15::VerifyingKey::<Sha256>::new(key)
        .verify(&tbs, &signature)
        .map_err(|_| "has a signature that does not verify".to_string())
}

/// `<workspace>/fixtures/pki`, where the committed TEST PKI lives.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("fixtures").join("pki")
}

/// The same calendar date three years later at the same time of day (UTC); 29 February
/// becomes 28 February. UZI-pas certificates are valid for at most three years
/// (CPS UZI-register §6.3.2), so `notAfter = add_three_years(notBefore) - 1`.
///
/// Inputs outside the years -9999..=9996 (meaningless for certificates) fall back to adding
/// 1096 days, saturating.
pub fn add_three_years(unix: i64) -> i64 {
    const FALLBACK: i64 = 1096 * 86_400;
    let Ok(dt) = time::OffsetDateTime::from_unix_timestamp(unix) else {
        return unix.saturating_add(FALLBACK);
    };
    let date = dt.date();
    let year = date.year() + 3;
    let shifted = time::Date::from_calendar_date(year, date.month(), date.day()).or_else(|_| {
        // Only 29 February can be missing three years later.
        time::Date::from_calendar_date(year, date.month(), date.day() - 1)
    });
    match shifted {
        Ok(d) => dt.replace_date(d).unix_timestamp(),
        Err(_) => unix.saturating_add(FALLBACK),
    }
}

/// Encodes a DER certificate as PEM (`-----BEGIN CERTIFICATE-----`, LF line endings).
pub fn certificate_pem(der: &[u8]) -> Result<String, PkiError> {
    der::pem::encode_string("CERTIFICATE", LineEnding::LF, der).map_err(|e| PkiError::Der(e.into()))
}

/// Encodes a DER CRL as PEM (`-----BEGIN X509 CRL-----`, LF line endings).
pub fn crl_pem(der: &[u8]) -> Result<String, PkiError> {
    der::pem::encode_string("X509 CRL", LineEnding::LF, der).map_err(|e| PkiError::Der(e.into()))
}

// ---------------------------------------------------------------------------------------------
// Certificate summary (for `zorgcard card inspect` and the conformance checks)
// ---------------------------------------------------------------------------------------------

/// The fields of a certificate the CLI shows and the conformance suite checks against the
/// UZI-register profile (CPS §7.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertSummary {
    /// Subject in DER order, `C=NL, O=..., CN=..., serialNumber=..., GN=..., SN=..., title=...`.
    pub subject: String,
    /// Issuer in the same format.
    pub issuer: String,
    /// Serial number, unsigned big-endian without leading zeros (usable in [`RevokedEntry`]).
    pub serial: Vec<u8>,
    /// Subject serialNumber: the UZI number for UZI-pas / ZORG-ID certificates.
    pub uzi_number: Option<String>,
    /// The SubjectAltName otherName 2.5.5.5 string, if present.
    pub san_uzi: Option<String>,
    /// The Microsoft UPN otherName, if present (authentication certificates only).
    pub upn: Option<String>,
    /// notBefore, Unix seconds.
    pub not_before: i64,
    /// notAfter, Unix seconds.
    pub not_after: i64,
    /// keyUsage bits by their RFC 5280 names (`digitalSignature`, `nonRepudiation`,
    /// `keyEncipherment`, `dataEncipherment`, `keyAgreement`, `keyCertSign`, `cRLSign`,
    /// `encipherOnly`, `decipherOnly`), in bit order; empty if there is no keyUsage.
    pub key_usage: Vec<String>,
    /// extendedKeyUsage OIDs (dotted), in certificate order.
    pub extended_key_usage: Vec<String>,
    /// certificatePolicies OIDs (dotted).
    pub policies: Vec<String>,
    /// basicConstraints cA.
    pub is_ca: bool,
    /// Whether any subject attribute or SAN entry is an e-mail address (the UZI profile has
    /// none, so this should be `false`).
    pub has_email: bool,
    /// The raw subjectPublicKey BIT STRING contents: for P-256 the 65-byte SEC1 uncompressed
    /// point, for RSA the PKCS#1 `RSAPublicKey` DER.
    pub public_key_sec1: Vec<u8>,
    /// The subject public key, if it is RSA or P-256.
    pub public_key: Option<HolderPublicKey>,
}

/// Parses a DER certificate into a [`CertSummary`].
pub fn certificate_summary(der: &[u8]) -> Result<CertSummary, PkiError> {
    let cert = Certificate::from_der(der).map_err(|e| PkiError::Parse(e.to_string()))?;
    let tbs = cert.tbs_certificate();
    let parse = |e: der::Error| PkiError::Parse(e.to_string());

    let subject_name = tbs.subject();
    let mut uzi_number = None;
    let mut has_email = false;
    for atv in subject_name.iter() {
        if atv.oid == OID_SERIAL_NUMBER {
            uzi_number = any_to_string(&atv.value);
        }
        if atv.oid == ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.1") {
            has_email = true;
        }
    }

    let mut san_uzi = None;
    let mut upn = None;
    if let Some((_, san)) = tbs.get_extension::<SubjectAltName>().map_err(parse)? {
        for gn in san.0.iter() {
            match gn {
                GeneralName::OtherName(on) if on.type_id == OID_UZI_OTHERNAME => {
                    san_uzi = any_to_string(&on.value);
                }
                GeneralName::OtherName(on) if on.type_id == OID_MS_UPN => {
                    upn = any_to_string(&on.value);
                }
                GeneralName::Rfc822Name(_) => has_email = true,
                _ => {}
            }
        }
    }

    let key_usage = match tbs.get_extension::<KeyUsage>().map_err(parse)? {
        Some((_, ku)) => {
            let names = [
                (ku.digital_signature(), "digitalSignature"),
                (ku.non_repudiation(), "nonRepudiation"),
                (ku.key_encipherment(), "keyEncipherment"),
                (ku.data_encipherment(), "dataEncipherment"),
                (ku.key_agreement(), "keyAgreement"),
                (ku.key_cert_sign(), "keyCertSign"),
                (ku.crl_sign(), "cRLSign"),
                (ku.encipher_only(), "encipherOnly"),
                (ku.decipher_only(), "decipherOnly"),
            ];
            names.iter().filter(|(set, _)| *set).map(|(_, n)| (*n).to_string()).collect()
        }
        None => Vec::new(),
    };
    let extended_key_usage = match tbs.get_extension::<ExtendedKeyUsage>().map_err(parse)? {
        Some((_, eku)) => eku.0.iter().map(|o| o.to_string()).collect(),
        None => Vec::new(),
    };
    let policies = match tbs.get_extension::<CertificatePolicies>().map_err(parse)? {
        Some((_, p)) => p.0.iter().map(|pi| pi.policy_identifier.to_string()).collect(),
        None => Vec::new(),
    };
    let is_ca = match tbs.get_extension::<BasicConstraints>().map_err(parse)? {
        Some((_, bc)) => bc.ca,
        None => false,
    };

    let validity = tbs.validity();
    Ok(CertSummary {
        subject: name_to_string(subject_name),
        issuer: name_to_string(tbs.issuer()),
        serial: tbs.serial_number().as_bytes().to_vec(),
        uzi_number,
        san_uzi,
        upn,
        not_before: time_to_unix(validity.not_before),
        not_after: time_to_unix(validity.not_after),
        key_usage,
        extended_key_usage,
        policies,
        is_ca,
        has_email,
        public_key_sec1: tbs.subject_public_key_info().subject_public_key.raw_bytes().to_vec(),
        public_key: HolderPublicKey::from_spki(tbs.subject_public_key_info()),
    })
}

// ---------------------------------------------------------------------------------------------
// Internals
// ---------------------------------------------------------------------------------------------

/// The builder profile used for every certificate here: fixed subject/issuer, SKI and AKI
/// computed from the keys, basicConstraints, then the role-specific extensions.
struct Profile {
    subject: Name,
    issuer: Name,
    basic_constraints: BasicConstraints,
    extra: Vec<Extension>,
}

impl BuilderProfile for Profile {
    fn get_issuer(&self, _subject: &Name) -> Name {
        self.issuer.clone()
    }

    fn get_subject(&self) -> Name {
        self.subject.clone()
    }

    fn build_extensions(
        &self,
        spk: SubjectPublicKeyInfoRef<'_>,
        issuer_spk: SubjectPublicKeyInfoRef<'_>,
        tbs: &TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        let mut exts: Vec<Extension> = Vec::new();
        exts.push((&self.basic_constraints).to_extension(tbs.subject(), &exts)?);
        exts.extend(self.extra.iter().cloned());
        let ski = SubjectKeyIdentifier::try_from(spk)?;
        exts.push((&ski).to_extension(tbs.subject(), &exts)?);
        let issuer_ski = SubjectKeyIdentifier::try_from(issuer_spk)?;
        let aki = AuthorityKeyIdentifier { key_identifier: Some(issuer_ski.0), ..Default::default() };
        exts.push((&aki).to_extension(tbs.subject(), &exts)?);
        Ok(exts)
    }
}

/// Reads a CA key: unencrypted PKCS#8 PEM, RSA of exactly [`CA_KEY_BITS`] bits (CPS §6.1.4).
fn read_key(path: &Path) -> Result<CaKey, PkiError> {
    let pem = std::fs::read_to_string(path).map_err(|source| PkiError::Io { path: path.to_path_buf(), source })?;
    let err = |reason: String| PkiError::Key { path: path.to_path_buf(), reason };
    let key = rsa::PrivateKey::from_pkcs8_pem(&pem).map_err(|e| err(e.to_string()))?;
    let bits = key.n().bit_width() as usize;
    if bits != CA_KEY_BITS {
        return Err(err(format!("an RSA-{bits} key; the UZI-register CA keys are RSA-{CA_KEY_BITS} (CPS §6.1.4)")));
    }
    Ok(SigningKey::new(key))
}

/// `C=NL, O=<org>[, organizationIdentifier=<id>], CN=<cn>`, the order of the real UZI-register
/// G3 CA names.
fn ca_name(cn: &str, org: &str, org_id: Option<&str>) -> Result<Name, PkiError> {
    let mut attrs = vec![atv_printable(OID_C, "NL")?, atv_utf8(OID_O, org)?];
    if let Some(id) = org_id {
        attrs.push(atv_utf8(OID_ORG_ID, id)?);
    }
    attrs.push(atv_utf8(OID_CN, cn)?);
    name_from(attrs)
}

fn build_ca_cert(
    subject_key: &CaKey,
    issuer_key: &CaKey,
    subject: Name,
    issuer: Name,
    file_stem: &str,
    path_len: Option<u8>,
) -> Result<Certificate, PkiError> {
    let ku = KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign);
    let extra = vec![(&ku).to_extension(&subject, &[])?];
    let profile = Profile {
        subject,
        issuer,
        basic_constraints: BasicConstraints { ca: true, path_len_constraint: path_len },
        extra,
    };
    let spki = SubjectPublicKeyInfoOwned::from_key(&subject_key.verifying_key())?;
    let serial = derived_serial(&[b"zorgcard TEST CA", file_stem.as_bytes()])?;
    let validity =
        Validity::new(unix_to_time(CA_NOT_BEFORE, "CA notBefore")?, unix_to_time(CA_NOT_AFTER, "CA notAfter")?);
    let builder = CertificateBuilder::new(profile, serial, validity, spki)?;
    Ok(builder.build::<_, RsaSignature>(issuer_key)?)
}

fn check_digits(field: &'static str, value: &str, len: Option<usize>) -> Result<(), PkiError> {
    let ok = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) && len.is_none_or(|l| value.len() == l);
    if ok {
        Ok(())
    } else {
        Err(PkiError::Holder {
            field,
            reason: match len {
                Some(l) => format!("{value:?} must be exactly {l} ASCII digits"),
                None => format!("{value:?} must be one or more ASCII digits"),
            },
        })
    }
}

fn check_text(field: &'static str, value: &str) -> Result<(), PkiError> {
    if value.trim().is_empty() {
        return Err(PkiError::Holder { field, reason: "must not be empty".into() });
    }
    if value.contains('@') {
        return Err(PkiError::Holder {
            field,
            reason: format!(
                "{value:?} looks like an e-mail address; the UZI-register profile has no e-mail addresses (CPS §7.1)"
            ),
        });
    }
    Ok(())
}

fn validate_holder(issuer: Issuer, holder: &Holder) -> Result<(), PkiError> {
    if let Issuer::Uzi(t) = issuer
        && t != holder.holder_type
    {
        return Err(PkiError::IssuerMismatch { holder_type: holder.holder_type, issuer: issuer.common_name() });
    }
    check_digits("uzi_number", &holder.uzi_number, Some(9))?;
    check_digits("subscriber_number", &holder.subscriber_number, None)?;
    check_digits("agb_code", &holder.agb_code, Some(8))?;
    check_text("common_name", &holder.common_name)?;
    check_text("organisation", &holder.organisation)?;
    check_text("role", &holder.role)?;
    if !holder.role.bytes().all(|b| b.is_ascii_graphic() && b != b'-') {
        return Err(PkiError::Holder {
            field: "role",
            reason: format!(
                "{:?} must be printable ASCII without '-' (it is a field of the '-'-separated 2.5.5.5 otherName), e.g. \"01.015\"",
                holder.role
            ),
        });
    }
    if needs_personal_name(issuer, holder) {
        for (field, value) in [("given_name", &holder.given_name), ("surname", &holder.surname)] {
            match value {
                Some(v) => check_text(field, v)?,
                None => {
                    return Err(PkiError::Holder {
                        field,
                        reason:
                            "required for named holders (Z and N cards, ZORG-ID); only M cards have no personal name"
                                .into(),
                    });
                }
            }
        }
    }
    if holder.holder_type == HolderType::Z
        && let Some(t) = &holder.title
    {
        check_text("title", t)?;
    }
    Ok(())
}

fn needs_personal_name(issuer: Issuer, holder: &Holder) -> bool {
    matches!(issuer, Issuer::ZorgId) || holder.holder_type != HolderType::M
}

/// Subject of an end-entity certificate (CPS UZI-register §3.1.1 and §7.1).
fn end_entity_name(issuer: Issuer, holder: &Holder) -> Result<Name, PkiError> {
    let named = needs_personal_name(issuer, holder);
    let given = |h: &Holder| h.given_name.clone().unwrap_or_default();
    let sur = |h: &Holder| h.surname.clone().unwrap_or_default();
    let mut attrs = vec![
        atv_printable(OID_C, "NL")?,
        atv_utf8(OID_O, &holder.organisation)?,
        atv_utf8(OID_CN, &holder.common_name)?,
    ];
    match issuer {
        Issuer::Uzi(t) => {
            attrs.push(atv_printable(OID_SERIAL_NUMBER, &holder.uzi_number)?);
            if named {
                attrs.push(atv_utf8(OID_GN, &given(holder))?);
                attrs.push(atv_utf8(OID_SN, &sur(holder))?);
            }
            if t == HolderType::Z
                && let Some(title) = &holder.title
            {
                attrs.push(atv_utf8(OID_TITLE, title)?);
            }
        }
        Issuer::ZorgId => {
            attrs.push(atv_utf8(OID_GN, &given(holder))?);
            attrs.push(atv_utf8(OID_SN, &sur(holder))?);
            attrs.push(atv_printable(OID_SERIAL_NUMBER, &holder.uzi_number)?);
        }
    }
    name_from(attrs)
}

/// The 2.5.5.5 otherName string (CPS UZI-register §7.1):
/// `<CA OID>-1-<UZI no>-<Z|N|M>-<subscriber no>-<role>-<AGB code>`.
fn uzi_san_string(issuer: Issuer, holder: &Holder) -> String {
    let letter = match issuer {
        Issuer::Uzi(t) => t.letter(),
        Issuer::ZorgId => 'N',
    };
    format!(
        "{}-1-{}-{}-{}-{}-{}",
        issuer.san_ca_oid(),
        holder.uzi_number,
        letter,
        holder.subscriber_number,
        holder.role,
        holder.agb_code
    )
}

fn end_entity_extensions(
    issuer: Issuer,
    holder: &Holder,
    role: CertRole,
    subject: &Name,
) -> Result<Vec<Extension>, PkiError> {
    let mut exts: Vec<Extension> = Vec::new();

    // keyUsage, critical (CPS §6.1.7).
    let ku = match role {
        CertRole::Authentication => KeyUsage(KeyUsages::DigitalSignature.into()),
        CertRole::Signature => KeyUsage(KeyUsages::NonRepudiation.into()),
        CertRole::Encryption => KeyUsage(KeyUsages::KeyEncipherment | KeyUsages::DataEncipherment),
    };
    exts.push((&ku).to_extension(subject, &exts)?);

    // extendedKeyUsage (CPS §7.1).
    let eku = ExtendedKeyUsage(match role {
        CertRole::Authentication => vec![OID_EKU_CLIENT_AUTH, OID_EKU_EMAIL_PROTECTION, OID_EKU_MS_DOCUMENT_SIGNING],
        CertRole::Signature => vec![OID_EKU_EMAIL_PROTECTION, OID_EKU_MS_DOCUMENT_SIGNING],
        CertRole::Encryption => vec![OID_EKU_EMAIL_PROTECTION, OID_EKU_MS_EFS],
    });
    exts.push((&eku).to_extension(subject, &exts)?);

    // certificatePolicies with the TEST policy OID of the role.
    let policies =
        CertificatePolicies(vec![PolicyInformation { policy_identifier: role.policy_oid(), policy_qualifiers: None }]);
    exts.push((&policies).to_extension(subject, &exts)?);

    // subjectAltName: otherName 2.5.5.5 (IA5String), plus the UPN on the authentication cert.
    let mut names = vec![GeneralName::OtherName(OtherName {
        type_id: OID_UZI_OTHERNAME,
        value: Any::encode_from(&Ia5String::new(&uzi_san_string(issuer, holder))?)?,
    })];
    if role == CertRole::Authentication {
        let upn = format!("{}@{}", holder.uzi_number, holder.subscriber_number);
        names.push(GeneralName::OtherName(OtherName {
            type_id: OID_MS_UPN,
            value: Any::encode_from(&Utf8StringRef::new(&upn)?)?,
        }));
    }
    let san = SubjectAltName(names);
    exts.push((&san).to_extension(subject, &exts)?);

    // cRLDistributionPoints at the local test CRL server.
    let dp = CrlDistributionPoints(vec![DistributionPoint {
        distribution_point: Some(DistributionPointName::FullName(vec![GeneralName::UniformResourceIdentifier(
            Ia5String::new(&issuer.crl_url())?,
        )])),
        reasons: None,
        crl_issuer: None,
    }]);
    exts.push((&dp).to_extension(subject, &exts)?);

    Ok(exts)
}

fn atv_utf8(oid: ObjectIdentifier, value: &str) -> Result<AttributeTypeAndValue, PkiError> {
    Ok(AttributeTypeAndValue { oid, value: Any::encode_from(&Utf8StringRef::new(value)?)? })
}

fn atv_printable(oid: ObjectIdentifier, value: &str) -> Result<AttributeTypeAndValue, PkiError> {
    Ok(AttributeTypeAndValue { oid, value: Any::encode_from(&PrintableString::new(value)?)? })
}

/// A `Name` with one attribute per RDN, in the given (DER) order. x509-cert only exposes the
/// `RdnSequence -> Name` conversion behind its `hazmat` feature, so the sequence goes through
/// its own DER codec.
fn name_from(attrs: Vec<AttributeTypeAndValue>) -> Result<Name, PkiError> {
    let mut seq = RdnSequence::default();
    for atv in attrs {
        seq.push(RelativeDistinguishedName::try_from(vec![atv])?);
    }
    Ok(Name::from_der(&seq.to_der()?)?)
}

/// A positive 16-byte serial number from SHA-256 of `parts`: top bit cleared so it is
/// positive, next bit set so it always encodes in exactly 16 bytes (RFC 5280 §4.1.2.2 allows
/// up to 20).
fn derived_serial(parts: &[&[u8]]) -> Result<SerialNumber, PkiError> {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    let digest = h.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    Ok(SerialNumber::new(&bytes)?)
}

fn crl_serial(serial: &[u8]) -> Result<SerialNumber, PkiError> {
    let trimmed: &[u8] = {
        let start = serial.iter().position(|&b| b != 0).unwrap_or(serial.len());
        &serial[start..]
    };
    let err = |reason: String| PkiError::Serial { serial_hex: hex::encode(serial), reason };
    if trimmed.is_empty() {
        return Err(err("a serial number must be a positive integer, not zero".into()));
    }
    SerialNumber::new(trimmed).map_err(|e| err(format!("{e}; at most 20 bytes")))
}

fn unix_to_time(unix: i64, what: &'static str) -> Result<Time, PkiError> {
    let err = || PkiError::Time { what, unix };
    let secs = u64::try_from(unix).map_err(|_| err())?;
    let dt = DateTime::from_unix_duration(Duration::from_secs(secs)).map_err(|_| err())?;
    // UTCTime up to 2049, GeneralizedTime from 2050 (RFC 5280 §4.1.2.5).
    Ok(Time::from(dt))
}

fn time_to_unix(t: Time) -> i64 {
    i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX)
}

fn any_to_string(any: &Any) -> Option<String> {
    match any.tag() {
        Tag::Utf8String => Utf8StringRef::try_from(any).ok().map(|s| s.to_string()),
        Tag::PrintableString => PrintableStringRef::try_from(any).ok().map(|s| s.to_string()),
        Tag::Ia5String => Ia5StringRef::try_from(any).ok().map(|s| s.to_string()),
        Tag::TeletexString => TeletexStringRef::try_from(any).ok().map(|s| s.to_string()),
        _ => None,
    }
}

fn attr_short_name(oid: &ObjectIdentifier) -> Option<&'static str> {
    Some(match *oid {
        OID_C => "C",
        OID_O => "O",
        OID_CN => "CN",
        OID_SERIAL_NUMBER => "serialNumber",
        OID_GN => "GN",
        OID_SN => "SN",
        OID_TITLE => "title",
        OID_ORG_ID => "organizationIdentifier",
        _ if *oid == ObjectIdentifier::new_unwrap("2.5.4.11") => "OU",
        _ if *oid == ObjectIdentifier::new_unwrap("2.5.4.7") => "L",
        _ if *oid == ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.1") => "emailAddress",
        _ => return None,
    })
}

/// `C=NL, O=..., CN=...` in DER order (like `openssl x509 -subject -nameopt oneline`, not the
/// reversed RFC 4514 order of x509-cert's `Display`), which reads naturally for UZI names.
fn name_to_string(name: &Name) -> String {
    name.iter()
        .map(|atv| {
            let key = attr_short_name(&atv.oid).map(str::to_string).unwrap_or_else(|| atv.oid.to_string());
            match any_to_string(&atv.value) {
                Some(v) => format!("{key}={v}"),
                None => format!("{key}=#{}", hex::encode(atv.value.value())),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_years_keeps_date_and_time() {
        // 2024-02-29T12:34:56Z -> 2027-02-28T12:34:56Z
        assert_eq!(add_three_years(1_709_210_096), 1_803_818_096);
        // 2025-06-01T00:00:00Z -> 2028-06-01T00:00:00Z
        assert_eq!(add_three_years(1_748_736_000), 1_843_430_400);
    }

    #[test]
    fn derived_serials_are_16_byte_positive() {
        let s = derived_serial(&[b"x", b"y"]).unwrap();
        assert_eq!(s.as_bytes().len(), 16);
        assert_eq!(s.as_bytes()[0] & 0xc0, 0x40);
    }
}
