//! The service backend: a PostgreSQL database named by a URL ([`PostgresUrl`]), through the synchronous
//! `postgres` client without TLS (the server is on loopback or a unix socket).
//!
//! **How writers are serialized.** Every command's transaction starts with `SELECT pg_advisory_xact_lock(K)`
//! ([`WRITE_LOCK`]; PostgreSQL documentation §13.3.5 "Advisory Locks" and §9.27.10 "Advisory Lock Functions"):
//! one writer at a time, as `BEGIN IMMEDIATE` does for SQLite. The lock is released by the COMMIT or ROLLBACK, and
//! by the server when a client dies mid-command (its session ends, so its transaction aborts), so a `kill -9`
//! leaves no lock behind. The transaction stays at READ COMMITTED on purpose (§13.2.1): each statement after the
//! lock takes a new snapshot, so the registry read sees every command committed before the lock was granted. The
//! alternative, SERIALIZABLE with retries (§13.2.3), would fail and retry most commands here: every command reads
//! the whole registry, so any two concurrent writers conflict. Readers (`Store::registry`) take no lock:
//! one REPEATABLE READ READ ONLY transaction gives them a consistent snapshot (§13.2.2) while a writer works.
//!
//! **Durability.** Each session sets `synchronous_commit = on` (§20.5.1), so a COMMIT returns after its WAL
//! record is flushed even if the server's default is `off`: an acknowledged command survives a crash, as with
//! SQLite's `synchronous=FULL`. Waiting for the lock is bounded by `lock_timeout` ([`super::BUSY_TIMEOUT`]).
//!
//! **Schema.** The same tables as SQLite, with PostgreSQL types (TEXT, BIGINT, BIGSERIAL for the audit id) and
//! the same keys and CHECK; `organisations`, `beheerders` and `cards` carry a `seq BIGSERIAL` column that stands
//! in for SQLite's implicit `rowid`, the order rows were written in, which the registry keeps. The version is the
//! one row of `schema_version`, with the same [`MIGRATIONS`] index semantics as `PRAGMA user_version`. The
//! database itself must exist (`createdb`): the portal creates its tables, not databases.

use std::fmt;
use std::time::Duration;

use postgres::error::SqlState;
use postgres::types::ToSql;
use postgres::{Client, IsolationLevel, NoTls, Transaction};

use super::rows::{CardRow, Change, Rows, UserRow, changes, organisation};
use super::{AuditRow, BUSY_TIMEOUT, PostgresUrl, SCHEMA_VERSION, StoreError, StoreLocation};
use crate::record::{IssuedCard, IssuedCertificate, rfc3339};
use crate::registry::{Organisation, PortalError, Refusal, Registry};
use crate::users::{User, UserStatus, WidDocument};

