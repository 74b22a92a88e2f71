//! The OCSP responder (`TestPki::ocsp_response`, RFC 6960) checked with the real OpenSSL CLI: OpenSSL builds the
//! request (`openssl ocsp -reqout`), Rust answers it, OpenSSL verifies the signature against the TEST chain, checks
//! the nonce and prints the status.

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::process::Command;

use der::Decode;
use issuance::pki::{
    CertRole, CertStatus, Holder, HolderType, Issuer, OidCa, RevocationReason, TestPki, certificate_pem,
};
use issuance::test_keys::{rsa_holder_public_key, test_rsa_key};

/// 2025-06-01T09:30:00Z; the certificate is valid for three years from then.
const ISSUED_AT: i64 = 1_748_770_200;

/// The wall clock: OpenSSL checks thisUpdate/nextUpdate against it (RFC 6960 §3.2 item 5).
fn now() -> i64 {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock after 1970").as_secs();
    i64::try_from(secs).expect("Unix time fits i64")
}

fn run_openssl(args: &[&str]) -> (bool, String) {
    let out = Command::new("/usr/bin/openssl").args(args).output().expect("run /usr/bin/openssl");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

fn holder() -> Holder {
    Holder {
        holder_type: HolderType::Z,
        uzi_number: "900012345".into(),
        given_name: Some("Jan".into()),
        surname: Some("Test-de Vries".into()),
        common_name: "Jan Test-de Vries".into(),
        title: Some("Arts".into()),
        organisation: "TEST Ziekenhuis Noord".into(),
        subscriber_number: "90000123".into(),
        role: "01.015".into(),
        agb_code: "01234567".into(),
        oid_ca: OidCa::Test,
    }
}

/// A Z card's authentication certificate with its CA and root written as PEM in `dir`.
struct Card {
    pki: TestPki,
    serial: Vec<u8>,
    ca: PathBuf,
    root: PathBuf,
    cert: PathBuf,
}

fn card(dir: &Path) -> Card {
    let pki = TestPki::fixtures().expect("load fixtures/pki");
    let issuer = Issuer::Uzi(HolderType::Z);
    let key_ref = card_os::KeyRef::try_from(1).expect("key reference 1");
    let pk = rsa_holder_public_key(&test_rsa_key(b"card-ocsp", key_ref).expect("fixtures/keys"));
    let der = pki.issue(issuer, &holder(), CertRole::Authentication, &pk, b"card-ocsp", ISSUED_AT).unwrap();
    let parsed = x509_cert::Certificate::from_der(&der).unwrap();
    let serial = parsed.tbs_certificate().serial_number().as_bytes().to_vec();
    let write = |name: &str, der: &[u8]| {
        let p = dir.join(name);
        std::fs::write(&p, certificate_pem(der).unwrap()).unwrap();
        p
    };
    let ca = write("ca.pem", &pki.ca_der(issuer));
    let root = write("root.pem", &pki.root_der());
    let cert = write("card.pem", &der);
    Card { pki, serial, ca, root, cert }
}

/// `openssl ocsp -issuer ca.pem -cert card.pem -reqout req.der` (with OpenSSL's default nonce unless `no_nonce`).
fn request(dir: &Path, issuer: &Path, cert: &Path, no_nonce: bool) -> PathBuf {
    request_with(dir, issuer, cert, no_nonce, None)
}

/// As [`request`], with `-<digest>` before `-cert` choosing the CertID hash (OpenSSL's default is SHA-1).
fn request_with(dir: &Path, issuer: &Path, cert: &Path, no_nonce: bool, digest: Option<&str>) -> PathBuf {
    let req = dir.join("req.der");
    let mut args = vec!["ocsp", "-issuer", s(issuer)];
    args.extend(digest);
    args.extend(["-cert", s(cert), "-reqout", s(&req)]);
    if no_nonce {
        args.push("-no_nonce");
    }
    let (ok, out) = run_openssl(&args);
    assert!(ok, "openssl ocsp -reqout: {out}");
    req
}

/// Two OpenSSL runs, outputs concatenated. The CA signs its own responses, so it is the signer OpenSSL must find
/// (`-verify_other ca.pem`) and chain to the root (`-CAfile root.pem`).
/// 1. `openssl ocsp -reqin req.der -respin resp.der -CAfile root.pem -verify_other ca.pem -resp_text`: signature and
///    nonce against the very request sent (with `-cert` OpenSSL would build a new request with a fresh nonce).
/// 2. `openssl ocsp -respin resp.der -issuer ca.pem -cert card.pem -no_nonce -CAfile root.pem -verify_other ca.pem`:
///    the per-certificate summary (`card.pem: good`, `Reason: certificateHold`).
fn verify_with(c: &Card, dir: &Path, req: &Path, resp: &[u8], signer: &Path) -> (bool, String) {
    let path = dir.join("resp.der");
    std::fs::write(&path, resp).unwrap();
    let (ok1, out1) = run_openssl(&[
        "ocsp",
        "-reqin",
        s(req),
        "-respin",
        s(&path),
        "-CAfile",
        s(&c.root),
        "-verify_other",
        s(signer),
        "-resp_text",
    ]);
    let (ok2, out2) = run_openssl(&[
        "ocsp",
        "-respin",
        s(&path),
        "-issuer",
        s(&c.ca),
        "-cert",
        s(&c.cert),
        "-no_nonce",
        "-CAfile",
        s(&c.root),
        "-verify_other",
        s(signer),
    ]);
    (ok1 && ok2, format!("{out1}\n{out2}"))
}

fn verify(c: &Card, dir: &Path, req: &Path, resp: &[u8]) -> (bool, String) {
    verify_with(c, dir, req, resp, &c.ca)
}

#[test]
fn good_hold_unhold_revoke_with_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let c = card(dir.path());
    let req = request(dir.path(), &c.ca, &c.cert, false);
    let state = Cell::new(CertStatus::Good);
    let asked = |issuer: Issuer, serial: &[u8]| {
        assert_eq!(issuer, Issuer::Uzi(HolderType::Z));
        if serial == c.serial { state.get() } else { CertStatus::Unknown }
    };
    let steps = [
        (CertStatus::Good, "card.pem: good", None),
        (
            CertStatus::Revoked { at: now() - 60, reason: RevocationReason::CertificateHold },
            "card.pem: revoked",
            Some("Reason: certificateHold"),
        ),
        (CertStatus::Good, "card.pem: good", None),
        (
            CertStatus::Revoked { at: now() - 30, reason: RevocationReason::CessationOfOperation },
            "card.pem: revoked",
            Some("Reason: cessationOfOperation"),
        ),
    ];
    for (status, line, reason) in steps {
        state.set(status);
        let resp = c.pki.ocsp_response(&std::fs::read(&req).unwrap(), asked, now()).unwrap();
        let (ok, out) = verify(&c, dir.path(), &req, &resp);
        assert!(ok, "{out}");
        assert!(out.contains("Response verify OK"), "{out}");
        assert!(out.contains(line), "{line}: {out}");
        assert!(!out.contains("WARNING: no nonce in response"), "nonce echoed: {out}");
        assert!(out.contains("OCSP Nonce"), "nonce in the response text: {out}");
        assert!(!out.contains("Nonce Verify error"), "{out}");
        if let Some(reason) = reason {
            assert!(out.contains(reason), "{reason}: {out}");
        }
    }
}

