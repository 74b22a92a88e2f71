//! The PKCS#15 files decode back, with `der`, to what OpenSC expects (see `src/issuance/pkcs15.rs`).
//! The default card has RSA-2048 keys, as a UZI-pas; P-256 keys get the EC entries.

use der::asn1::BitString;
use der::{Decode, Encode, Reader, SliceReader};
use issuance::pkcs15::{
    self, DF_PKCS15, EF_AODF, EF_CDF, EF_DIR, EF_ODF, EF_PRKDF, EF_PUKDF, EF_TOKEN_INFO, KeySpec, KeyUsage, PKCS15_AID,
    PinSpec, TokenSpec, asn1,
};
use issuance::pki::HolderPublicKey;
use issuance::test_keys::{pool_key, rsa_holder_public_key};
use p256::pkcs8::DecodePublicKey;
use proptest::prelude::*;

/// Fake certificate bodies: the CDF only points at them, it never parses them.
fn fake_cert(n: u8) -> Vec<u8> {
    der::asn1::OctetString::new(vec![n; 40]).unwrap().to_der().unwrap()
}

fn public_key(seed: u8) -> Vec<u8> {
    p256::SecretKey::from_slice(&[seed; 32]).unwrap().public_key().to_sec1_bytes().to_vec()
}

/// RSA-2048 pool key `index` (fixed, so the snapshot is stable).
fn rsa_public_key(index: usize) -> HolderPublicKey {
    rsa_holder_public_key(&pool_key(index).unwrap())
}

fn token() -> TokenSpec {
    TokenSpec {
        serial: "9000000000000001".into(),
        label: "UZI-pas Z 900016528".into(),
        manufacturer: "zorgcard TEST".into(),
    }
}

fn pins() -> PinSpec {
    PinSpec { pin_min: 6, pin_max: 8, puk_min: 6, puk_max: 16 }
}

/// The three keys of a card, with `public(key_ref)` as their public keys and the usage
/// `KeyUsage::for_key` gives them.
fn keys_with(public: impl Fn(u8) -> HolderPublicKey) -> Vec<KeySpec> {
    [(1u8, "Authenticatie", false), (2, "Handtekening", true), (3, "Versleuteling", false)]
        .into_iter()
        .map(|(key_ref, label, user_consent)| {
            let public_key = public(key_ref);
            KeySpec {
                key_ref,
                id: vec![key_ref],
                label: label.into(),
                usage: KeyUsage::for_key(key_ref, &public_key).unwrap(),
                user_consent,
                public_key,
                certificate_der: Some(fake_cert(key_ref)),
            }
        })
        .collect()
}

/// A UZI-pas: RSA-2048 keys.
fn keys() -> Vec<KeySpec> {
    keys_with(|key_ref| rsa_public_key(usize::from(key_ref)))
}

/// P-256 keys (a project-specific profile).
fn ec_keys() -> Vec<KeySpec> {
    keys_with(|key_ref| HolderPublicKey::P256 { sec1: public_key(key_ref) })
}

fn ca_certs() -> Vec<(String, Vec<u8>)> {
    vec![
        ("TEST Zorgcard Root CA".into(), fake_cert(0x11)),
        ("TEST UZI-register Zorgverlener CA G3".into(), fake_cert(0x12)),
    ]
}

fn full_layout() -> pkcs15::Pkcs15Layout {
    pkcs15::layout(&token(), &pins(), &keys(), &ca_certs())
}

fn app_file(layout: &pkcs15::Pkcs15Layout, fid: u16) -> Vec<u8> {
    layout.file(&[DF_PKCS15, fid]).unwrap_or_else(|| panic!("no file 5015/{fid:04X}")).content.clone()
}

/// Decode a file that is a plain concatenation of DER values (every PKCS#15 DF file).
fn decode_all<'a, T: Decode<'a, Error = der::Error>>(bytes: &'a [u8]) -> Vec<T> {
    let mut reader = SliceReader::new(bytes).unwrap();
    let mut out = Vec::new();
    while !reader.is_finished() {
        out.push(T::decode(&mut reader).unwrap());
    }
    out
}

