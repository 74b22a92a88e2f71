//! ECDSA P-256 on the chip (FIPS 186-5), with RustCrypto's `p256`.
//!
//! Signatures are deterministic (RFC 6979), so a signature needs no randomness and traces are reproducible. The
//! scalar is taken from the slot's [`Material`] for one operation; no public-key derivation happens per signature.

use p256::ecdsa::SigningKey;
use p256::elliptic_curve::Generate;
use p256::{FieldBytes, NistP256, NonZeroScalar};
use zeroize::Zeroize;

use crate::keys::{EC_MATERIAL, EC_POINT, EC_SCALAR, Material};
use crate::status::Status;

/// ECDSA on a hash of at least 16 bytes; answers DER `SEQUENCE{r,s}` (at most 72 bytes).
pub fn sign_prehashed(material: &Material, hash: &[u8]) -> Result<heapless::Vec<u8, 72>, Status> {
    let mut scalar = FieldBytes::default();
    scalar.copy_from_slice(material.part(0, EC_SCALAR));
    let secret: Option<NonZeroScalar> = NonZeroScalar::from_repr(scalar).into();
    scalar.zeroize();
    let secret = secret.ok_or(Status::MemoryFailure)?;
    if hash.len() < 16 {
        return Err(Status::WrongLength);
    }
    let signature = ecdsa::hazmat::sign_prehashed_rfc6979::<NistP256, sha2::Sha256>(&secret, hash, &[]).0;
    heapless::Vec::from_slice(signature.to_der().as_bytes()).map_err(|_| Status::NoPreciseDiagnosis)
}

/// The material of a key: scalar ‖ uncompressed point.
fn material_of(signing: &SigningKey) -> Result<Material, Status> {
    let point = signing.verifying_key().to_sec1_point(false);
    let mut material = Material::zero();
    let (scalar, rest) = material.bytes.split_at_mut(EC_SCALAR);
    for (d, b) in scalar.iter_mut().zip(signing.to_bytes()) {
        *d = b;
    }
    for (d, b) in rest.iter_mut().take(EC_POINT).zip(point.as_bytes()) {
        *d = *b;
    }
    const _: () = assert!(EC_MATERIAL <= crate::keys::MAX_MATERIAL);
    Ok(material)
}

/// A new key pair from the platform's RNG.
pub fn generate<R: rand_core::CryptoRng + ?Sized>(rng: &mut R) -> Result<Material, Status> {
    material_of(&<SigningKey as Generate>::generate_from_rng(rng))
}

/// An injected private scalar (32 bytes); a scalar outside [1, n−1] answers `6A80`.
pub fn import(scalar: &[u8]) -> Result<Material, Status> {
    material_of(&SigningKey::from_slice(scalar).map_err(|_| Status::IncorrectData)?)
}
