//! The portal's database: where the registry lives, and the one way it changes — one transaction per command.
//!
//! Every command ([`Store::transact`]) takes the write lock first (`BEGIN IMMEDIATE`), reads what the rules need
//! into a [`Registry`], runs the rule (`Registry`'s methods in `portal/src/registry.rs`), writes back what the rule
//! changed plus one `audit` row, and commits; a refused command rolls back and changes nothing. The caller prints
//! its acknowledgement only after the commit returned, and the commit is durable when it returns.
//!
//! [`Store`] is an enum over backends so a second one (PostgreSQL, for a portal run as a service) can be added
//! beside [`Store::Sqlite`] without changing its users. SQLite is the embedded default, one file
//! ([`crate::DEFAULT_REGISTRY`]) opened with (SQLite documentation, *Pragma statements* and *Write-Ahead
//! Logging*):
//! - `journal_mode=WAL`: readers (the serving host's gate, the CRL server) do not block the one writer;
//! - `synchronous=FULL`: a commit is fsynced before it returns, so an acknowledged command survives a crash or
//!   `kill -9`;
//! - a busy timeout ([`BUSY_TIMEOUT`]): concurrent writers wait for the lock instead of failing;
//! - `foreign_keys=ON`: a card or beheerder always belongs to a registered organisation.
//!
//! The schema is versioned with `PRAGMA user_version`: [`MIGRATIONS`]`[n]` takes version `n` to `n + 1`, all
//! pending ones applied in order inside one transaction; a database of a newer version than [`SCHEMA_VERSION`] is
//! refused ([`StoreError::NewerSchema`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior, params};

use super::record::{CardRecord, CardStatus, IssuedCard, IssuedCertificate, rfc3339};
use super::registry::{Organisation, PortalError, Refusal, Registry};

/// How long a command waits for another command's write lock before it gives up.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(120);

/// The schema, one step per version: `MIGRATIONS[n]` takes a database from version `n` to `n + 1`. Append only.
pub const MIGRATIONS: &[&str] = &[
    // 1: the registry normalised (organisations, beheerders, cards and their certificates and events) and the audit.
    "CREATE TABLE organisations (
         subscriber_number TEXT PRIMARY KEY NOT NULL,
         name TEXT NOT NULL,
         administrator TEXT NOT NULL,
         registered_at TEXT NOT NULL
     );
     CREATE TABLE beheerders (
         subscriber_number TEXT NOT NULL REFERENCES organisations (subscriber_number),
         uzi TEXT NOT NULL,
         PRIMARY KEY (subscriber_number, uzi)
     );
     CREATE TABLE cards (
         serial TEXT PRIMARY KEY NOT NULL,
         holder_name TEXT NOT NULL,
         uzi_number TEXT NOT NULL,
         organisation TEXT NOT NULL,
         subscriber_number TEXT NOT NULL REFERENCES organisations (subscriber_number),
         birth_date TEXT NOT NULL,
         made_with_uzi_pass TEXT NOT NULL,
         not_before INTEGER NOT NULL,
         not_after INTEGER NOT NULL,
         status TEXT NOT NULL CHECK (status IN ('active', 'blocked', 'revoked')),
         revoked_at TEXT,
         terminated_at TEXT
     );
     CREATE TABLE certificates (
         card_serial TEXT NOT NULL REFERENCES cards (serial),
         position INTEGER NOT NULL,
         role TEXT NOT NULL,
         serial TEXT NOT NULL,
         PRIMARY KEY (card_serial, position)
     );
     CREATE TABLE card_events (
         card_serial TEXT NOT NULL REFERENCES cards (serial),
         position INTEGER NOT NULL,
         event TEXT NOT NULL,
         PRIMARY KEY (card_serial, position)
     );
     CREATE TABLE audit (
         id INTEGER PRIMARY KEY AUTOINCREMENT,
         at TEXT NOT NULL,
         actor TEXT NOT NULL,
         command TEXT NOT NULL,
         outcome TEXT NOT NULL
     );",
];

