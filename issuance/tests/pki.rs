//! Tests of the TEST PKI (`issuance::pki`), cross-checked with the real OpenSSL CLI
//! (`/usr/bin/openssl`): every certificate must parse and chain with `openssl verify`, every
//! CRL must parse and revoke with `openssl verify -crl_check`. CAs are RSA-4096 and sign
//! `sha256WithRSAEncryption`; holder keys are RSA-2048 from the TEST-ONLY pool, as on a
//! UZI-pas, and P-256 where a test says so.

use std::path::{Path, PathBuf};
use std::process::Command;

use issuance::pki::{
    CertRole, Holder, HolderPublicKey, HolderType, Issuer, OidCa, PkiError, RevokedEntry, TestPki, add_three_years,
    certificate_pem, certificate_summary, crl_pem,
};
use issuance::test_keys::{rsa_holder_public_key, test_rsa_key};
use p256::elliptic_curve::Generate;

/// 2025-06-01T09:30:00Z
const ISSUED_AT: i64 = 1_748_770_200;
const DAY: i64 = 86_400;

fn openssl() -> &'static str {
    "/usr/bin/openssl"
}

/// Runs openssl, returns (success, stdout + stderr).
fn run_openssl(args: &[&str]) -> (bool, String) {
    let out = Command::new(openssl()).args(args).output().expect("run /usr/bin/openssl");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// A fresh P-256 holder key (the project-specific alternative to RSA).
fn fresh_p256_key() -> HolderPublicKey {
    let sk = p256::SecretKey::try_generate_from_rng(&mut getrandom::SysRng).expect("system RNG");
    let pk = sk.public_key().to_sec1_bytes().to_vec();
    assert_eq!(pk.len(), 65, "SEC1 uncompressed point");
    assert_eq!(pk[0], 0x04);
    HolderPublicKey::P256 { sec1: pk }
}

/// The RSA-2048 pool key of `(serial, key_ref)`, as a UZI-pas holder key.
fn rsa_key(serial: &[u8], key_ref: u8) -> HolderPublicKey {
    let key_ref = card_os::KeyRef::try_from(key_ref).expect("key reference 1 to 3");
    rsa_holder_public_key(&test_rsa_key(serial, key_ref).expect("fixtures/keys"))
}

fn key_ref(role: CertRole) -> u8 {
    match role {
        CertRole::Authentication => 1,
        CertRole::Signature => 2,
        CertRole::Encryption => 3,
    }
}

fn holder(t: HolderType) -> Holder {
    match t {
        HolderType::Z => Holder {
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
        },
        HolderType::N => Holder {
            holder_type: HolderType::N,
            uzi_number: "900054321".into(),
            given_name: Some("Els".into()),
            surname: Some("Jansen".into()),
            common_name: "Els Jansen".into(),
            title: None,
            organisation: "TEST Apotheek Zuid".into(),
            subscriber_number: "90000456".into(),
            role: "30.000".into(),
            agb_code: "00000000".into(),
            oid_ca: OidCa::Test,
        },
        HolderType::M => Holder {
            holder_type: HolderType::M,
            uzi_number: "900099999".into(),
            given_name: None,
            surname: None,
            common_name: "Balie spoedeisende hulp".into(),
            title: None,
            organisation: "TEST Ziekenhuis Noord".into(),
            subscriber_number: "90000123".into(),
            role: "30.000".into(),
            agb_code: "00000000".into(),
            oid_ca: OidCa::Test,
        },
    }
}

/// The source tree's `fixtures/pki`, where the committed certificates are compared and blessed.
fn source_pki_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/pki")
}

fn pki() -> TestPki {
    TestPki::fixtures().expect("load fixtures/pki")
}

fn write(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, contents).expect("write temp file");
    p
}

