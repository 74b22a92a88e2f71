//! RSA-2048 on the chip (feature `rsa`, DIALECT.md "RSA-2048"): key generation and import in IsoApplet's dialect,
//! PKCS#1 v1.5 signatures over a DigestInfo, decipher with implicit rejection, INTERNAL AUTHENTICATE, the key-use
//! rules, and the status words of bad input. Every signature is verified with the `rsa` crate, every decipher
//! compared byte for byte.
mod common;

use std::sync::OnceLock;

use card_os::sim::SimRng;
use card_os::{KeyAlgorithm, KeyOrigin, PublicKey};
use common::*;
use rsa::traits::{PrivateKeyParts, PublicKeyParts};
use rsa::{BoxedUint, Pkcs1v15Encrypt, Pkcs1v15Sign};
use sha2::{Digest, Sha256};

const SHA256_PREFIX: [u8; 19] =
    [0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20];

/// Two host-made RSA-2048 keys (as a personaliser's HSM makes them), made once per test binary.
fn host_keys() -> &'static [rsa::PrivateKey; 2] {
    static KEYS: OnceLock<[rsa::PrivateKey; 2]> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut rng = SimRng(0x5EED_0001);
        [rsa::PrivateKey::new(&mut rng, 2048).unwrap(), rsa::PrivateKey::new(&mut rng, 2048).unwrap()]
    })
}

fn be(x: &BoxedUint, len: usize) -> Vec<u8> {
    let b = x.to_be_bytes();
    let b: Vec<u8> = b.iter().copied().skip_while(|v| *v == 0).collect();
    let mut out = vec![0u8; len - b.len()];
    out.extend(b);
    out
}

fn tlv(tag: &[u8], value: &[u8]) -> Vec<u8> {
    let mut v = tag.to_vec();
    match value.len() {
        n @ 0..=0x7F => v.push(n as u8),
        n @ 0x80..=0xFF => v.extend([0x81, n as u8]),
        n => v.extend([0x82, (n >> 8) as u8, n as u8]),
    }
    v.extend_from_slice(value);
    v
}

/// An extended-length case-3 APDU.
fn extended(ins: u8, p1: u8, p2: u8, data: &[u8], le: Option<u16>) -> Vec<u8> {
    let mut v = vec![0x00, ins, p1, p2, 0x00, (data.len() >> 8) as u8, data.len() as u8];
    v.extend_from_slice(data);
    if let Some(le) = le {
        v.extend(le.to_be_bytes());
    }
    v
}

/// IsoApplet's import: MSE `80 01 F3 84 01 ref`, then PUT DATA `00 DB 3F FF 7F48 {92 p, 93 q, 94 qinv, 95 dp, 96 dq}`.
fn import_apdus(key_ref: u8, key: &rsa::PrivateKey) -> (Vec<u8>, Vec<u8>) {
    let mse = apdu(0x22, 0x41, 0x00, &[0x80, 0x01, 0xF3, 0x84, 0x01, key_ref], None);
    let p = key.primes()[0].clone().get();
    let q = key.primes()[1].clone().get();
    let qinv = key.qinv().unwrap().retrieve();
    let mut inner = tlv(&[0x92], &be(&p, 128));
    inner.extend(tlv(&[0x93], &be(&q, 128)));
    inner.extend(tlv(&[0x94], &be(&qinv, 128)));
    inner.extend(tlv(&[0x95], &be(key.dp().unwrap(), 128)));
    inner.extend(tlv(&[0x96], &be(key.dq().unwrap(), 128)));
    (mse, extended(0xDB, 0x3F, 0xFF, &tlv(&[0x7F, 0x48], &inner), None))
}

