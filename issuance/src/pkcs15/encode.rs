//! The DER encoders of the PKCS#15 files, one per file (PKCS#15 v1.1 §6; OpenSC `pkcs15.c`, `pkcs15-*.c`).

use super::*;

/// Which directory file an ODF entry points at (PKCS#15 v1.1 §6.1, `PKCS15Objects`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OdfKind {
    /// `privateKeys [0]`: the PrKDF.
    PrivateKeys,
    /// `publicKeys [1]`: the PuKDF.
    PublicKeys,
    /// `certificates [4]`: the CDF.
    Certificates,
    /// `authObjects [8]`: the AODF.
    AuthObjects,
}

/// EF.DIR: one application template `61 {4F PKCS15_AID, 50 label, 51 3F005015}`
/// (ISO/IEC 7816-4 §8.2.1.1, PKCS#15 v1.1 §5.4.1). OpenSC's `dir.c` (`c_asn1_dirrecord`) reads
/// aid `[APPLICATION 15]`, label `[APPLICATION 16]` and path `[APPLICATION 17]`; the path makes
/// `sc_pkcs15_bind_internal` use `3F005015` as the application DF.
pub fn encode_ef_dir() -> Vec<u8> {
    to_der(&asn1::DirRecord::Application(asn1::ApplicationTemplate {
        aid: octets(&PKCS15_AID),
        label: Some(APP_LABEL.to_owned()),
        path: Some(octets(&path_bytes(&[MF, DF_PKCS15]))),
    }))
}

/// ODF: one `[n] { Path }` per directory file, absolute paths (PKCS#15 v1.1 §6.1). OpenSC's
/// `parse_odf` (`pkcs15.c`) decodes each as a CHOICE of `[0]`…`[8]` constructed wrapping a
/// Path SEQUENCE.
pub fn encode_odf(entries: &[(OdfKind, u16)]) -> Vec<u8> {
    let mut out = Vec::new();
    for &(kind, fid) in entries {
        let path = df_path(fid);
        let entry = match kind {
            OdfKind::PrivateKeys => asn1::OdfEntry::PrivateKeys(path),
            OdfKind::PublicKeys => asn1::OdfEntry::PublicKeys(path),
            OdfKind::Certificates => asn1::OdfEntry::Certificates(path),
            OdfKind::AuthObjects => asn1::OdfEntry::AuthObjects(path),
        };
        out.extend(to_der(&entry));
    }
    out
}

/// TokenInfo (PKCS#15 v1.1 §6.9): version 0 (v1), serialNumber, manufacturerID,
/// label `[0]`, tokenflags. `tokenflags` is mandatory for OpenSC (`c_asn1_toki_attrs` has no
/// `SC_ASN1_OPTIONAL` on it); only `prnGeneration` is set, as the chip answers GET CHALLENGE
/// (OpenSC: `CKF_RNG`). `readOnly` stays clear, `loginRequired` is derived by OpenSC from the
/// AODF.
pub fn encode_token_info(token: &TokenSpec) -> Vec<u8> {
    to_der(&asn1::TokenInfo {
        version: 0,
        serial_number: Some(octets(&serial_octets(&token.serial))),
        manufacturer_id: Some(label(&token.manufacturer)),
        label: Some(label(&token.label)),
        token_flags: named_bits(&[TOKEN_FLAG_PRN_GENERATION]),
    })
}

/// How the serial is stored in TokenInfo's `serialNumber` OCTET STRING.
///
/// OpenSC shows the serial as the upper-case hex of these octets (`sc_pkcs15_parse_tokeninfo`
/// prints `%02X` per byte) and PKCS#11 `serialNumber` holds 16 characters. So a serial of an
/// even number of `0-9A-F` characters is stored packed, two characters per octet, and OpenSC
/// shows it unchanged (`"9000000000000001"` → 8 octets → `9000000000000001`); any other
/// serial is stored as its UTF-8 bytes. At most [`MAX_SERIAL_BYTES`] octets.
pub fn serial_octets(serial: &str) -> Vec<u8> {
    let packable = !serial.is_empty()
        && serial.len().is_multiple_of(2)
        && serial.bytes().all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b));
    let mut out = if packable {
        hex::decode(serial).unwrap_or_else(|_| serial.as_bytes().to_vec())
    } else {
        serial.as_bytes().to_vec()
    };
    out.truncate(MAX_SERIAL_BYTES);
    out
}

