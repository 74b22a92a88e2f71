//! The private-key commands (ISO 7816-8): MSE SET, PSO COMPUTE DIGITAL SIGNATURE, PSO DECIPHER, INTERNAL
//! AUTHENTICATE, GENERATE ASYMMETRIC KEY PAIR, and the key import of the UZI personaliser.
//!
//! The arithmetic is in `ecc.rs` (P-256) and `rsa.rs` (RSA-2048, feature `rsa`; without it RSA operations answer
//! `6A81`). The key-use rules: the signature key needs a fresh VERIFY for every signature; the encryption key
//! deciphers and never signs; only the authentication key answers INTERNAL AUTHENTICATE. An algorithm reference
//! that does not fit the key's type (RSA on a P-256 key, ECDSA on an RSA key) answers `6A80` at MSE SET.

use sha2::{Digest, Sha256};

use crate::ecc;
use crate::image::encode;
use crate::keys::{KeySlot, Material, PublicKey, RSA_MODULUS};
use crate::nvm::Patch;
use crate::platform::{Clock, Platform};
use crate::state::{Answer, CardState};
use crate::status::Status;
use crate::types::{Algorithm, AlgorithmRef, ApiVersion, Date, KeyAlgorithm, KeyOrigin, KeyRef};

pub use crate::keys::Crt;
#[cfg(feature = "rsa")]
use crate::rsa as rsa_ops;

/// Without the `rsa` feature the chip has no RSA: every RSA operation answers `6A81`.
#[cfg(not(feature = "rsa"))]
mod rsa_ops {
    use crate::keys::{Material, RSA_MODULUS};
    use crate::status::Status;

    pub fn generate<R: rand_core::CryptoRng + ?Sized>(_: &mut R) -> Result<Material, Status> {
        Err(Status::FunctionNotSupported)
    }
    pub fn import(_: &crate::keys::Crt<'_>) -> Result<Material, Status> {
        Err(Status::FunctionNotSupported)
    }
    pub fn sign_digest_info<R: rand_core::CryptoRng + ?Sized>(
        _: &Material,
        _: &[u8],
        _: &mut R,
    ) -> Result<[u8; RSA_MODULUS], Status> {
        Err(Status::FunctionNotSupported)
    }
    pub fn sign_pss<R: rand_core::CryptoRng + ?Sized>(
        _: &Material,
        _: &[u8],
        _: &mut R,
    ) -> Result<[u8; RSA_MODULUS], Status> {
        Err(Status::FunctionNotSupported)
    }
    pub fn sign_raw<R: rand_core::CryptoRng + ?Sized>(
        _: &Material,
        _: &[u8],
        _: &mut R,
    ) -> Result<[u8; RSA_MODULUS], Status> {
        Err(Status::FunctionNotSupported)
    }
    pub fn decipher<R: rand_core::CryptoRng + ?Sized>(
        _: &Material,
        _: &[u8],
        _: &mut R,
        _: &mut heapless::Vec<u8, RSA_MODULUS>,
    ) -> Result<(), Status> {
        Err(Status::FunctionNotSupported)
    }
}

/// The control reference template of MSE SET (ISO 7816-8 §5.2, P2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Template {
    /// `B6`: digital signature template.
    DigitalSignature,
    /// `B8`: confidentiality template (PSO DECIPHER).
    Confidentiality,
    /// `A4`: authentication template.
    Authentication,
    /// `00`: IsoApplet's template for key generation and import (with `80 01 F3` or `80 01 EC`).
    KeyGeneration,
}

/// What GENERATE ASYMMETRIC KEY PAIR does (P1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyPairAction {
    /// Generate a new pair on the card: P1 `00` (P-256, key in P2) or IsoApplet's P1 `42` (the slot and type
    /// MSE SET chose).
    Generate,
    /// P1 `01`: answer the public key of an existing pair.
    ReadPublic,
}

fn slot(state: &CardState, key: KeyRef) -> Result<KeySlot, Status> {
    state.meta.keys.get(key.index()).copied().flatten().ok_or(Status::ReferenceNotFound)
}