fn set_bits(bits: &BitString) -> Vec<usize> {
    bits.bits().enumerate().filter(|(_, b)| *b).map(|(i, _)| i).collect()
}

fn path(p: &asn1::Path) -> Vec<u8> {
    p.efid_or_path.as_bytes().to_vec()
}

#[test]
fn ef_dir_is_one_application_template() {
    let layout = full_layout();
    let dir = &layout.file(&[EF_DIR]).unwrap().content;
    assert_eq!(&dir[..4], &[0x61, dir.len() as u8 - 2, 0x4F, 0x0C]);
    let asn1::DirRecord::Application(template) = asn1::DirRecord::from_der(dir).unwrap();
    assert_eq!(template.aid.as_bytes(), PKCS15_AID);
    assert_eq!(template.label.as_deref(), Some(pkcs15::APP_LABEL));
    assert_eq!(template.path.unwrap().as_bytes(), &[0x3F, 0x00, 0x50, 0x15]);
}

#[test]
fn application_df_has_the_pkcs15_aid() {
    let layout = full_layout();
    assert_eq!(layout.dfs.len(), 1);
    assert_eq!(layout.dfs[0].path, vec![DF_PKCS15]);
    assert_eq!(layout.dfs[0].aid, PKCS15_AID);
}

#[test]
fn odf_lists_the_four_directory_files() {
    let layout = full_layout();
    let odf = app_file(&layout, EF_ODF);
    let entries: Vec<asn1::OdfEntry> = decode_all(&odf);
    let expect = |fid: u16| vec![0x3F, 0x00, 0x50, 0x15, (fid >> 8) as u8, fid as u8];
    assert_eq!(
        entries,
        vec![
            asn1::OdfEntry::PrivateKeys(asn1::Path {
                efid_or_path: der::asn1::OctetString::new(expect(EF_PRKDF)).unwrap()
            }),
            asn1::OdfEntry::PublicKeys(asn1::Path {
                efid_or_path: der::asn1::OctetString::new(expect(EF_PUKDF)).unwrap()
            }),
            asn1::OdfEntry::Certificates(asn1::Path {
                efid_or_path: der::asn1::OctetString::new(expect(EF_CDF)).unwrap()
            }),
            asn1::OdfEntry::AuthObjects(asn1::Path {
                efid_or_path: der::asn1::OctetString::new(expect(EF_AODF)).unwrap()
            }),
        ]
    );
    // Explicit [n] around the Path SEQUENCE, as OpenSC's parse_odf reads it.
    assert_eq!(&odf[..4], &[0xA0, 0x0A, 0x30, 0x08]);
    for fid in [EF_PRKDF, EF_PUKDF, EF_CDF, EF_AODF] {
        assert!(layout.file(&[DF_PKCS15, fid]).is_some());
    }
}

#[test]
fn token_info_fields() {
    let layout = full_layout();
    let ti = app_file(&layout, EF_TOKEN_INFO);
    let info = asn1::TokenInfo::from_der(&ti).unwrap();
    assert_eq!(info.version, 0);
    assert_eq!(info.serial_number.unwrap().as_bytes(), &[0x90, 0, 0, 0, 0, 0, 0, 0x01]);
    assert_eq!(info.manufacturer_id.as_deref(), Some("zorgcard TEST"));
    assert_eq!(info.label.as_deref(), Some("UZI-pas Z 900016528"));
    assert_eq!(set_bits(&info.token_flags), vec![2], "prnGeneration only");
    // label is [0] IMPLICIT UTF8String.
    let label_at = ti.windows(2).position(|w| w == [0x80, 19]).unwrap();
    assert_eq!(&ti[label_at + 2..label_at + 21], b"UZI-pas Z 900016528");
}