/// AODF (PKCS#15 v1.1 §6.8): the user PIN and the PUK as `pin` authentication objects.
///
/// - user PIN: authId `01`, pinReference `1`, flags `case-sensitive, local, initialized`,
///   type `utf8` (a PIN may be any printable characters), minLength/maxLength from `pins`,
///   storedLength = maxLength, path `3F005015`. Its CommonObjectAttributes `authId` is `02`,
///   the PUK: `sc_pkcs15_unblock_pin` (`pkcs15-pin.c`) finds the PUK with
///   `sc_pkcs15_find_pin_by_auth_id(p15card, &pin_obj->auth_id, …)`.
/// - PUK: authId `02`, pinReference `2`, flags `case-sensitive, local, change-disabled,
///   initialized, unblockingPin` (the dialect has no command to change the PUK), type
///   `utf8`, min/max from `pins`.
///
/// No `needs-padding` flag and no padChar: the chip takes the PIN as typed (DIALECT.md splits
/// CHANGE REFERENCE DATA at the stored PIN's length), and without the flag OpenSC sends it
/// unpadded. `case-sensitive` is set because PKCS#15 lets a reader upper-case a PIN
/// otherwise. Both are `utf8`: OpenSC's unblock takes the *new PIN's* encoding from the PUK
/// object, so an `ascii-numeric` PUK would constrain the new PIN.
pub fn encode_aodf(pins: &PinSpec) -> Vec<u8> {
    let app_path = df_path_of_app();
    let user_pin = asn1::PinObject {
        common_object: asn1::CommonObjectAttributes {
            label: Some("PIN".to_owned()),
            flags: None,
            auth_id: Some(octets(&[PUK_AUTH_ID])),
            user_consent: None,
        },
        common_authentication: asn1::CommonAuthenticationObjectAttributes { auth_id: octets(&[USER_PIN_AUTH_ID]) },
        pin_attributes: asn1::PinAttributes {
            pin_flags: named_bits(&[PIN_FLAG_CASE_SENSITIVE, PIN_FLAG_LOCAL, PIN_FLAG_INITIALIZED]),
            pin_type: asn1::PinType::Utf8,
            min_length: pins.pin_min,
            stored_length: pins.pin_max,
            max_length: Some(pins.pin_max),
            pin_reference: Some(USER_PIN_REF),
            path: Some(app_path.clone()),
        },
    };
    let puk = asn1::PinObject {
        common_object: asn1::CommonObjectAttributes {
            label: Some("PUK".to_owned()),
            flags: None,
            auth_id: None,
            user_consent: None,
        },
        common_authentication: asn1::CommonAuthenticationObjectAttributes { auth_id: octets(&[PUK_AUTH_ID]) },
        pin_attributes: asn1::PinAttributes {
            pin_flags: named_bits(&[
                PIN_FLAG_CASE_SENSITIVE,
                PIN_FLAG_LOCAL,
                PIN_FLAG_CHANGE_DISABLED,
                PIN_FLAG_INITIALIZED,
                PIN_FLAG_UNBLOCKING_PIN,
            ]),
            pin_type: asn1::PinType::Utf8,
            min_length: pins.puk_min,
            stored_length: pins.puk_max,
            max_length: Some(pins.puk_max),
            pin_reference: Some(PUK_REF),
            path: Some(app_path),
        },
    };
    let mut out = to_der(&user_pin);
    out.extend(to_der(&puk));
    out
}

