//! The portal's database: where the registry lives, and the one way it changes — one transaction per command.
//!
//! Every command ([`Store::transact`]) takes the write lock first, reads what the rules need into a [`Registry`],
//! runs the rule (`Registry`'s methods in `portal/src/registry.rs`), writes back what the rule changed plus one
//! `audit` row, and commits; a refused command rolls back and changes nothing. The caller prints its
//! acknowledgement only after the commit returned, and the commit is durable when it returns.
//!
//! [`Store`] is an enum over backends, chosen by where the database is ([`StoreLocation`], `--database`):
//! - [`Store::Sqlite`] ([`sqlite`]): the embedded default, one file ([`crate::DEFAULT_REGISTRY`]) in WAL mode,
//!   `BEGIN IMMEDIATE` as the write lock;
//! - [`Store::Postgres`] ([`postgres`]): a PostgreSQL database named by a `postgres://` URL, for a portal run as
//!   a service; `pg_advisory_xact_lock` as the write lock.
//!
//! Both hold the same tables, and the same code turns their rows into a [`Registry`] and a rule's change into
//! rows (`rows.rs`). The schema is versioned: [`sqlite::MIGRATIONS`]`[n]` and [`postgres::MIGRATIONS`]`[n]` take
//! version `n` to `n + 1`, all pending ones applied in order inside one transaction; a database of a newer
//! version than [`SCHEMA_VERSION`] is refused ([`StoreError::NewerSchema`]).

use std::path::PathBuf;
use std::time::Duration;

use super::registry::{PortalError, Refusal, Registry};

mod location;
pub mod postgres;
mod rows;
pub mod sqlite;

pub use self::location::{PostgresUrl, StoreLocation};
pub use self::postgres::PostgresStore;
pub use self::sqlite::SqliteStore;

/// How long a command waits for another command's write lock before it gives up.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(120);

/// The schema version this zorgcard writes: the number of migrations, the same for every backend.
pub const SCHEMA_VERSION: u32 = sqlite::MIGRATIONS.len() as u32;

const _: () = assert!(sqlite::MIGRATIONS.len() == postgres::MIGRATIONS.len(), "a migration for each backend");

/// The portal database could not be opened, read or written. Every message names the database (a PostgreSQL
/// URL without its password) and the fix.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database file does not exist (and the command does not create it).
    #[error(
        "portal database `{}` does not exist: register the organisation first (`zorgcard portal register --as <UZI number> --organisation <name> --ura <URA number>`), bring an old registry in with `zorgcard portal import-toml FILE`, or pass the right --database",
        path.display()
    )]
    NotFound {
        /// The file.
        path: PathBuf,
    },
    /// A TOML registry was given where the database is expected.
    #[error(
        "`{}` is a TOML registry, not a portal database: bring it into the database once with `zorgcard portal import-toml {} --database {}`, then pass --database {}",
        path.display(), path.display(), crate::DEFAULT_REGISTRY, crate::DEFAULT_REGISTRY
    )]
    TomlGiven {
        /// The file.
        path: PathBuf,
    },
    /// The file is not an SQLite database.
    #[error(
        "portal database `{}` is not an SQLite database: pass the database with --database; a TOML registry is brought in with `zorgcard portal import-toml FILE`",
        path.display()
    )]
    NotADatabase {
        /// The file.
        path: PathBuf,
    },
    /// Made by a newer zorgcard.
    #[error(
        "portal database `{database}` has schema version {found}; this zorgcard knows up to {SCHEMA_VERSION}: use the zorgcard that wrote it, or a newer one"
    )]
    NewerSchema {
        /// The database.
        database: StoreLocation,
        /// Its `user_version` or `schema_version`.
        found: u32,
    },
    /// A row holds a value the registry cannot have (the database was edited by hand).
    #[error("portal database `{database}`: {problem}: restore the database from a backup")]
    Corrupt {
        /// The database.
        database: StoreLocation,
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
    /// A `postgres://` location the client cannot read.
    #[error(
        "portal database URL `{url}` is not a PostgreSQL connection URL: {problem}: write it as postgres://USER@HOST:PORT/DATABASE, or postgres://USER@/DATABASE?host=/SOCKET/FOLDER for a unix socket"
    )]
    PostgresUrl {
        /// The URL as given, password left out.
        url: String,
        /// The client's reading of it.
        problem: String,
    },
    /// The server could not be reached, or refused the session.
    #[error(
        "cannot connect to the portal database `{url}`: {problem}: check that PostgreSQL runs and listens there (`pg_isready`), and the user and password the URL gives"
    )]
    PostgresConnect {
        /// The URL (password left out).
        url: PostgresUrl,
        /// The client's or server's message.
        problem: String,
    },
    /// The server runs, but the database the URL names does not exist.
    #[error(
        "portal database `{url}`: PostgreSQL has no database `{database}`: create it once with `createdb --owner={user} {database}` (as a role that may create databases); zorgcard then creates its tables"
    )]
    PostgresNoDatabase {
        /// The URL (password left out).
        url: PostgresUrl,
        /// The database name asked for.
        database: String,
        /// The user the URL connects as, who should own it (PostgreSQL 15 lets only the owner create tables in
        /// its `public` schema: documentation §5.9.6).
        user: String,
    },
    /// PostgreSQL failed a statement.
    #[error(
        "portal database `{url}`: cannot {action}: {problem}: check that the URL's user may create tables and write in that database, and the server's log"
    )]
    Postgres {
        /// The URL (password left out).
        url: PostgresUrl,
        /// What was being done.
        action: &'static str,
        /// The server's message.
        problem: String,
    },
}