#[test]
fn aodf_user_pin_and_puk() {
    let layout = full_layout();
    let aodf = app_file(&layout, EF_AODF);
    let objs: Vec<asn1::PinObject> = decode_all(&aodf);
    assert_eq!(objs.len(), 2);
    let (pin, puk) = (&objs[0], &objs[1]);
    let app = vec![0x3F, 0x00, 0x50, 0x15];

    assert_eq!(pin.common_authentication.auth_id.as_bytes(), &[0x01]);
    assert_eq!(
        pin.common_object.auth_id.as_ref().unwrap().as_bytes(),
        &[0x02],
        "the user PIN names the PUK so pkcs15-tool --unblock-pin finds it"
    );
    let a = &pin.pin_attributes;
    // case-sensitive, local, initialized; no needs-padding (5), no unblockingPin (6).
    assert_eq!(set_bits(&a.pin_flags), vec![0, 1, 4]);
    assert_eq!(a.pin_type, asn1::PinType::Utf8);
    assert_eq!((a.min_length, a.stored_length, a.max_length), (6, 8, Some(8)));
    assert_eq!(a.pin_reference, Some(1));
    assert_eq!(path(a.path.as_ref().unwrap()), app);

    assert_eq!(puk.common_authentication.auth_id.as_bytes(), &[0x02]);
    assert!(puk.common_object.auth_id.is_none());
    let a = &puk.pin_attributes;
    // case-sensitive, local, change-disabled, initialized, unblockingPin.
    assert_eq!(set_bits(&a.pin_flags), vec![0, 1, 2, 4, 6]);
    assert_eq!((a.min_length, a.stored_length, a.max_length), (6, 16, Some(16)));
    assert_eq!(a.pin_reference, Some(2));
    assert_eq!(path(a.path.as_ref().unwrap()), app);
}

/// PrKDF `privateRSAKey` entries (an untagged SEQUENCE, OpenSC's `c_asn1_prkey_choice`
/// first alternative) with `modulusLength 2048` and the chip's key reference. Usage: key 1
/// `sign`, key 2 `nonRepudiation`, key 3 `decrypt` + `unwrap` and never `sign`.
#[test]
fn prkdf_rsa_keys() {
    let layout = full_layout();
    let prkdf = app_file(&layout, EF_PRKDF);
    assert_eq!(prkdf[0], 0x30, "privateRSAKey: untagged SEQUENCE");
    let entries: Vec<asn1::PrivateKeyChoice> = decode_all(&prkdf);
    assert_eq!(entries.len(), 3);
    let expected_usage: [&[usize]; 3] = [&[2], &[9], &[1, 5]];
    for (i, entry) in entries.iter().enumerate() {
        let asn1::PrivateKeyChoice::Rsa(key) = entry else { panic!("entry {i} is not privateRSAKey: {entry:?}") };
        let key_ref = i as u8 + 1;
        let co = &key.common_object;
        assert_eq!(set_bits(co.flags.as_ref().unwrap()), vec![0], "private");
        assert_eq!(co.auth_id.as_ref().unwrap().as_bytes(), &[0x01]);
        assert_eq!(co.user_consent, (key_ref == 2).then_some(1));
        let ck = &key.common_key;
        assert_eq!(ck.id.as_bytes(), &[key_ref]);
        assert_eq!(ck.key_reference, Some(key_ref));
        assert_eq!(set_bits(&ck.usage), expected_usage[i]);
        assert_eq!(set_bits(ck.access_flags.as_ref().unwrap()), vec![0, 3]);
        assert_eq!(path(&key.type_attributes.value), vec![0x3F, 0x00, 0x50, 0x15]);
        assert_eq!(key.type_attributes.modulus_length, 2048);
    }
    // The encryption key can decrypt and unwrap but not sign.
    let enc = set_bits(&entries[2].common_key().usage);
    assert!(!enc.contains(&2) && !enc.contains(&3) && !enc.contains(&9), "{enc:?}");
    // typeAttributes [1] { SEQUENCE { Path, INTEGER 2048 } }: `02 02 08 00` after the path.
    let first = entries[0].to_der().unwrap();
    let tail = &first[first.len() - 16..];
    assert_eq!(tail, [0xA1, 0x0E, 0x30, 0x0C, 0x30, 0x06, 0x04, 0x04, 0x3F, 0x00, 0x50, 0x15, 0x02, 0x02, 0x08, 0x00]);
}

