//! Waiting on a [`Condvar`] until a condition holds or a deadline passes: the one loop that the vpcd slot's
//! control and the conformance scenarios' stop signal share.
//!
//! A condvar wakes spuriously and for changes that do not matter to this waiter, so the condition is checked on
//! every wake and the time left is recomputed from a fixed deadline (std's `Condvar::wait_timeout` docs).

use std::sync::{Condvar, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Waits on `changed` up to `timeout` (`None`, or one too long to add to now: for ever) until `ready` holds of
/// the value `guard` protects; returns whether it held. A poisoned lock is waited on as it is: the value is only
/// read.
pub fn wait_until<T>(
    changed: &Condvar,
    mut guard: MutexGuard<'_, T>,
    timeout: Option<Duration>,
    ready: impl Fn(&T) -> bool,
) -> bool {
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    loop {
        if ready(&guard) {
            return true;
        }
        guard = match deadline {
            None => changed.wait(guard).unwrap_or_else(PoisonError::into_inner),
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return false;
                }
                changed.wait_timeout(guard, left).unwrap_or_else(PoisonError::into_inner).0
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[test]
    fn returns_at_once_when_ready_and_false_after_the_deadline() {
        let (lock, changed) = (Mutex::new(false), Condvar::new());
        assert!(wait_until(&changed, lock.lock().unwrap(), Some(Duration::ZERO), |_| true));
        let started = Instant::now();
        assert!(!wait_until(&changed, lock.lock().unwrap(), Some(Duration::from_millis(20)), |b| *b));
        assert!(started.elapsed() >= Duration::from_millis(20));
    }

    #[test]
    fn wakes_when_another_thread_makes_it_true() {
        let shared = Arc::new((Mutex::new(false), Condvar::new()));
        let other = Arc::clone(&shared);
        let thread = std::thread::spawn(move || {
            *other.0.lock().unwrap() = true;
            other.1.notify_all();
        });
        assert!(wait_until(&shared.1, shared.0.lock().unwrap(), None, |b| *b));
        thread.join().unwrap();
    }
}
