//! Catching panics quietly: on the host's thread inside an export, and on the library's own
//! threads (listener, connections, download workers).
//!
//! The default panic hook prints to stderr, which a CAD host must never see from us. Once
//! [`install_quiet_hook`] has run (every C export does it), a panic on a thread that is inside
//! [`catch`] is recorded instead of printed and handed back as the error of `catch`; a panic
//! anywhere else in the process still goes to the hook that was there before.

use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    static DEPTH: Cell<u32> = const { Cell::new(0) };
    static MESSAGE: RefCell<Option<String>> = const { RefCell::new(None) };
}

static HOOK: Once = Once::new();

/// Replaces the panic hook once with one that records, rather than prints, panics that happen
/// inside [`catch`]; other panics go to the previous hook. Never panics itself.
pub fn install_quiet_hook() {
    if std::thread::panicking() {
        return; // `set_hook` would panic; the next call installs it
    }
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let inside = DEPTH.try_with(Cell::get).unwrap_or(0) > 0;
            if inside {
                let text = info.to_string();
                let _ = MESSAGE.try_with(|m| *m.borrow_mut() = Some(text));
            } else {
                previous(info);
            }
        }));
    });
}

/// Runs `f`; a panic inside it becomes `Err(message)` instead of unwinding further.
pub fn catch<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    let _ = DEPTH.try_with(|d| d.set(d.get() + 1));
    let result = catch_unwind(AssertUnwindSafe(f));
    let _ = DEPTH.try_with(|d| d.set(d.get().saturating_sub(1)));
    result.map_err(|payload| {
        MESSAGE
            .try_with(|m| m.borrow_mut().take())
            .ok()
            .flatten()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_inside_catch_is_returned_with_its_message() {
        install_quiet_hook();
        let got: Result<(), String> = catch(|| panic!("boom {}", 42));
        let message = got.unwrap_err();
        assert!(message.contains("boom 42"), "{message}");
        assert_eq!(catch(|| 7), Ok(7));
    }

    #[test]
    fn a_panic_on_a_library_thread_is_caught_there() {
        install_quiet_hook();
        let t = std::thread::spawn(|| catch(|| -> u8 { panic!("on a worker") }));
        let message = t
            .join()
            .expect("the thread itself did not panic")
            .unwrap_err();
        assert!(message.contains("on a worker"), "{message}");
    }
}
