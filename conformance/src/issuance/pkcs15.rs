//! DER encoders for the PKCS#15 files that OpenSC reads from a zorgcard.
//!
//! OpenSC has no UZI/SafeSign driver. A zorgcard binds as an IsoApplet card and OpenSC's
//! internal PKCS#15 emulation (`sc_pkcs15_bind_internal`) then reads a plain PKCS#15 v1.1 /
//! ISO/IEC 7816-15 file system from it:
//!
//! | path | file | built by |
//! |---|---|---|
//! | `3F00/2F00` | EF.DIR: one application template (`61 {4F aid, 50 label, 51 path}`) | [`encode_ef_dir`] |
//! | `3F00/5015` | DF.PKCS15, DF name = [`PKCS15_AID`] | [`Pkcs15Layout::dfs`] |
//! | `5015/5031` | ODF: where the four directory files are | [`encode_odf`] |
//! | `5015/5032` | TokenInfo: serial, manufacturer, label, token flags | [`encode_token_info`] |
//! | `5015/4401` | AODF: user PIN (authId `01`) and PUK (authId `02`) | [`encode_aodf`] |
//! | `5015/4402` | PrKDF: the RSA or EC private keys (by key reference, they never leave the chip) | [`encode_prkdf`] |
//! | `5015/4403` | PuKDF: the public keys, each pointing at an EF holding its value | [`encode_pukdf`] |
//! | `5015/4404` | CDF: the X.509 certificates, each pointing at an EF holding the DER | [`encode_cdf`] |
//! | `5015/420x` | public key EFs (RSA: PKCS#1 `RSAPublicKey`, EC: SPKI), `x` = key reference | [`public_key_file`] |
//! | `5015/430x`, `5015/431n` | user certificates (`x` = key reference) and CA certificates | raw DER |
//!
//! Every structure is built from the typed ASN.1 definitions in [`asn1`] with the `der`
//! crate; nothing is hand-concatenated. The choices that matter to OpenSC are documented on
//! the items that make them, with the OpenSC source they follow (`src/libopensc/*.c`).

use der::Encode;
use der::asn1::{BitString, OctetString};
use der::oid::ObjectIdentifier;

use crate::issuance::pki::HolderPublicKey;

/// The PKCS#15 application identifier `A0 00 00 00 63 "PKCS-15"` (PKCS#15 v1.1 §5.4.1).
/// OpenSC's `dir.c` recognises the application by it.
pub const PKCS15_AID: [u8; 12] = [0xA0, 0x00, 0x00, 0x00, 0x63, 0x50, 0x4B, 0x43, 0x53, 0x2D, 0x31, 0x35];

/// Label of the application in EF.DIR.
pub const APP_LABEL: &str = "zorgcard PKCS#15";

/// FID of the master file.
pub const MF: u16 = card_os::types::FileId::MF.0;
/// FID of EF.DIR under the MF (ISO/IEC 7816-4 §8.2.1.1).
pub const EF_DIR: u16 = 0x2F00;
/// FID of DF.PKCS15, the application DF (PKCS#15 v1.1 §5.4; OpenSC's default `3F005015`).
pub const DF_PKCS15: u16 = 0x5015;
/// FID of EF.ODF in DF.PKCS15 (PKCS#15 v1.1 §5.5.1).
pub const EF_ODF: u16 = 0x5031;
/// FID of EF.TokenInfo in DF.PKCS15 (PKCS#15 v1.1 §5.5.2).
pub const EF_TOKEN_INFO: u16 = 0x5032;
/// FID of the AODF (the IsoApplet profile's `PKCS15-AODF`).
pub const EF_AODF: u16 = 0x4401;
/// FID of the PrKDF (the IsoApplet profile's `PKCS15-PrKDF`).
pub const EF_PRKDF: u16 = 0x4402;
/// FID of the PuKDF (the IsoApplet profile's `PKCS15-PuKDF`).
pub const EF_PUKDF: u16 = 0x4403;
/// FID of the CDF (the IsoApplet profile's `PKCS15-CDF`).
pub const EF_CDF: u16 = 0x4404;