/// PuKDF `publicRSAKey` entries with `modulusLength 2048`, each pointing at an EF holding the
/// PKCS#1 `RSAPublicKey` (what OpenSC 0.23's `sc_pkcs15_decode_pubkey_rsa` reads).
#[test]
fn pukdf_rsa_points_at_rsa_public_key_files() {
    let layout = full_layout();
    let pukdf = app_file(&layout, EF_PUKDF);
    assert_eq!(pukdf[0], 0x30, "publicRSAKey: untagged SEQUENCE");
    let entries: Vec<asn1::PublicKeyChoice> = decode_all(&pukdf);
    assert_eq!(entries.len(), 3);
    let expected_usage: [&[usize]; 3] = [&[6], &[6, 9], &[0, 4]];
    for (i, entry) in entries.iter().enumerate() {
        let asn1::PublicKeyChoice::Rsa(key) = entry else { panic!("entry {i} is not publicRSAKey: {entry:?}") };
        let key_ref = i as u8 + 1;
        assert_eq!(key.common_key.id.as_bytes(), &[key_ref]);
        assert_eq!(set_bits(&key.common_key.usage), expected_usage[i]);
        assert!(key.common_object.flags.is_none(), "public keys are not private");
        assert_eq!(key.type_attributes.modulus_length, 2048);
        let p = path(&key.type_attributes.value);
        assert_eq!(&p[..4], &[0x3F, 0x00, 0x50, 0x15]);
        let fid = u16::from_be_bytes([p[4], p[5]]);
        assert_eq!(fid, pkcs15::public_key_fid(key_ref));
        let file = app_file(&layout, fid);
        let decoded = rsa::pkcs1::RsaPublicKeyRef::from_der(&file).unwrap();
        let HolderPublicKey::Rsa { modulus, exponent } = rsa_public_key(usize::from(key_ref)) else { unreachable!() };
        assert_eq!(decoded.modulus.as_bytes(), modulus.as_slice());
        assert_eq!(decoded.public_exponent.as_bytes(), [0x01, 0x00, 0x01]);
        assert_eq!(exponent, [0x01, 0x00, 0x01]);
        assert_eq!(modulus.len(), 256);
    }
}

/// A card may mix algorithms per key: each entry follows its own key.
#[test]
fn rsa_and_ec_keys_mix() {
    let mut ks = keys();
    ks[2] = ec_keys().remove(2);
    let layout = pkcs15::layout(&token(), &pins(), &ks, &[]);
    let prkdf: Vec<asn1::PrivateKeyChoice> = decode_all(&app_file(&layout, EF_PRKDF));
    assert!(matches!(
        prkdf.as_slice(),
        [asn1::PrivateKeyChoice::Rsa(_), asn1::PrivateKeyChoice::Rsa(_), asn1::PrivateKeyChoice::Ec(_)]
    ));
    assert_eq!(set_bits(&prkdf[2].common_key().usage), vec![1, 8], "EC encryption key: decrypt + derive");
    let pukdf: Vec<asn1::PublicKeyChoice> = decode_all(&app_file(&layout, EF_PUKDF));
    assert!(matches!(pukdf[2], asn1::PublicKeyChoice::Ec(_)));
    let spki = app_file(&layout, pkcs15::public_key_fid(3));
    assert_eq!(p256::PublicKey::from_public_key_der(&spki).unwrap().to_sec1_bytes().to_vec(), public_key(3));
}

#[test]
fn prkdf_ec_keys() {
    let layout = pkcs15::layout(&token(), &pins(), &ec_keys(), &ca_certs());
    let prkdf = app_file(&layout, EF_PRKDF);
    assert_eq!(prkdf[0], 0xA0, "privateECKey [0] IMPLICIT, constructed");
    let entries: Vec<asn1::PrivateKeyChoice> = decode_all(&prkdf);
    assert_eq!(entries.len(), 3);
    let expected_usage: [&[usize]; 3] = [&[2], &[9], &[1, 8]];
    for (i, entry) in entries.iter().enumerate() {
        let asn1::PrivateKeyChoice::Ec(key) = entry else { panic!("entry {i} is not privateECKey: {entry:?}") };
        let key_ref = i as u8 + 1;
        let co = &key.common_object;
        assert_eq!(set_bits(co.flags.as_ref().unwrap()), vec![0], "private");
        assert_eq!(co.auth_id.as_ref().unwrap().as_bytes(), &[0x01]);
        assert_eq!(co.user_consent, (key_ref == 2).then_some(1));
        let ck = &key.common_key;
        assert_eq!(ck.id.as_bytes(), &[key_ref]);
        assert_eq!(ck.key_reference, Some(key_ref));
        assert_eq!(set_bits(&ck.usage), expected_usage[i]);
        assert_eq!(set_bits(ck.access_flags.as_ref().unwrap()), vec![0, 3]);
        assert_eq!(path(&key.type_attributes.value), vec![0x3F, 0x00, 0x50, 0x15]);
        assert_eq!(key.type_attributes.field_size, Some(256));
    }
}

