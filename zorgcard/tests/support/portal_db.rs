//! One portal database for a load test or the benchmark (`tests/portal_serve_load.rs`,
//! `examples/portal_bench.rs`, which include this file with `#[path]`): an SQLite file in a temporary folder, or
//! a database on a PostgreSQL server of its own (`portal/tests/support/postgres.rs`, which the includer declares
//! as `postgres_server`). The rows are read back with each database's own client, behind the portal's back.

use std::path::PathBuf;

use portal::{IssuedCard, IssuedCertificate, StoreLocation};
use rusqlite::Connection;

use crate::postgres_server::PostgresServer;

/// The organisation the load works on.
pub const URA: &str = "90000001";
/// Its administrator, who logs in with a UZI-zorgverlenerspas.
pub const ADMIN: &str = "900016528";

/// A portal database and how to read it.
pub enum Db {
    /// An SQLite file.
    Sqlite {
        /// The folder holding it.
        _dir: tempfile::TempDir,
        /// The file.
        path: PathBuf,
    },
    /// A database on a PostgreSQL server started for it.
    Postgres {
        /// The server.
        server: PostgresServer,
        /// The database's name.
        name: String,
    },
}

impl Db {
    /// A new SQLite file (created by the portal).
    pub fn sqlite() -> Db {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("portal.db");
        Db::Sqlite { _dir: dir, path }
    }

    /// A new empty database on a new PostgreSQL server.
    pub fn postgres() -> Db {
        let server = PostgresServer::start();
        let name = server.create_database("portal");
        Db::Postgres { server, name }
    }

    /// The backend's name, for the figure lines.
    pub fn backend(&self) -> &'static str {
        match self {
            Db::Sqlite { .. } => "SQLite",
            Db::Postgres { .. } => "PostgreSQL",
        }
    }

    /// What the command line takes after `zorgcard portal`.
    pub fn flag(&self) -> [String; 2] {
        match self {
            Db::Sqlite { path, .. } => ["--database".into(), path.display().to_string()],
            Db::Postgres { server, name } => ["--database".into(), server.url(name)],
        }
    }

    /// The same database for the library.
    pub fn location(&self) -> StoreLocation {
        StoreLocation::parse(&self.flag()[1]).unwrap()
    }

    /// The one number `sql` selects.
    pub fn count(&self, sql: &str) -> usize {
        let n: i64 = match self {
            Db::Sqlite { path, .. } => Connection::open(path).unwrap().query_row(sql, [], |r| r.get(0)).unwrap(),
            Db::Postgres { server, name } => server.client(name).query_one(sql, &[]).unwrap().get(0),
        };
        n as usize
    }

    /// The one text column `sql` selects, every row.
    pub fn texts(&self, sql: &str) -> Vec<String> {
        match self {
            Db::Sqlite { path, .. } => {
                let c = Connection::open(path).unwrap();
                let mut stmt = c.prepare(sql).unwrap();
                stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
            }
            Db::Postgres { server, name } => {
                server.client(name).query(sql, &[]).unwrap().iter().map(|r| r.get(0)).collect()
            }
        }
    }
}

/// The serial of the `n`th card of the organisation.
pub fn card_serial(n: usize) -> String {
    format!("91000000000{n:05}")
}

/// Records `cards` issued cards of [`URA`], as the personaliser does (one audit row each).
pub fn record_cards(db: &Db, cards: usize) {
    for n in 0..cards {
        let card = IssuedCard {
            serial: card_serial(n),
            holder_name: format!("Test Holder {n}"),
            uzi_number: format!("9000{n:05}"),
            organisation: "Test Zorginstelling 01".into(),
            subscriber_number: URA.into(),
            birth_date: "1990-05-17".into(),
            made_with_uzi_pass: "9000000000000001".into(),
            not_before: 1_767_225_600,
            not_after: 1_767_225_600 + 94_608_000,
            certificates: vec![IssuedCertificate { role: "authentication".into(), serial: format!("01AB{n:04}") }],
        };
        portal::record_issued(db.location(), &card).unwrap();
    }
}
