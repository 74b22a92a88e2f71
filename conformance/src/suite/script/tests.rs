//! Unit tests of the script format.

use super::vars::{new_pin, wrong_value};
use super::*;

#[test]
fn sw_patterns() {
    let p = SwPattern::parse("61xx").unwrap_or(SwPattern::OK);
    assert!(p.matches(Status::MoreAvailable(0x10)) && !p.matches(Status::WrongLe(0x10)));
    assert_eq!(p.to_string(), "61xx");
    assert_eq!(SwPattern::parse("63 c2").and_then(|p| p.as_exact()), Some(Status::RemainingRetries(2)));
    assert!(SwPattern::parse("900").is_none());
}

#[test]
fn data_patterns() {
    let p = DataPattern::parse("7F 49 .. 86 *").unwrap_or(DataPattern(vec![]));
    assert!(p.matches(&[0x7F, 0x49, 0x43, 0x86]));
    assert!(p.matches(&[0x7F, 0x49, 0x43, 0x86, 1, 2, 3]));
    assert!(!p.matches(&[0x7F, 0x49, 0x43]));
    let q = DataPattern::parse("* 90").unwrap_or(DataPattern(vec![]));
    assert!(q.matches(&[1, 2, 0x90]) && !q.matches(&[0x90, 1]));
    assert!(DataPattern::parse("0G").is_err());
}

#[test]
fn variables_expand_per_field() {
    let v = Vars::sample();
    assert_eq!(v.expand("00 20 00 01 ${PIN_LEN} ${PIN}", Field::Hex).as_deref(), Ok("00 20 00 01 06 313233343536"));
    assert_eq!(v.expand("${WRONG_PIN}", Field::Text).as_deref(), Ok("123457"));
    assert!(v.expand("${NOPE}", Field::Hex).is_err());
    assert_eq!(format!("{v:?}"), "Vars { profile: \"(sample)\", values: *** }");
}

#[test]
fn key_type_selectors() {
    assert_eq!(Selector::parse("rsa-key:1"), Some(Selector::RsaKey(1)));
    assert_eq!(Selector::parse("p256-key:3"), Some(Selector::P256Key(3)));
    assert_eq!(Selector::parse("decipher"), Some(Selector::Decipher));
    assert_eq!(Selector::parse("rsa-key:4"), None);
    assert_eq!(Selector::parse("p256-key:"), None);

    let Ok(mut m) = issuance::profile::load("uzi-medewerker-niet-op-naam") else { panic!("shipped profile") };
    assert!(Selector::RsaKey(1).matches(&m) && Selector::Decipher.matches(&m));
    assert!(!Selector::RsaKey(2).matches(&m), "an M card has no key 02");
    m.key_types = vec![KeyType::Rsa2048, KeyType::P256];
    assert!(Selector::P256Key(3).matches(&m) && !Selector::Decipher.matches(&m));
    let Ok(blank) = issuance::profile::load("zorg-id-blank") else { panic!("shipped profile") };
    assert!(!Selector::RsaKey(1).matches(&blank) && !Selector::P256Key(1).matches(&blank));
}

fn one_step(body: &str) -> Result<Step, ScriptError> {
    let text = format!("format = 1\nname = \"t\"\ndescription = \"d\"\napplies_to = [\"all\"]\n\n[[step]]\n{body}\n");
    parse(Path::new("t.toml"), &text).map(|s| s.steps[0].clone())
}

fn action(body: &str) -> Option<Action> {
    one_step(body).ok().map(|s| s.action)
}

fn refusal(body: &str) -> String {
    one_step(body).err().map(|e| e.to_string()).unwrap_or_default()
}

#[test]
fn sign_hash_prefixes() {
    assert_eq!(
        action("sign = { key = 1, hash = \"sha384:x\" }"),
        Some(Action::Sign { key: 1, hash: HashInput::Of { alg: HashAlg::Sha384, text: "x".into() } })
    );
    assert_eq!(
        action("sign = { key = 2, hash = \"hex:0102\" }"),
        Some(Action::Sign { key: 2, hash: HashInput::Raw(vec![1, 2]) })
    );
    assert!(refusal("sign = { key = 1, hash = \"sha3:x\" }").contains("no `sha1:`"));
    let label = one_step("sign = { key = 1, hash = \"sha1:t\" }").map(|s| s.label).unwrap_or_default();
    assert_eq!(label, "SIGN key 1 sha1:t");
}

#[test]
fn decipher_and_public_key_steps() {
    assert_eq!(
        action("decipher = { key = 3, secret = \"geheim\" }"),
        Some(Action::Decipher { key: 3, input: DecipherInput::Secret("geheim".into()), mse: true, chained: false })
    );
    assert_eq!(
        action("decipher = { key = 3, cryptogram = \"bad-padding\", mse = false, chained = true }"),
        Some(Action::Decipher { key: 3, input: DecipherInput::BadPadding, mse: false, chained: true })
    );
    assert_eq!(
        action("decipher = { key = 3, cryptogram = \"hex:00 11\" }").map(|a| matches!(
            a,
            Action::Decipher { input: DecipherInput::Raw(b), .. } if b == [0x00, 0x11]
        )),
        Some(true)
    );
    assert!(refusal("decipher = { key = 3, secret = \"a\", cryptogram = \"modulus\" }").contains("exactly one"));
    assert!(refusal("decipher = { key = 3 }").contains("exactly one"));
    assert!(refusal(&format!("decipher = {{ key = 3, secret = \"{}\" }}", "x".repeat(246))).contains("at most 245"));
    assert!(refusal("decipher = { key = 4, secret = \"a\" }").contains("not a key reference"));
    assert!(refusal("decipher = { key = 3, cryptogram = \"random\" }").contains("not a choice"));
    assert!(refusal("decipher = { key = 3, secret = \"a\" }\nexpect_len = 3").contains("no answer data"));

    assert_eq!(action("public_key = 2\nexpect_data = \"7F 49 *\""), Some(Action::PublicKey(2)));
    assert!(refusal("public_key = 0").contains("not a key reference"));
}

#[test]
fn wrong_and_new_values_differ() {
    assert_eq!(wrong_value("123459"), "123450");
    assert_ne!(new_pin("975318", 6, 8), "975318");
    assert_eq!(new_pin("1234", 6, 8).len(), 6);
}