/// MSE SET (ISO 7816-8 §5.2, ISO 7816-4 §11.5.11): choose the key (and algorithm) for the next signature,
/// decipher, authentication, or key generation/import.
pub fn manage_security_environment(
    state: &mut CardState,
    template: Template,
    key: KeyRef,
    algorithm: Option<AlgorithmRef>,
) -> Result<(), Status> {
    if template == Template::KeyGeneration {
        let kind = match algorithm {
            Some(AlgorithmRef::RsaGen2048) => KeyAlgorithm::Rsa2048,
            Some(AlgorithmRef::EcGen) => KeyAlgorithm::P256,
            _ => return Err(Status::IncorrectData),
        };
        state.session.key_template = Some((key, kind));
        return Ok(());
    }
    let kind = slot(state, key)?.algorithm;
    let api = state.session.api;
    let chosen = match (kind, algorithm, api) {
        (KeyAlgorithm::P256, None, _) => Algorithm::EcdsaPrehashed,
        // The one reference whose meaning depends on the API version (DIALECT.md "API v0 and v1").
        (KeyAlgorithm::P256, Some(AlgorithmRef::Ecdsa), ApiVersion::V0) => Algorithm::EcdsaSha1OnCard,
        (KeyAlgorithm::P256, Some(AlgorithmRef::Ecdsa), ApiVersion::V1) => Algorithm::EcdsaPrehashed,
        (KeyAlgorithm::Rsa2048, None | Some(AlgorithmRef::RsaPkcs1), _) => Algorithm::RsaPkcs1,
        (KeyAlgorithm::Rsa2048, Some(AlgorithmRef::RsaPss), ApiVersion::V1) => Algorithm::RsaPss,
        // RSA on an EC key, ECDSA on an RSA key, a key-generation reference here.
        _ => return Err(Status::IncorrectData),
    };
    match template {
        Template::DigitalSignature if key.may_sign() => state.session.dst = Some((key, chosen)),
        Template::Authentication if key.may_authenticate() => state.session.at = Some(key),
        Template::Confidentiality if key.may_decipher() && kind == KeyAlgorithm::Rsa2048 => {
            state.session.ct = Some(key)
        }
        _ => return Err(Status::ConditionsOfUseNotSatisfied),
    }
    Ok(())
}

/// The checks every private-key operation makes after the life-cycle gate, in the order a client can act on
/// them: the key exists, the card is inside its validity window (`6984`), the PIN was verified (`6982`; for the
/// signature key: since the last signature).
fn usable_key<P: Platform>(state: &CardState, platform: &P, key: KeyRef) -> Result<KeySlot, Status> {
    let slot = slot(state, key)?;
    let today = Date::from_unix(platform.clock().now());
    match state.meta.validity {
        Some(v) if v.contains(today) => {}
        _ => return Err(Status::ReferenceDataNotUsable),
    }
    let verified = match key {
        KeyRef::Signature => state.session.signature_armed,
        _ => state.session.pin_verified,
    };
    if !verified {
        return Err(Status::SecurityStatusNotSatisfied);
    }
    Ok(slot)
}

fn answer_with(answer: &mut Answer, bytes: &[u8]) -> Result<(), Status> {
    answer.extend_from_slice(bytes).map_err(|_| Status::NoPreciseDiagnosis)
}

