use super::*;

fn none(_: &str) -> bool {
    false
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn card_profile_alone_is_a_fresh_card() {
    assert_eq!(parse_card("uzi-zorgverlener", &none), Ok((Some("uzi-zorgverlener".into()), None)));
    assert_eq!(parse_card("my/profile.toml", &none), Ok((Some("my/profile.toml".into()), None)));
}

#[test]
fn card_profile_and_file_split_at_the_first_colon() {
    assert_eq!(
        parse_card("zorg-id:/tmp/b:c.card", &none),
        Ok((Some("zorg-id".into()), Some(PathBuf::from("/tmp/b:c.card"))))
    );
}

#[test]
fn card_existing_image_alone_is_the_older_spelling() {
    let exists = |p: &str| p == "alice.card";
    assert_eq!(parse_card("alice.card", &exists), Ok((None, Some(PathBuf::from("alice.card")))));
}

#[test]
fn bad_card_values_name_the_argument_and_the_fix() {
    for (value, fix) in [
        ("", "PROFILE is empty"),
        (":x.card", "PROFILE is empty"),
        ("zorg-id:", "FILE is empty"),
        ("nonsense:x.card", "`nonsense` is not a profile"),
        ("alice.card", "--card uzi-zorgverlener:alice.card"),
    ] {
        let err = parse_card(value, &none).unwrap_err().to_string();
        assert!(err.starts_with(&format!("`--card {value}`")), "{value}: {err}");
        assert!(err.contains(fix), "{value}: {err}");
    }
}

#[test]
fn sixteen_cards_fill_slots_0_to_15() {
    let cards: Vec<String> = (0..16).map(|i| if i % 2 == 0 { "uzi-zorgverlener" } else { "zorg-id" }.into()).collect();
    let planned = plan(&[], &cards, 0, Rollback::Refuse, &none).unwrap();
    assert_eq!(planned.iter().map(|(n, _)| *n).collect::<Vec<_>>(), (0..16).collect::<Vec<_>>());
    assert_eq!(planned[15].1.profile.as_deref(), Some("zorg-id"));
    assert_eq!(planned[14].1.profile.as_deref(), Some("uzi-zorgverlener"));
}

#[test]
fn a_seventeenth_card_is_refused() {
    let cards = vec!["zorg-id".to_string(); 17];
    let err = plan(&[], &cards, 0, Rollback::Refuse, &none).unwrap_err();
    assert_eq!(err, SlotsError::TooManySlots { first: 0, count: 17 });
    assert!(err.to_string().contains("serve at most 16 cards from slot 0"), "{err}");
    let err = plan(&[], &cards[..3], 14, Rollback::Refuse, &none).unwrap_err();
    assert!(err.to_string().contains("need slots up to 16") && err.to_string().contains("at most 2"), "{err}");
}

#[test]
fn slots_count_from_the_first_slot() {
    let planned = plan(&[], &strings(&["zorg-id", "zorg-id:b.card"]), 3, Rollback::Accept, &none).unwrap();
    assert_eq!(planned[0].0, 3);
    assert_eq!(planned[1].0, 4);
    assert_eq!(planned[1].1.card, Some(PathBuf::from("b.card")));
    assert_eq!(planned[1].1.rollback, Rollback::Accept);
}

#[test]
fn older_profile_and_card_pairs_still_line_up_by_position() {
    let planned =
        plan(&strings(&["uzi-medewerker", "zorg-id"]), &strings(&["a.card"]), 0, Rollback::Refuse, &none).unwrap();
    assert_eq!(planned.len(), 2);
    assert_eq!(planned[0].1.profile.as_deref(), Some("uzi-medewerker"));
    assert_eq!(planned[0].1.card, Some(PathBuf::from("a.card")));
    assert_eq!(planned[1].1.card, None);
}

#[test]
fn mixing_the_spellings_is_refused() {
    let err = plan(&strings(&["zorg-id"]), &strings(&["zorg-id:a.card"]), 0, Rollback::Refuse, &none).unwrap_err();
    assert!(matches!(err, SlotsError::MixedSpellings { .. }), "{err}");
}

#[test]
fn no_card_and_one_image_twice_are_refused() {
    assert_eq!(plan(&[], &[], 0, Rollback::Refuse, &none), Err(SlotsError::NoCards));
    let err = plan(&[], &strings(&["zorg-id:a.card", "zorg-id:a.card"]), 2, Rollback::Refuse, &none).unwrap_err();
    assert_eq!(err, SlotsError::SameImage { path: "a.card".into(), first: 2, second: 3 });
}

#[test]
fn duplicate_serials_are_found() {
    assert_eq!(duplicate_serial([(0, "A"), (1, "B"), (2, "C")]), None);
    assert_eq!(duplicate_serial([(0, "A"), (1, "B"), (5, "A")]), Some((0, 5, "A".into())));
}
