//! The ZORG-ID TEST CA's CRL: a card revoked in the portal is on it, openssl agrees, and the loopback HTTP
//! server hands it out.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;

use der::Decode;
use issuance::card_new::{NewCardOptions, new_card};
use issuance::pki::{self, Issuer, TestPki};
use issuance::profile;
use personaliser::{GivenEntry, IssuedCard, PersonaliseOptions, personalise};
use portal::crl::{self, CRL_PATH, CrlError};
use portal::{self, PortalAction, PortalCommand, portal_run};
use reader_sim::reader::InProcessReader;
use x509_cert::crl::CertificateList;

const ADMIN: &str = "900016528";

fn portal(registry: &Path, action: PortalAction) -> String {
    let cmd = PortalCommand { registry: registry.into(), actor: ADMIN.into(), action };
    portal_run(&cmd, now()).unwrap()
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp() - 60
}

/// A registered organisation and a ZORG-ID Smartcard made by the personaliser; returns the authentication
/// certificate read from the card.
fn setup(dir: &Path) -> (PathBuf, IssuedCard, Vec<u8>) {
    let registry = dir.join("portal.db");
    portal(&registry, PortalAction::Register { organisation: "Test Zorginstelling 01".into(), ura: "90000001".into() });
    let pki = TestPki::fixtures().unwrap();
    let make = |name: &str| {
        let p = profile::load(name).unwrap();
        let mut r = InProcessReader::with_card(new_card(&p, &pki, &NewCardOptions::default()).unwrap().card);
        r.power_on().unwrap();
        r
    };
    let (mut uzi, mut blank) = (make("uzi-medewerker"), make("zorg-id-blank"));
    let mut entry = GivenEntry::new("123456", "1990-05-17", "24681357", "24681357");
    let zorg_id = profile::load("zorg-id").unwrap();
    let outcome = personalise(&mut uzi, &mut blank, &mut entry, &PersonaliseOptions::new(&pki, &zorg_id)).unwrap();
    portal::record_issued(&registry, &outcome.card).unwrap();
    let cert = reader_sim::exchange::read_ef(&mut blank, &[0x5015, 0x4301]).unwrap();
    (registry, outcome.card, cert)
}

fn openssl(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("/usr/bin/openssl").args(args).current_dir(dir).output().unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

fn write_chain(dir: &Path, pki: &TestPki, cert: &[u8]) {
    std::fs::write(dir.join("root.pem"), pki::certificate_pem(&pki.root_der()).unwrap()).unwrap();
    std::fs::write(dir.join("ca.pem"), pki::certificate_pem(&pki.ca_der(Issuer::ZorgId)).unwrap()).unwrap();
    std::fs::write(dir.join("auth.pem"), pki::certificate_pem(cert).unwrap()).unwrap();
}

#[test]
fn a_revoked_card_is_on_the_crl_and_openssl_says_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let (registry, card, cert) = setup(dir.path());
    let pki = TestPki::fixtures().unwrap();
    write_chain(dir.path(), &pki, &cert);
    let verify_args = [
        "verify",
        "-crl_check",
        "-CAfile",
        "root.pem",
        "-untrusted",
        "ca.pem",
        "-CRLfile",
        "zorg-id-ca.crl.pem",
        "auth.pem",
    ];

    // Before: an empty CRL, and the certificate verifies with CRL checking on.
    let (der, pem) = crl::write_crl(&pki, &registry, &dir.path().join("zorg-id-ca.crl"), now()).unwrap();
    assert_eq!(pem, dir.path().join("zorg-id-ca.crl.pem"));
    let list = <CertificateList>::from_der(&std::fs::read(&der).unwrap()).unwrap();
    assert!(list.tbs_cert_list.revoked_certificates.is_none());
    let (ok, out) = openssl(dir.path(), &verify_args);
    assert!(ok, "{out}");

    portal(&registry, PortalAction::Revoke { serial: card.serial.clone() });
    crl::write_crl(&pki, &registry, &dir.path().join("zorg-id-ca.crl"), now()).unwrap();

    // The CRL lists the three certificate serials of the card.
    let list = <CertificateList>::from_der(&std::fs::read(&der).unwrap()).unwrap();
    let listed: Vec<String> = list
        .tbs_cert_list
        .revoked_certificates
        .unwrap()
        .iter()
        .map(|r| hex::encode_upper(r.serial_number.as_bytes()))
        .collect();
    let serials: Vec<String> = card.certificates.iter().map(|c| c.serial.clone()).collect();
    assert_eq!(listed, serials);

    // openssl reads it and shows the serial of the authentication certificate.
    let (ok, text) = openssl(dir.path(), &["crl", "-inform", "DER", "-in", "zorg-id-ca.crl", "-text", "-noout"]);
    assert!(ok, "{text}");
    assert!(text.contains("Issuer: C = NL, O = TEST VZVZ, CN = TEST ZORG-ID Smartcard CA"), "{text}");
    assert!(text.contains(&format!("Serial Number: {}", serials[0])), "{text}");
    let (ok, _) = openssl(dir.path(), &["crl", "-in", "zorg-id-ca.crl.pem", "-CAfile", "ca.pem", "-noout"]);
    assert!(ok, "the CRL's signature verifies with the ZORG-ID TEST CA");

    // And openssl verify -crl_check calls the certificate revoked.
    let (ok, out) = openssl(dir.path(), &verify_args);
    assert!(!ok, "{out}");
    assert!(out.contains("certificate revoked"), "{out}");
}