/// PSO COMPUTE DIGITAL SIGNATURE (ISO 7816-8 §5.4). P-256: ECDSA on the given hash (or on SHA-1 of the input
/// for IsoApplet's reference `21`), answered as DER `SEQUENCE{r,s}`. RSA-2048: PKCS#1 v1.5 over the DigestInfo
/// the host sent (`11`), or RSA-PSS over the bare hash (`12`, API v1), answered as 256 bytes.
pub fn compute_digital_signature<P: Platform>(
    state: &mut CardState,
    platform: &mut P,
    input: &[u8],
    answer: &mut Answer,
) -> Result<(), Status> {
    let (key, algorithm) = state.session.dst.ok_or(Status::ConditionsOfUseNotSatisfied)?;
    let sha1;
    let hash = match algorithm {
        // FIPS 186-5 §6.4.1: a hash longer than the order is truncated, a shorter one used as is (≥ 160 bits).
        Algorithm::EcdsaPrehashed if (20..=64).contains(&input.len()) => input,
        Algorithm::EcdsaPrehashed => return Err(Status::WrongLength),
        Algorithm::EcdsaSha1OnCard => {
            sha1 = <sha1::Sha1 as sha1::Digest>::digest(input);
            sha1.as_slice()
        }
        Algorithm::RsaPkcs1 if input.len() > RSA_MODULUS - 11 => return Err(Status::WrongLength),
        Algorithm::RsaPkcs1 => input,
        Algorithm::RsaPss if matches!(input.len(), 20 | 28 | 32 | 48 | 64) => input,
        Algorithm::RsaPss => return Err(Status::WrongLength),
    };
    usable_key(state, platform, key)?;
    let material = state.key_material(platform, key)?;
    let rng = platform.rng();
    let signature = match algorithm {
        Algorithm::RsaPkcs1 => {
            heapless::Vec::<u8, RSA_MODULUS>::from_slice(&rsa_ops::sign_digest_info(&material, hash, rng)?)
        }
        Algorithm::RsaPss => heapless::Vec::from_slice(&rsa_ops::sign_pss(&material, hash, rng)?),
        Algorithm::EcdsaPrehashed | Algorithm::EcdsaSha1OnCard => {
            heapless::Vec::from_slice(&ecc::sign_prehashed(&material, hash)?)
        }
    }
    .map_err(|_| Status::NoPreciseDiagnosis)?;
    if key == KeyRef::Signature {
        // Non-repudiation: one verification, one signature (a refused input, e.g. an unknown DigestInfo, spends
        // nothing).
        state.session.signature_armed = false;
    }
    answer_with(answer, &signature)
}

/// PSO DECIPHER (ISO 7816-8 §5.9) with the RSA encryption key: PKCS#1 v1.5 with implicit rejection, so a bad
/// padding answers `9000` with a pseudo-random message, never a second status word (`rsa.rs`).
pub fn decipher<P: Platform>(
    state: &mut CardState,
    platform: &mut P,
    cryptogram: &[u8],
    answer: &mut Answer,
) -> Result<(), Status> {
    let key = state.session.ct.ok_or(Status::ConditionsOfUseNotSatisfied)?;
    usable_key(state, platform, key)?;
    let material = state.key_material(platform, key)?;
    let mut plain = heapless::Vec::new();
    rsa_ops::decipher(&material, cryptogram, platform.rng(), &mut plain)?;
    let result = answer_with(answer, &plain);
    zeroize::Zeroize::zeroize(plain.as_mut_slice());
    result
}

/// INTERNAL AUTHENTICATE (ISO 7816-4 §11.5.4) with the authentication key. P-256: ECDSA-SHA256 over the
/// challenge. RSA-2048: PKCS#1 v1.5 type-1 padding over the challenge as given (the host hashed it; at most
/// 245 bytes), 256 bytes back.
pub fn internal_authenticate<P: Platform>(
    state: &mut CardState,
    platform: &mut P,
    key: Option<KeyRef>,
    challenge: &[u8],
    answer: &mut Answer,
) -> Result<(), Status> {
    let key = key.or(state.session.at).ok_or(Status::ConditionsOfUseNotSatisfied)?;
    if !key.may_authenticate() {
        return Err(Status::ConditionsOfUseNotSatisfied);
    }
    let slot = usable_key(state, platform, key)?;
    let material = state.key_material(platform, key)?;
    match slot.algorithm {
        KeyAlgorithm::P256 => answer_with(answer, &ecc::sign_prehashed(&material, &Sha256::digest(challenge))?),
        KeyAlgorithm::Rsa2048 => answer_with(answer, &rsa_ops::sign_raw(&material, challenge, platform.rng())?),
    }
}

