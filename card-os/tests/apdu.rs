//! Framing (ISO 7816-4 §5.1–5.4): cases 1–4 short and extended, class byte, instruction byte, command chaining,
//! GET RESPONSE and `61xx`/`6Cxx`.
mod common;
use common::*;
use p256::ecdsa::Signature;
use p256::ecdsa::signature::hazmat::PrehashVerifier;

const ISOAPPLET_AID: &str = "F2 76 A2 88 BC FB A6 9D 34 F3 10 01";

#[test]
fn cases_1_to_4_short_are_accepted() {
    let mut card = operational();
    // Case 1: no data, no Le.
    assert_eq!(tx(&mut card, "00 A4 00 0C"), (vec![], 0x9000), "case 1 SELECT MF");
    assert_eq!(tx(&mut card, "00 20 00 01").1, 0x63C3, "case 1 VERIFY status");
    // Case 2: Le only.
    assert_eq!(tx(&mut card, "00 CA DF 31 00"), (vec![0x05], 0x9000), "case 2 GET DATA");
    assert_eq!(tx(&mut card, "00 84 00 00 08").0.len(), 8, "case 2 GET CHALLENGE");
    // Case 3: Lc and data.
    assert_eq!(tx(&mut card, "00 A4 00 0C 02 50 15"), (vec![], 0x9000), "case 3 SELECT DF");
    // Case 4: Lc, data and Le.
    let (fcp, sw) = tx(&mut card, "00 A4 02 04 02 43 01 00");
    assert_eq!(sw, 0x9000);
    assert_eq!(&fcp[..2], &[0x62, fcp.len() as u8 - 2], "case 4 answers the FCP");
}

#[test]
fn cases_2_to_4_extended_are_accepted() {
    let mut card = operational();
    // Case 2E: 00 Le1 Le2.
    assert_eq!(tx(&mut card, "00 CA DF 31 00 00 00"), (vec![0x05], 0x9000));
    // Case 3E: 00 Lc1 Lc2 data.
    assert_eq!(tx(&mut card, "00 A4 08 0C 00 00 04 50 15 43 01"), (vec![], 0x9000));
    // Case 2E with Le above 256: the whole 600-byte certificate in one answer.
    let (data, sw) = tx(&mut card, "00 B0 00 00 00 02 58");
    assert_eq!(sw, 0x9000);
    assert_eq!(data, cert_bytes());
    // Extended Le 0000 = 65,536: everything up to the end of the file, with 6282 as the file is shorter.
    let (data, sw) = tx(&mut card, "00 B0 00 00 00 00 00");
    assert_eq!((data.len(), sw), (CERT_LEN, 0x6282));
    // Case 4E: 00 Lc1 Lc2 data Le1 Le2.
    let (fcp, sw) = tx(&mut card, "00 A4 08 04 00 00 04 50 15 43 01 00 00");
    assert_eq!(sw, 0x9000);
    assert_eq!(fcp[0], 0x62);
    // Case 3E carrying more than 255 bytes: an INTERNAL AUTHENTICATE over a 256-byte challenge.
    assert_eq!(verify(&mut card, PIN), 0x9000);
    let mut apdu = vec![0x00, 0x88, 0x00, 0x01, 0x00, 0x01, 0x00];
    apdu.extend_from_slice(&[0xA5; 256]);
    apdu.extend_from_slice(&[0x00, 0x00]);
    let (der, sw) = tx_bytes(&mut card, &apdu);
    assert_eq!(sw, 0x9000);
    assert!(Signature::from_der(&der).is_ok());
}

