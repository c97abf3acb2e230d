//! Shared helpers of the CLI's integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The isobench binary under test.
pub fn isobench() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_isobench"));
    command.env("ISOBENCH_LOG", "warn");
    command
}

/// Runs isobench with `args` and returns its output.
pub fn run(args: &[&str]) -> Output {
    isobench().args(args).output().expect("running isobench")
}

/// The static agent: $ISOBENCH_AGENT_STATIC or the build in target/.
pub fn static_agent() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("ISOBENCH_AGENT_STATIC") {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_isobench"));
    let candidate = exe
        .parent()?
        .join("../x86_64-unknown-linux-gnu/release/isobench-agent");
    candidate.is_file().then_some(candidate)
}

/// Assets prepared by `isobench setup` (tests require them; CI runs setup first).
pub fn assets_ready() -> bool {
    isobench_assets::assets_dir(&isobench_assets::cache_dir())
        .join("MANIFEST.json")
        .is_file()
}

/// True when dockerd answers.
pub fn dockerd_up() -> bool {
    Command::new("curl")
        .args([
            "-fsS",
            "--max-time",
            "2",
            "--unix-socket",
            "/var/run/docker.sock",
            "http://localhost/_ping",
        ])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Everything isobench could have left behind, as human-readable lines.
pub fn leftovers() -> Vec<String> {
    let mut found = Vec::new();
    let me = std::process::id().to_string();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == me || !name.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let argv0 =
            String::from_utf8_lossy(cmdline.split(|b| *b == 0).next().unwrap_or(&[])).into_owned();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let agent = argv0.ends_with("isobench-agent");
        let vmm = (argv0.ends_with("qemu-system-x86_64") || argv0.ends_with("firecracker"))
            && cmdline.contains("/isobench-");
        if agent || vmm {
            found.push(format!("process {name}: {cmdline}"));
        }
    }
    for group in isobench_environments::cgroup::leftovers() {
        let name = group.to_string_lossy().into_owned();
        // Only groups of isobench runs (`isobench-<pid>-...`); other tests' groups are theirs.
        if isobench_harness::cleanup::run_pid_of(&name).is_some() {
            found.push(format!("cgroup {name}"));
        }
    }
    for state in [
        "/run/isobench/runc",
        "/run/isobench/crun",
        "/run/isobench/runsc",
    ] {
        if let Ok(entries) = std::fs::read_dir(state) {
            for e in entries.flatten() {
                if e.file_name().to_string_lossy().starts_with("isobench-") {
                    found.push(format!("OCI container {}", e.path().display()));
                }
            }
        }
    }
    if let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name
                .strip_prefix("isobench-")
                .and_then(|p| p.parse::<u32>().ok())
            {
                if !Path::new(&format!("/proc/{pid}")).exists() {
                    found.push(format!("work dir {}", e.path().display()));
                }
            }
        }
    }
    if dockerd_up() {
        if let Ok(out) = Command::new("docker")
            .args(["ps", "-aq", "--filter", "label=org.isobench"])
            .output()
        {
            for id in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                found.push(format!("docker container {id}"));
            }
        }
    }
    found
}