/// Writes root, intermediate and the leaf as PEM; returns their paths.
fn write_chain(dir: &Path, pki: &TestPki, issuer: Issuer, leaf: &[u8]) -> [PathBuf; 3] {
    let chain = pki.ca_chain(issuer);
    assert_eq!(chain.len(), 2);
    assert_eq!(chain[1], pki.root_der());
    [
        write(dir, "root.pem", &certificate_pem(&chain[1]).unwrap()),
        write(dir, "intermediate.pem", &certificate_pem(&chain[0]).unwrap()),
        write(dir, "cert.pem", &certificate_pem(leaf).unwrap()),
    ]
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

fn expected_san(issuer: Issuer, h: &Holder) -> String {
    let (oid, letter) = match issuer {
        Issuer::Uzi(HolderType::Z) => ("2.16.528.1.1007.99.217", "Z"),
        Issuer::Uzi(HolderType::N) => ("2.16.528.1.1007.99.218", "N"),
        Issuer::Uzi(HolderType::M) => ("2.16.528.1.1007.99.219", "M"),
        Issuer::ZorgId => ("2.16.528.1.1007.99.400", "N"),
    };
    format!("{oid}-1-{}-{letter}-{}-{}-{}", h.uzi_number, h.subscriber_number, h.role, h.agb_code)
}

fn expected_key_usage(role: CertRole) -> Vec<String> {
    match role {
        CertRole::Authentication => vec!["digitalSignature".to_string()],
        CertRole::Signature => vec!["nonRepudiation".to_string()],
        CertRole::Encryption => vec!["keyEncipherment".to_string(), "dataEncipherment".to_string()],
    }
}

#[test]
fn committed_ca_certificates_match_generated() {
    let pki = pki();
    let bless = std::env::var_os("ZORGCARD_BLESS_PKI").is_some();
    let files = pki.ca_certificate_files().unwrap();
    assert_eq!(files.len(), 5);
    for (name, pem) in files {
        let path = source_pki_dir().join(&name);
        if bless {
            std::fs::write(&path, &pem).unwrap();
            continue;
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "cannot read {}: {e}; regenerate with `ZORGCARD_BLESS_PKI=1 cargo test -p conformance --test pki committed_ca`",
                path.display()
            )
        });
        assert_eq!(
            committed,
            pem,
            "{} differs from the certificate generated from the committed keys; if the CA profile changed on purpose, re-bless with `ZORGCARD_BLESS_PKI=1 cargo test -p conformance --test pki committed_ca`",
            path.display()
        );
    }
}

#[test]
fn loading_is_deterministic() {
    let a = pki();
    let b = pki();
    assert_eq!(a.root_der(), b.root_der());
    for issuer in Issuer::ALL {
        assert_eq!(a.ca_chain(issuer), b.ca_chain(issuer));
    }
    let pk = rsa_key(b"card-0001", 2);
    let h = holder(HolderType::Z);
    let c1 = a.issue(Issuer::Uzi(HolderType::Z), &h, CertRole::Signature, &pk, b"card-0001", ISSUED_AT).unwrap();
    let c2 = b.issue(Issuer::Uzi(HolderType::Z), &h, CertRole::Signature, &pk, b"card-0001", ISSUED_AT).unwrap();
    assert_eq!(c1, c2, "issuing is a pure function of its inputs");
}

