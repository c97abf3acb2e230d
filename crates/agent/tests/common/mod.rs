//! Helpers shared by the agent's integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// The assets directory prepared by `isobench setup`: `$ISOBENCH_ASSETS`,
/// else `$ISOBENCH_CACHE/assets`, else `$XDG_CACHE_HOME/isobench/assets`,
/// else `~/.cache/isobench/assets`. Panics with instructions when the
/// digits data set is not there.
pub fn assets() -> PathBuf {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let dir = env("ISOBENCH_ASSETS")
        .or_else(|| env("ISOBENCH_CACHE").map(|c| c.join("assets")))
        .or_else(|| env("XDG_CACHE_HOME").map(|c| c.join("isobench/assets")))
        .or_else(|| env("HOME").map(|h| h.join(".cache/isobench/assets")))
        .expect("set ISOBENCH_CACHE or HOME so the tests can find the assets");
    let digits = dir.join("data/digits.csv.gz");
    assert!(
        digits.is_file(),
        "{} is missing: run `isobench setup` first (or set ISOBENCH_ASSETS to an assets directory)",
        digits.display()
    );
    dir
}

/// A fresh assets directory holding only the digits data set (so tests
/// that write models do not touch the shared cache). Dropped = removed.
pub fn private_assets() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    std::fs::copy(
        assets().join("data/digits.csv.gz"),
        dir.path().join("data/digits.csv.gz"),
    )
    .unwrap();
    dir
}

/// Parses agent stdout into records, failing on anything that is not one.
pub fn records(stdout: &[u8]) -> Vec<isobench_records::Record> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| match isobench_records::parse_line(l) {
            Ok(isobench_records::LineKind::Record(r)) => r,
            other => panic!("not a record line: {l:?} ({other:?})"),
        })
        .collect()
}
