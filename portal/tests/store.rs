//! The portal database (`portal/src/store/`) on each backend: a real SQLite file, and a PostgreSQL server of the
//! test's own (`tests/support/postgres.rs`). The same tests run on both (`on_sqlite::…`, `on_postgres::…`): the
//! registry's rules through one transaction per command, the schema version, refusals that change nothing,
//! writers that wait for each other, and `import-toml`; then what only one backend has (WAL, a TOML file given as
//! the database, a PostgreSQL database that does not exist, a password that is never printed).

use std::path::{Path, PathBuf};

use portal::store::{SCHEMA_VERSION, postgres::MIGRATIONS as POSTGRES_MIGRATIONS, sqlite::MIGRATIONS};
use portal::{
    CardRecord, CardStatus, IssuedCard, IssuedCertificate, PortalAction, PortalCommand, PortalError, Registry, Store,
    StoreError, StoreLocation, WidDocument, portal_run,
};
use rusqlite::Connection;

#[path = "support/postgres.rs"]
mod postgres_server;
use postgres_server::PostgresServer;

const ADMIN: &str = "900016528";
const BEHEERDER: &str = "900016540";
const NOW: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

/// Each table and the key that orders its rows, the same on both backends.
const TABLES: [(&str, &str); 7] = [
    ("organisations", "subscriber_number"),
    ("beheerders", "subscriber_number, uzi"),
    ("cards", "serial"),
    ("certificates", "card_serial, position"),
    ("card_events", "card_serial, position"),
    ("audit", "id"),
    ("users", "subscriber_number, uzi_number"),
];

/// Where a test's databases go, and how the test reads them behind the store's back.
struct Backend {
    /// Files: the SQLite databases, and the TOML registries of both backends.
    dir: tempfile::TempDir,
    /// The PostgreSQL server, for the PostgreSQL backend.
    server: Option<PostgresServer>,
}

impl Backend {
    fn sqlite() -> Backend {
        Backend { dir: tempfile::tempdir().unwrap(), server: None }
    }

    fn postgres() -> Backend {
        Backend { dir: tempfile::tempdir().unwrap(), server: Some(PostgresServer::start()) }
    }

    fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A database that has nothing yet: a file that does not exist, or an empty PostgreSQL database.
    fn fresh(&self, name: &str) -> StoreLocation {
        match &self.server {
            None => StoreLocation::File(self.dir().join(format!("{name}.db"))),
            Some(server) => StoreLocation::parse(&server.url(&server.create_database(name))).unwrap(),
        }
    }

    /// A database that exists with no tables and schema version 0.
    fn empty(&self, name: &str) -> StoreLocation {
        let db = self.fresh(name);
        if let StoreLocation::File(path) = &db {
            Connection::open(path).unwrap().execute_batch("PRAGMA user_version = 0").unwrap();
        }
        db
    }

    fn postgres_client(&self, db: &StoreLocation) -> Option<postgres::Client> {
        match (db, &self.server) {
            (StoreLocation::Postgres(url), Some(server)) => Some(server.client(&url.database())),
            _ => None,
        }
    }

