//! The holder's public key as it goes into a certificate: RSA-2048..4096 (UZI-pas) or P-256.

use super::*;

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

    pub(super) fn from_spki(spki: &SubjectPublicKeyInfoOwned) -> Option<HolderPublicKey> {
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

    pub(super) fn spki(&self) -> Result<SubjectPublicKeyInfoOwned, PkiError> {
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

pub(super) fn strip_leading_zeros(bytes: &[u8]) -> Vec<u8> {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    bytes[start..].to_vec()
}