#[test]
fn without_nonce_no_nonce_is_sent_back() {
    let dir = tempfile::tempdir().unwrap();
    let c = card(dir.path());
    let req = request(dir.path(), &c.ca, &c.cert, true);
    let resp = c.pki.ocsp_response(&std::fs::read(&req).unwrap(), |_, _| CertStatus::Good, now()).unwrap();
    let (ok, out) = verify(&c, dir.path(), &req, &resp);
    assert!(ok && out.contains("Response verify OK") && out.contains("card.pem: good"), "{out}");
    assert!(!out.contains("OCSP Nonce"), "{out}");
}

#[test]
fn certificate_of_another_ca_is_unknown() {
    let dir = tempfile::tempdir().unwrap();
    let c = card(dir.path());
    let other = dir.path().join("other.pem");
    let other_key = dir.path().join("other.key");
    let (ok, out) = run_openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=Not a TEST CA",
        "-days",
        "1",
        "-keyout",
        s(&other_key),
        "-out",
        s(&other),
    ]);
    assert!(ok, "{out}");
    let req = request(dir.path(), &other, &other, false);
    let resp = c.pki.ocsp_response(&std::fs::read(&req).unwrap(), |_, _| panic!("not a TEST CA"), now()).unwrap();
    let path = dir.path().join("resp.der");
    std::fs::write(&path, resp).unwrap();
    let (_, out) = run_openssl(&[
        "ocsp",
        "-reqin",
        s(&req),
        "-respin",
        s(&path),
        "-issuer",
        s(&other),
        "-cert",
        s(&other),
        "-noverify",
        "-resp_text",
    ]);
    assert!(out.contains("other.pem: unknown"), "{out}");
}