/// PrKDF (PKCS#15 v1.1 §6.2, ISO/IEC 7816-15): one private key per entry, `privateRSAKey`
/// (an untagged SEQUENCE, the first alternative of `PrivateKeyType`) for an RSA key and
/// `privateECKey [0]` for a P-256 key.
///
/// CommonObjectAttributes: label, flags `private`, authId `01` (the user PIN), userConsent `1`
/// for a key with [`KeySpec::user_consent`]. CommonKeyAttributes: iD, usage, accessFlags
/// `sensitive, neverExtractable`, keyReference = the chip's key reference. Type attributes:
/// value = Path `3F005015` (the key lives in the application DF and is addressed by
/// reference), then `modulusLength` (the key's size, 2048 on a UZI-pas) for RSA or
/// `fieldSize 256` for EC.
///
/// `modulusLength` is mandatory in OpenSC's `c_asn1_prk_rsa_attr` (`pkcs15-prkey.c`); OpenSC
/// sizes the PSO signature and decipher buffers by it.
///
/// `fieldSize` is OpenSC's extension to ISO 7816-15 (`c_asn1_ecckey_attr` in
/// `pkcs15-prkey.c`) and it is required: `sc_pkcs15_compute_signature` (`pkcs15-sec.c`) calls
/// `sc_card_find_ec_alg(card, prkey->field_length)` and passes it as `senv.algorithm_ref`,
/// which the IsoApplet driver uses to size the raw `r‖s` signature; without it signing fails
/// with "Card does not support EC with field_size 0".
pub fn encode_prkdf(keys: &[KeySpec]) -> Vec<u8> {
    let mut out = Vec::new();
    for key in keys {
        let common_object = asn1::CommonObjectAttributes {
            label: Some(label(&key.label)),
            flags: Some(named_bits(&[OBJECT_FLAG_PRIVATE])),
            auth_id: Some(octets(&[USER_PIN_AUTH_ID])),
            user_consent: key.user_consent.then_some(1),
        };
        let common_key = asn1::CommonKeyAttributes {
            id: octets(&key_id(key)),
            usage: named_bits(&key.usage.private_bits()),
            access_flags: Some(named_bits(&[ACCESS_FLAG_SENSITIVE, ACCESS_FLAG_NEVER_EXTRACTABLE])),
            key_reference: Some(key.key_ref),
        };
        let entry = match &key.public_key {
            HolderPublicKey::Rsa { .. } => asn1::PrivateKeyChoice::Rsa(asn1::PrivateRsaKeyObject {
                common_object,
                common_key,
                type_attributes: asn1::PrivateRsaKeyAttributes {
                    value: df_path_of_app(),
                    modulus_length: modulus_length(&key.public_key),
                },
            }),
            HolderPublicKey::P256 { .. } => asn1::PrivateKeyChoice::Ec(asn1::PrivateEcKeyObject {
                common_object,
                common_key,
                type_attributes: asn1::PrivateEcKeyAttributes {
                    value: df_path_of_app(),
                    field_size: Some(P256_FIELD_BITS),
                },
            }),
        };
        out.extend(to_der(&entry));
    }
    out
}

/// `modulusLength` of an RSA key: its size in bits (2048 for a UZI-pas key).
pub(super) fn modulus_length(key: &HolderPublicKey) -> u16 {
    u16::try_from(key.bits()).unwrap_or(u16::MAX)
}

