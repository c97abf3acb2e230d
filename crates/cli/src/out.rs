//! Writing to standard output: a reader that went away (`isobench report
//! --style json | head`) ends the output quietly, as it does for `cat`.

use std::io::{ErrorKind, Write};

/// Writes `text` to stdout and flushes; a closed pipe is not an error.
pub fn print(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}
