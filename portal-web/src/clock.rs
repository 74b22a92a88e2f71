//! The portal's clock: the machine's time shifted by a whole number of days, so a test can see today's cards as
//! they will be in three years (an expired UZI-pas, CPS UZI-register v10.2 §6.3.2: at most three years) without
//! waiting. One clock decides certificate validity at log-in, the time of every registry change and audit row,
//! and `thisUpdate` of OCSP answers and CRLs, so they never disagree.
//!
//! A test may also move the clock forward while the portal runs ([`PortalClock::advance`]), to see a session
//! expire after 20 minutes without waiting them out; only `--test-clock` exposes that (`POST /test/clock` on the
//! plain-HTTP listener, [`crate::test_clock`]), never a production portal.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::pki_types::UnixTime;

/// Seconds in a day, for `--clock-offset-days`.
const DAY_SECS: i64 = 86_400;

/// The machine's time plus a fixed offset, plus what a test advanced it by (shared by every clone).
#[derive(Debug, Clone, Default)]
pub struct PortalClock {
    offset_secs: i64,
    advanced_secs: Arc<AtomicI64>,
}

impl PortalClock {
    /// The machine's time shifted by `days` (negative: the past).
    pub fn offset_days(days: i64) -> PortalClock {
        PortalClock { offset_secs: days.saturating_mul(DAY_SECS), advanced_secs: Arc::default() }
    }

    /// Moves this clock and all its clones `secs` forward (tests only: `--test-clock`).
    pub fn advance(&self, secs: u32) {
        self.advanced_secs.fetch_add(i64::from(secs), Ordering::SeqCst);
    }

    /// Now, Unix seconds.
    pub fn now(&self) -> i64 {
        let real = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        real.saturating_add(self.offset_secs).saturating_add(self.advanced_secs.load(Ordering::SeqCst))
    }

    /// Now, as rustls and webpki take it for certificate validity (RFC 5280 §4.1.2.5).
    pub fn unix_time(&self) -> UnixTime {
        UnixTime::since_unix_epoch(Duration::from_secs(u64::try_from(self.now()).unwrap_or(0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_offset_of_1100_days_is_that_many_days_ahead() {
        let (now, later) = (PortalClock::default().now(), PortalClock::offset_days(1100).now());
        assert!((later - now - 1100 * DAY_SECS).abs() <= 2, "{now} {later}");
        assert_eq!(PortalClock::offset_days(1100).unix_time().as_secs(), u64::try_from(later).unwrap());
    }

    #[test]
    fn advancing_moves_every_clone() {
        let clock = PortalClock::default();
        let clone = clock.clone();
        let before = clone.now();
        clock.advance(1260);
        assert!((clone.now() - before - 1260).abs() <= 2);
    }
}
