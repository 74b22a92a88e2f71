//! The TEST-ONLY pool of RSA-2048 holder keys in `fixtures/keys/`.
//!
//! A real UZI-pas gets its keys from the personaliser's HSM, which generates them and injects
//! them into the card (CPS UZI-register v10.2 §6.1.1). A simulated personaliser does the same,
//! but generating RSA-2048 keys is far too slow to do per test card, and fixture cards must be
//! reproducible. So the keys come from a fixed, committed pool of
//! [`TEST_KEY_POOL_SIZE`] keys, chosen deterministically from the card serial and key
//! reference by [`test_rsa_key`]. **They are public and provide no security whatsoever.**
//!
//! [`RsaCrtComponents`] is the form a personaliser injects (the CRT parameters of RFC 8017
//! §3.2, fixed width); [`crate::key_import`] turns them into the card's import APDUs.

use std::path::PathBuf;
use std::sync::OnceLock;

use card_os::KeyRef;
use der::Decode;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::traits::{PrivateKeyParts, PublicKeyParts};
use sha2::{Digest, Sha256};

use crate::pki::{HolderPublicKey, PkiError};
use fixtures::FixtureKind;

/// Number of keys in the pool (`test-only-rsa2048-00.pem` … `-31.pem`).
pub const TEST_KEY_POOL_SIZE: usize = 32;

/// Modulus size of the pool keys in bits (CPS UZI-register §6.1.4: holder keys are at least
/// 2048-bit RSA; the TEST UZI-pas certificates are exactly 2048).
pub const TEST_KEY_BITS: usize = 2048;

/// Bytes of an RSA-2048 modulus.
pub const RSA2048_MODULUS_BYTES: usize = TEST_KEY_BITS / 8;

/// Bytes of each RSA-2048 CRT component (`p`, `q`, `dp`, `dq`, `qinv`): half the modulus.
pub const RSA2048_CRT_BYTES: usize = RSA2048_MODULUS_BYTES / 2;

/// The fixture set's `keys/` folder ([`fixtures::active`]), where the TEST-ONLY key pool lives.
pub fn test_keys_dir() -> PathBuf {
    fixtures::active().folder(FixtureKind::Key)
}

/// The file of pool key `index` (`0..TEST_KEY_POOL_SIZE`).
pub fn test_key_path(index: usize) -> PathBuf {
    fixtures::active().path(FixtureKind::Key, &format!("test-only-rsa2048-{index:02}"))
}

/// Which pool key [`test_rsa_key`] picks for `(serial, key_ref)`: a base index from SHA-256 of
/// the serial, plus the key reference, modulo the pool size. The keys of one card therefore
/// differ for any key references that differ modulo [`TEST_KEY_POOL_SIZE`] (always for the
/// card's `01`, `02`, `03`), and different cards get different keys most of the time.
pub fn test_key_index(serial: &[u8], key_ref: KeyRef) -> usize {
    let digest = Sha256::new().chain_update(b"zorgcard TEST key pool").chain_update(serial).finalize();
    let base = usize::from(digest[0]) | (usize::from(digest[1]) << 8);
    (base + usize::from(key_ref.to_byte())) % TEST_KEY_POOL_SIZE
}

/// The TEST-ONLY RSA-2048 key (e = 65537) for key `key_ref` of the card with serial `serial`,
/// picked from the pool by [`test_key_index`]. Same inputs, same key; the three keys of one
/// card are distinct. Each pool file is parsed once per process.
pub fn test_rsa_key(serial: &[u8], key_ref: KeyRef) -> Result<rsa::PrivateKey, PkiError> {
    pool_key(test_key_index(serial, key_ref))
}