/// The schema, one step per version: `MIGRATIONS[n]` takes a database from version `n` to `n + 1`. Append only,
/// together with [`super::sqlite::MIGRATIONS`].
pub const MIGRATIONS: &[&str] = &[
    // 1: the registry normalised (organisations, beheerders, cards and their certificates and events) and the audit.
    "CREATE TABLE organisations (
         seq BIGSERIAL NOT NULL,
         subscriber_number TEXT PRIMARY KEY NOT NULL,
         name TEXT NOT NULL,
         administrator TEXT NOT NULL,
         registered_at TEXT NOT NULL
     );
     CREATE TABLE beheerders (
         seq BIGSERIAL NOT NULL,
         subscriber_number TEXT NOT NULL REFERENCES organisations (subscriber_number),
         uzi TEXT NOT NULL,
         PRIMARY KEY (subscriber_number, uzi)
     );
     CREATE TABLE cards (
         seq BIGSERIAL NOT NULL,
         serial TEXT PRIMARY KEY NOT NULL,
         holder_name TEXT NOT NULL,
         uzi_number TEXT NOT NULL,
         organisation TEXT NOT NULL,
         subscriber_number TEXT NOT NULL REFERENCES organisations (subscriber_number),
         birth_date TEXT NOT NULL,
         made_with_uzi_pass TEXT NOT NULL,
         not_before BIGINT NOT NULL,
         not_after BIGINT NOT NULL,
         status TEXT NOT NULL CHECK (status IN ('active', 'blocked', 'revoked')),
         revoked_at TEXT,
         terminated_at TEXT
     );
     CREATE TABLE certificates (
         card_serial TEXT NOT NULL REFERENCES cards (serial),
         position BIGINT NOT NULL,
         role TEXT NOT NULL,
         serial TEXT NOT NULL,
         PRIMARY KEY (card_serial, position)
     );
     CREATE TABLE card_events (
         card_serial TEXT NOT NULL REFERENCES cards (serial),
         position BIGINT NOT NULL,
         event TEXT NOT NULL,
         PRIMARY KEY (card_serial, position)
     );
     CREATE TABLE audit (
         id BIGSERIAL PRIMARY KEY,
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
         seq BIGSERIAL NOT NULL,
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

/// The advisory lock every writing transaction takes first: the bytes of `zorgcard`, one key for the whole
/// database (advisory lock keys are per database, §9.27.10).
pub const WRITE_LOCK: i64 = i64::from_be_bytes(*b"zorgcard");

/// How long connecting may take when the URL sets no `connect_timeout`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// The version table, outside [`MIGRATIONS`] because it says which of them have run: one row, `version`.
const VERSION_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_version (
    only_row BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (only_row),
    version INTEGER NOT NULL
)";

/// An open PostgreSQL portal database: one session.
pub struct PostgresStore {
    url: PostgresUrl,
    location: StoreLocation,
    client: Client,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore").field("url", &self.url).finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects, sets the session's durability and lock timeout, and applies pending migrations.
    pub(super) fn open(url: PostgresUrl) -> Result<PostgresStore, StoreError> {
        let mut config =
            url.config().map_err(|e| StoreError::PostgresUrl { url: url.to_string(), problem: describe(&e) })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("zorgcard");
        }
        let client = config.connect(NoTls).map_err(|e| connect_err(&url, e))?;
        let mut store = PostgresStore { location: StoreLocation::Postgres(url.clone()), url, client };
        let session = format!(
            "SET synchronous_commit = on; SET lock_timeout = '{}s'; SET client_min_messages = warning",
            BUSY_TIMEOUT.as_secs()
        );
        store.client.batch_execute(&session).map_err(|e| pg_err(&store.url, "set up the session", e))?;
        store.migrate()?;
        Ok(store)
    }

    pub(super) fn location(&self) -> &StoreLocation {
        &self.location
    }

    /// Applies the pending [`MIGRATIONS`] in one transaction under the write lock; refuses a newer database.
    fn migrate(&mut self) -> Result<(), StoreError> {
        let found = self.schema_version()?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema { database: self.location.clone(), found });
        }
        if found == SCHEMA_VERSION {
            return Ok(());
        }
        let url = &self.url;
        let mut tx = self.client.transaction().map_err(|e| pg_err(url, "start the migration", e))?;
        lock(&mut tx).map_err(|e| pg_err(url, "take the write lock", e))?;
        tx.batch_execute(VERSION_TABLE).map_err(|e| pg_err(url, "create the schema_version table", e))?;
        // Another process may have migrated while this one waited for the lock.
        let found = version(&mut tx).map_err(|e| pg_err(url, "read the schema version", e))?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema { database: self.location.clone(), found });
        }
        for (n, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
            tx.batch_execute(sql).map_err(|e| pg_err(url, "migrate the schema", e))?;
            let next = i32::try_from(n + 1).unwrap_or(i32::MAX);
            tx.execute(
                "INSERT INTO schema_version (version) VALUES ($1)
                 ON CONFLICT (only_row) DO UPDATE SET version = EXCLUDED.version",
                &[&next],
            )
            .map_err(|e| pg_err(url, "set the schema version", e))?;
        }
        tx.commit().map_err(|e| pg_err(url, "commit the migration", e))
    }

    /// The version in `schema_version`; 0 for a database without the table (nothing migrated yet).
    pub(super) fn schema_version(&mut self) -> Result<u32, StoreError> {
        version(&mut self.client).map_err(|e| pg_err(&self.url, "read the schema version", e))
    }

    /// The registry in one REPEATABLE READ READ ONLY transaction: one snapshot, no lock.
    pub(super) fn registry(&mut self) -> Result<Registry, StoreError> {
        let url = &self.url;
        let mut tx = self
            .client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .map_err(|e| pg_err(url, "start a read", e))?;
        let rows = load(&mut tx).map_err(|e| pg_err(url, "read the registry", e))?;
        tx.commit().map_err(|e| pg_err(url, "end the read", e))?;
        rows.into_registry(&self.location)
    }

    /// The audit rows of one organisation (one statement: one snapshot at READ COMMITTED).
    pub(super) fn audit(&mut self, subscriber_number: &str) -> Result<Vec<AuditRow>, StoreError> {
        let url = &self.url;
        let rows = self
            .client
            .query(
                "SELECT id, at, actor, command, outcome, subscriber_number FROM audit
                 WHERE subscriber_number = $1 ORDER BY id",
                &[&subscriber_number],
            )
            .map_err(|e| pg_err(url, "read the audit", e))?;
        rows.iter()
            .map(|r| {
                Ok(AuditRow {
                    id: r.try_get(0)?,
                    at: r.try_get(1)?,
                    actor: r.try_get(2)?,
                    command: r.try_get(3)?,
                    outcome: r.try_get(4)?,
                    subscriber_number: r.try_get(5)?,
                })
            })
            .collect::<Result<_, postgres::Error>>()
            .map_err(|e| pg_err(url, "read the audit", e))
    }

    pub(super) fn transact(
        &mut self,
        actor: &str,
        command: &str,
        now: i64,
        rule: impl FnOnce(&mut Registry) -> Result<String, Refusal>,
    ) -> Result<String, PortalError> {
        let (url, location) = (&self.url, &self.location);
        let mut tx = self
            .client
            .build_transaction()
            .isolation_level(IsolationLevel::ReadCommitted)
            .start()
            .map_err(|e| pg_err(url, "start the transaction", e))?;
        lock(&mut tx).map_err(|e| pg_err(url, "take the write lock", e))?;
        let before = load(&mut tx).map_err(|e| pg_err(url, "read the registry", e))?.into_registry(location)?;
        let mut after = before.clone();
        // On a refusal `tx` is dropped, which rolls back: nothing changes.
        let answer =
            rule(&mut after).map_err(|refusal| PortalError::Refused { database: location.clone(), refusal })?;
        if after != before {
            let changes = changes(&before, &after);
            for change in &changes {
                write(&mut tx, change).map_err(|e| pg_err(url, "write the change", e))?;
            }
            tx.execute(
                "INSERT INTO audit (at, actor, command, outcome, subscriber_number) VALUES ($1, $2, $3, $4, $5)",
                &[&rfc3339(now), &actor, &command, &answer.trim_end(), &organisation(&changes, &after)],
            )
            .map_err(|e| pg_err(url, "write the audit row", e))?;
        }
        tx.commit().map_err(|e| pg_err(url, "commit", e))?;
        Ok(answer)
    }
}

