//! Third-party parsers run contained: some of them (`pdf-extract` and `lopdf` on damaged content streams,
//! `calamine` on a cut `.xls`) panic where they should return an error. [`contain`] runs one under
//! [`std::panic::catch_unwind`] and turns a panic into an error message, so a damaged file is one failure
//! line, never a crash; [`in_contained_parser`] lets a binary's panic hook stay quiet about those panics.

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};

thread_local! {
    static CONTAINED: Cell<bool> = const { Cell::new(false) };
}

/// True while the current thread runs a contained parser, whose panics are caught and reported as errors.
pub fn in_contained_parser() -> bool {
    CONTAINED.with(Cell::get)
}

/// Resets the flag even when the parser unwinds; restores an outer flag when containment nests (a
/// spreadsheet attached to an Outlook message).
struct Guard(bool);

impl Drop for Guard {
    fn drop(&mut self) {
        let outer = self.0;
        CONTAINED.with(|flag| flag.set(outer));
    }
}

/// Runs `parse`; a panic inside it becomes `Err` with the panic's message.
pub(crate) fn contain<T>(parse: impl FnOnce() -> T) -> Result<T, String> {
    let _guard = Guard(CONTAINED.with(|flag| flag.replace(true)));
    catch_unwind(AssertUnwindSafe(parse)).map_err(|panic| {
        panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "unknown error".to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_is_an_error_and_the_flag_is_reset() {
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let caught = contain(|| -> u8 { panic!("index out of bounds") });
        std::panic::set_hook(hook);
        assert_eq!(caught, Err("index out of bounds".to_owned()));
        assert!(!in_contained_parser());
        assert_eq!(contain(in_contained_parser), Ok(true));
        assert!(!in_contained_parser());
    }
}
