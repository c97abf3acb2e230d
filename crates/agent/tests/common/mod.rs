//! Helpers shared by the agent's integration tests (the agent lookup and
//! skips come from `isobench-testkit`).
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

/// The assets directory prepared by `isobench setup`: `$ISOBENCH_ASSETS`,
/// else the tool's one cache resolution ([`isobench_assets::cache_dir`]).
/// Panics with instructions when the digits data set is not there.
pub fn assets() -> PathBuf {
    let dir = std::env::var_os("ISOBENCH_ASSETS")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| isobench_assets::assets_dir(&isobench_assets::cache_dir()));
    let digits = dir.join("data/digits.csv.gz");
    assert!(
        digits.is_file(),
        "{} is missing: run `isobench setup` first (or set ISOBENCH_ASSETS to an assets directory)",
        digits.display()
    );
    dir
}

/// The pinned ONNX Runtime library `isobench setup` fetched (for the ort engine).
pub fn onnxruntime() -> PathBuf {
    isobench_assets::onnxruntime_lib(&isobench_assets::cache_dir())
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

/// The static agent build: the test kit's lookup
/// ([`isobench_testkit::static_agent`]: `$ISOBENCH_AGENT_STATIC`, else
/// `target/x86_64-unknown-linux-gnu/release/`), else built there now with
/// the static command from the team notes.
pub fn static_agent_or_build() -> PathBuf {
    if let Some(found) = isobench_testkit::static_agent() {
        return found;
    }
    let workspace = isobench_testkit::workspace_root();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(&workspace)
        // Where the kit looks, whatever target directory this test was built in.
        .env("CARGO_TARGET_DIR", workspace.join("target"))
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .args([
            "build",
            "--release",
            "--target",
            "x86_64-unknown-linux-gnu",
            "-p",
            "isobench-agent",
        ])
        .status()
        .expect("run cargo to build the static agent");
    assert!(
        status.success(),
        "the static agent build failed (see cargo output above)"
    );
    isobench_testkit::static_agent().unwrap_or_else(|| {
        panic!(
            "cargo built the static agent, but not where the test kit looks (under {})",
            workspace.join("target").display()
        )
    })
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
