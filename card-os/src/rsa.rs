//! RSA-2048 on the chip (feature `rsa`), with RustCrypto's `rsa` crate: PKCS#1 v1.5 signatures and decipher
//! (RFC 8017 §8.2, §7.2), key generation with e = 65537, and the import of an injected key in CRT form.
//!
//! The `rsa` crate needs a heap; this module is the only place in card-os that says `extern crate alloc`, and only
//! with the `rsa` feature (as Nitrokey's trussed RSA backend does on secure elements). The no-heap core does not
//! change. Every allocation this module makes is freed before it returns; its peak is measured by the benchmark.
//!
//! Decipher uses the crate's implicit rejection (the RFC 8017 §7.2.2 note, draft-irtf-cfrg-rsa-guidance): a
//! cryptogram with a bad padding deciphers to a deterministic pseudo-random message, answered `9000` like a good
//! one, so neither a status word nor the time tells them apart (Bleichenbacher, Marvin).

extern crate alloc;

use alloc::vec;
use alloc::vec::Vec;

use rsa::traits::{PrivateKeyParts, PublicKeyParts};
use rsa::{BoxedUint, Pkcs1v15Sign, PrivateKey};
use zeroize::Zeroize;

use crate::keys::{Crt, Material, RSA_EXPONENT, RSA_HALF, RSA_MODULUS, rsa_layout};
use crate::status::Status;

/// The public exponent of every key this card makes or accepts (IsoApplet requires it too).
pub const EXPONENT: u32 = 65_537;
/// Bits of the modulus.
pub const BITS: usize = 2048;

fn uint(bytes: &[u8], bits: u32) -> Result<BoxedUint, Status> {
    BoxedUint::from_be_slice(bytes, bits).map_err(|_| Status::IncorrectData)
}

/// Rebuild the private key from the stored components; the crate checks them (`from_components` validates).
fn private_key(material: &Material) -> Result<PrivateKey, Status> {
    let bits = BITS as u32;
    let n = uint(material.part(rsa_layout::N, RSA_MODULUS), bits)?;
    let e = uint(material.part(rsa_layout::E, RSA_EXPONENT), 64)?;
    let d = uint(material.part(rsa_layout::D, RSA_MODULUS), bits)?;
    let p = uint(material.part(rsa_layout::P, RSA_HALF), bits / 2)?;
    let q = uint(material.part(rsa_layout::Q, RSA_HALF), bits / 2)?;
    PrivateKey::from_components(n, e, d, vec![p, q]).map_err(|_| Status::MemoryFailure)
}

/// Write `value` right-aligned into `out` (big-endian, left-padded with zeros); too long is an error.
fn put(out: &mut [u8], value: &[u8]) -> Result<(), Status> {
    let value = strip(value);
    let start = out.len().checked_sub(value.len()).ok_or(Status::IncorrectData)?;
    out.fill(0);
    out.get_mut(start..).ok_or(Status::IncorrectData)?.copy_from_slice(value);
    Ok(())
}

fn strip(value: &[u8]) -> &[u8] {
    let zeros = value.iter().take_while(|b| **b == 0).count();
    value.get(zeros..).unwrap_or(&[])
}

fn slot(material: &mut Material, at: usize, len: usize) -> Result<&mut [u8], Status> {
    material.bytes.get_mut(at..at + len).ok_or(Status::NoPreciseDiagnosis)
}

