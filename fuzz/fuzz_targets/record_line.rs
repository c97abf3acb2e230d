//! Agent output lines: the host must never panic on what an agent (or a
//! console full of kernel text) prints.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let line = String::from_utf8_lossy(data);
    if let Ok(isobench_records::LineKind::Record(record)) = isobench_records::parse_line(&line) {
        // A record that parses must serialise and parse back to itself.
        let again = isobench_records::parse_line(&record.to_line()).expect("a record's own line parses");
        assert_eq!(again, isobench_records::LineKind::Record(record));
    }
});
