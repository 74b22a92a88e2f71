//! Command APDUs that inject a personaliser-generated private key into the card.
//!
//! A real UZI-pas gets its keys from the personaliser's HSM, injected into the card (CPS
//! UZI-register v10.2 §6.1.1). The card takes them the way IsoApplet does (OpenSC
//! `card-isoApplet.c`, `isoApplet_ctl_import_key`, following ISO/IEC 7816-8 Annex C.2, "usage
//! of the PUT DATA command for private key import"):
//!
//! 1. MANAGE SECURITY ENVIRONMENT SET `00 22 41 00` with `80 01 <algorithm>` and
//!    `84 01 <key reference>`, as before an on-card key generation;
//! 2. PUT DATA `00 DB 3F FF` with the private key data object `7F48` holding the CRT
//!    components as `92` p, `93` q, `94` qInv, `95` dP, `96` dQ.
//!
//! OpenSC sends step 2 as a chain of short APDUs; a zorgcard takes it as one extended-length
//! APDU (ISO/IEC 7816-4 §5.1: `00 DB 3F FF 00 Lc1 Lc2 data`, no Le).

use card_os::KeyRef;

use crate::pki::HolderPublicKey;
use crate::test_keys::{RSA2048_CRT_BYTES, RsaCrtComponents};

/// MSE algorithm reference for an RSA-2048 key pair (IsoApplet `SC_ISOAPPLET_ALG_REF_RSA_GEN_2048`).
pub const ALG_RSA_2048: u8 = 0xF3;

/// INS of MANAGE SECURITY ENVIRONMENT (ISO/IEC 7816-4 §11.5.11).
pub const INS_MSE: u8 = 0x22;
/// MSE P1 `41`: SET, for computation, decipherment, internal authentication and key agreement.
pub const MSE_P1_SET: u8 = 0x41;
/// MSE P2 `00`: no control reference template; IsoApplet uses it for key generation and import.
pub const MSE_P2_IMPORT: u8 = 0x00;
/// MSE tag of the algorithm reference.
pub const TAG_ALGORITHM_REFERENCE: u8 = 0x80;
/// MSE tag of the private key reference.
pub const TAG_PRIVATE_KEY_REFERENCE: u8 = 0x84;

/// INS of PUT DATA with BER-TLV data (odd INS, ISO/IEC 7816-4 §11.4.6).
pub const INS_PUT_DATA: u8 = 0xDB;
/// PUT DATA P1-P2 `3FFF`: the current DF's data objects (IsoApplet's private-key import).
pub const PUT_DATA_P1P2: [u8; 2] = [0x3F, 0xFF];

/// Tag of the private key data object (ISO/IEC 7816-8, two-byte tag `7F48`).
pub const TAG_PRIVATE_KEY_TEMPLATE: [u8; 2] = [0x7F, 0x48];
/// Tag of the first prime `p` in `7F48`.
pub const TAG_RSA_P: u8 = 0x92;
/// Tag of the second prime `q`.
pub const TAG_RSA_Q: u8 = 0x93;
/// Tag of `qInv = q⁻¹ mod p`.
pub const TAG_RSA_QINV: u8 = 0x94;
/// Tag of `dP = d mod (p − 1)`.
pub const TAG_RSA_DP: u8 = 0x95;
/// Tag of `dQ = d mod (q − 1)`.
pub const TAG_RSA_DQ: u8 = 0x96;

/// The MSE SET that announces an import: `00 22 41 00 06 80 01 <algorithm> 84 01 <key_ref>`.
pub fn mse_set_import(key_ref: KeyRef, algorithm: u8) -> Vec<u8> {
    let data = [TAG_ALGORITHM_REFERENCE, 0x01, algorithm, TAG_PRIVATE_KEY_REFERENCE, 0x01, key_ref.to_byte()];
    let mut apdu = vec![0x00, INS_MSE, MSE_P1_SET, MSE_P2_IMPORT, data.len() as u8];
    apdu.extend_from_slice(&data);
    apdu
}

/// The `7F48` private key data object of an RSA-2048 key:
/// `7F48 82 02 8F { 92 81 80 p | 93 81 80 q | 94 81 80 qInv | 95 81 80 dP | 96 81 80 dQ }`,
/// every component exactly 128 bytes (left-padded), in IsoApplet's order.
pub fn rsa_private_key_template(key: &RsaCrtComponents) -> Vec<u8> {
    let parts: [(u8, &[u8; RSA2048_CRT_BYTES]); 5] = [
        (TAG_RSA_P, &key.p),
        (TAG_RSA_Q, &key.q),
        (TAG_RSA_QINV, &key.qinv),
        (TAG_RSA_DP, &key.dp),
        (TAG_RSA_DQ, &key.dq),
    ];
    let mut body = Vec::with_capacity(5 * (3 + RSA2048_CRT_BYTES));
    for (tag, value) in parts {
        body.push(tag);
        push_ber_length(&mut body, value.len());
        body.extend_from_slice(value);
    }
    let mut out = TAG_PRIVATE_KEY_TEMPLATE.to_vec();
    push_ber_length(&mut out, body.len());
    out.extend(body);
    out
}