    fn path<'a>(&self, db: &'a StoreLocation) -> &'a Path {
        match db {
            StoreLocation::File(path) => path,
            StoreLocation::Postgres(url) => panic!("{url} is not a file"),
        }
    }

    fn count(&self, db: &StoreLocation, sql: &str) -> i64 {
        match self.postgres_client(db) {
            Some(mut client) => client.query_one(sql, &[]).unwrap().get(0),
            None => Connection::open(self.path(db)).unwrap().query_row(sql, [], |r| r.get(0)).unwrap(),
        }
    }

    fn text(&self, db: &StoreLocation, sql: &str) -> String {
        match self.postgres_client(db) {
            Some(mut client) => client.query_one(sql, &[]).unwrap().get(0),
            None => Connection::open(self.path(db)).unwrap().query_row(sql, [], |r| r.get(0)).unwrap(),
        }
    }

    /// Whether the database holds the portal's tables.
    fn exists(&self, db: &StoreLocation) -> bool {
        match self.postgres_client(db) {
            Some(mut client) => {
                client
                    .query_one("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'", &[])
                    .unwrap()
                    .get::<_, i64>(0)
                    > 0
            }
            None => self.path(db).exists(),
        }
    }

    /// Every row of every table, in a fixed order: to compare a database before and after.
    fn dump(&self, db: &StoreLocation) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(mut client) = self.postgres_client(db) {
            for (table, key) in TABLES {
                for row in client.query(&format!("SELECT t::text FROM {table} t ORDER BY {key}"), &[]).unwrap() {
                    out.push(format!("{table}: {}", row.get::<_, String>(0)));
                }
            }
            return out;
        }
        let conn = Connection::open(self.path(db)).unwrap();
        for (table, key) in TABLES {
            let mut stmt = conn.prepare(&format!("SELECT * FROM {table} ORDER BY {key}")).unwrap();
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

    /// Sets the stored schema version behind the store's back.
    fn set_schema_version(&self, db: &StoreLocation, version: u32) {
        match self.postgres_client(db) {
            Some(mut client) => {
                client.execute("UPDATE schema_version SET version = $1", &[&(version as i32)]).unwrap();
            }
            None => {
                Connection::open(self.path(db)).unwrap().pragma_update(None, "user_version", version).unwrap();
            }
        }
    }
}