/// Access condition byte (DIALECT.md, FCP tag `86`): always.
pub const AC_ALWAYS: u8 = 0x00;
/// Access condition byte: after user-PIN verification.
pub const AC_USER_PIN: u8 = 0x01;
/// Access condition byte: only while the card is being personalised.
pub const AC_PERSONALISATION: u8 = 0x02;
/// Access condition byte: never.
pub const AC_NEVER: u8 = 0xFF;

/// PIN reference of the user PIN (DIALECT.md: `01`).
pub const USER_PIN_REF: u8 = 0x01;
/// PIN reference of the PUK (DIALECT.md: `02`).
pub const PUK_REF: u8 = 0x02;
/// authId of the user PIN object; every private key names it.
pub const USER_PIN_AUTH_ID: u8 = 0x01;
/// authId of the PUK object; the user PIN names it so that `pkcs15-tool --unblock-pin` finds
/// the PUK (`sc_pkcs15_unblock_pin` looks the PUK up by the PIN object's own `authId`).
pub const PUK_AUTH_ID: u8 = 0x02;

/// Size of the P-256 field in bits, written as the PrKDF `fieldSize`.
pub const P256_FIELD_BITS: u16 = 256;

/// Modulus length of the UZI-pas holder keys, written as `modulusLength` (CPS UZI-register
/// §6.1.4: RSA, at least 2048 bits).
pub const RSA2048_MODULUS_BITS: u16 = 2048;

/// Longest label OpenSC can read: its label buffers are `SC_PKCS15_MAX_LABEL_SIZE` (255)
/// bytes including the terminating NUL, and a longer UTF8String makes the whole file fail to
/// parse (`sc_asn1_decode_utf8string` returns `SC_ERROR_BUFFER_TOO_SMALL`). PKCS#15 v1.1
/// bounds labels at 255 (`pkcs15-ub-label`) as well. Longer labels are cut at a character
/// boundary.
pub const MAX_LABEL_BYTES: usize = 254;

/// Longest TokenInfo `serialNumber` OpenSC can read (`u8 serial[128]` in
/// `sc_pkcs15_parse_tokeninfo`); longer serials are cut.
pub const MAX_SERIAL_BYTES: usize = 128;

/// FID of the EF holding the certificate of key `key_ref` (`43 0x`).
pub fn certificate_fid(key_ref: u8) -> u16 {
    0x4300 | u16::from(key_ref)
}

/// FID of the EF holding the `index`-th (0-based) CA certificate (`43 11`, `43 12`, …).
pub fn ca_certificate_fid(index: usize) -> u16 {
    0x4311u16.wrapping_add(u16::try_from(index).unwrap_or(u16::MAX))
}

/// FID of the EF holding the public key of key `key_ref` (`42 0x`).
pub fn public_key_fid(key_ref: u8) -> u16 {
    0x4200 | u16::from(key_ref)
}

/// Everything to write under the MF for OpenSC to see a PKCS#15 token: the DFs to create
/// first, then the EFs with their contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pkcs15Layout {
    /// DFs to create before any EF, parents first (just DF.PKCS15 with its DF name).
    pub dfs: Vec<Pkcs15Df>,
    /// Transparent EFs, in creation order; each EF's size is its content's length.
    pub files: Vec<Pkcs15File>,
}

impl Pkcs15Layout {
    /// The EF at `path` (FIDs from the MF), if the layout has one.
    pub fn file(&self, path: &[u16]) -> Option<&Pkcs15File> {
        self.files.iter().find(|f| f.path == path)
    }
}

/// A DF to create (ISO/IEC 7816-4 CREATE FILE with FCP tag `84` = DF name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pkcs15Df {
    /// FIDs from the MF, e.g. `[0x5015]`.
    pub path: Vec<u16>,
    /// DF name (AID), selectable with SELECT by name.
    pub aid: Vec<u8>,
    /// Read access condition (DIALECT.md AC byte).
    pub read_ac: u8,
    /// Update access condition (DIALECT.md AC byte).
    pub update_ac: u8,
}

/// A transparent EF and its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pkcs15File {
    /// FIDs from the MF, e.g. `[0x5015, 0x4404]`.
    pub path: Vec<u16>,
    /// The complete file content; the EF is created with exactly this size.
    pub content: Vec<u8>,
    /// Read access condition (DIALECT.md AC byte).
    pub read_ac: u8,
    /// Update access condition (DIALECT.md AC byte).
    pub update_ac: u8,
}