/// A UZI-like card with RSA keys: 01 and 03 injected from the host keys, 02 generated on the card.
fn rsa_card_unactivated() -> TestCard {
    let mut card = blank();
    for (key_ref, key) in [(0x01, &host_keys()[0]), (0x03, &host_keys()[1])] {
        let (mse, put) = import_apdus(key_ref, key);
        ok(&mut card, &mse);
        ok(&mut card, &put);
    }
    ok(&mut card, &hex("00 22 41 00 06 80 01 F3 84 01 02"));
    let (first, sw) = tx(&mut card, "00 46 42 00 00");
    assert_eq!(sw & 0xFF00, 0x6100, "the 270-byte public key comes in two parts");
    let (rest, sw) = tx(&mut card, "00 C0 00 00 00");
    assert_eq!(sw, 0x9000);
    let answer = [first, rest].concat();
    assert_eq!(&answer[..7], &[0x7F, 0x49, 0x82, 0x01, 0x09, 0x81, 0x82]);
    assert_eq!(&answer[answer.len() - 5..], &[0x82, 0x03, 0x01, 0x00, 0x01]);
    ok(&mut card, &apdu(0x24, 0x01, 0x01, PIN, None));
    ok(&mut card, &apdu(0x24, 0x01, 0x02, PUK, None));
    card
}

fn rsa_card() -> TestCard {
    let mut card = rsa_card_unactivated();
    ok(&mut card, &hex("00 44 00 00"));
    card
}

fn public(card: &TestCard, key_ref: u8) -> rsa::PublicKey {
    let info = card.info();
    let key = info.keys.iter().find(|k| k.key.to_byte() == key_ref).expect("key slot");
    let PublicKey::Rsa2048 { modulus, exponent } = key.public else { panic!("an RSA key, not {:?}", key.public) };
    rsa::PublicKey::new(BoxedUint::from_be_slice(&modulus, 2048).unwrap(), BoxedUint::from(u64::from(exponent)))
        .unwrap()
}

fn digest_info(message: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let hash = Sha256::digest(message).to_vec();
    ([SHA256_PREFIX.as_slice(), &hash].concat(), hash)
}

fn sign_rsa(card: &mut TestCard, key_ref: u8, input: &[u8]) -> (Vec<u8>, u16) {
    let (_, sw) = tx_bytes(card, &apdu(0x22, 0x41, 0xB6, &[0x80, 0x01, 0x11, 0x84, 0x01, key_ref], None));
    assert_eq!(sw, 0x9000, "MSE SET DST of key {key_ref:02X}");
    tx_bytes(card, &apdu(0x2A, 0x9E, 0x9A, input, Some(0)))
}

fn decipher_apdu(cryptogram: &[u8]) -> Vec<u8> {
    extended(0x2A, 0x80, 0x86, &[&[0x00], cryptogram].concat(), Some(0))
}

#[test]
fn info_shows_rsa_2048_keys_with_their_origin() {
    let card = rsa_card();
    let info = card.info();
    let kinds: Vec<_> = info.keys.iter().map(|k| (k.key.to_byte(), k.origin, k.public.algorithm())).collect();
    assert_eq!(
        kinds,
        [
            (1, KeyOrigin::Imported, KeyAlgorithm::Rsa2048),
            (2, KeyOrigin::Generated, KeyAlgorithm::Rsa2048),
            (3, KeyOrigin::Imported, KeyAlgorithm::Rsa2048)
        ]
    );
    assert_eq!(public(&card, 1), host_keys()[0].to_public_key(), "the injected key is the host's key");
    assert_eq!(public(&card, 2).n().bit_width(), 2048);
    assert_eq!(public(&card, 2).e(), &BoxedUint::from(65_537u64));
}

#[test]
fn a_digest_info_signature_verifies_with_the_public_key() {
    let mut card = rsa_card();
    assert_eq!(verify(&mut card, PIN), 0x9000);
    for key_ref in [1u8, 2] {
        assert_eq!(verify(&mut card, PIN), 0x9000);
        let (input, hash) = digest_info(format!("zorgcard rsa {key_ref}").as_bytes());
        let (signature, sw) = sign_rsa(&mut card, key_ref, &input);
        assert_eq!((signature.len(), sw), (256, 0x9000));
        public(&card, key_ref).verify(Pkcs1v15Sign::new::<Sha256>(), &hash, &signature).expect("signature verifies");
    }
}

