//! Fault injection: the harness is interrupted (SIGINT) or killed (SIGKILL)
//! at seeded random points of a run, in native, OCI (runc), docker, podman and the
//! QEMU-TCG guest. Afterwards (and after `isobench clean` for SIGKILL)
//! nothing of the tool may remain, and `isobench run --resume` must complete
//! the experiment with no sample lost or duplicated.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{dockerd_up, isobench, leftovers, podman_installed, run};
use isobench_results::{ResultsFile, Status};

/// A tiny seeded generator (SplitMix64): the same trial points every run.
struct SplitMix(u64);
impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn between(&mut self, low_ms: u64, high_ms: u64) -> Duration {
        Duration::from_millis(low_ms + self.next() % (high_ms - low_ms))
    }
}

fn wait_for_leftovers_to_clear() -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found = leftovers();
        if found.is_empty() || Instant::now() > deadline {
            return found;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn trial(
    env: &str,
    signal: nix::sys::signal::Signal,
    after: Duration,
    iterations: u32,
    repetitions: u32,
) {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("run");
    let args = [
        "run",
        "--offline",
        "--env",
        env,
        "--workload",
        "knn",
        "--iterations",
        &iterations.to_string(),
        "--warmup",
        "1",
        "--repetitions",
        &repetitions.to_string(),
        "--timeout",
        "300",
        "--output",
        dir.to_str().unwrap(),
    ];
    let mut child = isobench()
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(after);
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::kill(pid, signal);
    let status = child.wait().unwrap();
    eprintln!("{env}: {signal:?} after {after:?}: harness ended with {status}");
    if signal == nix::sys::signal::Signal::SIGKILL {
        let clean = run(&["clean"]);
        assert!(
            clean.status.success(),
            "clean failed: {}",
            String::from_utf8_lossy(&clean.stderr)
        );
        eprintln!("clean: {}", String::from_utf8_lossy(&clean.stdout).trim());
    }
    let left = wait_for_leftovers_to_clear();
    assert!(
        left.is_empty(),
        "{env} after {signal:?}: left behind: {left:#?}"
    );
    if !dir.join("journal.jsonl").is_file() {
        // Killed before the experiment started: nothing to resume.
        isobench_testkit::record_skip!(
            "{env} after {signal:?}: stopped before the journal was written, so --resume was not checked"
        );
        return;
    }
    if signal == nix::sys::signal::Signal::SIGINT && status.code() == Some(130) {
        // Interrupted for real: the results say so, with planned vs done.
        let partial = ResultsFile::load(&dir.join("results.json")).unwrap();
        let env_result = partial.environments.iter().find(|e| e.name == env).unwrap();
        assert_eq!(
            env_result.status,
            Status::Interrupted,
            "{env}: {:?}",
            env_result.status
        );
        assert!(
            (env_result.repetitions.len() as u32) < env_result.planned_repetitions,
            "{env}: {} of {} done",
            env_result.repetitions.len(),
            env_result.planned_repetitions
        );
        let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
        assert!(
            report.to_lowercase().contains("interrupted"),
            "report.md does not say the run was interrupted"
        );
    }
    let resumed = run(&["run", "--offline", "--resume", dir.to_str().unwrap()]);
    assert!(
        resumed.status.success(),
        "{env}: resume failed: {}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    let results = ResultsFile::load(&dir.join("results.json")).unwrap();
    let result = results
        .environments
        .iter()
        .find(|e| e.name == env)
        .expect("environment in results");
    assert_eq!(
        result.status,
        Status::Completed,
        "{env}: {:?}",
        result.status
    );
    assert_eq!(
        result.repetitions.len(),
        repetitions as usize,
        "{env}: repetitions"
    );
    for (i, rep) in result.repetitions.iter().enumerate() {
        assert_eq!(rep.round as usize, i + 1, "{env}: repetition order");
        let indices: Vec<u64> = rep.iterations.iter().map(|s| s.index).collect();
        assert_eq!(
            indices,
            (0..u64::from(iterations)).collect::<Vec<_>>(),
            "{env}: samples lost or duplicated"
        );
    }
    isobench_testkit::exercised_by(&results);
    let left = wait_for_leftovers_to_clear();
    assert!(
        left.is_empty(),
        "{env} after resume: left behind: {left:#?}"
    );
}

fn prerequisites() -> bool {
    common::require_agent_and_assets();
    if !nix::unistd::geteuid().is_root() {
        isobench_testkit::record_skip!("fault injection needs root (cgroups, OCI runtimes)");
        return false;
    }
    true
}

#[test]
fn interrupt_and_kill_native_and_oci() {
    if !prerequisites() {
        return;
    }
    let mut rng = SplitMix(0x1503_BE4C);
    for env in ["native", "oci-runc"] {
        for signal in [
            nix::sys::signal::Signal::SIGINT,
            nix::sys::signal::Signal::SIGKILL,
        ] {
            trial(env, signal, rng.between(300, 1500), 40, 4);
        }
    }
}

#[test]
fn interrupt_and_kill_docker() {
    if !prerequisites() {
        return;
    }
    if !dockerd_up() {
        isobench_testkit::skip!(
            "dockerd is not running (scripts/start-dockerd.sh starts it; CI does)"
        );
    }
    let mut rng = SplitMix(0xD0C4E5);
    for signal in [
        nix::sys::signal::Signal::SIGINT,
        nix::sys::signal::Signal::SIGKILL,
    ] {
        trial("docker", signal, rng.between(500, 2500), 40, 3);
    }
}

/// podman: a SIGKILLed run leaves its API service (unless the kernel's
/// parent-death signal ended it), its container, conmon and cgroups;
/// `isobench clean` must remove them all.
#[test]
fn interrupt_and_kill_podman() {
    if !prerequisites() {
        return;
    }
    if !podman_installed() {
        isobench_testkit::skip!("podman is not installed (scripts/install-podman.sh; CI does)");
    }
    let mut rng = SplitMix(0x90D3A7);
    for signal in [
        nix::sys::signal::Signal::SIGINT,
        nix::sys::signal::Signal::SIGKILL,
    ] {
        trial("podman", signal, rng.between(1500, 3500), 40, 3);
    }
}

#[test]
fn interrupt_and_kill_qemu_tcg_guest() {
    if !prerequisites() {
        return;
    }
    if isobench_environments::registry::which("qemu-system-x86_64").is_none() {
        isobench_testkit::skip!(
            "qemu-system-x86_64 is not installed (scripts/install-deps.sh installs it)"
        );
    }
    let mut rng = SplitMix(0x9E3D);
    for signal in [
        nix::sys::signal::Signal::SIGINT,
        nix::sys::signal::Signal::SIGKILL,
    ] {
        trial("qemu-microvm", signal, rng.between(1000, 6000), 2, 2);
    }
}
