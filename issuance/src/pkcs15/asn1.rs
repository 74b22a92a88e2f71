//! Typed ASN.1 definitions from PKCS#15 v1.1 Annex A / ISO/IEC 7816-15, restricted to what a
//! zorgcard writes, in the shape OpenSC's decoders expect. Public so that tests and the
//! conformance suite can decode what they read back from a card.

use der::asn1::{BitString, OctetString};
use der::{Choice, Enumerated, Sequence};

/// `Path ::= SEQUENCE { efidOrPath OCTET STRING, index INTEGER OPTIONAL,
/// length [0] INTEGER OPTIONAL }`; only `efidOrPath` is written.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct Path {
    /// Concatenated FIDs, absolute from `3F00`.
    pub efid_or_path: OctetString,
}

/// `CommonObjectAttributes` (PKCS#15 v1.1 §6.1.8); `accessControlRules` is not written.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct CommonObjectAttributes {
    /// `label Label OPTIONAL` (UTF8String).
    #[asn1(optional = "true")]
    pub label: Option<String>,
    /// `flags CommonObjectFlags OPTIONAL`: `private(0)`, `modifiable(1)`.
    #[asn1(optional = "true")]
    pub flags: Option<BitString>,
    /// `authId Identifier OPTIONAL`: the authentication object protecting this one.
    #[asn1(optional = "true")]
    pub auth_id: Option<OctetString>,
    /// `userConsent INTEGER OPTIONAL`: uses per PIN verification.
    #[asn1(optional = "true")]
    pub user_consent: Option<u8>,
}

/// `CommonAuthenticationObjectAttributes ::= SEQUENCE { authId Identifier }`.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct CommonAuthenticationObjectAttributes {
    /// This authentication object's identifier.
    pub auth_id: OctetString,
}

/// `PinType ::= ENUMERATED`.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Enumerated)]
#[repr(u8)]
pub enum PinType {
    /// `bcd(0)`.
    Bcd = 0,
    /// `ascii-numeric(1)`.
    AsciiNumeric = 1,
    /// `utf8(2)`.
    Utf8 = 2,
}

/// `PinAttributes` (PKCS#15 v1.1 §6.8.2); `padChar` and `lastPinChange` are not written.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct PinAttributes {
    /// `pinFlags PinFlags` (BIT STRING).
    pub pin_flags: BitString,
    /// `pinType PinType`.
    pub pin_type: PinType,
    /// `minLength INTEGER`.
    pub min_length: u8,
    /// `storedLength INTEGER`.
    pub stored_length: u8,
    /// `maxLength INTEGER OPTIONAL`.
    #[asn1(optional = "true")]
    pub max_length: Option<u8>,
    /// `pinReference [0] Reference DEFAULT 0`.
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    pub pin_reference: Option<u8>,
    /// `path Path OPTIONAL`: the DF in which the PIN lives.
    #[asn1(optional = "true")]
    pub path: Option<Path>,
}

/// The `pin` alternative of `AuthenticationType`: `PKCS15Object { CommonObjectAttributes,
/// CommonAuthenticationObjectAttributes, NULL, PinAttributes }`, an untagged SEQUENCE
/// whose `typeAttributes [1]` wraps the PinAttributes SEQUENCE.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct PinObject {
    /// `commonObjectAttributes`.
    pub common_object: CommonObjectAttributes,
    /// `classAttributes`.
    pub common_authentication: CommonAuthenticationObjectAttributes,
    /// `typeAttributes [1]`.
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT")]
    pub pin_attributes: PinAttributes,
}

/// `CommonKeyAttributes` (PKCS#15 v1.1 §6.2.4); `native` is left at its default TRUE.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct CommonKeyAttributes {
    /// `iD Identifier`.
    pub id: OctetString,
    /// `usage KeyUsageFlags`.
    pub usage: BitString,
    /// `accessFlags KeyAccessFlags OPTIONAL`: `sensitive(0)`, `extractable(1)`,
    /// `alwaysSensitive(2)`, `neverExtractable(3)`, `local(4)`.
    #[asn1(optional = "true")]
    pub access_flags: Option<BitString>,
    /// `keyReference Reference OPTIONAL`: the chip's key reference.
    #[asn1(optional = "true")]
    pub key_reference: Option<u8>,
}

/// `PrivateECKeyAttributes` as OpenSC reads it: `value`, then OpenSC's `fieldSize`.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct PrivateEcKeyAttributes {
    /// `value ObjectValue` (indirect: a Path).
    pub value: Path,
    /// `fieldSize INTEGER OPTIONAL` (OpenSC extension; bits of the curve's field).
    #[asn1(optional = "true")]
    pub field_size: Option<u16>,
}