/// The stored form of a key: n, e, d and the CRT values.
fn material_of(key: &PrivateKey) -> Result<Material, Status> {
    let [p, q] = key.primes() else { return Err(Status::NoPreciseDiagnosis) };
    let (dp, dq) = (key.dp().ok_or(Status::NoPreciseDiagnosis)?, key.dq().ok_or(Status::NoPreciseDiagnosis)?);
    let mut qinv = key.qinv().ok_or(Status::NoPreciseDiagnosis)?.retrieve().to_be_bytes();
    let mut m = Material::zero();
    put(slot(&mut m, rsa_layout::N, RSA_MODULUS)?, &key.n().to_be_bytes())?;
    put(slot(&mut m, rsa_layout::E, RSA_EXPONENT)?, &key.e().to_be_bytes())?;
    let mut d = key.d().to_be_bytes();
    put(slot(&mut m, rsa_layout::D, RSA_MODULUS)?, &d)?;
    d.zeroize();
    let mut parts = [p.to_be_bytes(), q.to_be_bytes(), dp.to_be_bytes(), dq.to_be_bytes()];
    let at = [rsa_layout::P, rsa_layout::Q, rsa_layout::DP, rsa_layout::DQ];
    for (bytes, at) in parts.iter().zip(at) {
        put(slot(&mut m, at, RSA_HALF)?, bytes)?;
    }
    put(slot(&mut m, rsa_layout::QINV, RSA_HALF)?, &qinv)?;
    for part in parts.iter_mut() {
        part.zeroize();
    }
    qinv.zeroize();
    Ok(m)
}

/// A new RSA-2048 key pair, e = 65537, from the platform's RNG.
pub fn generate<R: rand_core::CryptoRng + ?Sized>(rng: &mut R) -> Result<Material, Status> {
    let key = PrivateKey::new(rng, BITS).map_err(|_| Status::NoPreciseDiagnosis)?;
    material_of(&key)
}

/// An injected key (the UZI personaliser, CPS §6.1.1): the card derives n and d from p, q and e = 65537 and
/// checks that dp, dq and qinv agree; a key that is not RSA-2048 or whose parts disagree answers `6A80`.
pub fn import(crt: &Crt<'_>) -> Result<Material, Status> {
    let half = (BITS / 2) as u32;
    let (p, q) = (uint(crt.p, half)?, uint(crt.q, half)?);
    let key = PrivateKey::from_p_q(p, q, BoxedUint::from(u64::from(EXPONENT))).map_err(|_| Status::IncorrectData)?;
    if key.n().bit_width() as usize != BITS {
        return Err(Status::IncorrectData);
    }
    let material = material_of(&key)?;
    let agrees = |at: usize, given: &[u8]| strip(material.part(at, RSA_HALF)) == strip(given);
    if !(agrees(rsa_layout::DP, crt.dp) && agrees(rsa_layout::DQ, crt.dq) && agrees(rsa_layout::QINV, crt.qinv)) {
        return Err(Status::IncorrectData);
    }
    Ok(material)
}

/// The signature as 256 bytes.
fn fixed(signature: Vec<u8>) -> Result<[u8; RSA_MODULUS], Status> {
    let mut out = [0u8; RSA_MODULUS];
    put(&mut out, &signature).map_err(|_| Status::NoPreciseDiagnosis)?;
    Ok(out)
}

/// DigestInfo prefixes the `rsa` crate has no digest type for here, but which OpenSC 0.23 sends for its
/// `MD5-RSA-PKCS` and `RIPEMD160-RSA-PKCS` mechanisms (the card pads what the host hashed, as a PKCS#1 card does):
/// MD5 from RFC 8017 §9.2 note 1, RIPEMD-160 (OID 1.3.36.3.2.1) from ISO/IEC 10118-3.
const LEGACY_PREFIXES: [(&[u8], usize); 2] = [
    (&[0x30, 0x20, 0x30, 0x0c, 0x06, 0x08, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x05, 0x05, 0x00, 0x04, 0x10], 16),
    (&[0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x24, 0x03, 0x02, 0x01, 0x05, 0x00, 0x04, 0x14], 20),
];