/// Each test `fn name(&Backend)` once on SQLite (`on_sqlite::name`) and once on PostgreSQL (`on_postgres::name`).
macro_rules! on_each_backend {
    ($($test:ident),+ $(,)?) => {
        mod on_sqlite {
            $(#[test] fn $test() { super::$test(&super::Backend::sqlite()); })+
        }
        mod on_postgres {
            $(#[test] fn $test() { super::$test(&super::Backend::postgres()); })+
        }
    };
}

on_each_backend!(
    the_rules_run_through_the_store_and_each_change_is_audited,
    an_empty_database_is_migrated_and_a_newer_one_refused,
    a_refused_command_changes_nothing,
    a_second_writer_waits_for_the_first_and_reads_its_change,
    import_toml_brings_a_registry_in_whole,
    import_toml_refuses_a_damaged_file_and_changes_nothing,
    import_toml_refuses_a_conflicting_file_and_changes_nothing,
    the_audit_is_read_per_organisation,
    medewerkers_are_registered_deactivated_and_deleted,
    refused_user_commands_change_nothing,
);

fn run(db: &StoreLocation, actor: &str, action: PortalAction) -> Result<String, PortalError> {
    portal_run(&PortalCommand { registry: db.clone(), actor: actor.into(), action }, NOW)
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
fn setup(backend: &Backend) -> StoreLocation {
    let db = backend.fresh("portal");
    run(&db, ADMIN, PortalAction::Register { organisation: "Test Zorginstelling 01".into(), ura: "90000001".into() })
        .unwrap();
    portal::record_issued(&db, &card("9100000000000001", "90000001")).unwrap();
    db
}

fn the_rules_run_through_the_store_and_each_change_is_audited(backend: &Backend) {
    let db = setup(backend);
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
    assert_eq!(backend.count(&db, "SELECT count(*) FROM beheerders"), 1);
    assert_eq!(backend.count(&db, "SELECT count(*) FROM certificates"), 3);
    // register, record, appoint, block, unblock, revoke: one audit row each; view changes nothing.
    assert_eq!(backend.count(&db, "SELECT count(*) FROM audit"), 6);
    let actor = backend.text(&db, "SELECT actor || ' ' || command FROM audit ORDER BY id LIMIT 1 OFFSET 3");
    assert_eq!(actor, format!("{BEHEERDER} block 9100000000000001"));
}

fn an_empty_database_is_migrated_and_a_newer_one_refused(backend: &Backend) {
    assert_eq!(SCHEMA_VERSION as usize, MIGRATIONS.len());
    assert_eq!(SCHEMA_VERSION as usize, POSTGRES_MIGRATIONS.len());
    let old = backend.empty("old");
    let mut store = Store::open(&old).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(store.registry().unwrap(), Registry::default());
    drop(store);
    assert_eq!(Store::open(&old).unwrap().schema_version().unwrap(), SCHEMA_VERSION, "opened again: no migration");

    let newer = backend.empty("newer");
    Store::open(&newer).unwrap();
    backend.set_schema_version(&newer, SCHEMA_VERSION + 1);
    let err = Store::open(&newer).unwrap_err();
    assert!(matches!(err, StoreError::NewerSchema { found, .. } if found == SCHEMA_VERSION + 1), "{err}");
    assert!(
        err.to_string().contains(&newer.to_string()) && err.to_string().contains("use the zorgcard that wrote it"),
        "{err}"
    );
}

fn a_refused_command_changes_nothing(backend: &Backend) {
    let db = setup(backend);
    let before = backend.dump(&db);
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
    assert_eq!(backend.dump(&db), before);
    // A rule that changes the registry inside a transaction and is then refused leaves no trace either.
    let err = Store::open(&db)
        .unwrap()
        .transact(ADMIN, "half a change", NOW, |r| {
            r.cards[0].status = CardStatus::Blocked;
            Err(portal::Refusal::Invalid("refused after a change".into()))
        })
        .unwrap_err();
    assert!(err.to_string().contains("refused after a change"), "{err}");
    assert_eq!(backend.dump(&db), before);
}

/// Two stores in one process: the second command starts while the first holds the write lock, waits for its
/// commit, and its rule reads the first one's change.
fn a_second_writer_waits_for_the_first_and_reads_its_change(backend: &Backend) {
    const SECOND: &str = "900016541";
    let db = setup(backend);
    let (locked, first_holds_the_lock) = std::sync::mpsc::channel();
    let second_saw = std::thread::scope(|s| {
        let first = s.spawn(|| {
            Store::open(&db).unwrap().transact(ADMIN, "appoint (slow)", NOW, |r| {
                locked.send(()).unwrap();
                std::thread::sleep(std::time::Duration::from_millis(500));
                r.appoint(ADMIN, BEHEERDER, None)
            })
        });
        first_holds_the_lock.recv().unwrap();
        let started = std::time::Instant::now();
        let second = Store::open(&db).unwrap().transact(ADMIN, "appoint", NOW, |r| {
            let seen = r.organisations[0].beheerders.clone();
            r.appoint(ADMIN, SECOND, None).map(|_| format!("{seen:?}"))
        });
        first.join().unwrap().unwrap();
        (second.unwrap(), started.elapsed())
    });
    assert_eq!(second_saw.0, format!("{:?}", [BEHEERDER]), "the second command read the first one's commit");
    assert!(second_saw.1 >= std::time::Duration::from_millis(300), "it waited: {:?}", second_saw.1);
    let registry = Store::open(&db).unwrap().registry().unwrap();
    assert_eq!(registry.organisations[0].beheerders, [BEHEERDER, SECOND]);
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

fn import_toml_brings_a_registry_in_whole(backend: &Backend) {
    let db = setup(backend);
    let file = toml_registry(backend.dir());
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
    assert_eq!(backend.count(&db, "SELECT count(*) FROM audit WHERE actor = 'import-toml'"), 1);
    // Into a database that has nothing yet: the tables are created.
    let fresh = backend.fresh("fresh");
    run(&fresh, "", PortalAction::ImportToml { file }).unwrap();
    assert_eq!(backend.count(&fresh, "SELECT count(*) FROM cards"), 1);
}

fn import_toml_refuses_a_damaged_file_and_changes_nothing(backend: &Backend) {
    let db = setup(backend);
    let file = toml_registry(backend.dir());
    let text = std::fs::read_to_string(&file).unwrap();
    let before = backend.dump(&db);
    for (name, damaged) in [
        ("cut.toml", format!("{}\n[[cards]\nserial = ", &text[..text.len() / 2])),
        ("typo.toml", text.replacen("status = ", "statsu = ", 1)),
        ("binary.toml", "\u{0}\u{1}garbage".to_string()),
    ] {
        let bad = backend.dir().join(name);
        std::fs::write(&bad, damaged).unwrap();
        let err = run(&db, "", PortalAction::ImportToml { file: bad.clone() }).unwrap_err();
        assert!(matches!(err, PortalError::Invalid { .. }), "{name}: {err}");
        assert!(err.to_string().contains(name), "{err}");
        assert_eq!(backend.dump(&db), before, "{name} changed the database");
        let fresh = backend.fresh(name);
        run(&fresh, "", PortalAction::ImportToml { file: bad }).unwrap_err();
        assert!(!backend.exists(&fresh), "a damaged file creates no database and no tables");
    }
}

fn import_toml_refuses_a_conflicting_file_and_changes_nothing(backend: &Backend) {
    let db = setup(backend);
    let file = toml_registry(backend.dir());
    run(&db, "", PortalAction::ImportToml { file: file.clone() }).unwrap();
    let before = backend.dump(&db);
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
    let clash = backend.dir().join("clash.toml");
    registry.save(&clash).unwrap();
    let err = run(&db, "", PortalAction::ImportToml { file: clash }).unwrap_err();
    assert!(err.to_string().contains("`9100000000000001` is recorded already"), "{err}");
    // A card of an organisation that is nowhere.
    let mut orphan = Registry::default();
    orphan.cards.push(CardRecord::new(card("9100000000000009", "90000009")));
    let orphan_file = backend.dir().join("orphan.toml");
    orphan.save(&orphan_file).unwrap();
    let err = run(&db, "", PortalAction::ImportToml { file: orphan_file }).unwrap_err();
    assert!(err.to_string().contains("URA 90000009, which is not registered"), "{err}");
    assert_eq!(backend.dump(&db), before);
}

/// Every audit row names the one organisation its command changed, and `Store::audit` reads one organisation's.
fn the_audit_is_read_per_organisation(backend: &Backend) {
    let db = setup(backend);
    run(&db, "900016599", PortalAction::Register { organisation: "Other".into(), ura: "90000002".into() }).unwrap();
    run(&db, ADMIN, PortalAction::Block { serial: "9100000000000001".into() }).unwrap();
    let mut store = Store::open(&db).unwrap();
    let mine = store.audit("90000001").unwrap();
    let commands: Vec<&str> = mine.iter().map(|r| r.command.as_str()).collect();
    assert_eq!(
        commands,
        ["register 90000001 Test Zorginstelling 01", "record-issued 9100000000000001", "block 9100000000000001"]
    );
    assert!(mine.windows(2).all(|w| w[0].id < w[1].id), "oldest first: {mine:?}");
    assert_eq!(mine[2].actor, ADMIN);
    assert_eq!(mine[2].at, "2026-01-01T00:00:00Z");
    assert!(mine[2].outcome.contains("blocked"), "{mine:?}");
    let other = store.audit("90000002").unwrap();
    assert_eq!(other.len(), 1);
    assert_eq!(other[0].actor, "900016599");
    assert_eq!(backend.count(&db, "SELECT count(*) FROM audit WHERE subscriber_number IS NULL"), 0);
}

const MEDEWERKER: &str = "900016541";

fn medewerker(uzi: &str, birth_date: &str, checked: bool) -> PortalAction {
    PortalAction::RegisterMedewerker {
        ura: "90000001".into(),
        uzi_number: uzi.into(),
        first_names: "Anna Maria".into(),
        surname: "Geheimnaam".into(),
        birth_date: birth_date.into(),
        wid_document: WidDocument::Identiteitskaart,
        wid_checked: checked,
    }
}

/// Seed *Registratie gebruikers 2b* and seed *Handleiding gebruikersbeheerder Zorg* §3.3: a beheerder registers
/// a medewerker with the WID check recorded; a deactivated beheerder is no beheerder; deletion takes the user's
/// row and appointment and leaves no name in the audit.
fn medewerkers_are_registered_deactivated_and_deleted(backend: &Backend) {
    let db = setup(backend);
    run(&db, ADMIN, PortalAction::Appoint { beheerder: BEHEERDER.into(), ura: None }).unwrap();
    let said = run(&db, BEHEERDER, medewerker(MEDEWERKER, "1990-05-17", true)).unwrap();
    assert!(said.contains("registered") && !said.contains("Geheimnaam"), "{said}");
    let row = backend.text(
        &db,
        &format!(
            "SELECT first_names || '|' || surname || '|' || birth_date || '|' || wid_document || '|' || wid_checked_by
                    || '|' || wid_checked_at || '|' || status FROM users WHERE uzi_number = '{MEDEWERKER}'"
        ),
    );
    assert_eq!(
        row,
        format!("Anna Maria|Geheimnaam|1990-05-17|identiteitskaart|{BEHEERDER}|2026-01-01T00:00:00Z|active")
    );
    let listed = run(&db, ADMIN, PortalAction::Users).unwrap();
    assert!(listed.contains(MEDEWERKER) && listed.contains("active"), "{listed}");

    // The beheerder is a user too; deactivated, they may no longer act as beheerder.
    run(&db, ADMIN, medewerker(BEHEERDER, "1980-01-31", true)).unwrap();
    run(&db, ADMIN, PortalAction::DeactivateUser { uzi_number: BEHEERDER.into(), ura: None }).unwrap();
    assert_eq!(backend.text(&db, &format!("SELECT status FROM users WHERE uzi_number = '{BEHEERDER}'")), "inactive");
    let registry = Store::open(&db).unwrap().registry().unwrap();
    assert_eq!(registry.role(BEHEERDER, "90000001"), portal::Role::Worker);
    let err = run(&db, BEHEERDER, PortalAction::Block { serial: "9100000000000001".into() }).unwrap_err();
    assert!(err.to_string().contains("that `900016540` may see"), "{err}");

    let err = run(&db, ADMIN, PortalAction::DeleteUser { uzi_number: MEDEWERKER.into(), ura: None }).unwrap_err();
    assert!(err.to_string().contains("deactivate them first"), "{err}");
    run(&db, ADMIN, PortalAction::DeleteUser { uzi_number: BEHEERDER.into(), ura: None }).unwrap();
    assert_eq!(backend.count(&db, &format!("SELECT count(*) FROM users WHERE uzi_number = '{BEHEERDER}'")), 0);
    assert_eq!(backend.count(&db, "SELECT count(*) FROM beheerders"), 0, "the appointment went with the user");
    assert_eq!(backend.count(&db, "SELECT count(*) FROM users"), 1);
    let personal = "SELECT count(*) FROM audit WHERE command || outcome LIKE '%Geheimnaam%' \
                    OR command || outcome LIKE '%Anna%' OR command || outcome LIKE '%1980-01-31%'";
    assert_eq!(backend.count(&db, personal), 0, "the audit keeps no names or birth dates");
    let deleted = format!("SELECT count(*) FROM audit WHERE command = 'delete-user {BEHEERDER}'");
    assert_eq!(backend.count(&db, deleted.as_str()), 1);
    assert_eq!(Store::open(&db).unwrap().audit("90000001").unwrap().len(), 7);
}

fn refused_user_commands_change_nothing(backend: &Backend) {
    let db = setup(backend);
    run(&db, ADMIN, medewerker(MEDEWERKER, "1990-05-17", true)).unwrap();
    let before = backend.dump(&db);
    let future = "2026-01-02";
    let mut blank = medewerker("900016542", "1990-05-17", true);
    if let PortalAction::RegisterMedewerker { surname, .. } = &mut blank {
        *surname = "  ".into();
    }
    for (actor, action, reason) in [
        ("900016529", medewerker("900016542", "1990-05-17", true), "only the administrator or a beheerder"),
        (ADMIN, medewerker("900016542", "1990-13-01", true), "not a date written YYYY-MM-DD"),
        (ADMIN, medewerker("900016542", "17-05-1990", true), "not a date written YYYY-MM-DD"),
        (ADMIN, medewerker("900016542", future, true), "in the future"),
        (ADMIN, medewerker("900016542", "1990-05-17", false), "WID check is not confirmed"),
        (ADMIN, medewerker("12", "1990-05-17", true), "is not a UZI number"),
        (ADMIN, blank, "surname are empty"),
        (ADMIN, medewerker(MEDEWERKER, "1990-05-17", true), "registered at Test Zorginstelling 01 already"),
        (ADMIN, PortalAction::DeactivateUser { uzi_number: "900099999".into(), ura: None }, "no user `900099999`"),
        ("900016529", PortalAction::DeactivateUser { uzi_number: MEDEWERKER.into(), ura: None }, "no user"),
        (ADMIN, PortalAction::DeleteUser { uzi_number: MEDEWERKER.into(), ura: None }, "deactivate them first"),
        ("900016529", PortalAction::Users, "only the administrator or a beheerder"),
    ] {
        let err = run(&db, actor, action).unwrap_err();
        assert!(matches!(err, PortalError::Refused { .. }), "{err}");
        assert!(err.to_string().contains(reason), "{reason:?} not in {err}");
    }
    assert_eq!(backend.dump(&db), before);
}

// What only SQLite has.

#[test]
fn sqlite_is_wal_at_the_current_schema_version() {
    let backend = Backend::sqlite();
    let db = setup(&backend);
    let conn = Connection::open(backend.path(&db)).unwrap();
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
    let version: u32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    assert_eq!(version, SCHEMA_VERSION);
}

#[test]
fn sqlite_refuses_a_toml_file_a_text_file_and_a_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let toml = dir.path().join("zorgcard-portal.toml");
    std::fs::write(&toml, "format = 1\n").unwrap();
    let err = Store::open(&toml).unwrap_err().to_string();
    assert!(err.contains("zorgcard portal import-toml"), "{err}");
    let text = dir.path().join("notes.db");
    std::fs::write(&text, "not a database, just some text that is long enough to be read as a header\n").unwrap();
    let err = Store::open(&text).unwrap_err();
    assert!(matches!(err, StoreError::NotADatabase { .. }), "{err}");
    let missing = Store::open(dir.path().join("missing.db")).unwrap_err();
    assert!(matches!(missing, StoreError::NotFound { .. }), "{missing}");
    assert!(!dir.path().join("missing.db").exists(), "opening creates no database");
}

// What only PostgreSQL has.

#[test]
fn postgres_keeps_the_schema_version_in_its_table() {
    let backend = Backend::postgres();
    let db = setup(&backend);
    assert_eq!(backend.count(&db, "SELECT version::bigint FROM schema_version"), i64::from(SCHEMA_VERSION));
    assert_eq!(backend.count(&db, "SELECT count(*) FROM schema_version"), 1);
    assert_eq!(Store::open(&db).unwrap().schema_version().unwrap(), SCHEMA_VERSION);
}

#[test]
fn postgres_names_a_missing_database_and_an_absent_server_without_the_password() {
    let backend = Backend::postgres();
    let server = backend.server.as_ref().unwrap();
    let with_password = server.url("no_such_db").replacen("zorgcard@", "zorgcard:pw-Kx81@", 1);
    let err = Store::open(StoreLocation::parse(&with_password).unwrap()).unwrap_err();
    assert!(matches!(err, StoreError::PostgresNoDatabase { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("createdb --owner=zorgcard no_such_db") && text.contains("postgresql://zorgcard@/no_such_db"),
        "{text}"
    );
    // No server on that socket: the URL and the fix, never the password.
    let elsewhere = with_password.replace("port=5432", "port=5999").replace("host=", "password=pw-Kx81&host=");
    let err = Store::open(StoreLocation::parse(&elsewhere).unwrap()).unwrap_err();
    assert!(matches!(err, StoreError::PostgresConnect { .. }), "{err}");
    for printed in [err.to_string(), format!("{err:?}")] {
        assert!(printed.contains("no_such_db") && !printed.contains("pw-Kx81"), "{printed}");
    }
    assert!(err.to_string().contains("pg_isready"), "{err}");
}
