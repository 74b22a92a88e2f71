//! The chaos rates file (`fixtures/chaos/*.toml`, format in `fixtures/chaos/README.md`): how likely each event is
//! per APDU, and how slow, late and far ahead the events are.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::event::ChaosEvent;
use issuance::profile::DisplayPath;

/// The rates file format this module reads.
pub const FORMAT_VERSION: i64 = 1;

/// `fixtures/chaos/default.toml` of the fixture set ([`fixtures::active`]), the shipped rates.
pub fn default_rates_file() -> PathBuf {
    fixtures::active().path(fixtures::FixtureKind::ChaosRates, "default")
}

/// Why a rates file could not be used. Every message names the file and the fix.
#[derive(Debug, thiserror::Error)]
pub enum RatesError {
    /// The file could not be read.
    #[error("chaos rates `{path}`: cannot read the file: {source}: check the path and permissions")]
    Io {
        /// The file.
        path: DisplayPath,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Not TOML, or not the rates format.
    #[error("chaos rates `{path}`: {message}: fix it (the format is in fixtures/chaos/README.md)")]
    Syntax {
        /// The file.
        path: DisplayPath,
        /// What the TOML reader said, with the line.
        message: String,
    },
    /// A field has a value the format does not allow.
    #[error("chaos rates `{path}`: field `{field}`: {problem}: {fix}")]
    Field {
        /// The file.
        path: DisplayPath,
        /// The field, dotted.
        field: String,
        /// What is wrong.
        problem: String,
        /// How to fix it.
        fix: String,
    },
}

/// The rates, checked: each event with its probability per APDU, in a fixed order (the order the seeded draw
/// walks them), and the events' parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Rates {
    /// `(event, probability)`, probabilities summing to at most 1.
    pub events: Vec<(ChaosEvent, f64)>,
    /// How much longer a slow answer takes.
    pub slow: Duration,
    /// How long a pulled card stays out (served over vpcd; in-process it goes back before the next APDU).
    pub reinsert_after: Duration,
    /// How far the clock moves for `expired`, in days.
    pub expiry_days: i64,
}

impl Rates {
    /// The event drawn for `u` in `[0, 1)`: the one whose slice of the cumulative rates holds it, if any.
    pub fn pick(&self, u: f64) -> Option<ChaosEvent> {
        let mut top = 0.0;
        for (event, rate) in &self.events {
            top += rate;
            if u < top {
                return Some(*event);
            }
        }
        None
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRates {
    format: i64,
    #[serde(default)]
    rates: RawEventRates,
    #[serde(default)]
    timing: RawTiming,
    #[serde(default)]
    clock: RawClock,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawEventRates {
    #[serde(default)]
    pull: f64,
    #[serde(default)]
    reset: f64,
    #[serde(default)]
    slow: f64,
    #[serde(default)]
    pin_blocked: f64,
    #[serde(default)]
    expired: f64,
    #[serde(default)]
    revoked: f64,
    #[serde(default)]
    transient: BTreeMap<String, f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTiming {
    #[serde(default = "default_slow_ms")]
    slow_ms: u64,
    #[serde(default = "default_reinsert_ms")]
    reinsert_after_ms: u64,
}

impl Default for RawTiming {
    fn default() -> Self {
        RawTiming { slow_ms: default_slow_ms(), reinsert_after_ms: default_reinsert_ms() }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClock {
    #[serde(default = "default_expiry_days")]
    expiry_days: i64,
}

impl Default for RawClock {
    fn default() -> Self {
        RawClock { expiry_days: default_expiry_days() }
    }
}

fn default_slow_ms() -> u64 {
    300
}

fn default_reinsert_ms() -> u64 {
    1000
}

fn default_expiry_days() -> i64 {
    7300
}

/// Reads and checks the rates file at `path` (embedded or on disk, [`fixtures::read_to_string`]).
pub fn load(path: &Path) -> Result<Rates, RatesError> {
    let text = fixtures::read_to_string(path)
        .map_err(|source| RatesError::Io { path: DisplayPath(path.to_owned()), source })?;
    parse(path, &text)
}

/// Parses and checks rates text; `path` names the file in messages.
pub fn parse(path: &Path, text: &str) -> Result<Rates, RatesError> {
    let display = || DisplayPath(path.to_owned());
    let raw: RawRates =
        toml::from_str(text).map_err(|e| RatesError::Syntax { path: display(), message: e.to_string() })?;
    let field = |field: &str, problem: String, fix: &str| RatesError::Field {
        path: display(),
        field: field.to_owned(),
        problem,
        fix: fix.to_owned(),
    };
    if raw.format != FORMAT_VERSION {
        return Err(field(
            "format",
            format!("format {} is not supported (this zorgcard reads format {FORMAT_VERSION})", raw.format),
            "write the file in the format of fixtures/chaos/README.md",
        ));
    }
    let r = raw.rates;
    let mut events = vec![
        (ChaosEvent::Pull, r.pull, "rates.pull".to_owned()),
        (ChaosEvent::Reset, r.reset, "rates.reset".to_owned()),
        (ChaosEvent::Slow, r.slow, "rates.slow".to_owned()),
        (ChaosEvent::PinBlocked, r.pin_blocked, "rates.pin_blocked".to_owned()),
        (ChaosEvent::Expired, r.expired, "rates.expired".to_owned()),
        (ChaosEvent::Revoked, r.revoked, "rates.revoked".to_owned()),
    ];
    for (sw, rate) in r.transient {
        let name = format!("rates.transient.\"{sw}\"");
        let value = hex::decode(&sw).ok().and_then(|b| <[u8; 2]>::try_from(b).ok()).map(u16::from_be_bytes);
        match value {
            Some(v) if (0x6200..=0x6FFF).contains(&v) && v >> 8 != 0x61 => {
                events.push((ChaosEvent::Transient(v), rate, name));
            }
            _ => {
                return Err(field(
                    &name,
                    format!("`{sw}` is not an error status word"),
                    "give two hex bytes from 62xx to 6Fxx (61xx means more data, not an error), e.g. \"6581\"",
                ));
            }
        }
    }
    let mut total = 0.0;
    for (_, rate, name) in &events {
        if !(0.0..=1.0).contains(rate) {
            return Err(field(name, format!("{rate} is not a probability"), "give a number from 0 to 1"));
        }
        total += rate;
    }
    if total > 1.0 + 1e-9 {
        return Err(field("rates", format!("the rates add up to {total}, more than 1"), "lower some of them"));
    }
    if raw.clock.expiry_days <= 0 {
        return Err(field(
            "clock.expiry_days",
            format!("{} does not move the clock ahead", raw.clock.expiry_days),
            "give a number of days past the card's validity, e.g. 7300",
        ));
    }
    Ok(Rates {
        events: events.into_iter().filter(|(_, rate, _)| *rate > 0.0).map(|(e, rate, _)| (e, rate)).collect(),
        slow: Duration::from_millis(raw.timing.slow_ms),
        reinsert_after: Duration::from_millis(raw.timing.reinsert_after_ms),
        expiry_days: raw.clock.expiry_days,
    })
}
