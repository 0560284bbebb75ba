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
        let start = *self.generation.lock().unwrap_or_else(|p| p.into_inner());
        AbortToken {
            signal: Some(self.clone()),
            start,
        }
    }
}

/// What an operation checks between steps.
#[derive(Clone, Default)]
pub struct AbortToken {
    signal: Option<Arc<AbortSignal>>,
    start: u64,
}

impl AbortToken {
    /// A token that is never aborted.
    pub fn none() -> Self {
        AbortToken::default()
    }

    /// Whether the signal was triggered since the token was taken.
    pub fn is_aborted(&self) -> bool {
        self.signal
            .as_ref()
            .is_some_and(|s| *s.generation.lock().unwrap_or_else(|p| p.into_inner()) != self.start)
    }

    /// Sleeps for `duration` unless aborted first; returns `false` when aborted.
    pub fn sleep(&self, duration: Duration) -> bool {
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