#[test]
fn wrong_length_fields_answer_6700() {
    let mut card = operational();
    for bad in [
        "",                              // nothing
        "00",                            // one byte
        "00 A4 00",                      // three-byte header
        "00 A4 00 0C 02 3F",             // Lc = 2, one data byte
        "00 A4 00 0C 03 3F 00",          // Lc = 3, two data bytes
        "00 A4 00 0C 02 3F 00 00 00",    // Lc = 2, three bytes after the data
        "00 A4 00 0C 00 00",             // extended marker with a one-byte tail
        "00 A4 00 0C 00 00 03 3F 00",    // extended Lc = 3, two data bytes
        "00 A4 00 0C 00 00 02 3F 00 00", // extended Lc = 2, one-byte Le
        "00 A4 00 0C 00 00 00 3F 00",    // extended Lc = 0 with data
    ] {
        assert_eq!(tx(&mut card, bad), (vec![], 0x6700), "{bad:?}");
    }
    // The frame is checked before the class: a mangled frame with a bad class is still 6700.
    assert_eq!(tx(&mut card, "FF A4 00 0C 02 3F").1, 0x6700);
    // Right framing but the wrong shape for the command.
    assert_eq!(tx(&mut card, "00 B0 00 00").1, 0x6700, "READ BINARY without Le");
    assert_eq!(tx(&mut card, "00 A4 00 0C 01 3F").1, 0x6700, "a one-byte FID");
    assert_eq!(tx(&mut card, "00 20 00 01 06 31 32 33 34 35 36 00").1, 0x6700, "VERIFY with Le");
}

#[test]
fn unsupported_classes_answer_6e00() {
    let mut card = operational();
    for cla in [0xFF, 0x80, 0x20, 0x3F, 0x84, 0xA0, 0xFE] {
        assert_eq!(tx_bytes(&mut card, &[cla, 0xA4, 0x00, 0x0C]).1, 0x6E00, "CLA {cla:02X}");
    }
}

#[test]
fn logical_channels_and_secure_messaging_are_refused() {
    let mut card = operational();
    for cla in [0x01, 0x02, 0x03, 0x11, 0x40, 0x41, 0x4F, 0x50] {
        assert_eq!(tx_bytes(&mut card, &[cla, 0xA4, 0x00, 0x0C]).1, 0x6881, "CLA {cla:02X}");
    }
    for cla in [0x04, 0x08, 0x0C, 0x1C, 0x60, 0x70] {
        assert_eq!(tx_bytes(&mut card, &[cla, 0xA4, 0x00, 0x0C]).1, 0x6882, "CLA {cla:02X}");
    }
}

#[test]
fn invalid_and_unknown_instructions_answer_6d00() {
    let mut card = operational();
    for ins in [0x60, 0x6F, 0x90, 0x9F, 0x00, 0x12, 0x04, 0xB2, 0xDC, 0xFF] {
        assert_eq!(tx_bytes(&mut card, &[0x00, ins, 0x00, 0x00]).1, 0x6D00, "INS {ins:02X}");
    }
    // With data too.
    assert_eq!(tx(&mut card, "00 61 00 00 02 3F 00").1, 0x6D00);
}

/// The current EF is the certificate 4301 of a card still in personalisation (update AC 02).
fn personalising_with_cert_selected() -> TestCard {
    let mut card = personalised_unactivated();
    ok(&mut card, &hex("00 A4 08 0C 04 50 15 43 01"));
    card
}

#[test]
fn chained_update_binary_lands_the_whole_data() {
    let mut card = personalising_with_cert_selected();
    assert_eq!(tx(&mut card, "10 D6 00 10 03 AA BB CC"), (vec![], 0x9000), "first part");
    // Another command before the last part breaks the chain; nothing was written.
    assert_eq!(tx(&mut card, "00 B0 00 10 03"), (vec![], 0x6883));
    assert_eq!(tx(&mut card, "00 B0 00 10 03").0, cert_bytes()[16..19].to_vec());
    assert_eq!(tx(&mut card, "10 D6 00 10 03 AA BB CC").1, 0x9000);
    assert_eq!(tx(&mut card, "10 D6 00 10 04 DD EE FF 00").1, 0x9000);
    assert_eq!(tx(&mut card, "00 D6 00 10 02 11 22").1, 0x9000, "last part");
    let mut expected = cert_bytes();
    expected[16..25].copy_from_slice(&hex("AA BB CC DD EE FF 00 11 22"));
    assert_eq!(tx(&mut card, "00 B0 00 0F 0B").0, expected[15..26].to_vec(), "the patch and its neighbours");
    assert_eq!(tx(&mut card, "00 B0 00 00 00 02 58").0, expected, "and nothing else changed");
}