#[test]
fn ca_certificates_have_test_names_and_verify() {
    let pki = pki();
    let dir = tempfile::tempdir().unwrap();
    let root = write(dir.path(), "root.pem", &certificate_pem(&pki.root_der()).unwrap());
    let root_sum = certificate_summary(&pki.root_der()).unwrap();
    assert_eq!(root_sum.subject, "C=NL, O=zorgcard TEST, CN=TEST Zorgcard Root CA");
    assert!(root_sum.is_ca);
    assert_eq!(root_sum.key_usage, ["keyCertSign", "cRLSign"]);
    assert_eq!(root_sum.public_key.as_ref().map(HolderPublicKey::bits), Some(4096), "CPS §6.1.4: RSA-4096 CA keys");
    for issuer in Issuer::ALL {
        let der = pki.ca_der(issuer);
        let sum = certificate_summary(&der).unwrap();
        assert!(sum.subject.contains("TEST"), "{}", sum.subject);
        assert!(sum.subject.ends_with(&format!("CN={}", issuer.common_name())));
        assert_eq!(sum.issuer, root_sum.subject);
        assert!(sum.is_ca);
        let inter = write(dir.path(), "inter.pem", &certificate_pem(&der).unwrap());
        let (ok, text) = run_openssl(&["x509", "-noout", "-text", "-in", s(&inter)]);
        assert!(ok, "{text}");
        assert!(text.contains("CA:TRUE, pathlen:0"), "{text}");
        assert!(text.contains("Certificate Sign, CRL Sign"), "{text}");
        assert!(text.contains("Signature Algorithm: sha256WithRSAEncryption"), "{text}");
        assert!(text.contains("Public Key Algorithm: rsaEncryption"), "{text}");
        assert!(text.contains("Public-Key: (4096 bit)"), "{text}");
        assert_eq!(sum.public_key.as_ref().map(HolderPublicKey::bits), Some(4096));
        if matches!(issuer, Issuer::Uzi(_)) {
            assert!(
                sum.subject.starts_with("C=NL, O=TEST CIBG, organizationIdentifier=NTRNL-50000535, CN="),
                "{}",
                sum.subject
            );
        } else {
            assert_eq!(sum.subject, "C=NL, O=TEST VZVZ, CN=TEST ZORG-ID Smartcard CA");
        }
        let (ok, text) = run_openssl(&["verify", "-attime", &ISSUED_AT.to_string(), "-CAfile", s(&root), s(&inter)]);
        assert!(ok && text.contains(": OK"), "{text}");
    }
}

/// Issues all three roles for Z, N, M (UZI) and a ZORG-ID holder with RSA-2048 pool keys, then
/// checks the profile with `certificate_summary` and OpenSSL's view (`x509 -text`) and the
/// chain with `openssl verify`.
#[test]
fn issue_uzi_and_zorg_id_certificates() {
    let pki = pki();
    let cases = [
        (Issuer::Uzi(HolderType::Z), holder(HolderType::Z)),
        (Issuer::Uzi(HolderType::N), holder(HolderType::N)),
        (Issuer::Uzi(HolderType::M), holder(HolderType::M)),
        (Issuer::ZorgId, holder(HolderType::N)),
    ];
    for (issuer, h) in cases {
        for role in CertRole::ALL {
            let pk = rsa_key(b"\x01\x02card", key_ref(role));
            let der = pki.issue(issuer, &h, role, &pk, b"\x01\x02card", ISSUED_AT).unwrap();
            let sum = certificate_summary(&der).unwrap();
            let ctx = format!("{issuer:?} {role:?}");

            // Subject: C, O, CN, serialNumber (UZI number), GN/SN for named holders,
            // title for Z only; no e-mail anywhere.
            assert_eq!(sum.uzi_number.as_deref(), Some(h.uzi_number.as_str()), "{ctx}");
            assert!(
                sum.subject.starts_with(&format!("C=NL, O={}, CN={}", h.organisation, h.common_name)),
                "{ctx}: {}",
                sum.subject
            );
            assert!(sum.subject.contains(&format!("serialNumber={}", h.uzi_number)), "{ctx}: {}", sum.subject);
            let named = issuer == Issuer::ZorgId || h.holder_type != HolderType::M;
            assert_eq!(sum.subject.contains("GN="), named, "{ctx}: {}", sum.subject);
            assert_eq!(sum.subject.contains("SN="), named, "{ctx}: {}", sum.subject);
            assert_eq!(
                sum.subject.contains("title=Arts"),
                issuer == Issuer::Uzi(HolderType::Z),
                "{ctx}: {}",
                sum.subject
            );
            assert!(sum.issuer.ends_with(&format!("CN={}", issuer.common_name())));
            assert!(!sum.has_email, "{ctx}");
            assert!(!sum.is_ca, "{ctx}");

            // SubjectAltName: exact 2.5.5.5 string; UPN on the authentication cert only.
            assert_eq!(sum.san_uzi, Some(expected_san(issuer, &h)), "{ctx}");
            let upn = format!("{}@{}", h.uzi_number, h.subscriber_number);
            assert_eq!(sum.upn, (role == CertRole::Authentication).then_some(upn), "{ctx}");

            // keyUsage per role; policies per role.
            assert_eq!(sum.key_usage, expected_key_usage(role), "{ctx}");
            let policy = match role {
                CertRole::Authentication => "2.16.528.1.1007.99.211",
                CertRole::Signature => "2.16.528.1.1007.99.212",
                CertRole::Encryption => "2.16.528.1.1007.99.213",
            };
            assert_eq!(sum.policies, [policy], "{ctx}");

            // Validity: issued_at .. +3 years - 1s.
            assert_eq!(sum.not_before, ISSUED_AT);
            assert_eq!(sum.not_after, add_three_years(ISSUED_AT) - 1);
            assert!(sum.not_after - sum.not_before < 1096 * DAY);

            // Serial: 16 bytes, positive.
            assert_eq!(sum.serial.len(), 16);
            assert_eq!(sum.serial[0] & 0x80, 0);

            assert_eq!(sum.public_key.as_ref(), Some(&pk), "{ctx}");
            assert_eq!(pk.bits(), 2048);

            // extendedKeyUsage per role (CPS UZI-register Table 8, the TEST UZI-pas certificates).
            let eku: &[&str] = match role {
                CertRole::Authentication => &["1.3.6.1.5.5.7.3.2", "1.3.6.1.5.5.7.3.4", "1.3.6.1.4.1.311.10.3.12"],
                CertRole::Signature => &["1.3.6.1.5.5.7.3.4", "1.3.6.1.4.1.311.10.3.12"],
                CertRole::Encryption => &["1.3.6.1.5.5.7.3.4", "1.3.6.1.4.1.311.10.3.4"],
            };
            assert_eq!(sum.extended_key_usage, eku, "{ctx}");

            openssl_agrees(&pki, issuer, &h, role, &der, &ctx);
        }
    }
}

