//! Signing: MSE + PSO CDS, INTERNAL AUTHENTICATE, key generation and import (ISO 7816-8).
mod common;
use common::*;
use p256::ecdsa::Signature;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use sha2::Digest;

#[test]
fn authentication_key_signs_for_the_session_and_verifies() {
    let mut card = operational();
    let key = public_key(&mut card, 1);
    let hash: [u8; 32] = sha2::Sha256::digest(b"hello zorg").into();
    assert_eq!(sign(&mut card, 1, &hash).1, 0x6982, "no PIN");
    assert_eq!(verify(&mut card, PIN), 0x9000);
    for _ in 0..3 {
        let (der, sw) = sign(&mut card, 1, &hash);
        assert_eq!(sw, 0x9000);
        let sig = Signature::from_der(&der).expect("DER signature");
        key.verify_prehash(&hash, &sig).expect("signature verifies");
    }
}

#[test]
fn imported_key_is_the_one_injected() {
    let mut card = operational();
    let injected = p256::ecdsa::SigningKey::from_slice(&[0x11; 32]).unwrap();
    assert_eq!(&public_key(&mut card, 1), injected.verifying_key());
}

#[test]
fn signature_key_needs_a_fresh_verification_every_time() {
    let mut card = operational();
    let key = public_key(&mut card, 2);
    let hash = [7u8; 32];
    assert_eq!(verify(&mut card, PIN), 0x9000);
    let (der, sw) = sign(&mut card, 2, &hash);
    assert_eq!(sw, 0x9000);
    key.verify_prehash(&hash, &Signature::from_der(&der).unwrap()).unwrap();
    assert_eq!(sign(&mut card, 2, &hash).1, 0x6982, "second signature without a new VERIFY");
    assert_eq!(verify(&mut card, PIN), 0x9000);
    assert_eq!(sign(&mut card, 2, &hash).1, 0x9000);
}

#[test]
fn pso_without_mse_is_6985_and_encryption_key_never_signs() {
    let mut card = operational();
    assert_eq!(verify(&mut card, PIN), 0x9000);
    assert_eq!(tx_bytes(&mut card, &apdu(0x2A, 0x9E, 0x9A, &[1; 32], Some(0))).1, 0x6985);
    assert_eq!(tx(&mut card, "00 22 41 B6 06 80 01 21 84 01 03").1, 0x6985);
    assert_eq!(tx(&mut card, "00 22 41 B6 06 80 01 21 84 01 07").1, 0x6A88);
    assert_eq!(tx(&mut card, "00 22 41 B6 06 80 01 99 84 01 01").1, 0x6A80);
}

#[test]
fn internal_authenticate_signs_the_challenge() {
    let mut card = operational();
    let key = public_key(&mut card, 1);
    let challenge = [0x5Au8; 16];
    assert_eq!(tx_bytes(&mut card, &apdu(0x88, 0, 1, &challenge, Some(0))).1, 0x6982);
    assert_eq!(verify(&mut card, PIN), 0x9000);
    let (der, sw) = tx_bytes(&mut card, &apdu(0x88, 0, 1, &challenge, Some(0)));
    assert_eq!(sw, 0x9000);
    key.verify(&challenge, &Signature::from_der(&der).unwrap()).unwrap();
    assert_eq!(
        tx_bytes(&mut card, &apdu(0x88, 0, 2, &challenge, Some(0))).1,
        0x6985,
        "signature key is not for authentication"
    );
}

#[test]
fn expired_card_refuses_to_sign_with_6984() {
    let mut card = operational();
    assert_eq!(tx(&mut card, "00 CA DF 30 00").0, b"2026112320291123".to_vec());
    assert_eq!(verify(&mut card, PIN), 0x9000);
    assert_eq!(sign(&mut card, 1, &[1; 32]).1, 0x9000);
    // The day before the anniversary still signs; the anniversary does not.
    card.platform_mut().clock.0.set(NOW + (365 * 3) * DAY - DAY);
    assert_eq!(sign(&mut card, 1, &[1; 32]).1, 0x9000);
    card.platform_mut().clock.0.set(NOW + (365 * 3 + 1) * DAY);
    assert_eq!(sign(&mut card, 1, &[1; 32]).1, 0x6984);
    card.platform_mut().clock.0.set(NOW - DAY);
    assert_eq!(sign(&mut card, 1, &[1; 32]).1, 0x6984, "not yet valid");
}

