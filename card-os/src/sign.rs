//! ECDSA P-256: security environment, signatures, key generation and import (ISO 7816-8 §5).
//!
//! `p256` (RustCrypto) does the arithmetic; signatures are deterministic (RFC 6979), so a signature needs no
//! randomness and traces are reproducible. A private scalar is read from the image for one operation and
//! zeroed when the signing key drops; no command answers it.

use heapless::Vec;
use p256::ecdsa::{Signature, SigningKey};
use p256::elliptic_curve::Generate;
use p256::{FieldBytes, NistP256, NonZeroScalar};
use sha2::{Digest, Sha256};
use zeroize::Zeroize;

use crate::apdu::{KeyPairAction, SignAlgorithm, Template};
use crate::card::{CardState, MAX_ANSWER};
use crate::image::encode;
use crate::keys::{KeyOrigin, KeyRef};
use crate::lifecycle::{Date, LifeCycle};
use crate::nvm::Patch;
use crate::platform::{Clock, Platform};
use crate::status::Status;

impl CardState {
    /// MSE SET (ISO 7816-8 §5.2, ISO 7816-4 §11.5.11): choose the key for the next signature or authentication.
    pub(crate) fn manage_security_environment(
        &mut self,
        template: Template,
        key: KeyRef,
        algorithm: SignAlgorithm,
    ) -> Result<(), Status> {
        if self.meta.keys[key.index()].is_none() {
            return Err(Status::ReferenceNotFound);
        }
        match template {
            Template::DigitalSignature if key.may_sign() => self.session.dst = Some((key, algorithm)),
            Template::Authentication if key.may_authenticate() => self.session.at = Some(key),
            _ => return Err(Status::ConditionsOfUseNotSatisfied),
        }
        Ok(())
    }

    /// The checks every private-key operation makes, in the order a client can act on them.
    fn usable_key<P: Platform>(&self, platform: &P, key: KeyRef) -> Result<(), Status> {
        match self.meta.life_cycle() {
            LifeCycle::Operational => {}
            LifeCycle::Blocked => return Err(Status::AuthenticationBlocked),
            _ => return Err(Status::ConditionsOfUseNotSatisfied),
        }
        if self.meta.keys[key.index()].is_none() {
            return Err(Status::ReferenceNotFound);
        }
        // Outside the 3-year window the keys are not usable: 6984, distinct from every PIN and SE error.
        let today = Date::from_unix(platform.clock().now());
        match self.meta.validity {
            Some(v) if v.contains(today) => {}
            _ => return Err(Status::ReferenceDataNotUsable),
        }
        let verified = match key {
            KeyRef::Signature => self.session.signature_armed,
            _ => self.session.pin_verified,
        };
        if !verified {
            return Err(Status::SecurityStatusNotSatisfied);
        }
        Ok(())
    }

    /// ECDSA with the stored scalar (RFC 6979 nonce). Straight from the scalar: a `SigningKey` would also derive
    /// the public point, a second scalar multiplication that doubles the signing time.
    fn sign_with<P: Platform>(&self, platform: &P, key: KeyRef, hash: &[u8]) -> Result<Signature, Status> {
        let mut scalar = FieldBytes::default();
        self.read_body(platform, encode::key_offset(key) + 4, &mut scalar)?;
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
    pub(crate) fn compute_digital_signature<P: Platform>(
        &mut self,
        platform: &P,
        input: &[u8],
        answer: &mut Vec<u8, MAX_ANSWER>,
    ) -> Result<(), Status> {
        let (key, algorithm) = self.session.dst.ok_or(Status::ConditionsOfUseNotSatisfied)?;
        let sha1;
        let hash = match algorithm {
            // FIPS 186-5 §6.4.1: a hash longer than the order is truncated, a shorter one used as is (≥ 160 bits).
            SignAlgorithm::Prehashed if (20..=64).contains(&input.len()) => input,
            SignAlgorithm::Prehashed => return Err(Status::WrongLength),
            SignAlgorithm::Sha1OnCard => {
                sha1 = <sha1::Sha1 as sha1::Digest>::digest(input);
                sha1.as_slice()
            }
        };
        self.usable_key(platform, key)?;
        if key == KeyRef::Signature {
            // Non-repudiation: one verification, one signature.
            self.session.signature_armed = false;
        }
        let signature = self.sign_with(platform, key, hash)?;
        answer.extend_from_slice(signature.to_der().as_bytes()).map_err(|_| Status::NoPreciseDiagnosis)
    }

    /// INTERNAL AUTHENTICATE (ISO 7816-4 §11.5.4): ECDSA-SHA256 over the challenge with the authentication key.
    pub(crate) fn internal_authenticate<P: Platform>(
        &mut self,
        platform: &P,
        key: Option<KeyRef>,
        challenge: &[u8],
        answer: &mut Vec<u8, MAX_ANSWER>,
    ) -> Result<(), Status> {
        let key = key.or(self.session.at).ok_or(Status::ConditionsOfUseNotSatisfied)?;
        if !key.may_authenticate() {
            return Err(Status::ConditionsOfUseNotSatisfied);
        }
        self.usable_key(platform, key)?;
        let digest = Sha256::digest(challenge);
        let signature = self.sign_with(platform, key, &digest)?;
        answer.extend_from_slice(signature.to_der().as_bytes()).map_err(|_| Status::NoPreciseDiagnosis)
    }

    /// GENERATE ASYMMETRIC KEY PAIR (ISO 7816-8 §5.1): a new pair on the card during personalisation, or the
    /// public key of an existing one. Answer: `7F49 { 86 04‖X‖Y }`.
    pub(crate) fn generate_key_pair<P: Platform>(
        &mut self,
        platform: &mut P,
        key: KeyRef,
        action: KeyPairAction,
        answer: &mut Vec<u8, MAX_ANSWER>,
    ) -> Result<(), Status> {
        let public = match action {
            KeyPairAction::Generate => {
                self.require_personalisation()?;
                let signing = <SigningKey as Generate>::generate_from_rng(platform.rng());
                self.store_key(platform, key, &signing, KeyOrigin::Generated)?
            }
            KeyPairAction::ReadPublic => {
                if self.meta.keys[key.index()].is_none() {
                    return Err(Status::ReferenceNotFound);
                }
                let mut public = [0u8; 65];
                self.read_body(platform, encode::key_offset(key) + 36, &mut public)?;
                public
            }
        };
        answer.extend_from_slice(&[0x7F, 0x49, 0x43, 0x86, 0x41]).map_err(|_| Status::NoPreciseDiagnosis)?;
        answer.extend_from_slice(&public).map_err(|_| Status::NoPreciseDiagnosis)
    }

    /// PUT DATA with a private scalar: the UZI personaliser's key injection (CPS §6.1.1).
    pub(crate) fn import_private_key<P: Platform>(
        &mut self,
        platform: &mut P,
        key: KeyRef,
        scalar: &[u8],
    ) -> Result<(), Status> {
        self.require_personalisation()?;
        let signing = SigningKey::from_slice(scalar).map_err(|_| Status::IncorrectData)?;
        self.store_key(platform, key, &signing, KeyOrigin::Imported).map(|_| ())
    }

    fn store_key<P: Platform>(
        &mut self,
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
        let lc = self.personalised_lc();
        let patches = [
            Patch { offset: encode::key_offset(key), bytes: &record },
            Patch { offset: crate::image::LC_OFF, bytes: &lc },
        ];
        let result = self.commit_meta(platform, &patches);
        record.zeroize();
        result.map(|()| public)
    }
}