fn lock(tx: &mut Transaction<'_>) -> Result<(), postgres::Error> {
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK]).map(drop)
}

fn version(client: &mut impl postgres::GenericClient) -> Result<u32, postgres::Error> {
    let exists: bool = client.query_one("SELECT to_regclass('schema_version') IS NOT NULL", &[])?.try_get(0)?;
    if !exists {
        return Ok(0);
    }
    let found: Option<i32> = client.query_one("SELECT max(version) FROM schema_version", &[])?.try_get(0)?;
    Ok(found.map_or(0, |v| u32::try_from(v).unwrap_or(0)))
}

/// The server's own words: severity, message, detail and SQLSTATE for a database error; the client's for others.
pub(super) fn describe(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let detail = db.detail().map(|d| format!(" ({d})")).unwrap_or_default();
        return format!("{}: {}{detail} [SQLSTATE {}]", db.severity(), db.message(), db.code().code());
    }
    match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

fn connect_err(url: &PostgresUrl, e: postgres::Error) -> StoreError {
    if e.code() == Some(&SqlState::INVALID_CATALOG_NAME) {
        return StoreError::PostgresNoDatabase { url: url.clone(), database: url.database(), user: url.user() };
    }
    StoreError::PostgresConnect { url: url.clone(), problem: describe(&e) }
}

fn pg_err(url: &PostgresUrl, action: &'static str, e: postgres::Error) -> StoreError {
    StoreError::Postgres { url: url.clone(), action, problem: describe(&e) }
}