/// PuKDF (PKCS#15 v1.1 §6.4, ISO/IEC 7816-15): one public key per entry, `publicRSAKey` (an
/// untagged SEQUENCE) with `modulusLength` for an RSA key or `publicECKey [0]` for a P-256
/// key, its value an indirect Path to the EF `5015/420x` written by [`public_key_file`].
///
/// The path form is used because both OpenSC 0.23 (Debian 12) and current OpenSC read it:
/// `sc_pkcs15_read_pubkey` (`pkcs15-pubkey.c`) reads the EF and, for an EC key whose content
/// starts with a SEQUENCE, decodes it with `sc_pkcs15_pubkey_from_spki_sequence`, which
/// keeps the curve; any other content, and every RSA key, goes to `sc_pkcs15_decode_pubkey`,
/// which for RSA reads a PKCS#1 `RSAPublicKey` (`sc_pkcs15_decode_pubkey_rsa`). The
/// `direct [0]` form is interpreted differently across versions.
pub fn encode_pukdf(keys: &[KeySpec]) -> Vec<u8> {
    let mut out = Vec::new();
    for key in keys {
        let common_object = asn1::CommonObjectAttributes {
            label: Some(label(&key.label)),
            flags: None,
            auth_id: None,
            user_consent: None,
        };
        let common_key = asn1::CommonKeyAttributes {
            id: octets(&key_id(key)),
            usage: named_bits(&key.usage.public_counterpart_bits()),
            access_flags: None,
            key_reference: None,
        };
        let value = df_path(public_key_fid(key.key_ref));
        let entry = match &key.public_key {
            HolderPublicKey::Rsa { .. } => asn1::PublicKeyChoice::Rsa(asn1::PublicRsaKeyObject {
                common_object,
                common_key,
                type_attributes: asn1::PublicRsaKeyAttributes {
                    value,
                    modulus_length: modulus_length(&key.public_key),
                },
            }),
            HolderPublicKey::P256 { .. } => asn1::PublicKeyChoice::Ec(asn1::PublicEcKeyObject {
                common_object,
                common_key,
                type_attributes: asn1::PublicEcKeyAttributes { value },
            }),
        };
        out.extend(to_der(&entry));
    }
    out
}

/// The content of a public key EF `5015/420x`, as OpenSC 0.23's `sc_pkcs15_read_pubkey`
/// decodes it (see [`encode_pukdf`]): for RSA the PKCS#1 `RSAPublicKey` DER
/// (RFC 8017 Appendix A.1.1), for P-256 the SubjectPublicKeyInfo of [`spki_der`].
///
/// The key is written as given; it is validated where it is certified
/// ([`crate::pki::TestPki::issue`]).
pub fn public_key_file(key: &HolderPublicKey) -> Vec<u8> {
    match key {
        HolderPublicKey::Rsa { modulus, exponent } => {
            to_der(&rsa::pkcs1::RsaPublicKeyRef { modulus: uint(modulus), public_exponent: uint(exponent) })
        }
        HolderPublicKey::P256 { sec1 } => spki_der(sec1),
    }
}

/// An unsigned DER INTEGER of big-endian `bytes`.
pub(super) fn uint(bytes: &[u8]) -> der::asn1::UintRef<'_> {
    der::asn1::UintRef::new(bytes).expect("an INTEGER this short always fits")
}

/// CDF (PKCS#15 v1.1 §6.6): `x509Certificate` entries, value = Path to the certificate EF.
/// User certificates carry the key's iD (`5015/430x`); CA certificates get iD `0x11`, `0x12`,
/// … and `authority TRUE` (`5015/4311`, `4312`, …). `authority` is `DEFAULT FALSE`, so DER
/// leaves it out for user certificates.
pub fn encode_cdf(keys: &[KeySpec], ca_certs: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for key in keys {
        if key.certificate_der.is_none() {
            continue;
        }
        out.extend(to_der(&certificate_entry(&key.label, key_id(key), false, certificate_fid(key.key_ref))));
    }
    for (i, (ca_label, _)) in ca_certs.iter().enumerate() {
        let fid = ca_certificate_fid(i);
        out.extend(to_der(&certificate_entry(ca_label, vec![(fid & 0xFF) as u8], true, fid)));
    }
    out
}

