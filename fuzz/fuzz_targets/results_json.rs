//! Results files given to `isobench report` / `compare`: never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = isobench_results::ResultsFile::from_json(text, "fuzz");
});
