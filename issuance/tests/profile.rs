//! The five fixture profiles load, and every broken variant is refused with a message that
//! names the file and the field.

use std::path::{Path, PathBuf};

use fixtures::format::{FixtureError, FixtureErrorKind};
use issuance::pki::{HolderType, OidCa};
use issuance::profile::{self, CardKind, KeySource, PROFILE_NAMES, ProfileError, check_atr, load};

const UZI_ATR: [u8; 22] = [
    0x3B, 0xDC, 0x18, 0xFF, 0x81, 0x91, 0xFE, 0x1F, 0xC3, 0x06, 0x0A, 0x2B, 0x06, 0x01, 0x04, 0x01, 0xE9, 0x10, 0x05,
    0x02, 0x03, 0xD1,
];

#[test]
fn all_five_profiles_load() {
    for name in PROFILE_NAMES {
        let p = load(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(p.name, name);
        assert_eq!(p.pin.value, "123456", "{name}: test PIN");
        assert_eq!(p.puk.value, "12345678", "{name}: test PUK");
        assert!(check_atr(&p.atr).is_ok());
        assert!(p.serial.len() <= 16);
    }
}

#[test]
fn profile_contents() {
    let z = load("uzi-zorgverlener").unwrap();
    assert_eq!(z.kind, CardKind::Uzi(HolderType::Z));
    assert_eq!(z.atr, UZI_ATR);
    assert_eq!(z.key_source, KeySource::Injected);
    assert_eq!(z.keys, [1, 2, 3]);
    let h = z.holder.unwrap();
    assert!(h.uzi_number.starts_with("9000"));
    assert!(h.title.is_some());

    let n = load("uzi-medewerker").unwrap();
    assert_eq!(n.kind, CardKind::Uzi(HolderType::N));
    assert_eq!(n.keys, [1, 2, 3]);

    let m = load("uzi-medewerker-niet-op-naam").unwrap();
    assert_eq!(m.kind, CardKind::Uzi(HolderType::M));
    assert_eq!(m.keys, [1, 3]);
    let h = m.holder.unwrap();
    assert!(h.given_name.is_none() && h.surname.is_none() && h.title.is_none());

    let zid = load("zorg-id").unwrap();
    assert_eq!(zid.kind, CardKind::ZorgId);
    assert_eq!(zid.key_source, KeySource::OnCard);
    assert_eq!(&zid.atr[4..16], b"ZORG-ID TEST");

    let blank = load("zorg-id-blank").unwrap();
    assert!(!blank.personalised);
    assert!(blank.keys.is_empty());
    assert!(blank.holder.is_none());
}

#[test]
fn load_by_path_and_unknown_name() {
    let path = profile::profile_path("zorg-id");
    let p = load(path.to_str().unwrap()).unwrap();
    assert_eq!(p.name, "zorg-id");

    let e = load("no-such-card").unwrap_err();
    assert!(matches!(e, ProfileError::UnknownName { .. }));
    assert!(e.to_string().contains("uzi-zorgverlener"), "{e}");

    let missing = load("/nonexistent/dir/x.toml").unwrap_err();
    let ProfileError::Fixture(FixtureError { kind, .. }) = &missing else { panic!("not a file error: {missing}") };
    assert!(matches!(**kind, FixtureErrorKind::Io(_)), "{missing}");
    assert!(missing.to_string().contains("/nonexistent/dir/x.toml"), "{missing}");
}

#[test]
fn fixture_errors_name_embedded_files_as_embedded() {
    let dir = fixtures::active().folder(fixtures::FixtureKind::Profile);
    let e = profile::parse("x", &dir.join("x.toml"), "format = 1\ndescription = \"\"\n").unwrap_err();
    assert!(e.to_string().starts_with("profile `fixtures/profiles/x.toml (embedded)`: "), "{e}");
}

/// Write `text` to a temp file, load it, check the error names the file and `field`, and
/// check the file is unchanged afterwards.
fn broken(file_name: &str, text: &str, field: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = dir.path().join(file_name);
    std::fs::write(&path, text).unwrap();
    let err = load(path.to_str().unwrap()).expect_err("the broken profile must be refused");
    let msg = err.to_string();
    assert!(msg.contains(path.to_str().unwrap()), "no path in: {msg}");
    assert!(msg.contains(field), "no `{field}` in: {msg}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text, "the file changed");
    msg
}

fn fixture_text(name: &str) -> String {
    fixtures::read_to_string(&profile::profile_path(name)).unwrap()
}

fn replace(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "fixture has no `{from}`");
    text.replacen(from, to, 1)
}

#[test]
fn truncated_file() {
    let text = fixture_text("uzi-zorgverlener");
    let cut = &text[..text.find("[pin]").unwrap() + 10]; // "[pin]\nvalu"
    let last_line = cut.lines().count();
    let msg = broken("truncated.toml", cut, "line ");
    assert!(msg.contains(&format!("line {last_line}, column 5")), "{msg}");
}

#[test]
fn garbage_file() {
    let msg = broken("garbage.toml", "format = 1\n\u{0}\u{1}PK\u{3}\u{4} ]]]", "line 2");
    assert!(msg.contains("column"), "{msg}");
}

#[test]
fn wrong_tck() {
    let text = replace(&fixture_text("uzi-zorgverlener"), "02 03 D1\"", "02 03 12\"");
    let msg = broken("wrong-tck.toml", &text, "field `atr`");
    assert!(msg.contains("TCK byte is 0x12 but the XOR of T0..last is 0xD1"), "{msg}");
}

#[test]
fn wrong_historical_count_and_ts() {
    let text = replace(&fixture_text("zorg-id"), "3B 8C 80 01", "3B 8D 80 01");
    broken("count.toml", &text, "field `atr`");
    let text = replace(&fixture_text("zorg-id"), "3B 8C 80 01", "3A 8C 80 01");
    let msg = broken("ts.toml", &text, "field `atr`");
    assert!(msg.contains("TS is 0x3A"), "{msg}");
}

#[test]
fn five_digit_puk() {
    let text = replace(&fixture_text("uzi-zorgverlener"), "value = \"12345678\"", "value = \"12345\"");
    broken("short-puk.toml", &text, "field `puk.value`");
}

#[test]
fn puk_with_letters_and_puk_policy_below_six() {
    let text = replace(&fixture_text("uzi-zorgverlener"), "value = \"12345678\"", "value = \"1234567A\"");
    broken("puk-letters.toml", &text, "field `puk.value`");
    let text = replace(&fixture_text("uzi-zorgverlener"), "min_len = 6\nmax_len = 16", "min_len = 5\nmax_len = 16");
    broken("puk-policy.toml", &text, "field `puk.min_len`");
}

#[test]
fn pin_outside_its_own_policy() {
    let text = replace(&fixture_text("zorg-id"), "value = \"123456\"", "value = \"123456789\"");
    broken("long-pin.toml", &text, "field `pin.value`");
}

#[test]
fn m_card_with_signature_key() {
    let text = replace(&fixture_text("uzi-medewerker-niet-op-naam"), "keys = [1, 3]", "keys = [1, 2, 3]");
    let msg = broken("m-sign.toml", &text, "field `keys`");
    assert!(msg.contains("no signature key"), "{msg}");
}

#[test]
fn m_card_with_a_name() {
    let text = replace(
        &fixture_text("uzi-medewerker-niet-op-naam"),
        "common_name = ",
        "given_name = \"Piet\"\ncommon_name = ",
    );
    broken("m-name.toml", &text, "field `holder.given_name`");
}

#[test]
fn z_card_needs_a_title() {
    let text = replace(&fixture_text("uzi-zorgverlener"), "title = \"Huisarts\"\n", "");
    broken("z-title.toml", &text, "field `holder.title`");
}

#[test]
fn holder_number_formats() {
    let z = fixture_text("uzi-zorgverlener");
    broken("uzi.toml", &replace(&z, "\"900016528\"", "\"90001652\""), "field `holder.uzi_number`");
    broken("role.toml", &replace(&z, "\"01.015\"", "\"01015\""), "field `holder.role`");
    broken("agb.toml", &replace(&z, "\"90000015\"", "\"9000001X\""), "field `holder.agb_code`");
    broken("ura.toml", &replace(&z, "\"90000001\"", "\"900000001\""), "field `holder.subscriber_number`");
}

#[test]
fn serial_too_long() {
    let text = replace(&fixture_text("zorg-id"), "\"9100000000000001\"", "\"91000000000000011\"");
    broken("serial.toml", &text, "field `serial`");
}

#[test]
fn uzi_keys_are_injected() {
    let text = replace(&fixture_text("uzi-medewerker"), "key_source = \"injected\"", "key_source = \"on-card\"");
    broken("source.toml", &text, "field `key_source`");
}

#[test]
fn unknown_field() {
    let text = replace(&fixture_text("zorg-id"), "serial = ", "colour = \"blue\"\nserial = ");
    let line = text[..text.find("colour").unwrap()].lines().count() + 1;
    let msg = broken("unknown.toml", &text, "colour");
    assert!(msg.contains("unknown field"), "{msg}");
    assert!(msg.contains(&format!("line {line}, column 1")), "{msg}");

    let text = replace(&fixture_text("zorg-id"), "agb_code = ", "big_number = \"1\"\nagb_code = ");
    broken("unknown-holder.toml", &text, "big_number");
}

#[test]
fn unsupported_and_missing_format() {
    let text = replace(&fixture_text("zorg-id"), "format = 1", "format = 2");
    let msg = broken("v2.toml", &text, "field `format`");
    assert!(msg.contains("format 2 is not supported"), "{msg}");

    // A newer file with new fields still says "format", not "unknown field".
    let text = format!("{text}\n[extra]\nthing = 1\n");
    broken("v2-extra.toml", &text, "field `format`");

    let text = replace(&fixture_text("zorg-id"), "format = 1\n", "");
    broken("no-format.toml", &text, "field `format`");
}

#[test]
fn blank_card_has_no_holder() {
    let text = fixture_text("zorg-id-blank");
    let text = format!(
        "{text}\n[holder]\nuzi_number = \"900016531\"\ngiven_name = \"A\"\nsurname = \"B\"\ncommon_name = \"A B\"\norganisation = \"O\"\nsubscriber_number = \"90000002\"\nrole = \"30.000\"\nagb_code = \"00000000\"\n"
    );
    broken("blank-holder.toml", &text, "field `holder`");
}

#[test]
fn atr_checks() {
    assert!(check_atr(&UZI_ATR).is_ok());
    // T=0 only: no TCK.
    assert!(check_atr(&[0x3B, 0x02, 0x14, 0x50]).is_ok());
    assert!(check_atr(&[0x3B, 0x02, 0x14, 0x50, 0x00]).unwrap_err().contains("no TCK"));
    assert!(check_atr(&[]).is_err());
    assert!(check_atr(&[0x3B]).unwrap_err().contains("T0"));
    assert!(check_atr(&[0x3B, 0x80]).unwrap_err().contains("TD1"));
}

#[test]
fn shipped_fixtures_are_not_modified_by_loading() {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/profiles");
    for name in PROFILE_NAMES {
        let path = source.join(format!("{name}.toml"));
        let before = std::fs::read(&path).unwrap();
        load(path.to_str().unwrap()).unwrap();
        assert_eq!(std::fs::read(Path::new(&path)).unwrap(), before);
    }
}

#[test]
fn oid_ca_is_test_unless_the_profile_says_production() {
    for name in PROFILE_NAMES {
        assert_eq!(load(name).unwrap().oid_ca, OidCa::Test, "{name}");
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("uzi-production.toml");
    let text = replace(&fixture_text("uzi-zorgverlener"), "oid_ca = \"test\"", "oid_ca = \"production\"");
    std::fs::write(&path, text).unwrap();
    assert_eq!(load(path.to_str().unwrap()).unwrap().oid_ca, OidCa::Production);
    let zorg_id = replace(&fixture_text("zorg-id"), "personalised = ", "oid_ca = \"production\"\npersonalised = ");
    let msg = broken("zorg-id-production.toml", &zorg_id, "oid_ca");
    assert!(msg.contains("2.16.528.1.1007.99.400"), "{msg}");
}