#[test]
fn garbage_request_is_malformed() {
    let dir = tempfile::tempdir().unwrap();
    let c = card(dir.path());
    for garbage in [&b""[..], b"\x30\x03\x02\x01", b"not an OCSP request at all"] {
        let resp = c.pki.ocsp_response(garbage, |_, _| CertStatus::Good, now()).unwrap();
        let path = dir.path().join("resp.der");
        std::fs::write(&path, resp).unwrap();
        let (_, out) = run_openssl(&["ocsp", "-respin", s(&path), "-resp_text", "-noverify"]);
        assert!(out.contains("Responder Error: malformedrequest"), "{out}");
    }
}

#[test]
fn tampered_signature_fails_openssl_verify() {
    let dir = tempfile::tempdir().unwrap();
    let c = card(dir.path());
    let req = request(dir.path(), &c.ca, &c.cert, false);
    let mut resp = c.pki.ocsp_response(&std::fs::read(&req).unwrap(), |_, _| CertStatus::Good, now()).unwrap();
    // No certs in the BasicOCSPResponse, so the DER ends with the signature BIT STRING.
    *resp.last_mut().unwrap() ^= 0x01;
    let (ok, out) = verify(&c, dir.path(), &req, &resp);
    assert!(!ok || !out.contains("Response verify OK"), "{out}");
    assert!(out.contains("Response Verify Failure"), "{out}");
}

#[test]
fn response_of_another_ca_fails_openssl_verify() {
    let dir = tempfile::tempdir().unwrap();
    let c = card(dir.path());
    let req = request(dir.path(), &c.ca, &c.cert, false);
    let resp = c.pki.ocsp_response(&std::fs::read(&req).unwrap(), |_, _| CertStatus::Good, now()).unwrap();
    // OpenSSL offered the ZORG-ID CA as the only candidate signer: its key did not sign this response, so the first
    // run (which has no -issuer to fall back on) finds no signer.
    let zorg_id = dir.path().join("zorg-id.pem");
    std::fs::write(&zorg_id, certificate_pem(&c.pki.ca_der(Issuer::ZorgId)).unwrap()).unwrap();
    let (ok, out) = verify_with(&c, dir.path(), &req, &resp, &zorg_id);
    assert!(!ok, "{out}");
    assert!(out.contains("signer certificate not found"), "{out}");
    assert!(out.contains("Response Verify Failure"), "{out}");
}

#[test]
fn sha256_cert_id_is_understood_and_sha512_is_unknown() {
    let dir = tempfile::tempdir().unwrap();
    let c = card(dir.path());
    let req = request_with(dir.path(), &c.ca, &c.cert, false, Some("-sha256"));
    let resp = c.pki.ocsp_response(&std::fs::read(&req).unwrap(), |_, _| CertStatus::Good, now()).unwrap();
    // Only the signature-and-nonce run: the summary run would build a SHA-1 CertID, which this response does not
    // answer.
    let path = dir.path().join("resp.der");
    std::fs::write(&path, resp).unwrap();
    let (ok, out) = run_openssl(&[
        "ocsp",
        "-reqin",
        s(&req),
        "-respin",
        s(&path),
        "-CAfile",
        s(&c.root),
        "-verify_other",
        s(&c.ca),
        "-resp_text",
    ]);
    assert!(ok && out.contains("Response verify OK"), "{out}");
    assert!(out.contains("Hash Algorithm: sha256") && out.contains("Cert Status: good"), "{out}");
    assert!(!out.contains("Nonce Verify error") && !out.contains("WARNING: no nonce"), "{out}");

    let req = request_with(dir.path(), &c.ca, &c.cert, false, Some("-sha512"));
    let resp = c.pki.ocsp_response(&std::fs::read(&req).unwrap(), |_, _| CertStatus::Good, now()).unwrap();
    std::fs::write(&path, resp).unwrap();
    let (_, out) = run_openssl(&["ocsp", "-respin", s(&path), "-resp_text", "-noverify"]);
    assert!(out.contains("Hash Algorithm: sha512") && out.contains("Cert Status: unknown"), "{out}");
}