#[test]
fn pukdf_ec_points_at_spki_files() {
    let layout = pkcs15::layout(&token(), &pins(), &ec_keys(), &ca_certs());
    let pukdf = app_file(&layout, EF_PUKDF);
    assert_eq!(pukdf[0], 0xA0, "publicECKey [0] IMPLICIT, constructed");
    let entries: Vec<asn1::PublicKeyChoice> = decode_all(&pukdf);
    assert_eq!(entries.len(), 3);
    let expected_usage: [&[usize]; 3] = [&[6], &[6, 9], &[0, 8]];
    for (i, entry) in entries.iter().enumerate() {
        let asn1::PublicKeyChoice::Ec(key) = entry else { panic!("entry {i} is not publicECKey: {entry:?}") };
        let key_ref = i as u8 + 1;
        assert_eq!(key.common_key.id.as_bytes(), &[key_ref]);
        assert_eq!(set_bits(&key.common_key.usage), expected_usage[i]);
        assert!(key.common_object.flags.is_none(), "public keys are not private");
        let p = path(&key.type_attributes.value);
        assert_eq!(&p[..4], &[0x3F, 0x00, 0x50, 0x15]);
        let fid = u16::from_be_bytes([p[4], p[5]]);
        assert_eq!(fid, pkcs15::public_key_fid(key_ref));
        let spki = app_file(&layout, fid);
        let decoded = p256::PublicKey::from_public_key_der(&spki).unwrap();
        assert_eq!(decoded.to_sec1_bytes().to_vec(), public_key(key_ref));
    }
}

#[test]
fn cdf_user_and_ca_certificates() {
    let layout = full_layout();
    let cdf = app_file(&layout, EF_CDF);
    let entries: Vec<asn1::CertificateObject> = decode_all(&cdf);
    assert_eq!(entries.len(), 5);
    let expected = [
        (vec![1u8], false, 0x4301u16, fake_cert(1)),
        (vec![2], false, 0x4302, fake_cert(2)),
        (vec![3], false, 0x4303, fake_cert(3)),
        (vec![0x11], true, 0x4311, fake_cert(0x11)),
        (vec![0x12], true, 0x4312, fake_cert(0x12)),
    ];
    for (entry, (id, authority, fid, der)) in entries.iter().zip(expected) {
        assert_eq!(entry.common_certificate.id.as_bytes(), id.as_slice());
        assert_eq!(entry.common_certificate.authority, authority);
        let p = path(&entry.type_attributes.value);
        assert_eq!(p, vec![0x3F, 0x00, 0x50, 0x15, (fid >> 8) as u8, fid as u8]);
        assert_eq!(app_file(&layout, fid), der);
    }
    assert_eq!(entries[3].common_object.label.as_deref(), Some("TEST Zorgcard Root CA"));
    // authority DEFAULT FALSE: absent for user certificates, `01 01 FF` for CAs.
    assert_eq!(entries[0].common_certificate.to_der().unwrap(), [0x30, 0x03, 0x04, 0x01, 0x01]);
    assert_eq!(entries[3].common_certificate.to_der().unwrap(), [0x30, 0x06, 0x04, 0x01, 0x11, 0x01, 0x01, 0xFF]);
}