#[test]
fn a_signature_needs_an_rsa_reference_and_a_fitting_key() {
    let mut card = rsa_card();
    assert_eq!(verify(&mut card, PIN), 0x9000);
    // ECDSA's reference on an RSA key: 6A80.
    assert_eq!(tx(&mut card, "00 22 41 B6 06 80 01 21 84 01 01").1, 0x6A80);
    // No reference with an RSA key means PKCS#1 v1.5 over a DigestInfo.
    ok(&mut card, &hex("00 22 41 B6 03 84 01 01"));
    let (input, hash) = digest_info(b"no reference");
    let (signature, sw) = tx_bytes(&mut card, &apdu(0x2A, 0x9E, 0x9A, &input, Some(0)));
    assert_eq!(sw, 0x9000);
    public(&card, 1).verify(Pkcs1v15Sign::new::<Sha256>(), &hash, &signature).unwrap();
    // The encryption key never signs; the authentication key never deciphers.
    assert_eq!(tx(&mut card, "00 22 41 B6 06 80 01 11 84 01 03").1, 0x6985);
    assert_eq!(tx(&mut card, "00 22 41 B8 06 80 01 11 84 01 01").1, 0x6985);
    // And the reverse on a P-256 card: RSA's reference on an EC key is 6A80.
    let mut ec = operational();
    assert_eq!(tx(&mut ec, "00 22 41 B6 06 80 01 11 84 01 01").1, 0x6A80);
    assert_eq!(tx(&mut ec, "00 22 41 B8 06 80 01 11 84 01 03").1, 0x6A80);
    assert_eq!(tx(&mut ec, "00 22 41 B8 03 84 01 03").1, 0x6985, "an EC key cannot decipher");
}

#[test]
fn a_digest_info_for_an_unknown_hash_is_6a80_and_spends_nothing() {
    let mut card = rsa_card();
    assert_eq!(verify(&mut card, PIN), 0x9000);
    let (mut input, _) = digest_info(b"x");
    input[14] = 0x07; // 2.16.840.1.101.3.4.2.7: SHA3-224, not offered
    assert_eq!(sign_rsa(&mut card, 2, &input).1, 0x6A80);
    assert_eq!(sign_rsa(&mut card, 2, &[0x42; 32]).1, 0x6A80, "a bare hash is not a DigestInfo");
    assert_eq!(sign_rsa(&mut card, 2, &[0x42; 246]).1, 0x6700, "longer than k - 11");
    let (input, hash) = digest_info(b"after the refusals");
    let (signature, sw) = sign_rsa(&mut card, 2, &input);
    assert_eq!(sw, 0x9000, "the refused inputs spent no verification of the signature key");
    public(&card, 2).verify(Pkcs1v15Sign::new::<Sha256>(), &hash, &signature).unwrap();
    let (input, _) = digest_info(b"second");
    assert_eq!(sign_rsa(&mut card, 2, &input).1, 0x6982, "the signature key needs a fresh VERIFY");
    // OpenSC 0.23 also offers MD5-RSA-PKCS: an MD5 DigestInfo (RFC 8017 §9.2 note 1) is padded and signed.
    let md5_prefix =
        [0x30, 0x20, 0x30, 0x0c, 0x06, 0x08, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x05, 0x05, 0x00, 0x04, 0x10];
    let md5_info = [md5_prefix.as_slice(), &[0x5A; 16]].concat();
    let (signature, sw) = sign_rsa(&mut card, 1, &md5_info);
    assert_eq!(sw, 0x9000);
    public(&card, 1).verify(Pkcs1v15Sign::new_unprefixed(), &md5_info, &signature).expect("type-1 padding over it");
}

