//! The portal database (`portal/src/store.rs`) on a real SQLite file: the registry's rules through one transaction
//! per command, the schema version, refusals that change nothing, and `import-toml`.

use std::path::{Path, PathBuf};

use portal::store::{MIGRATIONS, SCHEMA_VERSION};
use portal::{
    CardRecord, CardStatus, IssuedCard, IssuedCertificate, PortalAction, PortalCommand, PortalError, Registry, Store,
    StoreError, portal_run,
};
use rusqlite::Connection;

const ADMIN: &str = "900016528";
const BEHEERDER: &str = "900016540";
const NOW: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

fn run(db: &Path, actor: &str, action: PortalAction) -> Result<String, PortalError> {
    portal_run(&PortalCommand { registry: db.to_path_buf(), actor: actor.into(), action }, NOW)
}

fn card(serial: &str, ura: &str) -> IssuedCard {
    IssuedCard {
        serial: serial.into(),
        holder_name: "Marieke Proef".into(),
        uzi_number: "900016529".into(),
        organisation: "Test Zorginstelling 01".into(),
        subscriber_number: ura.into(),
        birth_date: "1990-05-17".into(),
        made_with_uzi_pass: "9000000000000001".into(),
        not_before: NOW,
        not_after: NOW + 94_608_000 - 1,
        certificates: ["authentication", "signature", "encryption"]
            .iter()
            .enumerate()
            .map(|(n, role)| IssuedCertificate { role: (*role).into(), serial: format!("0{}AB", n + 1) })
            .collect(),
    }
}

/// A database with one organisation (URA 90000001) and one card.
fn setup() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("portal.db");
    run(&db, ADMIN, PortalAction::Register { organisation: "Test Zorginstelling 01".into(), ura: "90000001".into() })
        .unwrap();
    portal::record_issued(&db, &card("9100000000000001", "90000001")).unwrap();
    (dir, db)
}

fn count(db: &Path, sql: &str) -> i64 {
    Connection::open(db).unwrap().query_row(sql, [], |r| r.get(0)).unwrap()
}

/// Every row of every table, in a fixed order: to compare a database before and after.
fn dump(db: &Path) -> Vec<String> {
    let conn = Connection::open(db).unwrap();
    let mut out = Vec::new();
    for table in ["organisations", "beheerders", "cards", "certificates", "card_events", "audit"] {
        let mut stmt = conn.prepare(&format!("SELECT * FROM {table} ORDER BY rowid")).unwrap();
        let columns = stmt.column_count();
        let rows = stmt
            .query_map([], |r| {
                let values: Vec<String> = (0..columns).map(|i| format!("{:?}", r.get_ref(i).unwrap())).collect();
                Ok(format!("{table}: {}", values.join(", ")))
            })
            .unwrap();
        out.extend(rows.map(Result::unwrap));
    }
    out
}

#[test]
fn the_rules_run_through_the_store_and_each_change_is_audited() {
    let (_dir, db) = setup();
    run(&db, ADMIN, PortalAction::Appoint { beheerder: BEHEERDER.into(), ura: None }).unwrap();
    let said = run(&db, BEHEERDER, PortalAction::Block { serial: "9100000000000001".into() }).unwrap();
    assert!(said.contains("blocked"), "{said}");
    run(&db, ADMIN, PortalAction::Unblock { serial: "9100000000000001".into() }).unwrap();
    run(&db, ADMIN, PortalAction::Revoke { serial: "9100000000000001".into() }).unwrap();
    run(&db, ADMIN, PortalAction::View { serial: None }).unwrap();

    let registry = Store::open(&db).unwrap().registry().unwrap();
    assert_eq!(registry.organisations[0].beheerders, [BEHEERDER]);
    let c = registry.card("9100000000000001").unwrap();
    assert_eq!(c.status, CardStatus::Revoked);
    assert_eq!(c.revoked_at.as_deref(), Some("2026-01-01T00:00:00Z"));
    assert_eq!(c.issued, card("9100000000000001", "90000001"), "the card and its certificates are stored whole");
    assert_eq!(c.events.len(), 4, "made, blocked, unblocked, revoked: {:?}", c.events);
    assert_eq!(registry.revoked_entries().len(), 3);
    assert_eq!(count(&db, "SELECT count(*) FROM beheerders"), 1);
    assert_eq!(count(&db, "SELECT count(*) FROM certificates"), 3);
    // register, record, appoint, block, unblock, revoke: one audit row each; view changes nothing.
    assert_eq!(count(&db, "SELECT count(*) FROM audit"), 6);
    let actor: String = Connection::open(&db)
        .unwrap()
        .query_row("SELECT actor || ' ' || command FROM audit ORDER BY id LIMIT 1 OFFSET 3", [], |r| r.get(0))
        .unwrap();
    assert_eq!(actor, format!("{BEHEERDER} block 9100000000000001"));
}

