//! Where the tests find the agent builds: one lookup for every test.

use std::path::{Path, PathBuf};

/// Environment variable naming the static agent build (`scripts/test.sh` sets it).
pub const STATIC_AGENT_VAR: &str = "ISOBENCH_AGENT_STATIC";
/// Environment variable naming the dynamic agent build (`scripts/test.sh` sets it).
pub const DYNAMIC_AGENT_VAR: &str = "ISOBENCH_AGENT_DYNAMIC";

/// Where `scripts/build.sh` puts the static build, relative to the workspace root.
const STATIC_IN_WORKSPACE: &str = "target/x86_64-unknown-linux-gnu/release/isobench-agent";
/// Where `scripts/build.sh --ort` puts the dynamic build with ONNX Runtime,
/// relative to the workspace root.
const DYNAMIC_IN_WORKSPACE: &str = "target/release/isobench-agent-ort";

/// The workspace's root directory (the one holding the top-level `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    let kit = Path::new(env!("CARGO_MANIFEST_DIR"));
    kit.parent()
        .and_then(Path::parent)
        .expect("the test kit lives in <workspace>/crates/testkit")
        .to_path_buf()
}

/// The static agent build (the one every environment runs):
/// `$ISOBENCH_AGENT_STATIC` if it names a file, else
/// `<workspace>/target/x86_64-unknown-linux-gnu/release/isobench-agent`
/// if that exists; `None` when neither does.
pub fn static_agent() -> Option<PathBuf> {
    find(STATIC_AGENT_VAR, STATIC_IN_WORKSPACE)
}

/// The dynamic agent build (the one with ONNX Runtime):
/// `$ISOBENCH_AGENT_DYNAMIC` if it names a file, else
/// `<workspace>/target/release/isobench-agent-ort` if that exists; `None`
/// when neither does.
pub fn dynamic_agent() -> Option<PathBuf> {
    find(DYNAMIC_AGENT_VAR, DYNAMIC_IN_WORKSPACE)
}

/// [`static_agent`], for tests that cannot do without it: panics with the
/// command that builds it (a missing prerequisite is a failure, not a skip).
pub fn require_static_agent() -> PathBuf {
    static_agent().unwrap_or_else(|| {
        panic!(
            "no static agent: set ${STATIC_AGENT_VAR} or run scripts/build.sh (it builds {})",
            workspace_root().join(STATIC_IN_WORKSPACE).display()
        )
    })
}

fn find(var: &str, in_workspace: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .filter(|p| p.is_file())
        .or_else(|| {
            let built = workspace_root().join(in_workspace);
            built.is_file().then_some(built)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workspace_root_holds_the_workspace_manifest() {
        let manifest = std::fs::read_to_string(workspace_root().join("Cargo.toml")).unwrap();
        assert!(manifest.contains("[workspace]"), "{manifest}");
        assert!(manifest.contains("crates/testkit"));
    }

    #[test]
    fn a_found_agent_is_a_file() {
        // Whatever this machine has built, the lookup never answers a path
        // that is not there.
        for found in [static_agent(), dynamic_agent()].into_iter().flatten() {
            assert!(found.is_file(), "{}", found.display());
        }
        assert_eq!(find("ISOBENCH_TESTKIT_NO_SUCH_VAR", "no/such/file"), None);
    }
}