fn http(addr: SocketAddr, request: &[u8]) -> (String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(request).unwrap();
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).unwrap();
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    (String::from_utf8_lossy(&answer[..split]).into_owned(), answer[split + 4..].to_vec())
}

#[test]
fn the_crl_is_served_on_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let (registry, card, _) = setup(dir.path());
    portal(&registry, PortalAction::Revoke { serial: card.serial.clone() });
    let server =
        crl::serve_crl("127.0.0.1:0".parse().unwrap(), registry.clone(), TestPki::fixtures().unwrap()).unwrap();
    let addr = server.addr();
    assert_ne!(addr.port(), 0);
    assert_eq!(server.url(), format!("http://{addr}/zorg-id-ca.crl"));

    let (head, body) =
        http(addr, format!("GET {CRL_PATH} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes());
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("Content-Type: application/pkix-crl"), "{head}");
    assert!(head.contains(&format!("Content-Length: {}", body.len())), "{head}");
    let list = <CertificateList>::from_der(&body).unwrap();
    let revoked = list.tbs_cert_list.revoked_certificates.unwrap();
    assert_eq!(hex::encode_upper(revoked[0].serial_number.as_bytes()), card.certificates[0].serial);

    let (head, body) = http(addr, format!("HEAD {CRL_PATH} HTTP/1.0\r\n\r\n").as_bytes());
    assert!(head.starts_with("HTTP/1.0 200 OK"), "{head}");
    assert!(body.is_empty());
    let (head, _) = http(addr, b"GET /root-ca.crl HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert!(head.starts_with("HTTP/1.1 404 Not Found"), "{head}");
    let (head, _) = http(addr, b"GET / HTTP/1.0\r\n\r\n");
    assert!(head.contains(" 404 "), "{head}");
    let (head, _) = http(addr, format!("POST {CRL_PATH} HTTP/1.1\r\nConnection: close\r\n\r\n").as_bytes());
    assert!(head.starts_with("HTTP/1.1 405"), "{head}");
    let (head, _) = http(addr, b"hello\r\n\r\n");
    assert!(head.starts_with("HTTP/1.1 400"), "{head}");
    // A long request line is read whole and answered like any other path.
    let mut long = b"GET /".to_vec();
    long.extend(std::iter::repeat_n(b'a', 20_000));
    long.extend_from_slice(b" HTTP/1.0\r\n\r\n");
    let (head, _) = http(addr, &long);
    assert!(head.contains(" 404 "), "{head}");
    assert!(server.requests() >= 6, "{} requests answered", server.requests());

    server.stop();
    assert!(TcpStream::connect(addr).is_err(), "a stopped server does not listen");
}

#[test]
fn the_crl_server_refuses_non_loopback_addresses() {
    let dir = tempfile::tempdir().unwrap();
    let registry = dir.path().join("portal.db");
    portal(&registry, PortalAction::Register { organisation: "Test Zorginstelling 01".into(), ura: "90000001".into() });
    for addr in ["0.0.0.0:0", "192.0.2.1:8080", "[::]:0"] {
        let err = crl::serve_crl(addr.parse().unwrap(), registry.clone(), TestPki::fixtures().unwrap()).unwrap_err();
        assert!(matches!(err, CrlError::NotLoopback { .. }), "{err}");
        assert!(err.to_string().contains("loopback"), "{err}");
    }
    let err =
        crl::serve_crl("127.0.0.1:0".parse().unwrap(), dir.path().join("missing.db"), TestPki::fixtures().unwrap())
            .unwrap_err();
    assert!(err.to_string().contains("missing.db` does not exist"), "{err}");
}

/// The real clients: `curl` fetches the CRL from the loopback server (keep-alive and all, as an application's
/// HTTP stack would), and `openssl crl` reads what it got and checks its signature with the CA.
#[test]
fn curl_fetches_the_served_crl_and_openssl_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    let (registry, card, cert) = setup(dir.path());
    let pki = TestPki::fixtures().unwrap();
    write_chain(dir.path(), &pki, &cert);
    portal(&registry, PortalAction::Revoke { serial: card.serial.clone() });
    let server = crl::serve_crl("127.0.0.1:0".parse().unwrap(), registry, pki).unwrap();
    let out = std::process::Command::new("curl")
        .args(["--silent", "--show-error", "--fail", "--max-time", "10", "--output"])
        .arg(dir.path().join("fetched.crl"))
        .arg(server.url())
        .output()
        .expect("curl is installed (scripts/install-deps)");
    assert!(out.status.success(), "curl: {}", String::from_utf8_lossy(&out.stderr));
    let (ok, text) =
        openssl(dir.path(), &["crl", "-inform", "DER", "-in", "fetched.crl", "-CAfile", "ca.pem", "-text", "-noout"]);
    assert!(ok, "{text}");
    assert!(text.contains(&format!("Serial Number: {}", card.certificates[0].serial)), "{text}");
    assert!(server.requests() >= 1);
}