#[test]
fn the_database_is_wal_and_at_the_current_schema_version() {
    let (_dir, db) = setup();
    let conn = Connection::open(&db).unwrap();
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
    let version: u32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    assert_eq!(SCHEMA_VERSION as usize, MIGRATIONS.len());
    assert_eq!(Store::open(&db).unwrap().schema_version().unwrap(), SCHEMA_VERSION);
}

#[test]
fn an_empty_database_is_migrated_and_a_newer_one_refused() {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old.db");
    Connection::open(&old).unwrap().execute_batch("PRAGMA user_version = 0").unwrap();
    let mut store = Store::open(&old).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(store.registry().unwrap(), Registry::default());

    let newer = dir.path().join("newer.db");
    Connection::open(&newer).unwrap().execute_batch(&format!("PRAGMA user_version = {}", SCHEMA_VERSION + 1)).unwrap();
    let err = Store::open(&newer).unwrap_err();
    assert!(matches!(err, StoreError::NewerSchema { found, .. } if found == SCHEMA_VERSION + 1), "{err}");
    assert!(
        err.to_string().contains("newer.db") && err.to_string().contains("use the zorgcard that wrote it"),
        "{err}"
    );

    let toml = dir.path().join("zorgcard-portal.toml");
    std::fs::write(&toml, "format = 1\n").unwrap();
    let err = Store::open(&toml).unwrap_err().to_string();
    assert!(err.contains("zorgcard portal import-toml"), "{err}");
    let text = dir.path().join("notes.db");
    std::fs::write(&text, "not a database, just some text that is long enough to be read as a header\n").unwrap();
    let err = Store::open(&text).unwrap_err();
    assert!(matches!(err, StoreError::NotADatabase { .. }), "{err}");
    let missing = Store::open(&dir.path().join("missing.db")).unwrap_err();
    assert!(matches!(missing, StoreError::NotFound { .. }), "{missing}");
    assert!(!dir.path().join("missing.db").exists(), "opening creates no database");
}

#[test]
fn a_refused_command_changes_nothing() {
    let (_dir, db) = setup();
    let before = dump(&db);
    for (actor, action) in [
        ("900016529", PortalAction::Block { serial: "9100000000000001".into() }),
        (ADMIN, PortalAction::Unblock { serial: "9100000000000001".into() }),
        (ADMIN, PortalAction::Register { organisation: "Again".into(), ura: "90000001".into() }),
        (ADMIN, PortalAction::Appoint { beheerder: "12".into(), ura: None }),
        (ADMIN, PortalAction::Appoint { beheerder: ADMIN.into(), ura: None }),
    ] {
        let err = run(&db, actor, action).unwrap_err();
        assert!(matches!(err, PortalError::Refused { .. }), "{err}");
    }
    let err = portal::record_issued(&db, &card("9100000000000001", "90000001")).unwrap_err();
    assert!(err.to_string().contains("recorded already"), "{err}");
    assert_eq!(dump(&db), before);
    // A rule that changes the registry inside a transaction and is then refused leaves no trace either.
    let err = Store::open(&db)
        .unwrap()
        .transact(ADMIN, "half a change", NOW, |r| {
            r.cards[0].status = CardStatus::Blocked;
            Err(portal::Refusal::Invalid("refused after a change".into()))
        })
        .unwrap_err();
    assert!(err.to_string().contains("refused after a change"), "{err}");
    assert_eq!(dump(&db), before);
}

/// A TOML registry with URA 90000002, one beheerder and one revoked card.
fn toml_registry(dir: &Path) -> PathBuf {
    let mut registry = Registry::default();
    registry
        .register(ADMIN, "Test Zorginstelling 02", "90000002", NOW)
        .and_then(|_| registry.appoint(ADMIN, BEHEERDER, None))
        .unwrap();
    let mut c = CardRecord::new(card("9100000000000002", "90000002"));
    c.status = CardStatus::Revoked;
    c.revoked_at = Some("2026-01-01T00:00:00Z".into());
    registry.cards.push(c);
    let file = dir.join("zorgcard-portal.toml");
    registry.save(&file).unwrap();
    file
}