#[test]
fn access_conditions() {
    let layout = full_layout();
    assert!(!layout.files.is_empty());
    for f in &layout.files {
        assert_eq!(f.read_ac, pkcs15::AC_ALWAYS, "{:04X?}", f.path);
        assert_eq!(f.update_ac, pkcs15::AC_PERSONALISATION, "{:04X?}", f.path);
        assert!(!f.content.is_empty(), "{:04X?} is empty", f.path);
    }
    let df = &layout.dfs[0];
    assert_eq!((df.read_ac, df.update_ac), (0x00, 0x02));
}

#[test]
fn keys_without_certificates_and_blank_cards() {
    let mut ks = keys();
    ks[1].certificate_der = None;
    let layout = pkcs15::layout(&token(), &pins(), &ks, &[]);
    assert!(layout.file(&[DF_PKCS15, 0x4302]).is_none());
    let cdf: Vec<asn1::CertificateObject> = decode_all(&app_file(&layout, EF_CDF));
    assert_eq!(cdf.len(), 2);

    // No keys, no certificates: only EF.DIR, ODF, TokenInfo, AODF, and the ODF says so.
    let blank = pkcs15::layout(&token(), &pins(), &[], &[]);
    let paths: Vec<_> = blank.files.iter().map(|f| f.path.clone()).collect();
    assert_eq!(
        paths,
        vec![vec![EF_DIR], vec![DF_PKCS15, EF_ODF], vec![DF_PKCS15, EF_TOKEN_INFO], vec![DF_PKCS15, EF_AODF]]
    );
    let odf: Vec<asn1::OdfEntry> = decode_all(&app_file(&blank, EF_ODF));
    assert!(matches!(odf.as_slice(), [asn1::OdfEntry::AuthObjects(_)]));
}

#[test]
fn empty_key_id_falls_back_to_the_key_reference() {
    let mut ks = keys();
    ks[0].id.clear();
    let layout = pkcs15::layout(&token(), &pins(), &ks, &[]);
    let entries: Vec<asn1::PrivateKeyChoice> = decode_all(&app_file(&layout, EF_PRKDF));
    assert_eq!(entries[0].common_key().id.as_bytes(), &[1]);
}

#[test]
fn named_bits_are_der_minimal() {
    assert_eq!(pkcs15::named_bits(&[2]).to_der().unwrap(), [0x03, 0x02, 0x05, 0x20]);
    assert_eq!(pkcs15::named_bits(&[9]).to_der().unwrap(), [0x03, 0x03, 0x06, 0x00, 0x40]);
    assert_eq!(pkcs15::named_bits(&[1, 8]).to_der().unwrap(), [0x03, 0x03, 0x07, 0x40, 0x80]);
    assert_eq!(pkcs15::named_bits(&[0, 1, 2, 3, 4, 5, 6, 7]).to_der().unwrap(), [0x03, 0x02, 0x00, 0xFF]);
    assert_eq!(pkcs15::named_bits(&[]).to_der().unwrap(), [0x03, 0x01, 0x00]);
}

#[test]
fn serial_encoding() {
    assert_eq!(pkcs15::serial_octets("9000000000000001"), [0x90, 0, 0, 0, 0, 0, 0, 1]);
    assert_eq!(pkcs15::serial_octets("0A1B"), [0x0A, 0x1B]);
    // Odd length, lower case or other characters: stored as text.
    assert_eq!(pkcs15::serial_octets("123"), b"123");
    assert_eq!(pkcs15::serial_octets("0a1b"), b"0a1b");
    assert_eq!(pkcs15::serial_octets("ZC-0001"), b"ZC-0001");
    assert_eq!(pkcs15::serial_octets(""), b"");
    assert_eq!(pkcs15::serial_octets(&"7".repeat(300)).len(), pkcs15::MAX_SERIAL_BYTES);
}

#[test]
fn long_labels_are_cut_at_a_character_boundary() {
    let mut t = token();
    t.label = "é".repeat(200); // 400 bytes
    let layout = pkcs15::layout(&t, &pins(), &[], &[]);
    let info = asn1::TokenInfo::from_der(&app_file(&layout, EF_TOKEN_INFO)).unwrap();
    let label = info.label.unwrap();
    assert_eq!(label.len(), 254);
    assert_eq!(label, "é".repeat(127));
}

