//! No code. `scripts/build.sh` links the static agent with `cargo rustc -p
//! isobench-agent -- -C target-feature=+crt-static`, which reuses the
//! dependencies `cargo build --workspace` compiled only if they have the
//! same features when the agent is built alone. Cargo gives each
//! dependency the union of the features that the packages being built ask
//! for, and the CLI's dependencies ask for more (url's derives turn on
//! `syn/fold` and `syn/visit`, ...): without this crate
//! the agent alone recompiles about 200 crates. The agent depends on this
//! crate, which asks for those features itself (the technique of
//! `cargo hakari`'s workspace-hack crates). `scripts/check-one-compilation.sh`
//! says what is missing when dependencies change.