/// `PrivateKeyObject { PrivateECKeyAttributes }`.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct PrivateEcKeyObject {
    /// `commonObjectAttributes`.
    pub common_object: CommonObjectAttributes,
    /// `classAttributes`.
    pub common_key: CommonKeyAttributes,
    /// `typeAttributes [1]`.
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT")]
    pub type_attributes: PrivateEcKeyAttributes,
}

/// `PrivateRSAKeyAttributes ::= SEQUENCE { value ObjectValue, modulusLength INTEGER,
/// keyInfo OPTIONAL }` (PKCS#15 v1.1 §6.2.6; OpenSC `c_asn1_prk_rsa_attr`); `keyInfo` is
/// not written.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct PrivateRsaKeyAttributes {
    /// `value ObjectValue` (indirect: a Path).
    pub value: Path,
    /// `modulusLength INTEGER`: the key size in bits.
    pub modulus_length: u16,
}

/// `PrivateKeyObject { PrivateRSAKeyAttributes }`.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct PrivateRsaKeyObject {
    /// `commonObjectAttributes`.
    pub common_object: CommonObjectAttributes,
    /// `classAttributes`.
    pub common_key: CommonKeyAttributes,
    /// `typeAttributes [1]`.
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT")]
    pub type_attributes: PrivateRsaKeyAttributes,
}

/// `PrivateKeyType` restricted to `privateRSAKey` and `privateECKey [0]`
/// (ISO/IEC 7816-15).
#[derive(Clone, Debug, Eq, PartialEq, Choice)]
pub enum PrivateKeyChoice {
    /// `privateRSAKey PrivateKeyObject {PrivateRSAKeyAttributes}`: an untagged SEQUENCE.
    Rsa(PrivateRsaKeyObject),
    /// `privateECKey [0] PrivateKeyObject {PrivateECKeyAttributes}`.
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", constructed = "true")]
    Ec(PrivateEcKeyObject),
}

impl PrivateKeyChoice {
    /// The CommonKeyAttributes of either alternative.
    pub fn common_key(&self) -> &CommonKeyAttributes {
        match self {
            PrivateKeyChoice::Rsa(k) => &k.common_key,
            PrivateKeyChoice::Ec(k) => &k.common_key,
        }
    }

    /// The CommonObjectAttributes of either alternative.
    pub fn common_object(&self) -> &CommonObjectAttributes {
        match self {
            PrivateKeyChoice::Rsa(k) => &k.common_object,
            PrivateKeyChoice::Ec(k) => &k.common_object,
        }
    }
}

/// `PublicECKeyAttributes ::= SEQUENCE { value ObjectValue, keyInfo OPTIONAL }`.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct PublicEcKeyAttributes {
    /// `value`: indirect, a Path to the EF holding the SubjectPublicKeyInfo.
    pub value: Path,
}

/// `PublicKeyObject { PublicECKeyAttributes }`.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct PublicEcKeyObject {
    /// `commonObjectAttributes`.
    pub common_object: CommonObjectAttributes,
    /// `classAttributes`.
    pub common_key: CommonKeyAttributes,
    /// `typeAttributes [1]`.
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT")]
    pub type_attributes: PublicEcKeyAttributes,
}

/// `PublicRSAKeyAttributes ::= SEQUENCE { value ObjectValue {RSAPublicKeyChoice},
/// modulusLength INTEGER, keyInfo OPTIONAL }` (PKCS#15 v1.1 §6.4.2; OpenSC
/// `c_asn1_rsakey_attr`); `keyInfo` is not written.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct PublicRsaKeyAttributes {
    /// `value`: indirect, a Path to the EF holding the PKCS#1 `RSAPublicKey`.
    pub value: Path,
    /// `modulusLength INTEGER`: the key size in bits.
    pub modulus_length: u16,
}

/// `PublicKeyObject { PublicRSAKeyAttributes }`.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct PublicRsaKeyObject {
    /// `commonObjectAttributes`.
    pub common_object: CommonObjectAttributes,
    /// `classAttributes`.
    pub common_key: CommonKeyAttributes,
    /// `typeAttributes [1]`.
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT")]
    pub type_attributes: PublicRsaKeyAttributes,
}

