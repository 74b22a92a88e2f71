//! Why the TEST PKI could not load, issue or summarise: [`PkiError`].

use super::*;

/// Errors of the test PKI. Each message names the file or field at fault and how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// A fixture file could not be read.
    #[error(
        "cannot read {}: {source}; the TEST PKI keys live in fixtures/pki/ (see fixtures/pki/README.md), restore them from git",
        fixtures::display(.path)
    )]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A CA key file is not a PKCS#8 PEM RSA-4096 private key.
    #[error(
        "{} is not an unencrypted PKCS#8 PEM RSA-4096 private key ({reason}); restore it from git or regenerate with `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:4096` (then re-bless the CA certificates, see fixtures/pki/README.md)",
        fixtures::display(.path)
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
        "the subject RSA public key ({bits} bits) is unusable: {reason}; give the modulus and exponent of an RSA-2048 key (e = 65537), e.g. from crate::test_keys::test_rsa_key"
    )]
    RsaPublicKey {
        /// Size of the modulus given, in bits.
        bits: usize,
        /// What is wrong.
        reason: String,
    },
    /// A TEST-ONLY holder key from `fixtures/keys/` is unusable.
    #[error(
        "TEST-ONLY holder key {} is unusable ({reason}); restore fixtures/keys/ from git (see fixtures/keys/README.md)",
        fixtures::display(.path)
    )]
    TestKey {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An RSA private key cannot be turned into the card's import form.
    #[error(
        "the RSA private key cannot be injected: {reason}; the card imports two-prime RSA-2048 keys, e.g. from crate::test_keys::test_rsa_key"
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