/// The two C-APDUs that import `key` as key `key_ref`: the MSE SET of [`mse_set_import`] with
/// [`ALG_RSA_2048`], then PUT DATA `00 DB 3F FF 00 02 94 <7F48 template>` (extended Lc, no
/// Le). The second APDU carries the private key: treat it as a secret (never log it).
pub fn rsa_import_apdus(key_ref: KeyRef, key: &RsaCrtComponents) -> Vec<Vec<u8>> {
    let data = rsa_private_key_template(key);
    let lc = u16::try_from(data.len()).unwrap_or(u16::MAX).to_be_bytes();
    let mut put = vec![0x00, INS_PUT_DATA, PUT_DATA_P1P2[0], PUT_DATA_P1P2[1], 0x00, lc[0], lc[1]];
    put.extend(data);
    vec![mse_set_import(key_ref, ALG_RSA_2048), put]
}

/// BER definite length (ISO/IEC 7816-4 §5.2.2.2 / X.690 §8.1.3): short form below 128, else
/// `81 xx` or `82 xx xx`.
fn push_ber_length(out: &mut Vec<u8>, len: usize) {
    match len {
        0..=0x7F => out.push(len as u8),
        0x80..=0xFF => out.extend([0x81, len as u8]),
        _ => out.extend([0x82, (len >> 8) as u8, len as u8]),
    }
}

/// The public key in a GENERATE ASYMMETRIC KEY PAIR answer (ISO 7816-8 §5.1, table 3): `7F49 { 86 point }` for
/// P-256, `7F49 { 81 n, 82 e }` for RSA (IsoApplet's form). `None` for anything else.
pub fn public_key_from_template(answer: &[u8]) -> Option<HolderPublicKey> {
    let tlv = |bytes| card_os::apdu::ber_tlv(bytes).ok();
    let (tag, mut inner, rest) = tlv(answer)?;
    if tag != 0x7F49 || !rest.is_empty() {
        return None;
    }
    let (mut modulus, mut exponent, mut point) = (None, None, None);
    while !inner.is_empty() {
        let (tag, value, next) = tlv(inner)?;
        match tag {
            0x81 => modulus = Some(value),
            0x82 => exponent = Some(value),
            0x86 => point = Some(value),
            _ => return None,
        }
        inner = next;
    }
    match (modulus, exponent, point) {
        (Some(n), Some(e), None) => Some(HolderPublicKey::rsa(n, e)),
        (None, None, Some(p)) if p.len() == 65 => Some(HolderPublicKey::P256 { sec1: p.to_vec() }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn components() -> RsaCrtComponents {
        RsaCrtComponents {
            modulus: [0xAA; 256],
            exponent: vec![0x01, 0x00, 0x01],
            p: [0x11; 128],
            q: [0x22; 128],
            dp: [0x44; 128],
            dq: [0x55; 128],
            qinv: [0x33; 128],
        }
    }

    #[test]
    fn mse_announces_rsa_2048_and_the_key_reference() {
        let apdus = rsa_import_apdus(KeyRef::Signature, &components());
        assert_eq!(apdus.len(), 2);
        assert_eq!(apdus[0], [0x00, 0x22, 0x41, 0x00, 0x06, 0x80, 0x01, 0xF3, 0x84, 0x01, 0x02]);
    }

    #[test]
    fn put_data_layout() {
        let apdus = rsa_import_apdus(KeyRef::Authentication, &components());
        let put = &apdus[1];
        // Header, extended Lc = 0x0294 = 660, no Le.
        assert_eq!(&put[..7], &[0x00, 0xDB, 0x3F, 0xFF, 0x00, 0x02, 0x94]);
        let data = &put[7..];
        assert_eq!(data.len(), 0x294);
        assert_eq!(put.len(), 7 + 660);
        // 7F48 82 028F = 655 = 5 × (3 + 128).
        assert_eq!(&data[..5], &[0x7F, 0x48, 0x82, 0x02, 0x8F]);
        let body = &data[5..];
        assert_eq!(body.len(), 0x28F);
        for (i, (tag, fill)) in
            [(0x92u8, 0x11u8), (0x93, 0x22), (0x94, 0x33), (0x95, 0x44), (0x96, 0x55)].into_iter().enumerate()
        {
            let tlv = &body[i * 131..(i + 1) * 131];
            assert_eq!(&tlv[..3], &[tag, 0x81, 0x80], "component {i}");
            assert!(tlv[3..].iter().all(|&b| b == fill), "component {i}");
        }
    }

    #[test]
    fn ber_lengths() {
        for (len, enc) in
            [(0usize, vec![0x00]), (0x7F, vec![0x7F]), (0x80, vec![0x81, 0x80]), (0x28F, vec![0x82, 0x02, 0x8F])]
        {
            let mut out = Vec::new();
            push_ber_length(&mut out, len);
            assert_eq!(out, enc, "{len}");
        }
    }
}