/// The hash a DigestInfo names, with its prefix (RFC 8017 §9.2 note 1): SHA-1, SHA-224, SHA-256, SHA-384 and
/// SHA-512 with the crate's own prefixes, MD5 and RIPEMD-160 from [`LEGACY_PREFIXES`]. Anything else (SHA-3, a
/// bare hash, a damaged DigestInfo) answers `6A80`.
fn padding_for(digest_info: &[u8]) -> Result<(Pkcs1v15Sign, &[u8]), Status> {
    let mut schemes = vec![
        Pkcs1v15Sign::new::<sha1::Sha1>(),
        Pkcs1v15Sign::new::<sha2::Sha224>(),
        Pkcs1v15Sign::new::<sha2::Sha256>(),
        Pkcs1v15Sign::new::<sha2::Sha384>(),
        Pkcs1v15Sign::new::<sha2::Sha512>(),
    ];
    for (prefix, len) in LEGACY_PREFIXES {
        schemes.push(Pkcs1v15Sign { hash_len: Some(len), prefix: prefix.into() });
    }
    for scheme in schemes {
        let Some(hash) = digest_info.strip_prefix(&*scheme.prefix) else { continue };
        if Some(hash.len()) == scheme.hash_len {
            return Ok((scheme, hash));
        }
    }
    Err(Status::IncorrectData)
}

/// PKCS#1 v1.5 signature of a DigestInfo the host made (IsoApplet reference `11`): the card pads and signs.
pub fn sign_digest_info<R: rand_core::CryptoRng + ?Sized>(
    material: &Material,
    digest_info: &[u8],
    rng: &mut R,
) -> Result<[u8; RSA_MODULUS], Status> {
    let (scheme, hash) = padding_for(digest_info)?;
    let key = private_key(material)?;
    fixed(key.sign_with_rng(rng, scheme, hash).map_err(|_| Status::IncorrectData)?)
}

/// RSA-PSS (RFC 8017 §8.1) over a hash the host computed, as IsoApplet API v1 signs: SHA-1, SHA-224, SHA-256,
/// SHA-384 or SHA-512 by its length (OpenSC 0.26 offers all five when feature bit `08` is set), MGF1 with the same hash, a salt as long as the hash (IsoApplet v1 and OpenSC 0.26 use the hash
/// length). Another length answers `6700`.
pub fn sign_pss<R: rand_core::CryptoRng + ?Sized>(
    material: &Material,
    hash: &[u8],
    rng: &mut R,
) -> Result<[u8; RSA_MODULUS], Status> {
    let key = private_key(material)?;
    let signature = match hash.len() {
        20 => key.sign_with_rng(rng, rsa::Pss::<sha1::Sha1>::new_with_salt(20), hash),
        28 => key.sign_with_rng(rng, rsa::Pss::<sha2::Sha224>::new_with_salt(28), hash),
        32 => key.sign_with_rng(rng, rsa::Pss::<sha2::Sha256>::new_with_salt(32), hash),
        48 => key.sign_with_rng(rng, rsa::Pss::<sha2::Sha384>::new_with_salt(48), hash),
        64 => key.sign_with_rng(rng, rsa::Pss::<sha2::Sha512>::new_with_salt(64), hash),
        _ => return Err(Status::WrongLength),
    };
    fixed(signature.map_err(|_| Status::IncorrectData)?)
}

/// PKCS#1 v1.5 type-1 padding over the data as given (INTERNAL AUTHENTICATE): at most 245 bytes.
pub fn sign_raw<R: rand_core::CryptoRng + ?Sized>(
    material: &Material,
    data: &[u8],
    rng: &mut R,
) -> Result<[u8; RSA_MODULUS], Status> {
    if data.len() > RSA_MODULUS - 11 {
        return Err(Status::WrongLength);
    }
    let key = private_key(material)?;
    fixed(key.sign_with_rng(rng, Pkcs1v15Sign::new_unprefixed(), data).map_err(|_| Status::IncorrectData)?)
}

/// PKCS#1 v1.5 decipher with implicit rejection; a cryptogram not below the modulus answers `6A80`.
pub fn decipher<R: rand_core::CryptoRng + ?Sized>(
    material: &Material,
    cryptogram: &[u8],
    rng: &mut R,
    out: &mut heapless::Vec<u8, RSA_MODULUS>,
) -> Result<(), Status> {
    let key = private_key(material)?;
    let mut plain = key.pkcs1v15_decrypt_with_rng(rng, cryptogram).map_err(|_| Status::IncorrectData)?;
    let result = out.extend_from_slice(&plain).map_err(|_| Status::NoPreciseDiagnosis);
    plain.zeroize();
    result
}
