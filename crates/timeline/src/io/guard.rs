//! Catching a panic inside a dependency's decoder without printing it.
//!
//! The parquet crate has panicked on corrupt files before (thrift footers, page headers).
//! Our contract is that no input file crashes the caller and that the user sees the
//! error alone: `catch_unwind` stops the unwinding, but the default panic hook has already
//! written "thread '...' panicked at ..." to stderr by then. [`quietly`] marks the current
//! thread while the decoder runs; a process-wide hook, installed once and chaining to
//! whatever hook was installed before it, stays silent for marked threads only, so a
//! genuine bug anywhere else still prints as usual.

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    static GUARDED: Cell<bool> = const { Cell::new(false) };
}

static INSTALL: Once = Once::new();

fn install_hook() {
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !GUARDED.with(Cell::get) {
                previous(info);
            }
        }));
    });
}

/// Run `step`; a panic inside it becomes `Err(())` and prints nothing.
pub(crate) fn quietly<R>(step: impl FnOnce() -> R) -> Result<R, ()> {
    install_hook();
    let outer = GUARDED.with(|g| g.replace(true));
    let result = catch_unwind(AssertUnwindSafe(step)).map_err(|_| ());
    GUARDED.with(|g| g.set(outer));
    result
}

#[cfg(test)]
mod tests {
    use super::quietly;

    #[test]
    fn a_panic_becomes_an_error_and_values_pass_through() {
        assert_eq!(quietly(|| 7), Ok(7));
        let caught: Result<(), ()> = quietly(|| panic!("decoder bug"));
        assert_eq!(caught, Err(()));
        // The mark is cleared afterwards (nested use restores the outer state).
        assert_eq!(quietly(|| quietly(|| 1)), Ok(Ok(1)));
    }
}