/// The schema version this zorgcard writes: the number of [`MIGRATIONS`].
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// The portal database could not be opened, read or written. Every message names the file and the fix.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database does not exist (and the command does not create it).
    #[error(
        "portal database `{}` does not exist: register the organisation first (`zorgcard portal register --as <UZI number> --organisation <name> --ura <URA number>`), bring an old registry in with `zorgcard portal import-toml FILE`, or pass the right --registry",
        path.display()
    )]
    NotFound {
        /// The file.
        path: PathBuf,
    },
    /// A TOML registry was given where the database is expected.
    #[error(
        "`{}` is a TOML registry, not a portal database: bring it into the database once with `zorgcard portal import-toml {} --registry {}`, then pass --registry {}",
        path.display(), path.display(), crate::DEFAULT_REGISTRY, crate::DEFAULT_REGISTRY
    )]
    TomlGiven {
        /// The file.
        path: PathBuf,
    },
    /// The file is not an SQLite database.
    #[error(
        "portal database `{}` is not an SQLite database: pass the database with --registry; a TOML registry is brought in with `zorgcard portal import-toml FILE`",
        path.display()
    )]
    NotADatabase {
        /// The file.
        path: PathBuf,
    },
    /// Made by a newer zorgcard.
    #[error(
        "portal database `{}` has schema version {found}; this zorgcard knows up to {SCHEMA_VERSION}: use the zorgcard that wrote it, or a newer one",
        path.display()
    )]
    NewerSchema {
        /// The file.
        path: PathBuf,
        /// Its `user_version`.
        found: u32,
    },
    /// A row holds a value the registry cannot have (the file was edited by hand).
    #[error("portal database `{}`: {problem}: restore the database from a backup", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Which row and value.
        problem: String,
    },
    /// SQLite failed.
    #[error("portal database `{}`: cannot {action}: {problem}: check that the file and its directory are writable and the disk is not full", path.display())]
    Sqlite {
        /// The file.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// SQLite's message.
        problem: String,
    },
}

/// The portal database, by backend.
#[derive(Debug)]
pub enum Store {
    /// The embedded default: one SQLite file.
    Sqlite(SqliteStore),
}

/// An open SQLite portal database.
#[derive(Debug)]
pub struct SqliteStore {
    path: PathBuf,
    conn: Connection,
}

impl Store {
    /// Opens an existing database (applying pending migrations); a missing one is [`StoreError::NotFound`].
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Self::open_with(path, false)
    }

    /// Opens the database, creating it if it does not exist yet (`portal register`, `portal import-toml`).
    pub fn open_or_create(path: &Path) -> Result<Store, StoreError> {
        Self::open_with(path, true)
    }

    fn open_with(path: &Path, create: bool) -> Result<Store, StoreError> {
        if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("toml")) {
            return Err(StoreError::TomlGiven { path: path.to_path_buf() });
        }
        if !create && !path.exists() {
            return Err(StoreError::NotFound { path: path.to_path_buf() });
        }
        SqliteStore::open(path, create).map(Store::Sqlite)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        match self {
            Store::Sqlite(s) => &s.path,
        }
    }

    /// The schema version of the database (after opening: [`SCHEMA_VERSION`]).
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        match self {
            Store::Sqlite(s) => user_version(&s.conn).map_err(|e| s.err("read the schema version", e)),
        }
    }

    /// The registry as it is now (one read transaction): for commands that change nothing.
    pub fn registry(&mut self) -> Result<Registry, StoreError> {
        match self {
            Store::Sqlite(s) => {
                let path = s.path.clone();
                let tx = s.conn.transaction().map_err(|e| sqlite_err(&path, "start a read", e))?;
                load(&tx, &path)
            }
        }
    }

    /// One command as one transaction: `BEGIN IMMEDIATE`, the registry read, `rule` run on it, its changes and an
    /// audit row (`actor`, `command`) written, `COMMIT`. A refused rule rolls back and changes nothing; a rule that
    /// changes nothing writes no audit row. Returns the rule's answer once the commit is durable.
    pub fn transact(
        &mut self,
        actor: &str,
        command: &str,
        now: i64,
        rule: impl FnOnce(&mut Registry) -> Result<String, Refusal>,
    ) -> Result<String, PortalError> {
        match self {
            Store::Sqlite(s) => s.transact(actor, command, now, rule),
        }
    }
}

impl SqliteStore {
    fn open(path: &Path, create: bool) -> Result<SqliteStore, StoreError> {
        let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        if create {
            flags |= OpenFlags::SQLITE_OPEN_CREATE;
        }
        let conn = Connection::open_with_flags(path, flags).map_err(|e| sqlite_err(path, "open", e))?;
        let store = SqliteStore { path: path.to_path_buf(), conn };
        store.conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| store.err("set the busy timeout", e))?;
        let mode: String = store
            .conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(|e| store.err("switch to WAL", e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(store.err_text("switch to WAL", format!("the journal mode stayed `{mode}`")));
        }
        store
            .conn
            .execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")
            .map_err(|e| store.err("set synchronous=FULL and foreign_keys", e))?;
        let mut store = store;
        store.migrate()?;
        Ok(store)
    }