/// `PublicKeyType` restricted to `publicRSAKey` and `publicECKey [0]` (ISO/IEC 7816-15).
#[derive(Clone, Debug, Eq, PartialEq, Choice)]
pub enum PublicKeyChoice {
    /// `publicRSAKey PublicKeyObject {PublicRSAKeyAttributes}`: an untagged SEQUENCE.
    Rsa(PublicRsaKeyObject),
    /// `publicECKey [0] PublicKeyObject {PublicECKeyAttributes}`.
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", constructed = "true")]
    Ec(PublicEcKeyObject),
}

impl PublicKeyChoice {
    /// The CommonKeyAttributes of either alternative.
    pub fn common_key(&self) -> &CommonKeyAttributes {
        match self {
            PublicKeyChoice::Rsa(k) => &k.common_key,
            PublicKeyChoice::Ec(k) => &k.common_key,
        }
    }

    /// The Path of the EF holding the public key.
    pub fn value(&self) -> &Path {
        match self {
            PublicKeyChoice::Rsa(k) => &k.type_attributes.value,
            PublicKeyChoice::Ec(k) => &k.type_attributes.value,
        }
    }
}

fn default_false() -> bool {
    false
}

/// `CommonCertificateAttributes` (PKCS#15 v1.1 §6.6.3): `iD`, `authority DEFAULT FALSE`.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct CommonCertificateAttributes {
    /// `iD Identifier`: the iD of the matching key.
    pub id: OctetString,
    /// `authority BOOLEAN DEFAULT FALSE`: a CA certificate.
    #[asn1(default = "default_false")]
    pub authority: bool,
}

/// `X509CertificateAttributes`; only `value` is written.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct X509CertificateAttributes {
    /// `value ObjectValue` (indirect: a Path to the certificate EF).
    pub value: Path,
}

/// The `x509Certificate` alternative of `CertificateType`: an untagged SEQUENCE.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct CertificateObject {
    /// `commonObjectAttributes`.
    pub common_object: CommonObjectAttributes,
    /// `classAttributes`.
    pub common_certificate: CommonCertificateAttributes,
    /// `typeAttributes [1]`.
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT")]
    pub type_attributes: X509CertificateAttributes,
}

/// `TokenInfo` (PKCS#15 v1.1 §6.9), the fields a zorgcard writes.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct TokenInfo {
    /// `version INTEGER {v1(0)}`.
    pub version: u8,
    /// `serialNumber OCTET STRING OPTIONAL` (optional in OpenSC).
    #[asn1(optional = "true")]
    pub serial_number: Option<OctetString>,
    /// `manufacturerID Label OPTIONAL`.
    #[asn1(optional = "true")]
    pub manufacturer_id: Option<String>,
    /// `label [0] Label OPTIONAL`.
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    pub label: Option<String>,
    /// `tokenflags TokenFlags`: `readonly(0)`, `loginRequired(1)`, `prnGeneration(2)`,
    /// `eidCompliant(3)`.
    pub token_flags: BitString,
}

/// One ODF record: `PKCS15Objects` CHOICE, each alternative a `PathOrObjects` whose
/// tag is explicit (a CHOICE cannot be implicitly tagged).
#[derive(Clone, Debug, Eq, PartialEq, Choice)]
pub enum OdfEntry {
    /// `privateKeys [0]`.
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", constructed = "true")]
    PrivateKeys(Path),
    /// `publicKeys [1]`.
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", constructed = "true")]
    PublicKeys(Path),
    /// `certificates [4]`.
    #[asn1(context_specific = "4", tag_mode = "EXPLICIT", constructed = "true")]
    Certificates(Path),
    /// `authObjects [8]`.
    #[asn1(context_specific = "8", tag_mode = "EXPLICIT", constructed = "true")]
    AuthObjects(Path),
}

/// The body of an application template (ISO/IEC 7816-4 §8.2.1.1, tag `61`).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct ApplicationTemplate {
    /// `4F` application identifier.
    #[asn1(application = "15", tag_mode = "IMPLICIT")]
    pub aid: OctetString,
    /// `50` application label.
    #[asn1(application = "16", tag_mode = "IMPLICIT", optional = "true")]
    pub label: Option<String>,
    /// `51` path of the application DF.
    #[asn1(application = "17", tag_mode = "IMPLICIT", optional = "true")]
    pub path: Option<OctetString>,
}

/// One EF.DIR record: `[APPLICATION 1] IMPLICIT` application template, tag `61`.
#[derive(Clone, Debug, Eq, PartialEq, Choice)]
pub enum DirRecord {
    /// `61 { 4F, 50, 51 }`.
    #[asn1(application = "1", tag_mode = "IMPLICIT", constructed = "true")]
    Application(ApplicationTemplate),
}