proptest! {
    #[test]
    fn layout_never_panics(
        serial in any::<String>(),
        label in any::<String>(),
        manufacturer in ".{0,300}",
        key_label in ".{0,300}",
        ca_label in any::<String>(),
    ) {
        let t = TokenSpec { serial: serial.clone(), label: label.clone(), manufacturer };
        let mut ks = keys();
        ks[0].label = key_label;
        let layout = pkcs15::layout(&t, &pins(), &ks, &[(ca_label, fake_cert(9))]);
        let info = asn1::TokenInfo::from_der(&app_file(&layout, EF_TOKEN_INFO)).unwrap();
        let got = info.label.unwrap();
        prop_assert!(got.len() <= pkcs15::MAX_LABEL_BYTES);
        prop_assert!(label.starts_with(&got));
        let stored = info.serial_number.unwrap().as_bytes().to_vec();
        prop_assert_eq!(stored, pkcs15::serial_octets(&serial));
        let _: Vec<asn1::PrivateKeyChoice> = decode_all(&app_file(&layout, EF_PRKDF));
        let _: Vec<asn1::PublicKeyChoice> = decode_all(&app_file(&layout, EF_PUKDF));
        let _: Vec<asn1::CertificateObject> = decode_all(&app_file(&layout, EF_CDF));
    }
}

/// An `openssl asn1parse`-like dump: one line per TLV, nested by depth, with the raw tag byte,
/// the length and, for primitives, the value in hex (and as text when printable).
fn dump(bytes: &[u8]) -> String {
    fn walk(mut b: &[u8], depth: usize, out: &mut String) {
        while !b.is_empty() {
            let tag = b[0];
            let (len, hdr) = match b[1] {
                n if n < 0x80 => (n as usize, 2),
                0x81 => (b[2] as usize, 3),
                0x82 => (((b[2] as usize) << 8) | b[3] as usize, 4),
                other => panic!("length form {other:02X} not expected in card files"),
            };
            let value = &b[hdr..hdr + len];
            let name = match tag {
                0x01 => "BOOLEAN",
                0x02 => "INTEGER",
                0x03 => "BIT STRING",
                0x04 => "OCTET STRING",
                0x06 => "OBJECT",
                0x0A => "ENUMERATED",
                0x0C => "UTF8String",
                0x30 => "SEQUENCE",
                t if t & 0xC0 == 0x80 => "[context]",
                t if t & 0xC0 == 0x40 => "[application]",
                _ => "?",
            };
            out.push_str(&format!("{}{tag:02X} {name} l={len}", "  ".repeat(depth)));
            if tag & 0x20 != 0 {
                out.push('\n');
                walk(value, depth + 1, out);
            } else {
                out.push_str(&format!(": {}", hex::encode_upper(value)));
                let text_like = value.len() > 2 && value.iter().all(|c| c.is_ascii_graphic() || *c == b' ');
                if tag == 0x0C || (tag & 0xC0 != 0 && text_like) {
                    out.push_str(&format!(" \"{}\"", String::from_utf8_lossy(value)));
                }
                out.push('\n');
            }
            b = &b[hdr + len..];
        }
    }
    let mut out = String::new();
    walk(bytes, 0, &mut out);
    out
}

#[test]
fn snapshot_of_the_pkcs15_files() {
    let layout = full_layout();
    let mut text = String::new();
    for (name, path) in [
        ("EF.DIR 3F00/2F00", vec![EF_DIR]),
        ("ODF 5015/5031", vec![DF_PKCS15, EF_ODF]),
        ("TokenInfo 5015/5032", vec![DF_PKCS15, EF_TOKEN_INFO]),
        ("AODF 5015/4401", vec![DF_PKCS15, EF_AODF]),
        ("PrKDF 5015/4402", vec![DF_PKCS15, EF_PRKDF]),
        ("PuKDF 5015/4403", vec![DF_PKCS15, EF_PUKDF]),
        ("CDF 5015/4404", vec![DF_PKCS15, EF_CDF]),
    ] {
        let content = &layout.file(&path).unwrap().content;
        text.push_str(&format!("== {name} ({} bytes)\n", content.len()));
        text.push_str(&dump(content));
    }
    insta::assert_snapshot!(text);
}