#[test]
fn chained_data_survives_a_power_cycle_of_the_whole_card() {
    // Three 200-byte parts = 600 bytes, the whole certificate, in one atomic UPDATE BINARY.
    let mut card = personalising_with_cert_selected();
    let new: Vec<u8> = (0..CERT_LEN).map(|i| (i % 13) as u8 ^ 0x5A).collect();
    for (n, part) in new.chunks(200).enumerate() {
        let cla = if n < 2 { 0x10 } else { 0x00 };
        let mut a = apdu(0xD6, 0, 0, part, None);
        a[0] = cla;
        assert_eq!(tx_bytes(&mut card, &a).1, 0x9000, "part {n}");
    }
    assert_eq!(tx(&mut card, "00 B0 00 00 00 02 58").0, new, "the whole chain landed");
    // A power cut keeps the image as written (a reset in a reader would roll the unfinished personalisation back).
    let mut card = reboot(card);
    ok(&mut card, &hex("00 A4 08 0C 04 50 15 43 01"));
    assert_eq!(tx(&mut card, "00 B0 00 00 00 02 58").0, new);
}

#[test]
fn a_chain_interrupted_by_another_command_answers_6883() {
    let mut card = personalising_with_cert_selected();
    assert_eq!(tx(&mut card, "10 D6 00 00 02 AA BB").1, 0x9000);
    assert_eq!(tx(&mut card, "00 B0 00 00 04"), (vec![], 0x6883), "another INS");
    // The chain is dropped: the next command runs normally and nothing was written.
    assert_eq!(tx(&mut card, "00 B0 00 00 04").0, cert_bytes()[..4].to_vec());
    // Same INS, other P1-P2.
    assert_eq!(tx(&mut card, "10 D6 00 00 02 AA BB").1, 0x9000);
    assert_eq!(tx(&mut card, "00 D6 00 08 02 CC DD").1, 0x6883);
    assert_eq!(tx(&mut card, "00 B0 00 00 0A").0, cert_bytes()[..10].to_vec());
    // A non-last part may not carry Le.
    assert_eq!(tx(&mut card, "10 D6 00 00 02 AA BB 00").1, 0x6700);
    // A reset drops a chain too (on an operational card, whose PIN-protected EF 4310 the holder may update).
    let mut card = operational();
    assert_eq!(verify(&mut card, PIN), 0x9000);
    ok(&mut card, &hex("00 A4 08 0C 04 50 15 43 10"));
    assert_eq!(tx(&mut card, "10 D6 00 00 02 AA BB").1, 0x9000);
    card.reset();
    assert_eq!(verify(&mut card, PIN), 0x9000);
    ok(&mut card, &hex("00 A4 08 0C 04 50 15 43 10"));
    assert_eq!(tx(&mut card, "00 D6 00 00 02 EE FF").1, 0x9000, "a new, unchained command");
    assert_eq!(tx(&mut card, "00 B0 00 00 04").0, vec![0xEE, 0xFF, 0x00, 0x00]);
}

#[test]
fn chained_data_above_4096_bytes_answers_6700() {
    let mut card = personalising_with_cert_selected();
    let part = [0u8; 255];
    let mut sent = 0;
    let mut last = 0;
    for _ in 0..20 {
        let mut a = apdu(0xD6, 0, 0, &part, None);
        a[0] = 0x10;
        last = tx_bytes(&mut card, &a).1;
        sent += part.len();
        if last != 0x9000 {
            break;
        }
    }
    assert_eq!(last, 0x6700);
    assert!(sent > 4096 && sent <= 4096 + 255, "refused at the part that crossed 4,096 bytes ({sent})");
    // The chain was dropped.
    assert_eq!(tx(&mut card, "00 B0 00 00 02").0, cert_bytes()[..2].to_vec());
}

