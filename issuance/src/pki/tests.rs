use super::*;

#[test]
fn three_years_keeps_date_and_time() {
    // 2024-02-29T12:34:56Z -> 2027-02-28T12:34:56Z
    assert_eq!(add_three_years(1_709_210_096), 1_803_818_096);
    // 2025-06-01T00:00:00Z -> 2028-06-01T00:00:00Z
    assert_eq!(add_three_years(1_748_736_000), 1_843_430_400);
}

#[test]
fn derived_serials_are_16_byte_positive() {
    let s = derived_serial(&[b"x", b"y"]).unwrap();
    assert_eq!(s.as_bytes().len(), 16);
    assert_eq!(s.as_bytes()[0] & 0xc0, 0x40);
}

fn test_holder(oid_ca: OidCa) -> Holder {
    Holder {
        holder_type: HolderType::Z,
        uzi_number: "900016528".into(),
        given_name: Some("Jan".into()),
        surname: Some("Test".into()),
        common_name: "Jan Test".into(),
        title: Some("Huisarts".into()),
        organisation: "Test Zorginstelling 01".into(),
        subscriber_number: "90000001".into(),
        role: "01.015".into(),
        agb_code: "90000015".into(),
        oid_ca,
    }
}

fn issue(issuer: Issuer, holder: &Holder) -> Vec<u8> {
    let key = crate::test_keys::test_rsa_key(b"aia-card", card_os::KeyRef::try_from(1).unwrap()).unwrap();
    let public = crate::test_keys::rsa_holder_public_key(&key);
    TestPki::fixtures()
        .unwrap()
        .issue(issuer, holder, CertRole::Authentication, &public, b"aia-card", 1_750_000_000)
        .unwrap()
}

/// `openssl x509 -text` of a DER certificate.
fn openssl_text(der: &[u8]) -> String {
    use std::io::Write as _;
    let mut child = std::process::Command::new("openssl")
        .args(["x509", "-inform", "DER", "-noout", "-text"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("the openssl CLI");
    child.stdin.take().unwrap().write_all(der).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "openssl x509 refused the certificate");
    String::from_utf8(out.stdout).unwrap()
}

/// RFC 5280 §4.2.2.1: id-ad-ocsp at `zorgcard portal serve`'s `POST /ocsp`, id-ad-caIssuers at its
/// `GET /ca/<stem>.cer`, next to the CRL distribution point.
#[test]
fn holder_certificates_carry_authority_information_access() {
    let holder = Holder { holder_type: HolderType::N, title: None, ..test_holder(OidCa::Test) };
    for issuer in Issuer::ALL {
        let h = match issuer {
            Issuer::Uzi(HolderType::Z) => test_holder(OidCa::Test),
            Issuer::Uzi(t) => Holder { holder_type: t, ..holder.clone() },
            Issuer::ZorgId => holder.clone(),
        };
        let text = openssl_text(&issue(issuer, &h));
        let aia = text.split("Authority Information Access:").nth(1).unwrap_or_else(|| panic!("no AIA: {text}"));
        let lines: Vec<&str> = aia.lines().skip(1).take(2).map(str::trim).collect();
        let stem = issuer.file_stem();
        assert_eq!(
            lines,
            ["OCSP - URI:http://127.0.0.1:8081/ocsp", &format!("CA Issuers - URI:http://127.0.0.1:8081/ca/{stem}.cer")],
            "{text}"
        );
        assert_eq!(issuer.ocsp_url(), "http://127.0.0.1:8081/ocsp");
        assert!(text.contains(&format!("URI:http://127.0.0.1:8080/{stem}.crl")), "CRL DP stays: {text}");
    }
}

/// The 2.5.5.5 otherName starts with the TEST OID CA by default, as on the real TEST passes, and with the
/// production one (CPS UZI-register v10.2 §7.1.5 Table 11) when the profile asks for it.
#[test]
fn the_othername_oid_ca_is_test_by_default_and_production_on_request() {
    let san = |h: &Holder| certificate_summary(&issue(Issuer::Uzi(HolderType::Z), h)).unwrap().san_uzi.unwrap();
    assert_eq!(san(&test_holder(OidCa::default())), "2.16.528.1.1007.99.217-1-900016528-Z-90000001-01.015-90000015");
    assert_eq!(
        san(&test_holder(OidCa::Production)),
        "2.16.528.1.1003.1.3.5.5.2-1-900016528-Z-90000001-01.015-90000015"
    );
    for series in [OidCa::Test, OidCa::Production] {
        for t in [HolderType::Z, HolderType::N, HolderType::M] {
            assert_eq!(HolderType::from_uzi_ca_oid(t.uzi_ca_oid(series)), Some((t, series)));
        }
    }
    assert_eq!(HolderType::from_uzi_ca_oid(OID_CA_ZORG_ID_TEST), None);
}
