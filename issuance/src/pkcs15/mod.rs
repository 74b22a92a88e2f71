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
//!
//! This module holds the constants and [`layout`] (the whole file system of a card); `encode` (re-exported here)
//! has one encoder per file, and [`asn1`] the ASN.1 types they encode.

use der::Encode;
use der::asn1::{BitString, OctetString};
use der::oid::ObjectIdentifier;

use crate::pki::HolderPublicKey;

pub mod asn1;
mod encode;

pub use encode::*;

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
pub const USER_PIN_REF: u8 = card_os::PinRef::User.to_byte();
/// PIN reference of the PUK (DIALECT.md: `02`).
pub const PUK_REF: u8 = card_os::PinRef::Puk.to_byte();
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