/// Every row, in the order the rows were written (`seq`).
fn load(tx: &mut Transaction<'_>) -> Result<Rows, postgres::Error> {
    let mut rows = Rows::default();
    for r in
        tx.query("SELECT subscriber_number, name, administrator, registered_at FROM organisations ORDER BY seq", &[])?
    {
        rows.organisations.push(Organisation {
            subscriber_number: r.try_get(0)?,
            name: r.try_get(1)?,
            administrator: r.try_get(2)?,
            beheerders: Vec::new(),
            registered_at: r.try_get(3)?,
        });
    }
    for r in tx.query("SELECT subscriber_number, uzi FROM beheerders ORDER BY seq", &[])? {
        rows.beheerders.push((r.try_get(0)?, r.try_get(1)?));
    }
    for r in tx.query("SELECT card_serial, role, serial FROM certificates ORDER BY card_serial, position", &[])? {
        rows.certificates.push((r.try_get(0)?, IssuedCertificate { role: r.try_get(1)?, serial: r.try_get(2)? }));
    }
    for r in tx.query("SELECT card_serial, event FROM card_events ORDER BY card_serial, position", &[])? {
        rows.events.push((r.try_get(0)?, r.try_get(1)?));
    }
    let cards = "SELECT serial, holder_name, uzi_number, organisation, subscriber_number, birth_date,
                        made_with_uzi_pass, not_before, not_after, status, revoked_at, terminated_at
                 FROM cards ORDER BY seq";
    for r in tx.query(cards, &[])? {
        rows.cards.push(CardRow {
            issued: IssuedCard {
                serial: r.try_get(0)?,
                holder_name: r.try_get(1)?,
                uzi_number: r.try_get(2)?,
                organisation: r.try_get(3)?,
                subscriber_number: r.try_get(4)?,
                birth_date: r.try_get(5)?,
                made_with_uzi_pass: r.try_get(6)?,
                not_before: r.try_get(7)?,
                not_after: r.try_get(8)?,
                certificates: Vec::new(),
            },
            status: r.try_get(9)?,
            revoked_at: r.try_get(10)?,
            terminated_at: r.try_get(11)?,
        });
    }
    let users = "SELECT subscriber_number, uzi_number, first_names, surname, birth_date, wid_document,
                        wid_checked_by, wid_checked_at, status
                 FROM users ORDER BY seq";
    for r in tx.query(users, &[])? {
        rows.users.push(UserRow {
            user: User {
                subscriber_number: r.try_get(0)?,
                uzi_number: r.try_get(1)?,
                first_names: r.try_get(2)?,
                surname: r.try_get(3)?,
                birth_date: r.try_get(4)?,
                wid_document: WidDocument::default(),
                wid_checked_by: r.try_get(6)?,
                wid_checked_at: r.try_get(7)?,
                status: UserStatus::default(),
            },
            wid_document: r.try_get(5)?,
            status: r.try_get(8)?,
        });
    }
    Ok(rows)
}

fn write(tx: &mut Transaction<'_>, change: &Change<'_>) -> Result<(), postgres::Error> {
    let mut run = |sql: &str, values: &[&(dyn ToSql + Sync)]| tx.execute(sql, values).map(drop);
    match *change {
        Change::Organisation(org) => run(
            "INSERT INTO organisations (subscriber_number, name, administrator, registered_at)
             VALUES ($1, $2, $3, $4)",
            &[&org.subscriber_number, &org.name, &org.administrator, &org.registered_at],
        ),
        Change::Beheerder { subscriber_number, uzi } => {
            run("INSERT INTO beheerders (subscriber_number, uzi) VALUES ($1, $2)", &[&subscriber_number, &uzi])
        }
        Change::DeleteBeheerder { subscriber_number, uzi } => {
            run("DELETE FROM beheerders WHERE subscriber_number = $1 AND uzi = $2", &[&subscriber_number, &uzi])
        }
        Change::User(u) => run(
            "INSERT INTO users (subscriber_number, uzi_number, first_names, surname, birth_date, wid_document,
                                wid_checked_by, wid_checked_at, status)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                &u.subscriber_number,
                &u.uzi_number,
                &u.first_names,
                &u.surname,
                &u.birth_date,
                &u.wid_document.as_str(),
                &u.wid_checked_by,
                &u.wid_checked_at,
                &u.status.as_str(),
            ],
        ),
        Change::UserStatus(u) => run(
            "UPDATE users SET status = $3 WHERE subscriber_number = $1 AND uzi_number = $2",
            &[&u.subscriber_number, &u.uzi_number, &u.status.as_str()],
        ),
        Change::DeleteUser(u) => run(
            "DELETE FROM users WHERE subscriber_number = $1 AND uzi_number = $2",
            &[&u.subscriber_number, &u.uzi_number],
        ),
        Change::NewCard(card) => {
            let c = &card.issued;
            run(
                "INSERT INTO cards (serial, holder_name, uzi_number, organisation, subscriber_number, birth_date,
                                    made_with_uzi_pass, not_before, not_after, status, revoked_at, terminated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                &[
                    &c.serial,
                    &c.holder_name,
                    &c.uzi_number,
                    &c.organisation,
                    &c.subscriber_number,
                    &c.birth_date,
                    &c.made_with_uzi_pass,
                    &c.not_before,
                    &c.not_after,
                    &card.status.to_string(),
                    &card.revoked_at,
                    &card.terminated_at,
                ],
            )?;
            for (n, cert) in c.certificates.iter().enumerate() {
                run(
                    "INSERT INTO certificates (card_serial, position, role, serial) VALUES ($1, $2, $3, $4)",
                    &[&c.serial, &(n as i64), &cert.role, &cert.serial],
                )?;
            }
            Ok(())
        }
        Change::CardStatus(card) => run(
            "UPDATE cards SET status = $2, revoked_at = $3, terminated_at = $4 WHERE serial = $1",
            &[&card.issued.serial, &card.status.to_string(), &card.revoked_at, &card.terminated_at],
        ),
        Change::Event { serial, position, event } => run(
            "INSERT INTO card_events (card_serial, position, event) VALUES ($1, $2, $3)",
            &[&serial, &position, &event],
        ),
    }
}
