//! The embedded backend: one SQLite file ([`crate::DEFAULT_REGISTRY`]) opened with (SQLite documentation,
//! *Pragma statements* and *Write-Ahead Logging*):
//! - `journal_mode=WAL`: readers (the serving host's gate, the CRL server) do not block the one writer;
//! - `synchronous=FULL`: a commit is fsynced before it returns, so an acknowledged command survives a crash or
//!   `kill -9`;
//! - a busy timeout ([`BUSY_TIMEOUT`]): concurrent writers wait for the lock instead of failing;
//! - `foreign_keys=ON`: a card or beheerder always belongs to a registered organisation.
//!
//! Every command takes the write lock first with `BEGIN IMMEDIATE` (SQLite documentation, *BEGIN TRANSACTION*),
//! so commands are serialized and each reads what the one before it committed. The schema version is
//! `PRAGMA user_version`.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior, params};

use super::rows::{CardRow, Change, Rows, UserRow, changes, organisation};
use super::{AuditRow, BUSY_TIMEOUT, SCHEMA_VERSION, StoreError, StoreLocation};
use crate::record::{CardRecord, IssuedCard, IssuedCertificate, rfc3339};
use crate::registry::{Organisation, PortalError, Refusal, Registry};
use crate::users::{User, UserStatus, WidDocument};

/// The schema, one step per version: `MIGRATIONS[n]` takes a database from version `n` to `n + 1`. Append only,
/// together with [`super::postgres::MIGRATIONS`].
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
    // 2: the audit row names the organisation the command changed, so its administrator and beheerders read it.
    "ALTER TABLE audit ADD COLUMN subscriber_number TEXT;
     CREATE INDEX audit_by_organisation ON audit (subscriber_number, id);",
    // 3: medewerkers (seed *Registratie gebruikers 2b*) and their status (seed *Handleiding gebruikersbeheerder
    // Zorg*, §3.3); the WID check's document kind, who and when, never the document's number.
    "CREATE TABLE users (
         subscriber_number TEXT NOT NULL REFERENCES organisations (subscriber_number),
         uzi_number TEXT NOT NULL,
         first_names TEXT NOT NULL,
         surname TEXT NOT NULL,
         birth_date TEXT NOT NULL,
         wid_document TEXT NOT NULL
             CHECK (wid_document IN ('paspoort', 'identiteitskaart', 'rijbewijs', 'vreemdelingendocument')),
         wid_checked_by TEXT NOT NULL,
         wid_checked_at TEXT NOT NULL,
         status TEXT NOT NULL CHECK (status IN ('active', 'inactive')),
         PRIMARY KEY (subscriber_number, uzi_number)
     );",
];

/// An open SQLite portal database.
#[derive(Debug)]
pub struct SqliteStore {
    path: PathBuf,
    location: StoreLocation,
    conn: Connection,
}