/// OpenSSL's view of one issued certificate (`x509 -text`) agrees with the profile, and `openssl verify` accepts
/// its chain.
fn openssl_agrees(pki: &TestPki, issuer: Issuer, h: &Holder, role: CertRole, der: &[u8], ctx: &str) {
    let dir = tempfile::tempdir().unwrap();
    let [root, inter, cert] = write_chain(dir.path(), pki, issuer, der);
    let (ok, text) = run_openssl(&["x509", "-noout", "-text", "-in", s(&cert)]);
    assert!(ok, "{ctx}: {text}");
    assert!(text.contains("Public Key Algorithm: rsaEncryption"), "{ctx}: {text}");
    assert!(text.contains("Public-Key: (2048 bit)"), "{ctx}: {text}");
    assert!(text.contains("Exponent: 65537 (0x10001)"), "{ctx}: {text}");
    assert!(text.contains("Signature Algorithm: sha256WithRSAEncryption"), "{ctx}: {text}");
    let eku_text = match role {
        CertRole::Authentication => "TLS Web Client Authentication, E-mail Protection, 1.3.6.1.4.1.311.10.3.12",
        CertRole::Signature => "E-mail Protection, 1.3.6.1.4.1.311.10.3.12",
        CertRole::Encryption => "E-mail Protection, Microsoft Encrypted File System",
    };
    assert!(text.contains(&format!("X509v3 Extended Key Usage: \n                {eku_text}\n")), "{ctx}: {text}");
    assert!(text.contains("X509v3 Subject Alternative Name: \n                othername: 2.5.5.5::"), "{ctx}: {text}");
    assert_eq!(
        text.contains(&format!("othername: UPN::{}@{}", h.uzi_number, h.subscriber_number)),
        role == CertRole::Authentication,
        "{ctx}: {text}"
    );
    assert!(text.contains("CA:FALSE"), "{ctx}: {text}");
    assert!(text.contains("Version: 3"), "{ctx}: {text}");
    assert!(text.contains(&issuer.crl_url()), "{ctx}: {text}");
    assert!(!text.contains("email:"), "{ctx}: {text}");
    assert!(!text.contains("emailAddress"), "{ctx}: {text}");
    let ku = match role {
        CertRole::Authentication => "Digital Signature",
        CertRole::Signature => "Non Repudiation",
        CertRole::Encryption => "Key Encipherment, Data Encipherment",
    };
    assert!(text.contains(&format!("X509v3 Key Usage: critical\n                {ku}\n")), "{ctx}: {text}");
    let attime = (ISSUED_AT + DAY).to_string();
    let mut args = vec!["verify", "-attime", &attime, "-CAfile", s(&root), "-untrusted", s(&inter)];
    if role == CertRole::Authentication {
        // Key usage + EKU must allow TLS client authentication.
        args.extend(["-purpose", "sslclient"]);
    }
    args.push(s(&cert));
    let (ok, text) = run_openssl(&args);
    assert!(ok && text.contains("cert.pem: OK"), "{ctx}: {text}");
}

