//! A circuit breaker for an embeddings server: after `threshold`
//! consecutive failed attempts that say the server is down (connection
//! errors, timeouts, 5xx) it opens, and calls fail at once without a request
//! for `cooldown`. Then one call is let through as a probe (half-open): its
//! success closes the breaker, its failure opens it for another cool-down.
//!
//! So a dead server costs the first call its timeouts, not every query.
//! A probe that never reports (its future was dropped) does not wedge the
//! breaker: the next cool-down lets another probe through.
//!
//! Pure state machine over caller-supplied instants (testable without
//! sleeping).

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Consecutive failed attempts that open the breaker by default.
pub const DEFAULT_THRESHOLD: u32 = 3;
/// How long an open breaker refuses calls by default before a probe.
pub const DEFAULT_COOLDOWN: Duration = Duration::from_secs(15);

/// What the breaker lets a caller do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Closed: go ahead.
    Go,
    /// Half-open: this caller is the one probe.
    Probe,
    /// Open: fail at once; the next probe is in `retry_in`.
    Reject { retry_in: Duration, failures: u32 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed {
        failures: u32,
    },
    /// Refusing until `until`; then the first caller probes (and pushes
    /// `until` one cool-down further, so only one probe runs at a time).
    Open {
        until: Instant,
        failures: u32,
    },
}

/// The breaker. `threshold == 0` turns it off (every call goes).
#[derive(Debug)]
pub struct Breaker {
    threshold: u32,
    cooldown: Duration,
    state: Mutex<State>,
}

impl Breaker {
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Self {
            threshold,
            cooldown,
            state: Mutex::new(State::Closed { failures: 0 }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether a call may start at `now`.
    pub fn admit(&self, now: Instant) -> Admit {
        if self.threshold == 0 {
            return Admit::Go;
        }
        let mut state = self.state();
        match *state {
            State::Closed { .. } => Admit::Go,
            State::Open { until, failures } if now < until => Admit::Reject {
                retry_in: until - now,
                failures,
            },
            State::Open { failures, .. } => {
                *state = State::Open {
                    until: now + self.cooldown,
                    failures,
                };
                Admit::Probe
            }
        }
    }

    /// An attempt reached the server and got an answer (any answer that is
    /// not "down"): closes the breaker.
    pub fn on_success(&self) {
        *self.state() = State::Closed { failures: 0 };
    }

    /// An attempt failed in a way that says the server is down. Returns
    /// true when this failure opened (or re-opened) the breaker.
    pub fn on_failure(&self, now: Instant) -> bool {
        if self.threshold == 0 {
            return false;
        }
        let mut state = self.state();
        match *state {
            State::Closed { failures } => {
                let failures = failures + 1;
                if failures >= self.threshold {
                    *state = State::Open {
                        until: now + self.cooldown,
                        failures,
                    };
                    true
                } else {
                    *state = State::Closed { failures };
                    false
                }
            }
            State::Open { failures, .. } => {
                // A failed probe (or a call admitted before the breaker
                // opened): another full cool-down.
                *state = State::Open {
                    until: now + self.cooldown,
                    failures: failures + 1,
                };
                true
            }
        }
    }

    /// True while calls are refused.
    pub fn is_open(&self, now: Instant) -> bool {
        matches!(self.peek(now), Admit::Reject { .. })
    }

    /// What [`Breaker::admit`] would answer at `now`, without taking the
    /// probe.
    pub fn peek(&self, now: Instant) -> Admit {
        if self.threshold == 0 {
            return Admit::Go;
        }
        match *self.state() {
            State::Open { until, failures } if now < until => Admit::Reject {
                retry_in: until - now,
                failures,
            },
            State::Open { .. } => Admit::Probe,
            State::Closed { .. } => Admit::Go,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COOL: Duration = Duration::from_secs(10);

    #[test]
    fn opens_after_threshold_consecutive_failures_only() {
        let b = Breaker::new(3, COOL);
        let t = Instant::now();
        assert!(!b.on_failure(t));
        assert!(!b.on_failure(t));
        b.on_success(); // not consecutive any more
        assert!(!b.on_failure(t));
        assert!(!b.on_failure(t));
        assert_eq!(b.admit(t), Admit::Go);
        assert!(b.on_failure(t), "the third in a row opens");
        assert!(matches!(
            b.admit(t + Duration::from_secs(1)),
            Admit::Reject { failures: 3, retry_in } if retry_in == Duration::from_secs(9)
        ));
        assert!(b.is_open(t));
    }

    #[test]
    fn one_probe_after_the_cooldown_then_close_or_reopen() {
        let b = Breaker::new(1, COOL);
        let t = Instant::now();
        assert!(b.on_failure(t));
        let later = t + COOL;
        assert_eq!(b.admit(later), Admit::Probe);
        assert!(
            matches!(b.admit(later), Admit::Reject { .. }),
            "only one probe at a time"
        );
        assert!(b.on_failure(later), "a failed probe re-opens");
        assert!(matches!(b.admit(later + COOL / 2), Admit::Reject { .. }));
        assert_eq!(b.admit(later + COOL), Admit::Probe);
        b.on_success();
        assert_eq!(b.admit(later + COOL), Admit::Go);
        assert!(!b.is_open(later + COOL));
    }

    #[test]
    fn a_lost_probe_does_not_wedge_it_and_zero_turns_it_off() {
        let b = Breaker::new(1, COOL);
        let t = Instant::now();
        b.on_failure(t);
        assert_eq!(b.admit(t + COOL), Admit::Probe); // never reports
        assert_eq!(b.admit(t + COOL * 2), Admit::Probe);
        let off = Breaker::new(0, COOL);
        for _ in 0..10 {
            assert!(!off.on_failure(t));
        }
        assert_eq!(off.admit(t), Admit::Go);
    }
}
