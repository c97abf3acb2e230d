//! Shared helpers of the CLI's integration tests (the agent lookup, skips
//! and exercised environments come from `isobench-testkit`).
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// The isobench binary under test, running the agent builds the test kit
/// finds (so the CLI runs the very agent the tests checked for).
pub fn isobench() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_isobench"));
    command.env("ISOBENCH_LOG", "warn");
    if let Some(agent) = isobench_testkit::static_agent() {
        command.env(isobench_testkit::STATIC_AGENT_VAR, agent);
    }
    if let Some(agent) = isobench_testkit::dynamic_agent() {
        command.env(isobench_testkit::DYNAMIC_AGENT_VAR, agent);
    }
    command
}

/// Runs isobench with `args` and returns its output.
pub fn run(args: &[&str]) -> Output {
    isobench().args(args).output().expect("running isobench")
}

/// Assets prepared by `isobench setup` (tests require them; CI runs setup first).
pub fn assets_ready() -> bool {
    isobench_assets::assets_dir(&isobench_assets::cache_dir())
        .join("MANIFEST.json")
        .is_file()
}

/// Panics with the commands that provide them unless the static agent and
/// the assets are here: a missing prerequisite is a failure, not a skip.
pub fn require_agent_and_assets() {
    isobench_testkit::require_static_agent();
    assert!(
        assets_ready(),
        "the assets are missing: run `isobench setup` first"
    );
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

/// True when podman is installed (isobench starts its own API service).
pub fn podman_installed() -> bool {
    isobench_environments::registry::which("podman").is_some()
}

/// True when `name` carries the run id of an isobench process that is gone.
fn of_dead_run(name: &str) -> bool {
    isobench_harness::cleanup::belongs_to_dead_run(name)
}

/// Everything isobench runs that are no longer alive left behind, as
/// human-readable lines. (Resources of runs still in progress in other
/// processes are theirs, not leaks.)
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
        let cgroups = std::fs::read_to_string(entry.path().join("cgroup")).unwrap_or_default();
        let agent = argv0.ends_with("isobench-agent");
        let vmm = argv0.ends_with("qemu-system-x86_64")
            || argv0.ends_with("firecracker")
            || argv0.ends_with("vhost-device-vsock")
            // podman's API service (its socket names the run's PID) and
            // a container's monitor (in the run's cgroup).
            || argv0.ends_with("podman")
            || argv0.ends_with("conmon");
        // A run's processes are tagged by its cgroups (native, containers) or
        // its work directory (VMMs), both named after the run's PID.
        let orphaned =
            cgroups.lines().any(of_dead_run) || cmdline.split_whitespace().any(of_dead_run);
        let agent_of_nobody = agent
            && std::fs::read_to_string(entry.path().join("stat"))
                .ok()
                .and_then(|s| {
                    s.rsplit(')')
                        .next()
                        .and_then(|r| r.split_whitespace().nth(1))
                        .map(|p| p == "1")
                })
                .unwrap_or(false);
        if (agent || vmm) && (orphaned || agent_of_nobody) {
            found.push(format!("process {name}: {cmdline}"));
        }
    }
    for group in isobench_environments::cgroup::leftovers() {
        let name = group.to_string_lossy().into_owned();
        if of_dead_run(&name) {
            found.push(format!("cgroup {name}"));
        }
    }
    for state in [
        "/run/isobench/runc",
        "/run/isobench/crun",
        "/run/isobench/runsc",
        "/run/isobench/youki",
    ] {
        if let Ok(entries) = std::fs::read_dir(state) {
            for e in entries.flatten() {
                if of_dead_run(&e.file_name().to_string_lossy()) {
                    found.push(format!("OCI container {}", e.path().display()));
                }
            }
        }
    }
    // Docker networks a run created for its containers (the tcp transport).
    if let Ok(out) = std::process::Command::new("docker")
        .args([
            "network",
            "ls",
            "--filter",
            "label=org.isobench",
            "--format",
            "{{.Name}}",
        ])
        .output()
    {
        for name in String::from_utf8_lossy(&out.stdout).lines() {
            if of_dead_run(name) {
                found.push(format!("docker network {name}"));
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
    // podman's service sockets and the containers and networks of its runs.
    if let Ok(entries) = std::fs::read_dir("/run/isobench") {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.contains("-podman-") && of_dead_run(&name) {
                found.push(format!("podman socket {}", e.path().display()));
            }
        }
    }
    if isobench_environments::registry::which("podman").is_some() {
        for (what, args) in [
            ("container", ["ps", "-a", "{{.Names}}"]),
            ("network", ["network", "ls", "{{.Name}}"]),
        ] {
            let listed = Command::new("podman")
                .args(&args[..args.len() - 1])
                .args([
                    "--filter",
                    "label=org.isobench",
                    "--format",
                    args[args.len() - 1],
                ])
                .output();
            if let Ok(out) = listed {
                for name in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                    if of_dead_run(name) {
                        found.push(format!("podman {what} {name}"));
                    }
                }
            }
        }
    }
    if dockerd_up() {
        if let Ok(out) = Command::new("docker")
            .args([
                "ps",
                "-a",
                "--filter",
                "label=org.isobench",
                "--format",
                "{{.Names}}",
            ])
            .output()
        {
            for name in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                if of_dead_run(name) {
                    found.push(format!("docker container {name}"));
                }
            }
        }
    }
    found
}

/// oci-runc, and gVisor where this host can run it (its absence recorded
/// as a skipped part of the calling test): the container environments
/// the mode tests compare. runc is required (Debian's `runc` package).
pub fn runc_and_gvisor_where_available() -> Vec<&'static str> {
    use isobench_environments::EnvKind;
    let facts = isobench_environments::HostFacts::probe();
    let mut envs = vec![];
    for kind in [EnvKind::OciRunc, EnvKind::Gvisor] {
        let availability = isobench_environments::detect(
            kind,
            &facts,
            &isobench_environments::EnvOptions::default(),
        );
        if availability.available {
            envs.push(kind.name());
        } else {
            isobench_testkit::record_skip!(
                "{kind} part: {} (fix: {})",
                availability.reason,
                availability.fix
            );
        }
    }
    assert!(
        envs.contains(&"oci-runc"),
        "runc is required for this test: apt-get install runc"
    );
    envs
}