#[test]
fn select_of_the_isoapplet_aid_without_le_answers_its_version_at_once() {
    // T=1 carries the whole R-APDU: a case-3 SELECT gets the version bytes directly, as OpenSC's IsoApplet driver
    // expects (it sends this SELECT without Le and does not fetch a 61xx).
    let mut card = operational();
    let select = format!("00 A4 04 00 0C {ISOAPPLET_AID}");
    assert_eq!(tx(&mut card, &select), (vec![0x00, 0x06, 0x07], 0x9000));
    assert_eq!(tx(&mut card, "00 C0 00 00 03"), (vec![], 0x6985), "nothing pending");
    assert_eq!(tx(&mut card, &format!("{select} 00")), (vec![0x00, 0x06, 0x07], 0x9000));
}

#[test]
fn get_response_in_parts_and_lost_on_another_command() {
    let mut card = operational();
    assert_eq!(verify(&mut card, PIN), 0x9000);
    ok(&mut card, &hex("00 22 41 B6 03 84 01 01"));
    let pso = apdu(0x2A, 0x9E, 0x9A, &[0x42; 32], Some(0x01));
    let (first, sw) = tx_bytes(&mut card, &pso);
    assert_eq!((first.len(), sw >> 8), (1, 0x61));
    let left = sw & 0xFF;
    assert_eq!(tx(&mut card, "00 C0 00 00 01").0.len(), 1);
    assert_eq!(tx(&mut card, "00 C0 00 00 01").1, 0x6100 | (left - 2));
    let (rest, sw) = tx(&mut card, "00 C0 00 00 00");
    assert_eq!((rest.len() as u16, sw), (left - 2, 0x9000), "Le 00 fetches what is left");
    // Another command in between drops the pending answer.
    assert_eq!(tx_bytes(&mut card, &pso).1 >> 8, 0x61);
    assert_eq!(tx(&mut card, "00 CA DF 31 00").1, 0x9000);
    assert_eq!(tx(&mut card, "00 C0 00 00 03"), (vec![], 0x6985));
    // GET RESPONSE with wrong parameters.
    assert_eq!(tx_bytes(&mut card, &pso).1 >> 8, 0x61);
    assert_eq!(tx(&mut card, "00 C0 01 00 03").1, 0x6A86);
    assert_eq!(tx(&mut card, "00 C0 00 00").1, 0x6700, "no Le");
}

#[test]
fn signature_longer_than_le_comes_in_two_parts() {
    let mut card = operational();
    let key = public_key(&mut card, 1);
    let hash = [0x42u8; 32];
    assert_eq!(verify(&mut card, PIN), 0x9000);
    ok(&mut card, &hex("00 22 41 B6 03 84 01 01"));
    let (first, sw) = tx_bytes(&mut card, &apdu(0x2A, 0x9E, 0x9A, &hash, Some(0x10)));
    assert_eq!(first.len(), 16);
    assert_eq!(sw >> 8, 0x61, "{sw:04X}");
    let rest_len = (sw & 0xFF) as u8;
    assert!((70..=72).contains(&(rest_len as usize + 16)), "a P-256 DER signature is 70–72 bytes: {sw:04X}");
    let (rest, sw) = tx_bytes(&mut card, &[0x00, 0xC0, 0x00, 0x00, rest_len]);
    assert_eq!((rest.len(), sw), (rest_len as usize, 0x9000));
    let der = [first, rest].concat();
    let sig = Signature::from_der(&der).expect("the joined parts are one DER signature");
    key.verify_prehash(&hash, &sig).expect("and it verifies");
    // Deterministic (RFC 6979): the same hash signed in one piece gives the same bytes.
    let (whole, sw) = sign(&mut card, 1, &hash);
    assert_eq!(sw, 0x9000);
    assert_eq!(whole, der);
}

#[test]
fn case_3_signature_comes_back_at_once_over_t1() {
    let mut card = operational();
    let key = public_key(&mut card, 1);
    let hash = [0x17u8; 32];
    assert_eq!(verify(&mut card, PIN), 0x9000);
    ok(&mut card, &hex("00 22 41 B6 03 84 01 01"));
    let (der, sw) = tx_bytes(&mut card, &apdu(0x2A, 0x9E, 0x9A, &hash, None));
    assert_eq!(sw, 0x9000);
    key.verify_prehash(&hash, &Signature::from_der(&der).unwrap()).unwrap();
}

