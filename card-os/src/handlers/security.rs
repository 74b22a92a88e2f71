//! The private-key commands (ISO 7816-8): MSE SET, PSO COMPUTE DIGITAL SIGNATURE, INTERNAL AUTHENTICATE,
//! GENERATE ASYMMETRIC KEY PAIR, and the key import of the UZI personaliser.
//!
//! `p256` (RustCrypto) does the arithmetic; signatures are deterministic (RFC 6979), so a signature needs no
//! randomness and traces are reproducible. A private scalar is read from the image for one operation and zeroed
//! when it drops; no command answers it. The key-use rules: the signature key needs a fresh VERIFY for every
//! signature, the encryption key never signs, only the authentication key answers INTERNAL AUTHENTICATE.

use p256::ecdsa::{Signature, SigningKey};
use p256::elliptic_curve::Generate;
use p256::{FieldBytes, NistP256, NonZeroScalar};
use sha2::{Digest, Sha256};
use zeroize::Zeroize;

use crate::image::encode;
use crate::nvm::Patch;
use crate::platform::{Clock, Platform};
use crate::state::{Answer, CardState};
use crate::status::Status;
use crate::types::{Algorithm, Date, KeyOrigin, KeyRef};

/// The control reference template of MSE SET (ISO 7816-8 §5.2, P2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Template {
    /// `B6`: digital signature template.
    DigitalSignature,
    /// `A4`: authentication template.
    Authentication,
}

/// What GENERATE ASYMMETRIC KEY PAIR does (P1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyPairAction {
    /// P1 `00`: generate a new pair on the card.
    Generate,
    /// P1 `01`: answer the public key of an existing pair.
    ReadPublic,
}

impl TryFrom<u8> for KeyPairAction {
    type Error = Status;

    fn try_from(p1: u8) -> Result<Self, Status> {
        match p1 {
            0x00 => Ok(KeyPairAction::Generate),
            0x01 => Ok(KeyPairAction::ReadPublic),
            _ => Err(Status::IncorrectP1P2),
        }
    }
}

/// MSE SET (ISO 7816-8 §5.2, ISO 7816-4 §11.5.11): choose the key for the next signature or authentication.
pub fn manage_security_environment(
    state: &mut CardState,
    template: Template,
    key: KeyRef,
    algorithm: Algorithm,
) -> Result<(), Status> {
    if state.meta.keys.get(key.index()).copied().flatten().is_none() {
        return Err(Status::ReferenceNotFound);
    }
    match template {
        Template::DigitalSignature if key.may_sign() => state.session.dst = Some((key, algorithm)),
        Template::Authentication if key.may_authenticate() => state.session.at = Some(key),
        _ => return Err(Status::ConditionsOfUseNotSatisfied),
    }
    Ok(())
}

/// The checks every private-key operation makes after the life-cycle gate, in the order a client can act on
/// them: the key exists, the card is inside its validity window (`6984`), the PIN was verified (`6982`; for the
/// signature key: since the last signature).
fn usable_key<P: Platform>(state: &CardState, platform: &P, key: KeyRef) -> Result<(), Status> {
    if state.meta.keys.get(key.index()).copied().flatten().is_none() {
        return Err(Status::ReferenceNotFound);
    }
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
    Ok(())
}

/// ECDSA with the stored scalar (RFC 6979 nonce). Straight from the scalar: a `SigningKey` would also derive
/// the public point, a second scalar multiplication that doubles the signing time.
fn sign_with<P: Platform>(state: &CardState, platform: &P, key: KeyRef, hash: &[u8]) -> Result<Signature, Status> {
    let mut scalar = FieldBytes::default();
    state.read_body(platform, encode::key_offset(key) + 4, &mut scalar)?;
    let secret: Option<NonZeroScalar> = NonZeroScalar::from_repr(scalar).into();
    scalar.zeroize();
    let secret = secret.ok_or(Status::MemoryFailure)?;
    if hash.len() < 16 {
        return Err(Status::WrongLength);
    }
    Ok(ecdsa::hazmat::sign_prehashed_rfc6979::<NistP256, Sha256>(&secret, hash, &[]).0)
}