/// What TokenInfo says about the token (PKCS#15 v1.1 §6.9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSpec {
    /// Card serial number; see [`serial_octets`] for how it is stored.
    pub serial: String,
    /// Token label, e.g. `UZI-pas Z 900016528`.
    pub label: String,
    /// manufacturerID, e.g. `zorgcard TEST`.
    pub manufacturer: String,
}

/// PKCS#15 KeyUsageFlags of a private key (PKCS#15 v1.1 §6.2.4); the public key gets the
/// matching public operations (see [`KeyUsage::public_counterpart_bits`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct KeyUsage {
    /// `sign` (bit 2): authentication signatures. OpenSC maps it to `CKA_SIGN`.
    pub sign: bool,
    /// `nonRepudiation` (bit 9): qualified-style signatures. OpenSC maps it to `CKA_SIGN`
    /// too (`framework-pkcs15.c`, `get_usage_bit`).
    pub non_repudiation: bool,
    /// `decrypt` (bit 1).
    pub decrypt: bool,
    /// `unwrap` (bit 5): RSA key transport (OpenSC: `CKA_UNWRAP`), e.g. an S/MIME content key.
    pub unwrap: bool,
    /// `derive` (bit 8): ECDH, the EC form of "decrypt".
    pub derive: bool,
}

impl KeyUsage {
    /// Key `01`, authentication: `sign`.
    pub const AUTHENTICATION: KeyUsage =
        KeyUsage { sign: true, non_repudiation: false, decrypt: false, unwrap: false, derive: false };
    /// Key `02`, non-repudiation signature: `nonRepudiation`.
    pub const SIGNATURE: KeyUsage =
        KeyUsage { sign: false, non_repudiation: true, decrypt: false, unwrap: false, derive: false };
    /// Key `03` as an EC key, encryption: `decrypt` and `derive` (ECDH).
    pub const ENCRYPTION: KeyUsage =
        KeyUsage { sign: false, non_repudiation: false, decrypt: true, unwrap: false, derive: true };
    /// Key `03` as an RSA key, encryption: `decrypt` and `unwrap`, never `sign`: the UZI-pas
    /// confidentiality certificate allows only keyEncipherment + dataEncipherment (CPS
    /// UZI-register §7.1 Table 8).
    pub const ENCRYPTION_RSA: KeyUsage =
        KeyUsage { sign: false, non_repudiation: false, decrypt: true, unwrap: true, derive: false };

    /// The usage of the EC card key with this reference (DIALECT.md: `01` authentication,
    /// `02` signature, `03` encryption); `None` for other references. For a key of either
    /// algorithm use [`KeyUsage::for_key`].
    pub fn for_key_ref(key_ref: u8) -> Option<KeyUsage> {
        match key_ref {
            1 => Some(KeyUsage::AUTHENTICATION),
            2 => Some(KeyUsage::SIGNATURE),
            3 => Some(KeyUsage::ENCRYPTION),
            _ => None,
        }
    }

    /// The usage of card key `key_ref` holding `key`: as [`KeyUsage::for_key_ref`], except
    /// that an RSA encryption key gets [`KeyUsage::ENCRYPTION_RSA`].
    pub fn for_key(key_ref: u8, key: &HolderPublicKey) -> Option<KeyUsage> {
        match (key_ref, key) {
            (3, HolderPublicKey::Rsa { .. }) => Some(KeyUsage::ENCRYPTION_RSA),
            _ => KeyUsage::for_key_ref(key_ref),
        }
    }

    /// The KeyUsageFlags bit numbers of the private key.
    pub fn private_bits(self) -> Vec<usize> {
        let mut bits = Vec::new();
        if self.decrypt {
            bits.push(1);
        }
        if self.sign {
            bits.push(2);
        }
        if self.unwrap {
            bits.push(5);
        }
        if self.derive {
            bits.push(8);
        }
        if self.non_repudiation {
            bits.push(9);
        }
        bits
    }

