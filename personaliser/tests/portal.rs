//! The portal registry (seeds: *Registreren organisatie* and *ZORG-ID Smartcard*): roles, persistence, and blocking and
//! revoking a real (simulated) ZORG-ID Smartcard made by the reference personaliser.

use std::path::{Path, PathBuf};

use issuance::card_new::{NewCardOptions, new_card};
use issuance::pki::TestPki;
use issuance::profile;
use personaliser::{GivenEntry, IssuedCard, PersonaliseOptions, personalise};
use portal::{
    self, CardAccess, CardStatus, PortalAction, PortalCommand, PortalError, PortalGate, Refusal, Registry,
    apply_pending, portal_run,
};
use reader_sim::reader::{InProcessReader, Transmit};

const ADMIN: &str = "900016528";
const WORKER: &str = "900016529";
const BEHEERDER: &str = "900016540";
const STRANGER: &str = "900016599";
const NOW: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z
const NEW_PIN: &str = "24681357";

fn cmd(registry: &Path, actor: &str, action: PortalAction) -> PortalCommand {
    PortalCommand { registry: registry.into(), actor: actor.into(), action }
}

fn ok(registry: &Path, actor: &str, action: PortalAction) -> String {
    portal_run(&cmd(registry, actor, action), NOW).unwrap()
}