/// PSO COMPUTE DIGITAL SIGNATURE (ISO 7816-8 §5.4): ECDSA on the given hash (or on SHA-1 of the input for
/// IsoApplet's reference `21`), answered as DER `SEQUENCE{r,s}`.
pub fn compute_digital_signature<P: Platform>(
    state: &mut CardState,
    platform: &P,
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
    };
    usable_key(state, platform, key)?;
    if key == KeyRef::Signature {
        // Non-repudiation: one verification, one signature.
        state.session.signature_armed = false;
    }
    let signature = sign_with(state, platform, key, hash)?;
    answer.extend_from_slice(signature.to_der().as_bytes()).map_err(|_| Status::NoPreciseDiagnosis)
}

/// INTERNAL AUTHENTICATE (ISO 7816-4 §11.5.4): ECDSA-SHA256 over the challenge with the authentication key.
pub fn internal_authenticate<P: Platform>(
    state: &mut CardState,
    platform: &P,
    key: Option<KeyRef>,
    challenge: &[u8],
    answer: &mut Answer,
) -> Result<(), Status> {
    let key = key.or(state.session.at).ok_or(Status::ConditionsOfUseNotSatisfied)?;
    if !key.may_authenticate() {
        return Err(Status::ConditionsOfUseNotSatisfied);
    }
    usable_key(state, platform, key)?;
    let digest = Sha256::digest(challenge);
    let signature = sign_with(state, platform, key, &digest)?;
    answer.extend_from_slice(signature.to_der().as_bytes()).map_err(|_| Status::NoPreciseDiagnosis)
}

/// GENERATE ASYMMETRIC KEY PAIR (ISO 7816-8 §5.1): a new pair on the card during personalisation (the life-cycle
/// gate admits `Generate` only then), or the public key of an existing one. Answer: `7F49 { 86 04‖X‖Y }`.
pub fn generate_key_pair<P: Platform>(
    state: &mut CardState,
    platform: &mut P,
    key: KeyRef,
    action: KeyPairAction,
    answer: &mut Answer,
) -> Result<(), Status> {
    let public = match action {
        KeyPairAction::Generate => {
            let signing = <SigningKey as Generate>::generate_from_rng(platform.rng());
            store_key(state, platform, key, &signing, KeyOrigin::Generated)?
        }
        KeyPairAction::ReadPublic => {
            if state.meta.keys.get(key.index()).copied().flatten().is_none() {
                return Err(Status::ReferenceNotFound);
            }
            let mut public = [0u8; 65];
            state.read_body(platform, encode::key_offset(key) + 36, &mut public)?;
            public
        }
    };
    answer.extend_from_slice(&[0x7F, 0x49, 0x43, 0x86, 0x41]).map_err(|_| Status::NoPreciseDiagnosis)?;
    answer.extend_from_slice(&public).map_err(|_| Status::NoPreciseDiagnosis)
}

/// PUT DATA with a private scalar: the UZI personaliser's key injection (CPS §6.1.1), personalisation only.
pub fn import_private_key<P: Platform>(
    state: &mut CardState,
    platform: &mut P,
    key: KeyRef,
    scalar: &[u8],
) -> Result<(), Status> {
    let signing = SigningKey::from_slice(scalar).map_err(|_| Status::IncorrectData)?;
    store_key(state, platform, key, &signing, KeyOrigin::Imported).map(|_| ())
}

fn store_key<P: Platform>(
    state: &mut CardState,
    platform: &mut P,
    key: KeyRef,
    signing: &SigningKey,
    origin: KeyOrigin,
) -> Result<[u8; 65], Status> {
    let point = signing.verifying_key().to_sec1_point(false);
    let public: [u8; 65] = point.as_bytes().try_into().map_err(|_| Status::NoPreciseDiagnosis)?;
    let mut scalar: [u8; 32] = signing.to_bytes().into();
    let mut record = encode::key_record(origin, &scalar, &public);
    scalar.zeroize();
    let patches = [Patch { offset: encode::key_offset(key), bytes: &record }, state.personalised_lc()];
    let result = state.commit_meta(platform, &patches);
    record.zeroize();
    result.map(|()| public)
}