/// The public-key template (ISO 7816-8 §5.1, table 3): `7F49 { 86 point }` for P-256, `7F49 { 81 n, 82 e }` for
/// RSA (as IsoApplet answers it).
fn public_key_template(public: &PublicKey, answer: &mut Answer) -> Result<(), Status> {
    match public {
        PublicKey::P256(point) => {
            answer_with(answer, &[0x7F, 0x49, 0x43, 0x86, 0x41])?;
            answer_with(answer, point)
        }
        PublicKey::Rsa2048 { modulus, exponent } => {
            let e = exponent.to_be_bytes();
            let e = e.get(e.iter().take_while(|b| **b == 0).count()..).unwrap_or(&[]);
            let inner = 4 + modulus.len() + 2 + e.len();
            answer_with(answer, &[0x7F, 0x49, 0x82])?;
            answer_with(answer, &(inner as u16).to_be_bytes())?;
            answer_with(answer, &[0x81, 0x82])?;
            answer_with(answer, &(modulus.len() as u16).to_be_bytes())?;
            answer_with(answer, modulus)?;
            answer_with(answer, &[0x82, e.len() as u8])?;
            answer_with(answer, e)
        }
    }
}

/// GENERATE ASYMMETRIC KEY PAIR (ISO 7816-8 §5.1): a new pair on the card during personalisation (the life-cycle
/// gate admits `Generate` only then), or the public key of an existing one. `key` is `None` for IsoApplet's
/// `00 46 42 00`, which takes the slot and type from MSE SET; `00 46 00 <ref>` generates a P-256 key.
pub fn generate_key_pair<P: Platform>(
    state: &mut CardState,
    platform: &mut P,
    key: Option<KeyRef>,
    action: KeyPairAction,
    answer: &mut Answer,
) -> Result<(), Status> {
    let public = match (action, key) {
        (KeyPairAction::Generate, key) => {
            let (key, kind) = match key {
                Some(key) => (key, KeyAlgorithm::P256),
                None => state.session.key_template.ok_or(Status::ConditionsOfUseNotSatisfied)?,
            };
            let material = match kind {
                KeyAlgorithm::P256 => ecc::generate(platform.rng())?,
                KeyAlgorithm::Rsa2048 => rsa_ops::generate(platform.rng())?,
            };
            store_key(state, platform, key, KeySlot { origin: KeyOrigin::Generated, algorithm: kind }, &material)?
        }
        (KeyPairAction::ReadPublic, Some(key)) => {
            let slot = slot(state, key)?;
            state.public_key(platform, key, slot.algorithm)?
        }
        (KeyPairAction::ReadPublic, None) => return Err(Status::IncorrectP1P2),
    };
    public_key_template(&public, answer)
}

/// PUT DATA `00 DA 01 <ref>` with a private P-256 scalar: the UZI personaliser's key injection (CPS §6.1.1).
pub fn import_ec_key<P: Platform>(
    state: &mut CardState,
    platform: &mut P,
    key: KeyRef,
    scalar: &[u8],
) -> Result<(), Status> {
    let material = ecc::import(scalar)?;
    let slot = KeySlot { origin: KeyOrigin::Imported, algorithm: KeyAlgorithm::P256 };
    store_key(state, platform, key, slot, &material).map(|_| ())
}

/// PUT DATA `00 DB 3F FF` with `7F48 { 92 p, 93 q, 94 qinv, 95 dp, 96 dq }` after MSE SET `80 01 F3 84 01 <ref>`
/// (IsoApplet's import): an injected RSA-2048 key in CRT form.
pub fn import_rsa_key<P: Platform>(state: &mut CardState, platform: &mut P, crt: &Crt<'_>) -> Result<(), Status> {
    let (key, kind) = state.session.key_template.ok_or(Status::ConditionsOfUseNotSatisfied)?;
    if kind != KeyAlgorithm::Rsa2048 {
        return Err(Status::ConditionsOfUseNotSatisfied);
    }
    let material = rsa_ops::import(crt)?;
    let slot = KeySlot { origin: KeyOrigin::Imported, algorithm: KeyAlgorithm::Rsa2048 };
    store_key(state, platform, key, slot, &material).map(|_| ())
}

fn store_key<P: Platform>(
    state: &mut CardState,
    platform: &mut P,
    key: KeyRef,
    slot: KeySlot,
    material: &Material,
) -> Result<PublicKey, Status> {
    let mut record = encode::key_record(slot, material);
    let patches = [Patch { offset: encode::key_offset(key), bytes: &record }, state.personalised_lc()];
    let result = state.commit_meta(platform, &patches);
    zeroize::Zeroize::zeroize(&mut record[..]);
    result.map(|()| PublicKey::of(slot.algorithm, material))
}