#[test]
fn validity_is_three_years_with_29_february_rule() {
    // 2024-02-29T00:00:00Z -> 2027-02-28T00:00:00Z
    assert_eq!(add_three_years(1_709_164_800), 1_803_772_800);
    // 2024-02-29T23:59:59Z -> 2027-02-28T23:59:59Z
    assert_eq!(add_three_years(1_709_251_199), 1_803_859_199);
    // 2023-03-01T08:00:00Z -> 2026-03-01T08:00:00Z (the leap day in between counts)
    assert_eq!(add_three_years(1_677_657_600), 1_772_352_000);
    // 2025-12-31T23:59:59Z -> 2028-12-31T23:59:59Z
    assert_eq!(add_three_years(1_767_225_599), 1_861_919_999);

    let pki = pki();
    let pk = rsa_key(b"leap", 1);
    let der = pki
        .issue(
            Issuer::Uzi(HolderType::Z),
            &holder(HolderType::Z),
            CertRole::Authentication,
            &pk,
            b"leap",
            1_709_164_800,
        )
        .unwrap();
    let sum = certificate_summary(&der).unwrap();
    assert_eq!(sum.not_before, 1_709_164_800);
    // 2027-02-27T23:59:59Z
    assert_eq!(sum.not_after, 1_803_772_799);
    let dir = tempfile::tempdir().unwrap();
    let cert = write(dir.path(), "c.pem", &certificate_pem(&der).unwrap());
    let (ok, text) = run_openssl(&["x509", "-noout", "-dates", "-in", s(&cert)]);
    assert!(ok, "{text}");
    assert!(text.contains("notBefore=Feb 29 00:00:00 2024 GMT"), "{text}");
    assert!(text.contains("notAfter=Feb 27 23:59:59 2027 GMT"), "{text}");
}

#[test]
fn crl_revokes_with_openssl() {
    let pki = pki();
    let issuer = Issuer::Uzi(HolderType::N);
    let h = holder(HolderType::N);
    let revoked = pki
        .issue(issuer, &h, CertRole::Authentication, &rsa_key(b"card-revoked", 1), b"card-revoked", ISSUED_AT)
        .unwrap();
    let good =
        pki.issue(issuer, &h, CertRole::Authentication, &rsa_key(b"card-good", 1), b"card-good", ISSUED_AT).unwrap();
    let revoked_serial = certificate_summary(&revoked).unwrap().serial;
    let this_update = ISSUED_AT + 10 * DAY;
    let crl = pki
        .crl(issuer, &[RevokedEntry { serial: revoked_serial.clone(), revoked_at: ISSUED_AT + 5 * DAY }], this_update)
        .unwrap();
    // Deterministic.
    assert_eq!(
        crl,
        pki.crl(
            issuer,
            &[RevokedEntry { serial: revoked_serial.clone(), revoked_at: ISSUED_AT + 5 * DAY }],
            this_update,
        )
        .unwrap()
    );

    let dir = tempfile::tempdir().unwrap();
    let crl_der = dir.path().join("crl.der");
    std::fs::write(&crl_der, &crl).unwrap();
    let (ok, text) = run_openssl(&["crl", "-inform", "DER", "-noout", "-text", "-in", s(&crl_der)]);
    assert!(ok, "{text}");
    assert!(text.contains(&format!("Serial Number: {}", hex::encode_upper(&revoked_serial))), "{text}");
    assert!(text.contains("Version 2"), "{text}");
    assert!(text.contains(issuer.common_name()), "{text}");
    assert!(text.contains("X509v3 CRL Number"), "{text}");
    assert!(text.contains("Signature Algorithm: sha256WithRSAEncryption"), "{text}");

    let crl_file = write(dir.path(), "crl.pem", &crl_pem(&crl).unwrap());
    let attime = (this_update + DAY).to_string();
    for (leaf, expect_revoked) in [(&revoked, true), (&good, false)] {
        let [root, inter, cert] = write_chain(dir.path(), &pki, issuer, leaf);
        let (ok, text) = run_openssl(&[
            "verify",
            "-attime",
            &attime,
            "-crl_check",
            "-CRLfile",
            s(&crl_file),
            "-CAfile",
            s(&root),
            "-untrusted",
            s(&inter),
            s(&cert),
        ]);
        if expect_revoked {
            assert!(!ok && text.contains("certificate revoked"), "{text}");
        } else {
            assert!(ok && text.contains("cert.pem: OK"), "{text}");
        }
    }

    // An empty CRL of the ZORG-ID CA also parses and verifies the chain.
    let empty = pki.crl(Issuer::ZorgId, &[], this_update).unwrap();
    let empty_file = dir.path().join("empty.der");
    std::fs::write(&empty_file, &empty).unwrap();
    let (ok, text) = run_openssl(&["crl", "-inform", "DER", "-noout", "-text", "-in", s(&empty_file)]);
    assert!(ok && text.contains("No Revoked Certificates"), "{text}");
}

