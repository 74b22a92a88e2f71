//! The portal's clock: the machine's time shifted by a whole number of days, so a test can see today's cards as
//! they will be in three years (an expired UZI-pas, CPS UZI-register v10.2 §6.3.2: at most three years) without
//! waiting. One clock decides certificate validity at log-in, the time of every registry change and audit row,
//! and `thisUpdate` of OCSP answers and CRLs, so they never disagree.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::pki_types::UnixTime;

/// Seconds in a day, for `--clock-offset-days`.
const DAY_SECS: i64 = 86_400;

/// The machine's time plus a fixed offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PortalClock {
    offset_secs: i64,
}

impl PortalClock {
    /// The machine's time shifted by `days` (negative: the past).
    pub fn offset_days(days: i64) -> PortalClock {
        PortalClock { offset_secs: days.saturating_mul(DAY_SECS) }
    }

    /// Now, Unix seconds.
    pub fn now(&self) -> i64 {
        let real = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        real.saturating_add(self.offset_secs)
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
}
