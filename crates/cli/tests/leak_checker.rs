//! The leak checker itself: leftovers planted the way a run killed with
//! SIGKILL leaves them (a work directory, a cgroup with an agent still in
//! it, an OCI state directory) are found by `common::leftovers()`, and one
//! `isobench clean` removes them all. Without this, a checker that found
//! nothing would make every "nothing left behind" assertion pass.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use common::{leftovers, run};

/// A PID no process has: the run that "left" the planted resources is dead.
fn dead_pid() -> u32 {
    (2..u32::MAX)
        .rev()
        .map(|p| p % 32_000 + 1_000)
        .find(|p| !Path::new(&format!("/proc/{p}")).exists())
        .expect("a free pid")
}

/// Kills the planted agent and removes what was planted if the test fails
/// before `clean` does (so a failure does not fail the tests after it).
struct Planted(Child, Vec<PathBuf>);

impl Drop for Planted {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        for path in &self.1 {
            let _ = std::fs::remove_dir(path).or_else(|_| std::fs::remove_dir_all(path));
        }
    }
}

#[test]
fn the_leak_checker_finds_planted_leftovers_and_one_clean_removes_them() {
    if !nix::unistd::geteuid().is_root() {
        isobench_testkit::skip!("planting cgroups and OCI state needs root");
    }
    let cpuacct = Path::new("/sys/fs/cgroup/cpuacct");
    if !cpuacct.is_dir() {
        isobench_testkit::skip!("no cgroup v1 cpuacct hierarchy on this host");
    }
    let pid = dead_pid();
    let run_id = format!("isobench-{pid}-native-1");
    let before = leftovers();
    assert!(before.is_empty(), "not a clean start: {before:?}");

    // The work directory of the dead run.
    let work = std::env::temp_dir().join(format!("isobench-{pid}"));
    std::fs::create_dir_all(&work).unwrap();
    // Its native cgroup, with an "agent" still running in it.
    let group: PathBuf = cpuacct.join("isobench").join(&run_id);
    std::fs::create_dir_all(&group).unwrap();
    let bin = tempfile::tempdir().unwrap();
    let agent = bin.path().join("isobench-agent");
    std::fs::copy("/bin/sleep", &agent).unwrap();
    let state = Path::new("/run/isobench/runc").join(format!("isobench-{pid}-oci-runc-2"));
    let child = Planted(
        Command::new(&agent).arg("600").spawn().unwrap(),
        vec![work.clone(), group.clone(), state.clone()],
    );
    std::fs::write(group.join("cgroup.procs"), child.0.id().to_string()).unwrap();
    // The state of a runc container of the dead run.
    std::fs::create_dir_all(&state).unwrap();

    let found = leftovers();
    let agent_line = format!("process {}:", child.0.id());
    for (what, mark) in [
        ("work dir", pid.to_string()),
        ("cgroup", pid.to_string()),
        ("OCI container", pid.to_string()),
        ("process", agent_line),
    ] {
        assert!(
            found
                .iter()
                .any(|f| f.starts_with(what) && f.contains(&mark)),
            "the checker missed the planted {what}: {found:#?}"
        );
    }

    let clean = run(&["clean"]);
    assert!(
        clean.status.success(),
        "{}",
        String::from_utf8_lossy(&clean.stderr)
    );
    let after = leftovers();
    assert!(
        after.is_empty(),
        "clean left: {after:#?}\nclean said: {}",
        String::from_utf8_lossy(&clean.stdout)
    );
    assert!(!work.exists() && !group.exists() && !state.exists());
}
