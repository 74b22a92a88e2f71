//! Where the portal database is: an SQLite file, or a PostgreSQL database named by a connection URL.
//!
//! One string names either, as `--database` takes it: `postgres://…` or `postgresql://…` (PostgreSQL
//! documentation, *libpq*, §34.1.1 "Connection Strings", URI form) is a PostgreSQL database, anything else a file.
//! A URL may carry a password; [`PostgresUrl`]'s `Display` and `Debug` leave it out, so the URL can go into every
//! error message and log line.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::StoreError;

/// The URL schemes libpq accepts for a connection URI (PostgreSQL documentation §34.1.1.2), in lower case as
/// libpq and the `postgres` client compare them.
const SCHEMES: [&str; 2] = ["postgres://", "postgresql://"];

/// Query parameters (§34.1.2 "Parameter Key Words") whose values are shown; every other value (`password`, and
/// whatever a later version adds) prints as `***`.
const SHOWN_PARAMETERS: [&str; 10] = [
    "host",
    "hostaddr",
    "port",
    "user",
    "dbname",
    "application_name",
    "connect_timeout",
    "sslmode",
    "target_session_attrs",
    "options",
];

/// The portal database: a file (SQLite) or a PostgreSQL URL. `Display` names it as a user would recognise it,
/// without a password.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// An SQLite database file.
    File(PathBuf),
    /// A PostgreSQL database.
    Postgres(PostgresUrl),
}

impl StoreLocation {
    /// Reads a `--database` value: a `postgres://` or `postgresql://` URL, or else a file path.
    pub fn parse(text: &str) -> Result<StoreLocation, StoreError> {
        if SCHEMES.iter().any(|s| text.starts_with(s)) {
            PostgresUrl::parse(text).map(StoreLocation::Postgres)
        } else {
            Ok(StoreLocation::File(PathBuf::from(text)))
        }
    }
}

impl FromStr for StoreLocation {
    type Err = StoreError;

    fn from_str(text: &str) -> Result<StoreLocation, StoreError> {
        StoreLocation::parse(text)
    }
}

impl fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreLocation::File(path) => write!(f, "{}", path.display()),
            StoreLocation::Postgres(url) => url.fmt(f),
        }
    }
}

impl fmt::Debug for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreLocation::File(path) => f.debug_tuple("File").field(path).finish(),
            StoreLocation::Postgres(url) => f.debug_tuple("Postgres").field(url).finish(),
        }
    }
}

/// A path is a file, whatever it spells: only [`StoreLocation::parse`] reads URLs.
impl From<PathBuf> for StoreLocation {
    fn from(path: PathBuf) -> StoreLocation {
        StoreLocation::File(path)
    }
}

impl From<&Path> for StoreLocation {
    fn from(path: &Path) -> StoreLocation {
        StoreLocation::File(path.to_path_buf())
    }
}

impl From<&PathBuf> for StoreLocation {
    fn from(path: &PathBuf) -> StoreLocation {
        StoreLocation::File(path.clone())
    }
}

impl From<&StoreLocation> for StoreLocation {
    fn from(location: &StoreLocation) -> StoreLocation {
        location.clone()
    }
}

impl From<PostgresUrl> for StoreLocation {
    fn from(url: PostgresUrl) -> StoreLocation {
        StoreLocation::Postgres(url)
    }
}

/// A PostgreSQL connection URL that parses. The text is kept as given (the password too, to connect with), and
/// shown only without its password.
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresUrl {
    text: String,
}

impl PostgresUrl {
    /// Checks `text` the way the client will read it when it connects.
    pub fn parse(text: &str) -> Result<PostgresUrl, StoreError> {
        match postgres::Config::from_str(text) {
            Ok(_) => Ok(PostgresUrl { text: text.to_owned() }),
            Err(e) => Err(StoreError::PostgresUrl { url: redact(text), problem: super::postgres::describe(&e) }),
        }
    }