    /// The KeyUsageFlags bit numbers of the matching public key: `sign` → `verify` (6),
    /// `nonRepudiation` → `verify` + `nonRepudiation`, `decrypt` → `encrypt` (0),
    /// `unwrap` → `wrap` (4), `derive` → `derive`.
    pub fn public_counterpart_bits(self) -> Vec<usize> {
        let mut bits = Vec::new();
        if self.decrypt {
            bits.push(0);
        }
        if self.unwrap {
            bits.push(4);
        }
        if self.sign || self.non_repudiation {
            bits.push(6);
        }
        if self.derive {
            bits.push(8);
        }
        if self.non_repudiation {
            bits.push(9);
        }
        bits
    }
}

/// One key pair on the card and what PKCS#15 says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySpec {
    /// Key reference on the chip: `1` authentication, `2` signature, `3` encryption.
    pub key_ref: u8,
    /// PKCS#15 iD shared by the private key, public key and certificate (`0x01`/`0x02`/`0x03`).
    /// An empty iD is replaced by `[key_ref]`: OpenSC rejects empty identifiers.
    pub id: Vec<u8>,
    /// Label of the key, its public key and its certificate.
    pub label: String,
    /// Usage flags of the private key.
    pub usage: KeyUsage,
    /// `true` for the signature key: a fresh PIN per signature (PKCS#15 `userConsent`,
    /// OpenSC's `CKA_ALWAYS_AUTHENTICATE`; DIALECT.md: key `02` needs a fresh VERIFY).
    pub user_consent: bool,
    /// The public key: RSA (a UZI-pas) or P-256. It selects the PrKDF/PuKDF entry type
    /// (`privateRSAKey`/`publicRSAKey` or `privateECKey`/`publicECKey`) and the content of the
    /// public key EF.
    pub public_key: HolderPublicKey,
    /// The certificate, if one has been issued yet.
    pub certificate_der: Option<Vec<u8>>,
}

/// The PIN policy written to the AODF (DIALECT.md: PIN 6–8, PUK 6–16 by default).
///
/// OpenSC refuses `storedLength` above 16 (`SC_MAX_PIN_SIZE`, `_validate_pin` in
/// `pkcs15-pin.c`). Its `sc_pkcs15_unblock_pin` also checks the PUK against the *user PIN's*
/// `maxLength` (`data.pin1.max_length = auth_info->attrs.pin.max_length`, then
/// `sc_build_pin` refuses a longer value), so `pkcs15-tool --unblock-pin` only works with a
/// PUK no longer than `pin_max`; the test PUK `12345678` fits the default 8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PinSpec {
    /// Shortest user PIN.
    pub pin_min: u8,
    /// Longest user PIN; also the `storedLength`.
    pub pin_max: u8,
    /// Shortest PUK.
    pub puk_min: u8,
    /// Longest PUK; also the `storedLength`.
    pub puk_max: u8,
}