fn refusal(registry: &Path, actor: &str, action: PortalAction) -> Refusal {
    match portal_run(&cmd(registry, actor, action), NOW) {
        Err(PortalError::Refused { database, refusal }) => {
            assert_eq!(database, registry.into());
            refusal
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn register(registry: &Path) {
    ok(
        registry,
        ADMIN,
        PortalAction::Register { organisation: "Test Zorginstelling 01".into(), ura: "90000001".into() },
    );
}

/// A ZORG-ID Smartcard made by the personaliser from the fixture UZI-medewerkerspas (holder `WORKER`), powered in
/// its reader, and recorded in the registry.
fn issued_card(registry: &Path) -> (InProcessReader, IssuedCard) {
    let pki = TestPki::fixtures().unwrap();
    let zorg_id = profile::load("zorg-id").unwrap();
    let make = |name: &str| {
        let p = profile::load(name).unwrap();
        let mut r = InProcessReader::with_card(new_card(&p, &pki, &NewCardOptions::default()).unwrap().card);
        r.power_on().unwrap();
        r
    };
    let (mut uzi, mut blank) = (make("uzi-medewerker"), make("zorg-id-blank"));
    let mut entry = GivenEntry::new("123456", "1990-05-17", NEW_PIN, NEW_PIN);
    let outcome = personalise(&mut uzi, &mut blank, &mut entry, &PersonaliseOptions::new(&pki, &zorg_id)).unwrap();
    portal::record_issued(registry, &outcome.card).unwrap();
    (blank, outcome.card)
}

fn sw(reader: &mut dyn Transmit, apdu: &[u8]) -> u16 {
    let r = reader.transmit(apdu).unwrap();
    u16::from_be_bytes([r[r.len() - 2], r[r.len() - 1]])
}

fn verify(reader: &mut dyn Transmit, pin: &str) -> u16 {
    let mut apdu = vec![0x00, 0x20, 0x00, 0x01, pin.len() as u8];
    apdu.extend_from_slice(pin.as_bytes());
    sw(reader, &apdu)
}

fn get_data(reader: &mut dyn Transmit, tag: u8) -> Vec<u8> {
    let r = reader.transmit(&[0x00, 0xCA, 0xDF, tag, 0x00]).unwrap();
    assert_eq!(r[r.len() - 2..], [0x90, 0x00]);
    r[..r.len() - 2].to_vec()
}

/// The registry as the database holds it now.
fn stored(db: &Path) -> Registry {
    portal::Store::open(db).unwrap().registry().unwrap()
}

fn temp_registry() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("portal.db");
    (dir, path)
}

#[test]
fn roles_follow_the_seeds() {
    let (_dir, reg) = temp_registry();
    register(&reg);
    let (_card, issued) = issued_card(&reg);
    let serial = issued.serial.clone();
    let block = || PortalAction::Block { serial: serial.clone() };

    // An organisation registers once.
    let r = refusal(&reg, STRANGER, PortalAction::Register { organisation: "Other".into(), ura: "90000001".into() });
    assert!(r.to_string().contains("registered already, with administrator `900016528`"), "{r}");

    // Only the administrator appoints beheerders.
    let r = refusal(&reg, WORKER, PortalAction::Appoint { beheerder: BEHEERDER.into(), ura: None });
    assert!(matches!(r, Refusal::Denied { .. }), "{r}");
    assert!(r.to_string().contains("only the administrator"), "{r}");
    ok(&reg, ADMIN, PortalAction::Appoint { beheerder: BEHEERDER.into(), ura: None });
    let r = refusal(&reg, BEHEERDER, PortalAction::Appoint { beheerder: STRANGER.into(), ura: None });
    assert!(matches!(r, Refusal::Denied { .. }), "a beheerder does not appoint: {r}");

    // A worker sees their own card, cannot block it; a stranger sees nothing.
    let own = ok(&reg, WORKER, PortalAction::View { serial: None });
    assert!(own.contains("1 card(s) visible to `900016529` (worker: own cards only)"), "{own}");
    assert!(own.contains(&serial));
    let detail = ok(&reg, WORKER, PortalAction::View { serial: Some(serial.clone()) });
    assert!(detail.contains("holder        Marieke Proef (UZI 900016529), born 1990-05-17"), "{detail}");
    let r = refusal(&reg, WORKER, block());
    assert!(r.to_string().contains("only the administrator or a beheerder"), "{r}");
    let none = ok(&reg, STRANGER, PortalAction::View { serial: None });
    assert!(none.starts_with("0 card(s) visible"), "{none}");
    assert!(matches!(refusal(&reg, STRANGER, block()), Refusal::UnknownCard { .. }));
    assert!(matches!(
        refusal(&reg, STRANGER, PortalAction::View { serial: Some(serial.clone()) }),
        Refusal::UnknownCard { .. }
    ));

    // A beheerder blocks and unblocks, the administrator too.
    assert!(ok(&reg, BEHEERDER, block()).contains("blocked"));
    assert!(matches!(refusal(&reg, ADMIN, block()), Refusal::Status { status: CardStatus::Blocked, .. }));
    ok(&reg, ADMIN, PortalAction::Unblock { serial: serial.clone() });
    let listing = ok(&reg, BEHEERDER, PortalAction::View { serial: None });
    assert!(listing.contains("beheerder of Test Zorginstelling 01"), "{listing}");

    // The holder revokes their own card (seed: *ZORG-ID Smartcard*, "Eigen beheer"); revocation is final.
    assert!(ok(&reg, WORKER, PortalAction::Revoke { serial: serial.clone() }).contains("revoked"));
    let r = refusal(&reg, ADMIN, PortalAction::Unblock { serial: serial.clone() });
    assert!(r.to_string().contains("revocation is final"), "{r}");
    let registry = stored(&reg);
    let card = registry.card(&serial).unwrap();
    assert_eq!(card.status, CardStatus::Revoked);
    assert_eq!(card.revoked_at.as_deref(), Some("2026-01-01T00:00:00Z"));
    assert_eq!(registry.revoked_entries().len(), 3);
    let events: Vec<&str> = card.events.iter().map(|e| e.split_once(' ').unwrap().1).collect();
    assert_eq!(
        events[1..],
        ["900016540 blocked", "900016528 unblocked", "900016529 revoked"],
        "every decision is in the card's history"
    );
}

#[test]
fn the_database_or_file_is_named_in_every_error() {
    let (dir, reg) = temp_registry();
    let err = portal_run(&cmd(&reg, ADMIN, PortalAction::View { serial: None }), NOW).unwrap_err();
    assert!(matches!(err, PortalError::Store(portal::StoreError::NotFound { .. })), "{err}");
    assert!(err.to_string().contains(&reg.display().to_string()), "{err}");
    assert!(err.to_string().contains("zorgcard portal register"), "{err}");
    assert!(!reg.exists(), "viewing creates no registry");

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "format = 1\n[[cards]]\nserial = 7\n").unwrap();
    let err = Registry::load(&bad).unwrap_err();
    assert!(err.to_string().starts_with(&format!("TOML registry `{}` is not valid", bad.display())), "{err}");

    let newer = dir.path().join("newer.toml");
    std::fs::write(&newer, "format = 2\n").unwrap();
    let err = Registry::load(&newer).unwrap_err();
    assert!(err.to_string().contains("format 2 (this zorgcard reads format 1)"), "{err}");

    let r = refusal(&reg, "12", PortalAction::Register { organisation: "X".into(), ura: "90000001".into() });
    assert!(r.to_string().contains("not a UZI number"), "{r}");
    let r = refusal(&reg, ADMIN, PortalAction::Register { organisation: "X".into(), ura: "9000".into() });
    assert!(r.to_string().contains("not 8 digits"), "{r}");
}

#[test]
fn the_registry_is_stored_whole_without_secrets() {
    let (dir, reg) = temp_registry();
    register(&reg);
    let (_card, issued) = issued_card(&reg);
    // The database keeps the issued card whole, and no secret.
    let loaded = stored(&reg);
    assert_eq!(loaded.card(&issued.serial).unwrap().issued, issued, "the record holds the issued card whole");
    for file in [reg.clone(), reg.with_extension("db-wal")] {
        let bytes = std::fs::read(&file).unwrap_or_default();
        assert!(!bytes.windows(NEW_PIN.len()).any(|w| w == NEW_PIN.as_bytes()), "{} holds the PIN", file.display());
    }
    // Its TOML form (what `portal import-toml` reads) round-trips too.
    let toml_file = dir.path().join("portal.toml");
    loaded.save(&toml_file).unwrap();
    let text = std::fs::read_to_string(&toml_file).unwrap();
    assert!(text.contains(&format!("serial = \"{}\"", issued.serial)), "{text}");
    assert!(text.contains("status = \"active\""), "{text}");
    assert!(!text.contains(NEW_PIN));
    // The issued card's times are RFC 3339 in the file (registry format 1) and Unix seconds in memory.
    assert!(text.contains("valid_from = \"20"), "{text}");
    assert_eq!(Registry::load(&toml_file).unwrap(), loaded);
    // A key the format does not have is refused, naming the card and the key (the card table is flattened).
    let typo = dir.path().join("typo.toml");
    std::fs::write(&typo, text.replacen("status = \"active\"", "status = \"active\"\nstatsu = \"blocked\"", 1))
        .unwrap();
    let err = Registry::load(&typo).unwrap_err().to_string();
    assert!(err.contains(&format!("card `{}` has an unknown field `statsu`", issued.serial)), "{err}");
    // A TOML registry given where the database is expected names the fix.
    let err = portal::record_issued(&toml_file, &issued).unwrap_err().to_string();
    assert!(err.contains("zorgcard portal import-toml"), "{err}");
    // A card cannot be recorded twice, nor for an unregistered organisation.
    let err = portal::record_issued(&reg, &issued).unwrap_err();
    assert!(err.to_string().contains("is recorded already"), "{err}");
    let mut other = issued.clone();
    other.serial = "9100000000000099".into();
    other.subscriber_number = "90000077".into();
    let err = portal::record_issued(&reg, &other).unwrap_err();
    assert!(err.to_string().contains("URA 90000077"), "{err}");
}

#[test]
fn block_and_unblock_take_effect_at_the_next_use() {
    let (_dir, reg) = temp_registry();
    register(&reg);
    let (card, issued) = issued_card(&reg);
    let serial = issued.serial.clone();
    let mut gate = PortalGate::new(card, &reg, &serial);
    assert_eq!(verify(&mut gate, NEW_PIN), 0x9000);

    ok(&reg, ADMIN, PortalAction::Block { serial: serial.clone() });
    assert_eq!(apply_pending(&reg, &serial, gate.inner_mut()).unwrap(), CardAccess::Blocked);
    // Every use is refused without reaching the chip: no PIN try spent, the PUK cannot undo it.
    assert_eq!(verify(&mut gate, NEW_PIN), 0x6985);
    assert_eq!(verify(&mut gate, "00000000"), 0x6985);
    assert_eq!(get_data(&mut gate, 0x33), [3, 3, 3, 3]);
    assert_eq!(sw(&mut gate, &[0x00, 0x2C, 0x01, 0x01, 0x08, b'1', b'2', b'3', b'4', b'5', b'6', b'7', b'8']), 0x6985);
    assert_eq!(sw(&mut gate, &[0x00, 0x88, 0x00, 0x01, 0x04, 1, 2, 3, 4, 0x00]), 0x6985);
    // Reading still works: an application can show whose card it is.
    assert_eq!(sw(&mut gate, &[0x00, 0xA4, 0x08, 0x0C, 0x04, 0x50, 0x15, 0x43, 0x01]), 0x9000);
    assert_eq!(get_data(&mut gate, 0x31), [0x05], "the chip itself is untouched");

    ok(&reg, ADMIN, PortalAction::Unblock { serial: serial.clone() });
    assert_eq!(verify(&mut gate, NEW_PIN), 0x9000);
    assert_eq!(apply_pending(&reg, &serial, gate.inner_mut()).unwrap(), CardAccess::Allowed);
}

#[test]
fn a_revoked_card_is_terminated_when_its_holder_next_presents_the_pin() {
    let (_dir, reg) = temp_registry();
    register(&reg);
    let (card, issued) = issued_card(&reg);
    let serial = issued.serial.clone();
    ok(&reg, ADMIN, PortalAction::Revoke { serial: serial.clone() });
    let mut gate = PortalGate::new(card, &reg, &serial);
    assert_eq!(apply_pending(&reg, &serial, gate.inner_mut()).unwrap(), CardAccess::Revoked { terminated: false });

    // A wrong PIN is the chip's business as usual.
    assert_eq!(verify(&mut gate, "00000000"), 0x63C2);
    assert_eq!(get_data(&mut gate, 0x31), [0x05]);
    // The right PIN lets the host terminate the card; the application sees the termination state.
    assert_eq!(verify(&mut gate, NEW_PIN), 0x6285);
    assert_eq!(get_data(&mut gate, 0x31), [0x0C]);
    assert_eq!(verify(&mut gate, NEW_PIN), 0x6285, "the chip answers 6285 from now on");
    assert_eq!(apply_pending(&reg, &serial, gate.inner_mut()).unwrap(), CardAccess::Revoked { terminated: true });
    let record = stored(&reg).card(&serial).unwrap().clone();
    assert!(record.terminated_at.is_some());
    let view = ok(&reg, WORKER, PortalAction::View { serial: Some(serial.clone()) });
    assert!(view.contains("card terminated"), "{view}");
}

#[test]
fn apply_pending_terminates_a_revoked_card_whose_pin_is_verified() {
    let (_dir, reg) = temp_registry();
    register(&reg);
    let (mut card, issued) = issued_card(&reg);
    assert_eq!(verify(&mut card, NEW_PIN), 0x9000);
    ok(&reg, ADMIN, PortalAction::Revoke { serial: issued.serial.clone() });
    assert_eq!(apply_pending(&reg, &issued.serial, &mut card).unwrap(), CardAccess::Revoked { terminated: true });
    assert_eq!(get_data(&mut card, 0x31), [0x0C]);
}

#[test]
fn apply_pending_checks_the_card_and_knows_unregistered_cards() {
    let (_dir, reg) = temp_registry();
    register(&reg);
    let (mut card, issued) = issued_card(&reg);
    assert_eq!(apply_pending(&reg, "9199999999999999", &mut card).unwrap(), CardAccess::NotRegistered);
    let pki = TestPki::fixtures().unwrap();
    let other = new_card(&profile::load("zorg-id").unwrap(), &pki, &NewCardOptions::default()).unwrap().card;
    let mut other = InProcessReader::with_card(other);
    other.power_on().unwrap();
    let err = apply_pending(&reg, &issued.serial, &mut other).unwrap_err();
    assert!(err.to_string().contains("the card in the reader is `9100000000000001`, not this card"), "{err}");

    // A gate whose registry is gone fails closed and says why.
    let mut gate = PortalGate::new(card, reg.with_extension("gone"), &issued.serial);
    assert_eq!(verify(&mut gate, NEW_PIN), 0x6F00);
    assert!(gate.last_error().unwrap().contains("does not exist"), "{:?}", gate.last_error());
}

/// The same decisions in a served slot: `zorgcard serve --database` installs a `PortalInterceptor` on the slot's
/// reader, so pcscd's APDUs meet them too.
#[test]
fn a_slot_with_the_portal_interceptor_enforces_block_and_unblock() {
    let (_dir, reg) = temp_registry();
    register(&reg);
    let (mut reader, issued) = issued_card(&reg);
    reader.set_interceptor(Some(Box::new(portal::PortalInterceptor::new(&reg, &issued.serial))));
    assert_eq!(verify(&mut reader, NEW_PIN), 0x9000);
    ok(&reg, ADMIN, PortalAction::Block { serial: issued.serial.clone() });
    assert_eq!(verify(&mut reader, NEW_PIN), 0x6985, "blocked at the next use");
    assert_eq!(reader.card().unwrap().info().pin.left, 3, "no PIN try spent");
    ok(&reg, ADMIN, PortalAction::Unblock { serial: issued.serial.clone() });
    assert_eq!(verify(&mut reader, NEW_PIN), 0x9000);
}