    /// The client configuration, password included: for connecting, never for printing.
    pub(super) fn config(&self) -> Result<postgres::Config, postgres::Error> {
        postgres::Config::from_str(&self.text)
    }

    /// The database name the server will be asked for: `dbname`, else the user's name, as the server defaults
    /// it (PostgreSQL documentation §34.1.2, `dbname`).
    pub fn database(&self) -> String {
        self.config().ok().and_then(|c| c.get_dbname().map(str::to_owned)).unwrap_or_else(|| self.user())
    }

    /// The user the URL connects as; `$USER` when it names none, for the client then logs in with the name of
    /// the operating-system user.
    pub fn user(&self) -> String {
        self.config().ok().and_then(|c| c.get_user().map(str::to_owned)).unwrap_or_else(|| "$USER".into())
    }
}

impl fmt::Display for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact(&self.text))
    }
}

impl fmt::Debug for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PostgresUrl({})", redact(&self.text))
    }
}

/// The URL without its password: the user part of `user:password@` is kept, and the value of every query
/// parameter not in [`SHOWN_PARAMETERS`] is replaced by `***`. The credentials end at the *last* `@`, so a
/// password with an unencoded `@`, `/` or `?` in it is hidden whole (the client reads up to the first `@`,
/// which only ever shows less).
fn redact(text: &str) -> String {
    let scheme_end = text.find("://").map_or(0, |i| i + 3);
    let (scheme, rest) = text.split_at(scheme_end);
    let rest = match rest.rfind('@') {
        Some(at) => {
            let user = rest[..at].split(':').next().unwrap_or_default();
            format!("{user}@{}", &rest[at + 1..])
        }
        None => rest.to_owned(),
    };
    let Some((main, query)) = rest.split_once('?') else {
        return format!("{scheme}{rest}");
    };
    let parameters: Vec<String> = query
        .split('&')
        .map(|p| match p.split_once('=') {
            Some((key, _)) if !SHOWN_PARAMETERS.contains(&key) => format!("{key}=***"),
            _ => p.to_owned(),
        })
        .collect();
    format!("{scheme}{main}?{}", parameters.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_is_postgres_and_anything_else_a_file() {
        for url in ["postgres://u@localhost/db", "postgresql:///portal?host=/run/pg"] {
            assert!(matches!(StoreLocation::parse(url), Ok(StoreLocation::Postgres(_))), "{url}");
        }
        for file in ["zorgcard-portal.db", "/var/lib/portal.db", "postgres.db", "postgres:/x"] {
            assert_eq!(StoreLocation::parse(file).unwrap(), StoreLocation::File(file.into()), "{file}");
        }
        let err = StoreLocation::parse("postgres://u:secret@h/db?port=many").unwrap_err().to_string();
        assert!(err.contains("postgres://u@h/db?port=many") && !err.contains("secret"), "{err}");
    }

    #[test]
    fn the_password_is_never_shown() {
        for (url, shown) in [
            ("postgres://zorg:s3cret@db.example:5432/portal", "postgres://zorg@db.example:5432/portal"),
            ("postgresql://zorg@h/portal", "postgresql://zorg@h/portal"),
            ("postgres://zorg:s3c@r/t?x@h/portal", "postgres://zorg@h/portal"),
            ("postgres:///portal?host=/tmp&password=s3cret&user=z", "postgres:///portal?host=/tmp&password=***&user=z"),
            ("postgres://h/db?pass%77ord=s3cret", "postgres://h/db?pass%77ord=***"),
            ("postgres://:s3cret@h/db", "postgres://@h/db"),
        ] {
            assert_eq!(redact(url), shown);
            if let Ok(location) = StoreLocation::parse(url) {
                for printed in [location.to_string(), format!("{location:?}")] {
                    assert!(!printed.contains("s3c"), "{printed}");
                }
            }
        }
    }
}