/// P-256 holder keys stay available (a per-key choice of a profile): the certificate carries
/// the EC key, is still signed `sha256WithRSAEncryption` and chains.
#[test]
fn p256_holder_keys_still_issue() {
    let pki = pki();
    let issuer = Issuer::Uzi(HolderType::N);
    let h = holder(HolderType::N);
    let pk = fresh_p256_key();
    let der = pki.issue(issuer, &h, CertRole::Authentication, &pk, b"ec-card", ISSUED_AT).unwrap();
    let sum = certificate_summary(&der).unwrap();
    assert_eq!(sum.public_key.as_ref(), Some(&pk));
    let HolderPublicKey::P256 { sec1 } = &pk else { unreachable!() };
    assert_eq!(&sum.public_key_sec1, sec1, "the raw SEC1 point, as the EC callers read it");
    let dir = tempfile::tempdir().unwrap();
    let [root, inter, cert] = write_chain(dir.path(), &pki, issuer, &der);
    let (ok, text) = run_openssl(&["x509", "-noout", "-text", "-in", s(&cert)]);
    assert!(ok, "{text}");
    assert!(text.contains("Public Key Algorithm: id-ecPublicKey"), "{text}");
    assert!(text.contains("NIST CURVE: P-256"), "{text}");
    assert!(text.contains("Signature Algorithm: sha256WithRSAEncryption"), "{text}");
    let attime = (ISSUED_AT + DAY).to_string();
    let (ok, text) =
        run_openssl(&["verify", "-attime", &attime, "-CAfile", s(&root), "-untrusted", s(&inter), s(&cert)]);
    assert!(ok && text.contains("cert.pem: OK"), "{text}");
}

