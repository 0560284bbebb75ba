//! Aborting blocking work from another thread: a signal owned by a client, and tokens that
//! remember the signal's generation when an operation started.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Raised by [`AbortSignal::trigger`]; wakes every [`AbortToken::sleep`].
#[derive(Default)]
pub struct AbortSignal {
    generation: Mutex<u64>,
    changed: Condvar,
}

impl AbortSignal {
    /// Aborts every operation whose token was taken before this call.
    pub fn trigger(&self) {
        *self.generation.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        self.changed.notify_all();
    }

    /// A token for an operation starting now: aborted by any later [`trigger`](Self::trigger).
    pub fn token(self: &Arc<Self>) -> AbortToken {
        AbortToken {
            signal: Some(self.clone()),
            start: self.current(),
            also: Vec::new(),
        }
    }

    fn current(&self) -> u64 {
        *self.generation.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// What an operation checks between steps: aborted when any of its signals was triggered after
/// the token was taken.
#[derive(Clone, Default)]
pub struct AbortToken {
    signal: Option<Arc<AbortSignal>>,
    start: u64,
    /// Further signals (a batch inside a client); checked too.
    also: Vec<(Arc<AbortSignal>, u64)>,
}

impl AbortToken {
    /// A token that is never aborted.
    pub fn none() -> Self {
        AbortToken::default()
    }

    /// The same token, also aborted by `other` from now on.
    pub fn and(&self, other: &Arc<AbortSignal>) -> AbortToken {
        let mut token = self.clone();
        token.also.push((other.clone(), other.current()));
        token
    }

    /// Whether a signal was triggered since the token was taken.
    pub fn is_aborted(&self) -> bool {
        self.signal
            .as_ref()
            .is_some_and(|s| s.current() != self.start)
            || self.also.iter().any(|(s, start)| s.current() != *start)
    }

    /// Sleeps for `duration` unless aborted first; returns `false` when aborted.
    pub fn sleep(&self, duration: Duration) -> bool {
        if !self.also.is_empty() {
            // Several signals: wake every 20 ms to look at all of them (retry waits only).
            let until = Instant::now() + duration;
            while Instant::now() < until {
                if self.is_aborted() {
                    return false;
                }
                std::thread::sleep((until - Instant::now()).min(Duration::from_millis(20)));
            }
            return !self.is_aborted();
        }
        let Some(signal) = &self.signal else {
            std::thread::sleep(duration);
            return true;
        };
        let until = Instant::now() + duration;
        let mut generation = signal.generation.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if *generation != self.start {
                return false;
            }
            let now = Instant::now();
            if now >= until {
                return true;
            }
            generation = signal
                .changed
                .wait_timeout(generation, until - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trigger_aborts_earlier_tokens_only() {
        let signal = Arc::new(AbortSignal::default());
        let before = signal.token();
        signal.trigger();
        let after = signal.token();
        assert!(before.is_aborted());
        assert!(!after.is_aborted());
        assert!(!AbortToken::none().is_aborted());
        let batch = Arc::new(AbortSignal::default());
        let combined = after.and(&batch);
        assert!(!combined.is_aborted());
        batch.trigger();
        assert!(combined.is_aborted() && !after.is_aborted());
        assert!(!combined.sleep(Duration::from_secs(5)));
    }

    #[test]
    fn a_trigger_wakes_a_sleeper() {
        let signal = Arc::new(AbortSignal::default());
        let token = signal.token();
        let s = signal.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            s.trigger();
        });
        let started = Instant::now();
        assert!(!token.sleep(Duration::from_secs(30)));
        assert!(started.elapsed() < Duration::from_secs(20));
        t.join().unwrap();
    }
}