#[test]
fn decipher_returns_the_plaintext_in_an_extended_apdu_and_with_chaining() {
    let mut card = rsa_card();
    let secret = b"the vertrouwelijkheid key deciphers this";
    let cryptogram = public(&card, 3).encrypt(&mut SimRng(9), Pkcs1v15Encrypt, secret).unwrap();
    ok(&mut card, &hex("00 22 41 B8 06 80 01 11 84 01 03"));
    assert_eq!(tx_bytes(&mut card, &decipher_apdu(&cryptogram)).1, 0x6982, "PIN first");
    assert_eq!(verify(&mut card, PIN), 0x9000);
    assert_eq!(tx_bytes(&mut card, &decipher_apdu(&cryptogram)), (secret.to_vec(), 0x9000));
    // Command chaining, as OpenSC does without extended APDUs: 00 ‖ cryptogram in two parts.
    let data = [&[0x00], cryptogram.as_slice()].concat();
    let mut first = vec![0x10, 0x2A, 0x80, 0x86, 200];
    first.extend_from_slice(&data[..200]);
    assert_eq!(tx_bytes(&mut card, &first).1, 0x9000);
    let mut last = vec![0x00, 0x2A, 0x80, 0x86, (data.len() - 200) as u8];
    last.extend_from_slice(&data[200..]);
    last.push(0x00);
    assert_eq!(tx_bytes(&mut card, &last), (secret.to_vec(), 0x9000));
}

#[test]
fn a_bad_padding_answers_9000_like_a_good_one() {
    let mut card = rsa_card();
    assert_eq!(verify(&mut card, PIN), 0x9000);
    ok(&mut card, &hex("00 22 41 B8 06 80 01 11 84 01 03"));
    // A cryptogram of random bytes below the modulus almost never carries a valid type-2 padding.
    let n = public(&card, 3).n().to_be_bytes();
    let mut bad = vec![0x00; 256];
    bad[1..].copy_from_slice(&Sha256::digest(b"not a cryptogram").repeat(8)[..255]);
    assert!(bad < n.to_vec());
    let (first, sw) = tx_bytes(&mut card, &decipher_apdu(&bad));
    assert_eq!(sw, 0x9000, "implicit rejection: no second status word");
    let (again, sw) = tx_bytes(&mut card, &decipher_apdu(&bad));
    assert_eq!((again, sw), (first, 0x9000), "the synthetic message is deterministic");
}

#[test]
fn decipher_with_a_cryptogram_of_the_wrong_length_is_6700() {
    let mut card = rsa_card();
    assert_eq!(verify(&mut card, PIN), 0x9000);
    ok(&mut card, &hex("00 22 41 B8 06 80 01 11 84 01 03"));
    assert_eq!(tx_bytes(&mut card, &decipher_apdu(&[0x11; 255])).1, 0x6700);
    assert_eq!(tx_bytes(&mut card, &decipher_apdu(&[0x11; 257])).1, 0x6700);
    assert_eq!(tx(&mut card, "00 2A 80 86 02 01 02 00").1, 0x6A80, "padding indicator must be 00");
    assert_eq!(tx_bytes(&mut card, &decipher_apdu(&[0xFF; 256])).1, 0x6A80, "not below the modulus");
}

#[test]
fn internal_authenticate_pads_the_challenge_with_type_1() {
    let mut card = rsa_card();
    assert_eq!(verify(&mut card, PIN), 0x9000);
    let (input, hash) = digest_info(b"challenge");
    let (signature, sw) = tx_bytes(&mut card, &apdu(0x88, 0x00, 0x01, &input, Some(0)));
    assert_eq!(sw, 0x9000);
    public(&card, 1).verify(Pkcs1v15Sign::new::<Sha256>(), &hash, &signature).unwrap();
}

#[test]
fn key_generation_and_import_are_personalisation_only() {
    let mut card = rsa_card();
    assert_eq!(tx(&mut card, "00 22 41 00 06 80 01 F3 84 01 02").1, 0x9000, "MSE itself is harmless");
    assert_eq!(tx(&mut card, "00 46 42 00 00").1, 0x6985, "no key generation while operational");
    let (mse, put) = import_apdus(0x01, &host_keys()[1]);
    ok(&mut card, &mse);
    assert_eq!(tx_bytes(&mut card, &put).1, 0x6985, "no key import while operational");
    assert_eq!(public(&card, 1), host_keys()[0].to_public_key(), "the key is unchanged");
}