impl SqliteStore {
    /// Opens the file (creating it with `create`), sets the pragmas and applies pending migrations. A `.toml`
    /// file is a registry to import, not a database; without `create` a missing file is not made.
    pub(super) fn open(path: &Path, create: bool) -> Result<SqliteStore, StoreError> {
        if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("toml")) {
            return Err(StoreError::TomlGiven { path: path.to_path_buf() });
        }
        if !create && !path.exists() {
            return Err(StoreError::NotFound { path: path.to_path_buf() });
        }
        let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        if create {
            flags |= OpenFlags::SQLITE_OPEN_CREATE;
        }
        let conn = Connection::open_with_flags(path, flags).map_err(|e| sqlite_err(path, "open", e))?;
        let mut store = SqliteStore { path: path.to_path_buf(), location: path.into(), conn };
        store.conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| store.err("set the busy timeout", e))?;
        let mode: String = store
            .conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(|e| store.err("switch to WAL", e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Sqlite {
                path: store.path.clone(),
                action: "switch to WAL",
                problem: format!("the journal mode stayed `{mode}`"),
            });
        }
        store
            .conn
            .execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")
            .map_err(|e| store.err("set synchronous=FULL and foreign_keys", e))?;
        store.migrate()?;
        Ok(store)
    }

    pub(super) fn location(&self) -> &StoreLocation {
        &self.location
    }

    /// Applies the pending [`MIGRATIONS`] in one transaction; refuses a newer database.
    fn migrate(&mut self) -> Result<(), StoreError> {
        let found = self.schema_version()?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema { database: self.location.clone(), found });
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
            return Err(StoreError::NewerSchema { database: self.location.clone(), found });
        }
        for (n, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
            tx.execute_batch(sql).map_err(|e| sqlite_err(&path, "migrate the schema", e))?;
            tx.pragma_update(None, "user_version", n as i64 + 1)
                .map_err(|e| sqlite_err(&path, "set the schema version", e))?;
        }
        tx.commit().map_err(|e| sqlite_err(&path, "commit the migration", e))
    }

    pub(super) fn schema_version(&self) -> Result<u32, StoreError> {
        user_version(&self.conn).map_err(|e| self.err("read the schema version", e))
    }

    /// The registry in one read transaction (a WAL snapshot).
    pub(super) fn registry(&mut self) -> Result<Registry, StoreError> {
        let tx = self.conn.transaction().map_err(|e| sqlite_err(&self.path, "start a read", e))?;
        load(&tx, &self.path)?.into_registry(&self.location)
    }

    pub(super) fn audit(&mut self, subscriber_number: &str) -> Result<Vec<AuditRow>, StoreError> {
        let tx = self.conn.transaction().map_err(|e| sqlite_err(&self.path, "start a read", e))?;
        tx.prepare(
            "SELECT id, at, actor, command, outcome, subscriber_number FROM audit
             WHERE subscriber_number = ?1 ORDER BY id",
        )
        .and_then(|mut stmt| {
            stmt.query_map([subscriber_number], |r| {
                Ok(AuditRow {
                    id: r.get(0)?,
                    at: r.get(1)?,
                    actor: r.get(2)?,
                    command: r.get(3)?,
                    outcome: r.get(4)?,
                    subscriber_number: r.get(5)?,
                })
            })?
            .collect()
        })
        .map_err(|e| sqlite_err(&self.path, "read the audit", e))
    }

    pub(super) fn transact(
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
        let before = load(&tx, &path)?.into_registry(&self.location)?;
        let mut after = before.clone();
        // On a refusal `tx` is dropped, which rolls back: nothing changes.
        let answer =
            rule(&mut after).map_err(|refusal| PortalError::Refused { database: self.location.clone(), refusal })?;
        if after != before {
            let changes = changes(&before, &after);
            for change in &changes {
                write(&tx, change).map_err(|e| sqlite_err(&path, "write the change", e))?;
            }
            tx.execute(
                "INSERT INTO audit (at, actor, command, outcome, subscriber_number) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![rfc3339(now), actor, command, answer.trim_end(), organisation(&changes, &after)],
            )
            .map_err(|e| sqlite_err(&path, "write the audit row", e))?;
        }
        tx.commit().map_err(|e| sqlite_err(&path, "commit", e))?;
        Ok(answer)
    }

    fn err(&self, action: &'static str, e: rusqlite::Error) -> StoreError {
        sqlite_err(&self.path, action, e)
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

/// Every row, in the order the rows were written (`rowid`).
fn load(tx: &Transaction<'_>, path: &Path) -> Result<Rows, StoreError> {
    let read = |e| sqlite_err(path, "read the registry", e);
    let pair = |r: &rusqlite::Row<'_>| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?));
    Ok(Rows {
        organisations: query(
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
        .map_err(read)?,
        beheerders: query(tx, "SELECT subscriber_number, uzi FROM beheerders ORDER BY rowid", pair).map_err(read)?,
        certificates: query(
            tx,
            "SELECT card_serial, role, serial FROM certificates ORDER BY card_serial, position",
            |r| Ok((r.get::<_, String>(0)?, IssuedCertificate { role: r.get(1)?, serial: r.get(2)? })),
        )
        .map_err(read)?,
        events: query(tx, "SELECT card_serial, event FROM card_events ORDER BY card_serial, position", pair)
            .map_err(read)?,
        cards: query(
            tx,
            "SELECT serial, holder_name, uzi_number, organisation, subscriber_number, birth_date,
                    made_with_uzi_pass, not_before, not_after, status, revoked_at, terminated_at
             FROM cards ORDER BY rowid",
            |r| {
                Ok(CardRow {
                    issued: IssuedCard {
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
                    },
                    status: r.get(9)?,
                    revoked_at: r.get(10)?,
                    terminated_at: r.get(11)?,
                })
            },
        )
        .map_err(read)?,
        users: query(
            tx,
            "SELECT subscriber_number, uzi_number, first_names, surname, birth_date, wid_document, wid_checked_by,
                    wid_checked_at, status
             FROM users ORDER BY rowid",
            |r| {
                Ok(UserRow {
                    user: User {
                        subscriber_number: r.get(0)?,
                        uzi_number: r.get(1)?,
                        first_names: r.get(2)?,
                        surname: r.get(3)?,
                        birth_date: r.get(4)?,
                        wid_document: WidDocument::default(),
                        wid_checked_by: r.get(6)?,
                        wid_checked_at: r.get(7)?,
                        status: UserStatus::default(),
                    },
                    wid_document: r.get(5)?,
                    status: r.get(8)?,
                })
            },
        )
        .map_err(read)?,
    })
}

fn query<T>(
    tx: &Transaction<'_>,
    sql: &str,
    row: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<Vec<T>> {
    tx.prepare(sql)?.query_map([], row)?.collect()
}

fn write(tx: &Transaction<'_>, change: &Change<'_>) -> rusqlite::Result<()> {
    match *change {
        Change::Organisation(org) => tx.execute(
            "INSERT INTO organisations (subscriber_number, name, administrator, registered_at)
             VALUES (?1, ?2, ?3, ?4)",
            params![org.subscriber_number, org.name, org.administrator, org.registered_at],
        ),
        Change::Beheerder { subscriber_number, uzi } => tx.execute(
            "INSERT INTO beheerders (subscriber_number, uzi) VALUES (?1, ?2)",
            params![subscriber_number, uzi],
        ),
        Change::DeleteBeheerder { subscriber_number, uzi } => tx.execute(
            "DELETE FROM beheerders WHERE subscriber_number = ?1 AND uzi = ?2",
            params![subscriber_number, uzi],
        ),
        Change::User(u) => tx.execute(
            "INSERT INTO users (subscriber_number, uzi_number, first_names, surname, birth_date, wid_document,
                                wid_checked_by, wid_checked_at, status)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                u.subscriber_number,
                u.uzi_number,
                u.first_names,
                u.surname,
                u.birth_date,
                u.wid_document.as_str(),
                u.wid_checked_by,
                u.wid_checked_at,
                u.status.as_str()
            ],
        ),
        Change::UserStatus(u) => tx.execute(
            "UPDATE users SET status = ?3 WHERE subscriber_number = ?1 AND uzi_number = ?2",
            params![u.subscriber_number, u.uzi_number, u.status.as_str()],
        ),
        Change::DeleteUser(u) => tx.execute(
            "DELETE FROM users WHERE subscriber_number = ?1 AND uzi_number = ?2",
            params![u.subscriber_number, u.uzi_number],
        ),
        Change::NewCard(card) => insert_card(tx, card).map(|()| 1),
        Change::CardStatus(card) => tx.execute(
            "UPDATE cards SET status = ?2, revoked_at = ?3, terminated_at = ?4 WHERE serial = ?1",
            params![card.issued.serial, card.status.to_string(), card.revoked_at, card.terminated_at],
        ),
        Change::Event { serial, position, event } => tx.execute(
            "INSERT INTO card_events (card_serial, position, event) VALUES (?1, ?2, ?3)",
            params![serial, position, event],
        ),
    }
    .map(drop)
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