/// Pool key `index` (`0..TEST_KEY_POOL_SIZE`), checked to be RSA-2048 with two primes.
pub fn pool_key(index: usize) -> Result<rsa::PrivateKey, PkiError> {
    static POOL: [OnceLock<rsa::PrivateKey>; TEST_KEY_POOL_SIZE] = [const { OnceLock::new() }; TEST_KEY_POOL_SIZE];
    let path = test_key_path(index);
    let slot = POOL.get(index).ok_or_else(|| PkiError::TestKey {
        path: path.clone(),
        reason: format!("there are only {TEST_KEY_POOL_SIZE} pool keys (00..{:02})", TEST_KEY_POOL_SIZE - 1),
    })?;
    if let Some(key) = slot.get() {
        return Ok(key.clone());
    }
    let err = |reason: String| PkiError::TestKey { path: path.clone(), reason };
    let pem = fixtures::read_to_string(&path).map_err(|source| PkiError::Io { path: path.clone(), source })?;
    let key = rsa::PrivateKey::from_pkcs8_pem(&pem).map_err(|e| err(format!("not a PKCS#8 PEM RSA key: {e}")))?;
    if key.size() != RSA2048_MODULUS_BYTES || key.primes().len() != 2 {
        return Err(err(format!(
            "a {}-byte, {}-prime key; the pool holds two-prime RSA-2048 keys",
            key.size(),
            key.primes().len()
        )));
    }
    let _ = slot.set(key.clone());
    Ok(key)
}

/// The public half of an RSA key as the certificate needs it.
pub fn rsa_holder_public_key(key: &rsa::PrivateKey) -> HolderPublicKey {
    HolderPublicKey::from_rsa(key.as_public_key())
}

/// An RSA-2048 private key in the form a personaliser injects: the CRT parameters of
/// RFC 8017 §3.2 (second representation), each unsigned big-endian and left-padded with zeros
/// to a fixed width, plus the public modulus and exponent.
///
/// Secret material: `Debug` prints only the modulus' first bytes and `***` for the rest.
#[derive(Clone, PartialEq, Eq)]
pub struct RsaCrtComponents {
    /// The modulus `n = p·q`, 256 bytes.
    pub modulus: [u8; RSA2048_MODULUS_BYTES],
    /// The public exponent `e`, minimal big-endian (`01 00 01`).
    pub exponent: Vec<u8>,
    /// The first prime `p`, 128 bytes.
    pub p: [u8; RSA2048_CRT_BYTES],
    /// The second prime `q`, 128 bytes.
    pub q: [u8; RSA2048_CRT_BYTES],
    /// `dP = d mod (p − 1)`, 128 bytes.
    pub dp: [u8; RSA2048_CRT_BYTES],
    /// `dQ = d mod (q − 1)`, 128 bytes.
    pub dq: [u8; RSA2048_CRT_BYTES],
    /// `qInv = q⁻¹ mod p` (PKCS#1 `coefficient`), 128 bytes.
    pub qinv: [u8; RSA2048_CRT_BYTES],
}

impl std::fmt::Debug for RsaCrtComponents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RsaCrtComponents")
            .field("modulus", &format_args!("{}…", hex::encode_upper(&self.modulus[..8])))
            .field("exponent", &hex::encode_upper(&self.exponent))
            .field("p", &"***")
            .field("q", &"***")
            .field("dp", &"***")
            .field("dq", &"***")
            .field("qinv", &"***")
            .finish()
    }
}