#[test]
fn a_damaged_import_is_refused() {
    let mut card = blank();
    let (mse, put) = import_apdus(0x01, &host_keys()[0]);
    assert_eq!(tx_bytes(&mut card, &put).1, 0x6985, "PUT DATA needs the MSE first");
    ok(&mut card, &mse);
    let mut wrong = put.clone();
    let last = wrong.len() - 1;
    wrong[last] ^= 1; // dq no longer agrees with p, q and e
    assert_eq!(tx_bytes(&mut card, &wrong).1, 0x6A80);
    assert_eq!(tx_bytes(&mut card, &put[..put.len() - 10]).1, 0x6700, "Lc does not match");
    let mut truncated = put[..put.len() - 131].to_vec();
    let len = truncated.len() - 7;
    truncated[5..7].copy_from_slice(&(len as u16).to_be_bytes());
    assert_eq!(tx_bytes(&mut card, &truncated).1, 0x6A80, "dq missing");
    assert!(card.info().keys.is_empty());
    ok(&mut card, &put);
    assert_eq!(card.info().keys.len(), 1);
}

#[test]
fn rsa_keys_survive_a_reboot_and_read_back() {
    let card = rsa_card();
    let before = public(&card, 2);
    let mut card = reboot(card);
    assert_eq!(public(&card, 2), before);
    let data = ok(&mut card, &hex("00 46 01 02 00 00 00"));
    assert_eq!(&data[9..265], &before.n().to_be_bytes()[..]);
}

/// RSA-PSS (`80 01 12`, IsoApplet API v1): refused in a v0 session; after GET DATA `0101` the card signs the bare
/// SHA-256/384/512 hash with EMSA-PSS, MGF1 of the same hash and a salt as long as the hash.
#[test]
fn rsa_pss_over_the_bare_hash_in_api_v1() {
    let mut card = rsa_card();
    assert_eq!(verify(&mut card, PIN), 0x9000);
    assert_eq!(tx(&mut card, "00 22 41 B6 06 80 01 12 84 01 01").1, 0x6A80, "no PSS in API v0");
    assert_eq!(tx(&mut card, "00 CA 01 01 00"), (vec![0x01, 0x00, 0x0F], 0x9000));
    ok(&mut card, &hex("00 22 41 B6 06 80 01 12 84 01 01"));
    let key = public(&card, 1);
    let message = b"TLS 1.3 CertificateVerify";
    let h256 = Sha256::digest(message).to_vec();
    let (signature, sw) = tx_bytes(&mut card, &apdu(0x2A, 0x9E, 0x9A, &h256, Some(0)));
    assert_eq!((signature.len(), sw), (256, 0x9000));
    key.verify(rsa::Pss::<Sha256>::new_with_salt(32), &h256, &signature).expect("PSS-SHA256, salt 32");
    let h384 = sha2::Sha384::digest(message).to_vec();
    let (signature, sw) = tx_bytes(&mut card, &apdu(0x2A, 0x9E, 0x9A, &h384, Some(0)));
    assert_eq!(sw, 0x9000);
    key.verify(rsa::Pss::<sha2::Sha384>::new_with_salt(48), &h384, &signature).expect("PSS-SHA384, salt 48");
    let h1 = sha1::Sha1::digest(message).to_vec();
    let (signature, sw) = tx_bytes(&mut card, &apdu(0x2A, 0x9E, 0x9A, &h1, Some(0)));
    assert_eq!(sw, 0x9000, "OpenSC 0.26 offers SHA1-RSA-PKCS-PSS too");
    key.verify(rsa::Pss::<sha1::Sha1>::new_with_salt(20), &h1, &signature).expect("PSS-SHA1, salt 20");
    let (input, _) = digest_info(message);
    assert_eq!(tx_bytes(&mut card, &apdu(0x2A, 0x9E, 0x9A, &input, Some(0))).1, 0x6700, "a DigestInfo is not a hash");
    card.reset();
    assert_eq!(verify(&mut card, PIN), 0x9000);
    assert_eq!(tx(&mut card, "00 22 41 B6 06 80 01 12 84 01 01").1, 0x6A80, "a reset goes back to v0");
}