/// Build every PKCS#15 file for a token.
///
/// PKCS#15 files and certificate/public-key EFs are readable always (`00`) and updatable only
/// during personalisation (`02`). Directory files with no entries (no keys, no
/// certificates) are left out, and so is their ODF entry.
pub fn layout(token: &TokenSpec, pins: &PinSpec, keys: &[KeySpec], ca_certs: &[(String, Vec<u8>)]) -> Pkcs15Layout {
    let app = |fid: u16| vec![DF_PKCS15, fid];
    let ef = |path: Vec<u16>, content: Vec<u8>| Pkcs15File {
        path,
        content,
        read_ac: AC_ALWAYS,
        update_ac: AC_PERSONALISATION,
    };

    let prkdf = encode_prkdf(keys);
    let pukdf = encode_pukdf(keys);
    let cdf = encode_cdf(keys, ca_certs);

    let mut odf = vec![];
    if !prkdf.is_empty() {
        odf.push((OdfKind::PrivateKeys, EF_PRKDF));
    }
    if !pukdf.is_empty() {
        odf.push((OdfKind::PublicKeys, EF_PUKDF));
    }
    if !cdf.is_empty() {
        odf.push((OdfKind::Certificates, EF_CDF));
    }
    odf.push((OdfKind::AuthObjects, EF_AODF));

    let mut files = vec![
        ef(vec![EF_DIR], encode_ef_dir()),
        ef(app(EF_ODF), encode_odf(&odf)),
        ef(app(EF_TOKEN_INFO), encode_token_info(token)),
        ef(app(EF_AODF), encode_aodf(pins)),
    ];
    if !prkdf.is_empty() {
        files.push(ef(app(EF_PRKDF), prkdf));
    }
    if !pukdf.is_empty() {
        files.push(ef(app(EF_PUKDF), pukdf));
    }
    if !cdf.is_empty() {
        files.push(ef(app(EF_CDF), cdf));
    }
    for key in keys {
        files.push(ef(app(public_key_fid(key.key_ref)), public_key_file(&key.public_key)));
    }
    for key in keys {
        if let Some(cert) = &key.certificate_der {
            files.push(ef(app(certificate_fid(key.key_ref)), cert.clone()));
        }
    }
    for (i, (_, cert)) in ca_certs.iter().enumerate() {
        files.push(ef(app(ca_certificate_fid(i)), cert.clone()));
    }

    Pkcs15Layout {
        dfs: vec![Pkcs15Df {
            path: vec![DF_PKCS15],
            aid: PKCS15_AID.to_vec(),
            read_ac: AC_ALWAYS,
            update_ac: AC_PERSONALISATION,
        }],
        files,
    }
}

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
fn modulus_length(key: &HolderPublicKey) -> u16 {
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
/// ([`crate::issuance::pki::TestPki::issue`]).
pub fn public_key_file(key: &HolderPublicKey) -> Vec<u8> {
    match key {
        HolderPublicKey::Rsa { modulus, exponent } => {
            to_der(&rsa::pkcs1::RsaPublicKeyRef { modulus: uint(modulus), public_exponent: uint(exponent) })
        }
        HolderPublicKey::P256 { sec1 } => spki_der(sec1),
    }
}

/// An unsigned DER INTEGER of big-endian `bytes`.
fn uint(bytes: &[u8]) -> der::asn1::UintRef<'_> {
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

const ID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");

// PKCS#15 v1.1 named-bit positions.
const TOKEN_FLAG_PRN_GENERATION: usize = 2;
const OBJECT_FLAG_PRIVATE: usize = 0;
const PIN_FLAG_CASE_SENSITIVE: usize = 0;
const PIN_FLAG_LOCAL: usize = 1;
const PIN_FLAG_CHANGE_DISABLED: usize = 2;
const PIN_FLAG_INITIALIZED: usize = 4;
const PIN_FLAG_UNBLOCKING_PIN: usize = 6;
const ACCESS_FLAG_SENSITIVE: usize = 0;
const ACCESS_FLAG_NEVER_EXTRACTABLE: usize = 3;

fn certificate_entry(cert_label: &str, id: Vec<u8>, authority: bool, fid: u16) -> asn1::CertificateObject {
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

fn key_id(key: &KeySpec) -> Vec<u8> {
    if key.id.is_empty() { vec![key.key_ref] } else { key.id.clone() }
}

/// Path `3F00 5015 <fid>`.
fn df_path(fid: u16) -> asn1::Path {
    asn1::Path { efid_or_path: octets(&path_bytes(&[MF, DF_PKCS15, fid])) }
}

/// Path `3F00 5015`.
fn df_path_of_app() -> asn1::Path {
    asn1::Path { efid_or_path: octets(&path_bytes(&[MF, DF_PKCS15])) }
}

fn path_bytes(fids: &[u16]) -> Vec<u8> {
    fids.iter().flat_map(|f| f.to_be_bytes()).collect()
}

/// A label cut to [`MAX_LABEL_BYTES`] at a character boundary.
fn label(s: &str) -> String {
    let mut end = s.len().min(MAX_LABEL_BYTES);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

fn octets(bytes: &[u8]) -> OctetString {
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
fn to_der<T: Encode>(value: &T) -> Vec<u8> {
    value.to_der().expect("card files are far below der's length limit")
}

/// Typed ASN.1 definitions from PKCS#15 v1.1 Annex A / ISO/IEC 7816-15, restricted to what a
/// zorgcard writes, in the shape OpenSC's decoders expect. Public so that tests and the
/// conformance suite can decode what they read back from a card.
pub mod asn1 {
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
}