    /// Applies the pending [`MIGRATIONS`] in one transaction; refuses a newer database.
    fn migrate(&mut self) -> Result<(), StoreError> {
        let found = user_version(&self.conn).map_err(|e| self.err("read the schema version", e))?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema { path: self.path.clone(), found });
        }
        if found == SCHEMA_VERSION {
            return Ok(());
        }
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| sqlite_err(&path, "start the migration", e))?;
        // Another process may have migrated while this one waited for the lock.
        let found = user_version(&tx).map_err(|e| sqlite_err(&path, "read the schema version", e))?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema { path, found });
        }
        for (n, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
            tx.execute_batch(sql).map_err(|e| sqlite_err(&path, "migrate the schema", e))?;
            tx.pragma_update(None, "user_version", n as i64 + 1)
                .map_err(|e| sqlite_err(&path, "set the schema version", e))?;
        }
        tx.commit().map_err(|e| sqlite_err(&path, "commit the migration", e))
    }

    fn transact(
        &mut self,
        actor: &str,
        command: &str,
        now: i64,
        rule: impl FnOnce(&mut Registry) -> Result<String, Refusal>,
    ) -> Result<String, PortalError> {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| sqlite_err(&path, "take the write lock", e))?;
        let before = load(&tx, &path)?;
        let mut after = before.clone();
        // On a refusal `tx` is dropped, which rolls back: nothing changes.
        let answer = rule(&mut after).map_err(|refusal| PortalError::Refused { path: path.clone(), refusal })?;
        if after != before {
            write_changes(&tx, &before, &after).map_err(|e| sqlite_err(&path, "write the change", e))?;
            tx.execute(
                "INSERT INTO audit (at, actor, command, outcome) VALUES (?1, ?2, ?3, ?4)",
                params![rfc3339(now), actor, command, answer.trim_end()],
            )
            .map_err(|e| sqlite_err(&path, "write the audit row", e))?;
        }
        tx.commit().map_err(|e| sqlite_err(&path, "commit", e))?;
        Ok(answer)
    }

    fn err(&self, action: &'static str, e: rusqlite::Error) -> StoreError {
        sqlite_err(&self.path, action, e)
    }

    fn err_text(&self, action: &'static str, problem: String) -> StoreError {
        StoreError::Sqlite { path: self.path.clone(), action, problem }
    }
}

fn user_version(conn: &Connection) -> rusqlite::Result<u32> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
}

fn sqlite_err(path: &Path, action: &'static str, e: rusqlite::Error) -> StoreError {
    if e.sqlite_error_code() == Some(rusqlite::ErrorCode::NotADatabase) {
        return StoreError::NotADatabase { path: path.to_path_buf() };
    }
    StoreError::Sqlite { path: path.to_path_buf(), action, problem: e.to_string() }
}

/// The whole registry from the tables, in the order the rows were written.
fn load(tx: &Transaction<'_>, path: &Path) -> Result<Registry, StoreError> {
    let read = |e| sqlite_err(path, "read the registry", e);
    let mut beheerders: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for row in query(tx, "SELECT subscriber_number, uzi FROM beheerders ORDER BY rowid", |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
    })
    .map_err(read)?
    {
        beheerders.entry(row.0).or_default().push(row.1);
    }
    let organisations = query(
        tx,
        "SELECT subscriber_number, name, administrator, registered_at FROM organisations ORDER BY rowid",
        |r| {
            Ok(Organisation {
                subscriber_number: r.get(0)?,
                name: r.get(1)?,
                administrator: r.get(2)?,
                beheerders: Vec::new(),
                registered_at: r.get(3)?,
            })
        },
    )
    .map_err(read)?
    .into_iter()
    .map(|mut o| {
        o.beheerders = beheerders.remove(&o.subscriber_number).unwrap_or_default();
        o
    })
    .collect();
    let cards = load_cards(tx, path)?;
    Ok(Registry { format: crate::FORMAT_VERSION, organisations, cards })
}

