//! Writing to stdout without panicking when the reader went away
//! (`jhub render-pod | head`): a closed pipe ends the output quietly.

use std::io::Write;

/// Prints `text` (a newline is added) to stdout, ignoring a closed pipe.
pub fn emit(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

/// Prints `text` as is.
pub fn emit_raw(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = write!(out, "{text}");
    let _ = out.flush();
}