/// The SubjectPublicKeyInfo of an RSA holder key is what OpenSSL derives from the private key.
#[test]
fn rsa_spki_matches_openssl() {
    let pk = rsa_key(b"spki", 1);
    let dir = tempfile::tempdir().unwrap();
    let idx = issuance::test_keys::test_key_index(b"spki", card_os::KeyRef::Authentication);
    let out = dir.path().join("pub.der");
    let (ok, text) = run_openssl(&[
        "pkey",
        "-in",
        s(&Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../fixtures/keys/test-only-rsa2048-{idx:02}.pem"))),
        "-pubout",
        "-outform",
        "DER",
        "-out",
        s(&out),
    ]);
    assert!(ok, "{text}");
    assert_eq!(pk.spki_der().unwrap(), std::fs::read(&out).unwrap());
    assert_eq!(HolderPublicKey::from_spki_der(&std::fs::read(&out).unwrap()), Some(pk));
}

#[test]
fn errors_name_the_problem() {
    let pki = pki();
    let pk = rsa_key(b"x", 1);

    // Wrong CA for the card type.
    let err = pki
        .issue(Issuer::Uzi(HolderType::Z), &holder(HolderType::M), CertRole::Authentication, &pk, b"x", ISSUED_AT)
        .unwrap_err();
    assert!(matches!(err, PkiError::IssuerMismatch { .. }), "{err}");
    assert!(err.to_string().contains("Issuer::Uzi(HolderType::M)"), "{err}");

    // Not a P-256 point.
    let HolderPublicKey::P256 { sec1 } = fresh_p256_key() else { unreachable!() };
    let bad = HolderPublicKey::P256 { sec1: sec1[..64].to_vec() };
    let err = pki
        .issue(Issuer::Uzi(HolderType::Z), &holder(HolderType::Z), CertRole::Authentication, &bad, b"x", ISSUED_AT)
        .unwrap_err();
    assert!(matches!(err, PkiError::PublicKey { len: 64 }), "{err}");

    // RSA below 2048 bits (CPS §6.1.4) and a broken exponent.
    let HolderPublicKey::Rsa { modulus, exponent } = &pk else { unreachable!() };
    let short = HolderPublicKey::rsa(&modulus[..128], exponent);
    let err = pki
        .issue(Issuer::Uzi(HolderType::Z), &holder(HolderType::Z), CertRole::Authentication, &short, b"x", ISSUED_AT)
        .unwrap_err();
    assert!(matches!(err, PkiError::RsaPublicKey { bits: 1024, .. }), "{err}");
    assert!(err.to_string().contains("at least 2048"), "{err}");
    let even = HolderPublicKey::rsa(modulus, &[0x02]);
    let err = pki
        .issue(Issuer::Uzi(HolderType::Z), &holder(HolderType::Z), CertRole::Authentication, &even, b"x", ISSUED_AT)
        .unwrap_err();
    assert!(matches!(err, PkiError::RsaPublicKey { bits: 2048, .. }), "{err}");

    // UZI numbers have 9 digits.
    let mut h = holder(HolderType::Z);
    h.uzi_number = "12345".into();
    let err = pki.issue(Issuer::Uzi(HolderType::Z), &h, CertRole::Authentication, &pk, b"x", ISSUED_AT).unwrap_err();
    assert!(err.to_string().contains("uzi_number"), "{err}");

    // Named holders need given name and surname.
    let mut h = holder(HolderType::N);
    h.surname = None;
    let err = pki.issue(Issuer::Uzi(HolderType::N), &h, CertRole::Signature, &pk, b"x", ISSUED_AT).unwrap_err();
    assert!(err.to_string().contains("surname"), "{err}");

    // No e-mail addresses.
    let mut h = holder(HolderType::N);
    h.common_name = "els@example.org".into();
    let err = pki.issue(Issuer::Uzi(HolderType::N), &h, CertRole::Signature, &pk, b"x", ISSUED_AT).unwrap_err();
    assert!(err.to_string().contains("e-mail"), "{err}");

    // Missing fixture directory: the message names the file.
    let err = TestPki::load(Path::new("/nonexistent/pki")).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("/nonexistent/pki/root-ca.key.pem"), "{msg}");
    assert!(msg.contains("fixtures/pki"), "{msg}");

    // A bad key file.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("root-ca.key.pem"), "not a key").unwrap();
    let err = TestPki::load(dir.path()).unwrap_err();
    assert!(matches!(err, PkiError::Key { .. }), "{err}");
    assert!(err.to_string().contains("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:4096"), "{err}");

    // A valid key of the wrong kind or size: an RSA-2048 key is no CA key (CPS §6.1.4).
    let small = fixtures::read_to_string(&issuance::test_keys::test_key_path(0)).unwrap();
    std::fs::write(dir.path().join("root-ca.key.pem"), small).unwrap();
    let err = TestPki::load(dir.path()).unwrap_err();
    assert!(matches!(err, PkiError::Key { .. }), "{err}");
    assert!(err.to_string().contains("RSA-2048 key; the UZI-register CA keys are RSA-4096"), "{err}");

    // Garbage is not a certificate.
    assert!(matches!(certificate_summary(b"\x30\x03\x02\x01\x01"), Err(PkiError::Parse(_))));
}