fn load_cards(tx: &Transaction<'_>, path: &Path) -> Result<Vec<CardRecord>, StoreError> {
    let read = |e| sqlite_err(path, "read the cards", e);
    let mut certificates: BTreeMap<String, Vec<IssuedCertificate>> = BTreeMap::new();
    for (card, cert) in
        query(tx, "SELECT card_serial, role, serial FROM certificates ORDER BY card_serial, position", |r| {
            Ok((r.get::<_, String>(0)?, IssuedCertificate { role: r.get(1)?, serial: r.get(2)? }))
        })
        .map_err(read)?
    {
        certificates.entry(card).or_default().push(cert);
    }
    let mut events: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (card, event) in query(tx, "SELECT card_serial, event FROM card_events ORDER BY card_serial, position", |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
    })
    .map_err(read)?
    {
        events.entry(card).or_default().push(event);
    }
    let rows = query(
        tx,
        "SELECT serial, holder_name, uzi_number, organisation, subscriber_number, birth_date, made_with_uzi_pass,
                not_before, not_after, status, revoked_at, terminated_at FROM cards ORDER BY rowid",
        |r| {
            let issued = IssuedCard {
                serial: r.get(0)?,
                holder_name: r.get(1)?,
                uzi_number: r.get(2)?,
                organisation: r.get(3)?,
                subscriber_number: r.get(4)?,
                birth_date: r.get(5)?,
                made_with_uzi_pass: r.get(6)?,
                not_before: r.get(7)?,
                not_after: r.get(8)?,
                certificates: Vec::new(),
            };
            Ok((issued, r.get::<_, String>(9)?, r.get::<_, Option<String>>(10)?, r.get::<_, Option<String>>(11)?))
        },
    )
    .map_err(read)?;
    let mut cards = Vec::with_capacity(rows.len());
    for (mut issued, status, revoked_at, terminated_at) in rows {
        let status = parse_status(&status).ok_or_else(|| StoreError::Corrupt {
            path: path.to_path_buf(),
            problem: format!("card `{}` has status `{status}` (active, blocked or revoked)", issued.serial),
        })?;
        issued.certificates = certificates.remove(&issued.serial).unwrap_or_default();
        let events = events.remove(&issued.serial).unwrap_or_default();
        let mut record = CardRecord::new(issued);
        record.status = status;
        record.revoked_at = revoked_at;
        record.terminated_at = terminated_at;
        record.events = events;
        cards.push(record);
    }
    Ok(cards)
}

fn query<T>(
    tx: &Transaction<'_>,
    sql: &str,
    row: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<Vec<T>> {
    tx.prepare(sql)?.query_map([], row)?.collect()
}

fn parse_status(text: &str) -> Option<CardStatus> {
    [CardStatus::Active, CardStatus::Blocked, CardStatus::Revoked].into_iter().find(|s| s.to_string() == text)
}

/// Writes what `after` adds to or changes in `before`. The rules only add organisations, beheerders, cards and
/// events and change a card's status and times; nothing is ever deleted.
fn write_changes(tx: &Transaction<'_>, before: &Registry, after: &Registry) -> rusqlite::Result<()> {
    for org in &after.organisations {
        let old = before.organisation(&org.subscriber_number);
        if old.is_none() {
            tx.execute(
                "INSERT INTO organisations (subscriber_number, name, administrator, registered_at)
                 VALUES (?1, ?2, ?3, ?4)",
                params![org.subscriber_number, org.name, org.administrator, org.registered_at],
            )?;
        }
        let known = old.map(|o| o.beheerders.as_slice()).unwrap_or_default();
        for uzi in org.beheerders.iter().filter(|b| !known.contains(b)) {
            tx.execute(
                "INSERT INTO beheerders (subscriber_number, uzi) VALUES (?1, ?2)",
                params![org.subscriber_number, uzi],
            )?;
        }
    }
    for card in &after.cards {
        let old = before.card(&card.issued.serial);
        match old {
            None => insert_card(tx, card)?,
            Some(old) if old != card => {
                tx.execute(
                    "UPDATE cards SET status = ?2, revoked_at = ?3, terminated_at = ?4 WHERE serial = ?1",
                    params![card.issued.serial, card.status.to_string(), card.revoked_at, card.terminated_at],
                )?;
            }
            Some(_) => {}
        }
        let known = old.map_or(0, |o| o.events.len());
        for (n, event) in card.events.iter().enumerate().skip(known) {
            tx.execute(
                "INSERT INTO card_events (card_serial, position, event) VALUES (?1, ?2, ?3)",
                params![card.issued.serial, n as i64, event],
            )?;
        }
    }
    Ok(())
}

fn insert_card(tx: &Transaction<'_>, card: &CardRecord) -> rusqlite::Result<()> {
    let c = &card.issued;
    tx.execute(
        "INSERT INTO cards (serial, holder_name, uzi_number, organisation, subscriber_number, birth_date,
                            made_with_uzi_pass, not_before, not_after, status, revoked_at, terminated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        params![
            c.serial,
            c.holder_name,
            c.uzi_number,
            c.organisation,
            c.subscriber_number,
            c.birth_date,
            c.made_with_uzi_pass,
            c.not_before,
            c.not_after,
            card.status.to_string(),
            card.revoked_at,
            card.terminated_at
        ],
    )?;
    for (n, cert) in c.certificates.iter().enumerate() {
        tx.execute(
            "INSERT INTO certificates (card_serial, position, role, serial) VALUES (?1, ?2, ?3, ?4)",
            params![c.serial, n as i64, cert.role, cert.serial],
        )?;
    }
    Ok(())
}