/// One row of the `audit` table: who ran which command, when, and what the portal answered.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditRow {
    /// Its place in the audit, rising.
    pub id: i64,
    /// When (RFC 3339 UTC, the portal's clock).
    pub at: String,
    /// UZI number of the actor.
    pub actor: String,
    /// The command as the CLI spells it.
    pub command: String,
    /// The portal's answer.
    pub outcome: String,
    /// The organisation the command changed (migration 2); `None` for rows written before it, and for a command
    /// that changed several organisations at once.
    pub subscriber_number: Option<String>,
}

/// The portal database, by backend.
#[derive(Debug)]
pub enum Store {
    /// The embedded default: one SQLite file.
    Sqlite(SqliteStore),
    /// A PostgreSQL database.
    Postgres(PostgresStore),
}

impl Store {
    /// Opens an existing database (applying pending migrations). A missing file is [`StoreError::NotFound`]; a
    /// PostgreSQL database must exist, and an empty one gets the tables.
    pub fn open(location: impl Into<StoreLocation>) -> Result<Store, StoreError> {
        Self::open_with(location.into(), false)
    }

    /// Opens the database, creating its file if it does not exist yet (`portal register`, `portal import-toml`).
    pub fn open_or_create(location: impl Into<StoreLocation>) -> Result<Store, StoreError> {
        Self::open_with(location.into(), true)
    }

    fn open_with(location: StoreLocation, create: bool) -> Result<Store, StoreError> {
        match location {
            StoreLocation::File(path) => SqliteStore::open(&path, create).map(Store::Sqlite),
            StoreLocation::Postgres(url) => PostgresStore::open(url).map(Store::Postgres),
        }
    }

    /// Where the database is (`Display` leaves a password out).
    pub fn location(&self) -> &StoreLocation {
        match self {
            Store::Sqlite(s) => s.location(),
            Store::Postgres(s) => s.location(),
        }
    }

    /// The schema version of the database (after opening: [`SCHEMA_VERSION`]).
    pub fn schema_version(&mut self) -> Result<u32, StoreError> {
        match self {
            Store::Sqlite(s) => s.schema_version(),
            Store::Postgres(s) => s.schema_version(),
        }
    }

    /// The registry as it is now (one read transaction): for commands that change nothing.
    pub fn registry(&mut self) -> Result<Registry, StoreError> {
        match self {
            Store::Sqlite(s) => s.registry(),
            Store::Postgres(s) => s.registry(),
        }
    }

    /// The audit rows tied to organisation `subscriber_number`, oldest first (one read).
    pub fn audit(&mut self, subscriber_number: &str) -> Result<Vec<AuditRow>, StoreError> {
        match self {
            Store::Sqlite(s) => s.audit(subscriber_number),
            Store::Postgres(s) => s.audit(subscriber_number),
        }
    }

    /// One command as one transaction: the write lock, the registry read, `rule` run on it, its changes and an
    /// audit row (`actor`, `command`, and the organisation the change touched) written, `COMMIT`. A refused rule rolls back and changes nothing; a rule that
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
            Store::Postgres(s) => s.transact(actor, command, now, rule),
        }
    }
}