/// The SubjectPublicKeyInfo (RFC 5480: `id-ecPublicKey`, namedCurve `prime256v1`) of an
/// uncompressed SEC1 point, as stored in the public key EFs.
pub fn spki_der(public_key_sec1: &[u8]) -> Vec<u8> {
    let spki = spki::SubjectPublicKeyInfo::<ObjectIdentifier, BitString> {
        algorithm: spki::AlgorithmIdentifier { oid: ID_EC_PUBLIC_KEY, parameters: Some(SECP256R1) },
        subject_public_key: BitString::new(0, public_key_sec1.to_vec())
            .expect("a BIT STRING with 0 unused bits accepts any octets"),
    };
    to_der(&spki)
}

pub(super) const ID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
pub(super) const SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");

// PKCS#15 v1.1 named-bit positions.
pub(super) const TOKEN_FLAG_PRN_GENERATION: usize = 2;
pub(super) const OBJECT_FLAG_PRIVATE: usize = 0;
pub(super) const PIN_FLAG_CASE_SENSITIVE: usize = 0;
pub(super) const PIN_FLAG_LOCAL: usize = 1;
pub(super) const PIN_FLAG_CHANGE_DISABLED: usize = 2;
pub(super) const PIN_FLAG_INITIALIZED: usize = 4;
pub(super) const PIN_FLAG_UNBLOCKING_PIN: usize = 6;
pub(super) const ACCESS_FLAG_SENSITIVE: usize = 0;
pub(super) const ACCESS_FLAG_NEVER_EXTRACTABLE: usize = 3;

pub(super) fn certificate_entry(cert_label: &str, id: Vec<u8>, authority: bool, fid: u16) -> asn1::CertificateObject {
    asn1::CertificateObject {
        common_object: asn1::CommonObjectAttributes {
            label: Some(label(cert_label)),
            flags: None,
            auth_id: None,
            user_consent: None,
        },
        common_certificate: asn1::CommonCertificateAttributes { id: octets(&id), authority },
        type_attributes: asn1::X509CertificateAttributes { value: df_path(fid) },
    }
}

pub(super) fn key_id(key: &KeySpec) -> Vec<u8> {
    if key.id.is_empty() { vec![key.key_ref] } else { key.id.clone() }
}

/// Path `3F00 5015 <fid>`.
pub(super) fn df_path(fid: u16) -> asn1::Path {
    asn1::Path { efid_or_path: octets(&path_bytes(&[MF, DF_PKCS15, fid])) }
}

/// Path `3F00 5015`.
pub(super) fn df_path_of_app() -> asn1::Path {
    asn1::Path { efid_or_path: octets(&path_bytes(&[MF, DF_PKCS15])) }
}

pub(super) fn path_bytes(fids: &[u16]) -> Vec<u8> {
    fids.iter().flat_map(|f| f.to_be_bytes()).collect()
}

/// A label cut to [`MAX_LABEL_BYTES`] at a character boundary.
pub(super) fn label(s: &str) -> String {
    let mut end = s.len().min(MAX_LABEL_BYTES);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

pub(super) fn octets(bytes: &[u8]) -> OctetString {
    OctetString::new(bytes.to_vec()).expect("an OCTET STRING this short always fits")
}

/// A named-bit-list BIT STRING with the given bits set, DER-minimal: trailing zero bits are
/// removed (X.690 §11.2.2), as OpenSC's strict BIT STRING decoder expects.
pub fn named_bits(bits: &[usize]) -> BitString {
    let Some(&highest) = bits.iter().max() else {
        return BitString::new(0, Vec::new()).expect("the empty BIT STRING is valid");
    };
    let len_bits = highest + 1;
    let mut bytes = vec![0u8; len_bits.div_ceil(8)];
    for &b in bits {
        bytes[b / 8] |= 0x80 >> (b % 8);
    }
    let unused = (bytes.len() * 8 - len_bits) as u8;
    BitString::new(unused, bytes).expect("unused bits are 0..=7 and zero")
}

/// DER of a value built here. Encoding only fails for lengths beyond the `der` crate's
/// 256 MiB limit, which no card file comes near.
pub(super) fn to_der<T: Encode>(value: &T) -> Vec<u8> {
    value.to_der().expect("card files are far below der's length limit")
}