#[test]
fn keys_cannot_be_generated_or_imported_after_activation() {
    let mut card = operational();
    assert_eq!(tx(&mut card, "00 46 00 01 00").1, 0x6985);
    assert_eq!(tx_bytes(&mut card, &apdu(0xDA, 0x01, 0x01, &[0x22; 32], None)).1, 0x6985);
}

#[test]
fn unactivated_card_does_not_sign() {
    let mut card = personalised_unactivated();
    assert_eq!(verify(&mut card, PIN), 0x9000);
    assert_eq!(sign(&mut card, 1, &[1; 32]).1, 0x6985);
}

#[test]
fn isoapplet_algorithm_21_hashes_with_sha1_on_the_card() {
    let mut card = operational();
    let key = public_key(&mut card, 1);
    assert_eq!(verify(&mut card, PIN), 0x9000);
    assert_eq!(tx(&mut card, "00 22 41 B6 06 80 01 21 84 01 01").1, 0x9000);
    let message = b"hello zorg, a message of any length";
    let (der, sw) = tx_bytes(&mut card, &apdu(0x2A, 0x9E, 0x9A, message, Some(0)));
    assert_eq!(sw, 0x9000);
    let digest = <sha1::Sha1 as sha1::Digest>::digest(message);
    key.verify_prehash(&digest, &Signature::from_der(&der).unwrap()).unwrap();
    // Without the reference the same input is taken as a hash: too short for one.
    assert_eq!(tx(&mut card, "00 22 41 B6 03 84 01 01").1, 0x9000);
    assert_eq!(tx_bytes(&mut card, &apdu(0x2A, 0x9E, 0x9A, &message[..10], Some(0))).1, 0x6700);
}

/// IsoApplet API v0 and v1 (DIALECT.md): reference `21` hashes on the card with SHA-1 in v0, and takes the host's
/// hash in v1. A session speaks v1 from GET DATA `0101` until the next reset. Both orders, and back.
#[test]
fn reference_21_is_sha1_on_the_card_in_v0_and_the_hosts_hash_in_v1() {
    let mut card = operational();
    let key = public_key(&mut card, 1);
    let message = b"aanvraag medicatieoverzicht, 32+ bytes of data to sign".to_vec();
    let hash: [u8; 32] = sha2::Sha256::digest(&message).into();
    let sign_21 = |card: &mut TestCard, input: &[u8]| {
        assert_eq!(verify(card, PIN), 0x9000);
        ok(card, &hex("00 22 41 B6 06 80 01 21 84 01 01"));
        let (der, sw) = tx_bytes(card, &apdu(0x2A, 0x9E, 0x9A, input, Some(0)));
        assert_eq!(sw, 0x9000);
        Signature::from_der(&der).expect("DER SEQUENCE{r,s}")
    };
    // v0 (no GET DATA 0101 in this session): the card hashes the input with SHA-1.
    let v0 = sign_21(&mut card, &message);
    let sha1 = sha1::Sha1::digest(&message);
    key.verify_prehash(&sha1, &v0).expect("v0: ECDSA over SHA-1 of the data, hashed on the card");
    // v1: GET DATA 0101 answers version 1 and the session switches.
    assert_eq!(tx(&mut card, "00 CA 01 01 00"), (vec![0x01, 0x00, 0x0F], 0x9000));
    let v1 = sign_21(&mut card, &hash);
    key.verify_prehash(&hash, &v1).expect("v1: ECDSA over the host's hash, as given");
    assert!(key.verify_prehash(&sha1::Sha1::digest(hash), &v1).is_err(), "v1 does not hash again");
    // The SELECT answer stays v0 for OpenSC 0.23, even in a v1 session.
    assert_eq!(tx(&mut card, "00 A4 04 00 0C F276A288BCFBA69D34F31001 00").0, vec![0x00, 0x06, 0x07]);
    // A reset goes back to v0.
    card.reset();
    let again = sign_21(&mut card, &message);
    key.verify_prehash(&sha1, &again).expect("after a reset, v0 again");
}
