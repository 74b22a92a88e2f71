//! A whole session against the test card, as a reader trace, pinned with an `insta` snapshot
//! (`tests/snapshots/session__operational_session.snap`). Signatures are deterministic (RFC 6979), so the trace is
//! byte-for-byte stable; PINs are masked as a host trace masks them.
mod common;
use std::fmt::Write;

use card_os::Status;
use card_os::apdu::describe;
use common::*;
use p256::ecdsa::Signature;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use sha2::Digest;

fn compact(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// Records `> C-APDU` / `< R-APDU  meaning` lines, masking secrets the way `apdu::describe` says.
struct Trace {
    text: String,
    card: TestCard,
}

impl Trace {
    fn send(&mut self, what: &str, c_apdu: &[u8]) -> (Vec<u8>, u16) {
        let d = describe(c_apdu);
        writeln!(self.text, "# {what} ({})", d.name).unwrap();
        match d.secret_from {
            Some(at) => writeln!(self.text, "> {} ******", compact(&c_apdu[..at])).unwrap(),
            None => writeln!(self.text, "> {}", compact(c_apdu)).unwrap(),
        }
        let (data, sw) = tx_bytes(&mut self.card, c_apdu);
        let meaning = Status::from_sw(sw).description();
        if data.is_empty() {
            writeln!(self.text, "< {sw:04X}  {meaning}").unwrap();
        } else {
            writeln!(self.text, "< {} {sw:04X}  {meaning}", compact(&data)).unwrap();
        }
        (data, sw)
    }
}

#[test]
fn operational_session() {
    let mut card = operational();
    let auth_key = public_key(&mut card, 1);
    card.reset();
    let mut t = Trace { text: String::new(), card };

    let (info, sw) = t.send("SELECT IsoApplet AID", &hex("00 A4 04 00 0C F2 76 A2 88 BC FB A6 9D 34 F3 10 01 00"));
    assert_eq!((info, sw), (vec![0x00, 0x06, 0x07], 0x9000));
    let (fcp, sw) =
        t.send("SELECT 5015 by its PKCS#15 AID", &hex("00 A4 04 04 0C A0 00 00 00 63 50 4B 43 53 2D 31 35 00"));
    assert_eq!((fcp[0], sw), (0x62, 0x9000));
    let (fcp, sw) = t.send("SELECT EF 4301 (certificate)", &hex("00 A4 02 04 02 43 01 00"));
    assert_eq!((fcp[0], sw), (0x62, 0x9000));
    let (first, sw) = t.send("READ BINARY 0-299", &hex("00 B0 00 00 00 01 2C"));
    assert_eq!(sw, 0x9000);
    let (second, sw) = t.send("READ BINARY 300-599", &hex("00 B0 01 2C 00 01 2C"));
    assert_eq!(sw, 0x9000);
    assert_eq!([first, second].concat(), cert_bytes());
    assert_eq!(t.send("VERIFY wrong PIN", &apdu(0x20, 0x00, 0x01, b"000000", None)).1, 0x63C2);
    assert_eq!(t.send("VERIFY", &apdu(0x20, 0x00, 0x01, PIN, None)).1, 0x9000);
    assert_eq!(t.send("MSE SET DST, key 01, host-hashed", &hex("00 22 41 B6 03 84 01 01")).1, 0x9000);
    let hash: [u8; 32] = sha2::Sha256::digest(b"zorgcard session").into();
    let (der, sw) = t.send("PSO COMPUTE DIGITAL SIGNATURE", &apdu(0x2A, 0x9E, 0x9A, &hash, Some(0)));
    assert_eq!(sw, 0x9000);
    auth_key.verify_prehash(&hash, &Signature::from_der(&der).expect("DER")).expect("the signature verifies");
    let challenge = hex("00 11 22 33 44 55 66 77 88 99 AA BB CC DD EE FF");
    let (der, sw) = t.send("INTERNAL AUTHENTICATE, key 01", &apdu(0x88, 0x00, 0x01, &challenge, Some(0)));
    assert_eq!(sw, 0x9000);
    auth_key.verify(&challenge, &Signature::from_der(&der).expect("DER")).expect("the authentication verifies");
    let (tries, sw) = t.send("GET DATA DF33 (tries)", &hex("00 CA DF 33 00"));
    assert_eq!((tries, sw), (vec![3, 3, 3, 3], 0x9000));

    assert!(!t.text.contains(&compact(PIN)) && !t.text.contains(&compact(b"000000")), "PINs are masked");
    insta::assert_snapshot!("operational_session", t.text);
}