#[test]
fn import_toml_brings_a_registry_in_whole() {
    let (dir, db) = setup();
    let file = toml_registry(dir.path());
    let said = run(&db, "", PortalAction::ImportToml { file: file.clone() }).unwrap();
    assert!(said.contains("1 organisation(s) and 1 card(s) imported"), "{said}");
    let registry = Store::open(&db).unwrap().registry().unwrap();
    assert_eq!(registry.organisations.len(), 2);
    assert_eq!(registry.organisation("90000002").unwrap().beheerders, [BEHEERDER]);
    assert_eq!(
        registry.card("9100000000000002").unwrap(),
        Registry::load(&file).unwrap().card("9100000000000002").unwrap()
    );
    assert_eq!(registry.revoked_entries().len(), 3);
    assert_eq!(count(&db, "SELECT count(*) FROM audit WHERE actor = 'import-toml'"), 1);
    // Into a database that does not exist yet: it is created.
    let fresh = dir.path().join("fresh.db");
    run(&fresh, "", PortalAction::ImportToml { file }).unwrap();
    assert_eq!(count(&fresh, "SELECT count(*) FROM cards"), 1);
}

#[test]
fn import_toml_refuses_a_damaged_file_and_changes_nothing() {
    let (dir, db) = setup();
    let file = toml_registry(dir.path());
    let text = std::fs::read_to_string(&file).unwrap();
    let before = dump(&db);
    for (name, damaged) in [
        ("cut.toml", format!("{}\n[[cards]\nserial = ", &text[..text.len() / 2])),
        ("typo.toml", text.replacen("status = ", "statsu = ", 1)),
        ("binary.toml", "\u{0}\u{1}garbage".to_string()),
    ] {
        let bad = dir.path().join(name);
        std::fs::write(&bad, damaged).unwrap();
        let err = run(&db, "", PortalAction::ImportToml { file: bad.clone() }).unwrap_err();
        assert!(matches!(err, PortalError::Invalid { .. }), "{name}: {err}");
        assert!(err.to_string().contains(name), "{err}");
        assert_eq!(dump(&db), before, "{name} changed the database");
        let fresh = dir.path().join(format!("{name}.db"));
        run(&fresh, "", PortalAction::ImportToml { file: bad }).unwrap_err();
        assert!(!fresh.exists(), "a damaged file creates no database");
    }
}

#[test]
fn import_toml_refuses_a_conflicting_file_and_changes_nothing() {
    let (dir, db) = setup();
    let file = toml_registry(dir.path());
    run(&db, "", PortalAction::ImportToml { file: file.clone() }).unwrap();
    let before = dump(&db);
    // The same file again: its organisation is registered already.
    let err = run(&db, "", PortalAction::ImportToml { file: file.clone() }).unwrap_err();
    assert!(
        err.to_string().contains("URA 90000002 is registered already")
            && err.to_string().contains("nothing was imported"),
        "{err}"
    );
    // A new organisation, but a card whose serial is in the database already: not even the organisation lands.
    let mut registry = Registry::default();
    registry.register(ADMIN, "Test Zorginstelling 03", "90000003", NOW).unwrap();
    registry.cards.push(CardRecord::new(card("9100000000000001", "90000003")));
    let clash = dir.path().join("clash.toml");
    registry.save(&clash).unwrap();
    let err = run(&db, "", PortalAction::ImportToml { file: clash }).unwrap_err();
    assert!(err.to_string().contains("`9100000000000001` is recorded already"), "{err}");
    // A card of an organisation that is nowhere.
    let mut orphan = Registry::default();
    orphan.cards.push(CardRecord::new(card("9100000000000009", "90000009")));
    let orphan_file = dir.path().join("orphan.toml");
    orphan.save(&orphan_file).unwrap();
    let err = run(&db, "", PortalAction::ImportToml { file: orphan_file }).unwrap_err();
    assert!(err.to_string().contains("URA 90000009, which is not registered"), "{err}");
    assert_eq!(dump(&db), before);
}
