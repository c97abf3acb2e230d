//! Empty: makes the `[build-dependencies]` of Cargo.toml part of the host-side build.
fn main() {}