impl RsaCrtComponents {
    /// The CRT components of a two-prime RSA-2048 key. The values are read from the key's own
    /// PKCS#1 `RSAPrivateKey` encoding (RFC 8017 Appendix A.1.2: `prime1`, `prime2`,
    /// `exponent1`, `exponent2`, `coefficient`), so nothing is computed here.
    pub fn from_key(key: &rsa::PrivateKey) -> Result<RsaCrtComponents, PkiError> {
        let err = |reason: String| PkiError::KeyImport { reason };
        if key.size() != RSA2048_MODULUS_BYTES || key.primes().len() != 2 {
            return Err(err(format!("it has {} bits and {} primes", key.size() * 8, key.primes().len())));
        }
        let doc = key.to_pkcs1_der()?;
        let parsed = rsa::pkcs1::RsaPrivateKeyRef::from_der(doc.as_bytes())?;
        let fixed = |what: &str, value: rsa::pkcs1::UintRef<'_>| -> Result<[u8; RSA2048_CRT_BYTES], PkiError> {
            left_pad(value.as_bytes()).ok_or_else(|| err(format!("{what} is longer than {RSA2048_CRT_BYTES} bytes")))
        };
        Ok(RsaCrtComponents {
            modulus: left_pad(parsed.modulus.as_bytes())
                .ok_or_else(|| err(format!("the modulus is longer than {RSA2048_MODULUS_BYTES} bytes")))?,
            exponent: parsed.public_exponent.as_bytes().to_vec(),
            p: fixed("p", parsed.prime1)?,
            q: fixed("q", parsed.prime2)?,
            dp: fixed("dP", parsed.exponent1)?,
            dq: fixed("dQ", parsed.exponent2)?,
            qinv: fixed("qInv", parsed.coefficient)?,
        })
    }

    /// The public key of these components.
    pub fn public_key(&self) -> HolderPublicKey {
        HolderPublicKey::rsa(&self.modulus, &self.exponent)
    }
}

/// `bytes` right-aligned in `N` bytes; `None` if it does not fit.
fn left_pad<const N: usize>(bytes: &[u8]) -> Option<[u8; N]> {
    let mut out = [0u8; N];
    let start = N.checked_sub(bytes.len())?;
    out[start..].copy_from_slice(bytes);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn left_pad_right_aligns() {
        assert_eq!(left_pad::<4>(&[1, 2]), Some([0, 0, 1, 2]));
        assert_eq!(left_pad::<2>(&[1, 2]), Some([1, 2]));
        assert_eq!(left_pad::<1>(&[1, 2]), None);
    }

    #[test]
    fn crt_components_rebuild_the_key() {
        let key = test_rsa_key(b"9000000000000001", KeyRef::Authentication).unwrap();
        let c = RsaCrtComponents::from_key(&key).unwrap();
        assert_eq!(c.exponent, [0x01, 0x00, 0x01]);
        assert_eq!(c.public_key(), rsa_holder_public_key(&key));
        assert!(c.modulus[0] & 0x80 != 0, "a full 2048-bit modulus");
        // p, q and e alone give back the same modulus and the same dP, dQ, qInv.
        let rebuilt = rsa::PrivateKey::from_p_q(
            rsa::BoxedUint::from_be_slice_vartime(&c.p),
            rsa::BoxedUint::from_be_slice_vartime(&c.q),
            rsa::BoxedUint::from_be_slice_vartime(&c.exponent),
        )
        .unwrap();
        assert_eq!(RsaCrtComponents::from_key(&rebuilt).unwrap(), c);
        let debug = format!("{c:?}");
        assert!(!debug.contains(&hex::encode_upper(&c.p[..8])), "{debug}");
        assert!(debug.contains("p: \"***\""), "{debug}");
    }

    #[test]
    fn every_pool_key_loads() {
        for i in 0..TEST_KEY_POOL_SIZE {
            let key = pool_key(i).unwrap();
            assert_eq!(key.e_bytes().as_ref(), [0x01, 0x00, 0x01], "key {i}");
            RsaCrtComponents::from_key(&key).unwrap();
        }
        assert!(matches!(pool_key(TEST_KEY_POOL_SIZE), Err(PkiError::TestKey { .. })));
    }

    #[test]
    fn the_three_keys_of_a_card_differ() {
        for serial in [&b"9000000000000001"[..], b"", b"x", b"ZC-0001"] {
            let idx: Vec<usize> = KeyRef::ALL.iter().map(|r| test_key_index(serial, *r)).collect();
            assert!(idx[0] != idx[1] && idx[1] != idx[2] && idx[0] != idx[2], "{idx:?}");
            assert!(idx.iter().all(|&i| i < TEST_KEY_POOL_SIZE));
        }
    }
}