#[test]
fn get_data_with_a_short_le_answers_6cxx_with_the_exact_length() {
    let mut card = operational();
    assert_eq!(tx(&mut card, "00 CA DF 30 05"), (vec![], 0x6C10));
    let (validity, sw) = tx(&mut card, "00 CA DF 30 10");
    assert_eq!(sw, 0x9000);
    assert_eq!(validity, b"2026112320291123".to_vec());
    // Also for SELECT: the FCP of 4301 is 20 bytes.
    let (fcp, _) = tx(&mut card, "00 A4 08 04 04 50 15 43 01 00");
    let (none, sw) = tx(&mut card, "00 A4 08 04 04 50 15 43 01 04");
    assert!(none.is_empty());
    assert_eq!(sw, 0x6C00 | fcp.len() as u16);
    // And nothing is left pending after a 6Cxx.
    assert_eq!(tx(&mut card, "00 C0 00 00 10"), (vec![], 0x6985));
}

#[test]
fn get_response_with_nothing_pending_answers_6985() {
    let mut card = operational();
    assert_eq!(tx(&mut card, "00 C0 00 00 10"), (vec![], 0x6985));
    assert_eq!(tx(&mut card, "00 C0 00 00 00"), (vec![], 0x6985));
    let mut card = blank();
    assert_eq!(tx(&mut card, "00 C0 00 00 02"), (vec![], 0x6985));
}

#[test]
fn answers_are_fitted_to_le_for_computations() {
    // GENERATE ASYMMETRIC KEY PAIR with Le 10: the rest of the 70-byte public key waits for GET RESPONSE.
    let mut card = personalised_unactivated();
    let (first, sw) = tx(&mut card, "00 46 00 03 0A");
    assert_eq!((first.len(), sw), (10, 0x613C));
    let (rest, sw) = tx(&mut card, "00 C0 00 00 3C");
    assert_eq!(sw, 0x9000);
    let public = [first, rest].concat();
    assert_eq!(&public[..5], &[0x7F, 0x49, 0x43, 0x86, 0x41]);
    assert_eq!(public_key(&mut card, 3), p256::ecdsa::VerifyingKey::from_sec1_bytes(&public[5..]).unwrap());
}

mod encode {
    use card_os::apdu::{Apdu, Class};
    use proptest::prelude::*;

    fn arb_apdu() -> impl Strategy<Value = (bool, u8, u8, u8, Vec<u8>, Option<usize>, bool)> {
        let ins = any::<u8>().prop_filter("INS 6X/9X are invalid", |i| !matches!(i & 0xF0, 0x60 | 0x90));
        let data = prop_oneof![
            3 => prop::collection::vec(any::<u8>(), 0..=255),
            1 => prop::collection::vec(any::<u8>(), 256..700),
        ];
        let ne =
            prop_oneof![1 => Just(None), 2 => (1usize..=256).prop_map(Some), 1 => (1usize..=65_536).prop_map(Some)];
        (any::<bool>(), ins, any::<u8>(), any::<u8>(), data, ne, any::<bool>())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// The host's encoder and the card's parser agree (iso7816's `CommandBuilder` property): for every command
        /// that can be encoded, `parse(encode(c)) == c`, short lengths where they fit, extended ones otherwise.
        #[test]
        fn parse_of_encode_is_the_command((chained, ins, p1, p2, data, ne, extended) in arb_apdu()) {
            let apdu = Apdu { class: Class { chained }, ins, p1, p2, data: &data, ne, extended };
            let mut buf = vec![0u8; 16 + data.len()];
            let n = apdu.encode_into(&mut buf).expect("encodable");
            let parsed = Apdu::parse(&buf[..n]).expect("parses");
            let needs_extended = data.len() > 255 || ne.is_some_and(|ne| ne > 256);
            let expect = Apdu { extended: extended || needs_extended, ..apdu };
            // With neither data nor Le the encoding is case 1, which carries no length and so no `extended` bit.
            let expect = if data.is_empty() && ne.is_none() { Apdu { extended: false, ..expect } } else { expect };
            prop_assert_eq!(parsed, expect);
        }

        /// Parsing never panics, whatever the bytes.
        #[test]
        fn parsing_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
            let _ = Apdu::parse(&bytes);
        }
    }
}
