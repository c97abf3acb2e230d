//! `isobench clean`: removes what a run killed with SIGKILL left behind —
//! processes and work directories of dead isobench runs, OCI containers
//! and cgroups named `isobench-*`, and crun's hugetlb mount when no live
//! run uses it.

use std::path::{Path, PathBuf};
use std::process::Command;

use isobench_environments::cgroup;

use crate::HarnessError;

/// Prefix of every per-run work directory in the temp dir: `isobench-<pid>`.
pub const WORK_DIR_PREFIX: &str = "isobench-";

fn pid_alive(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Work directories of isobench runs whose process is gone.
pub fn dead_work_dirs(tmp: &Path) -> Vec<(i32, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return vec![];
    };
    entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let pid: i32 = name.strip_prefix(WORK_DIR_PREFIX)?.parse().ok()?;
            (!pid_alive(pid) && e.path().is_dir()).then(|| (pid, e.path()))
        })
        .collect()
}

/// PIDs whose command line mentions `needle`.
fn processes_mentioning(needle: &str) -> Vec<i32> {
    let Ok(all) = procfs::process::all_processes() else {
        return vec![];
    };
    all.flatten()
        .filter(|p| p.pid != std::process::id() as i32)
        .filter(|p| {
            p.cmdline()
                .map(|c| c.iter().any(|a| a.contains(needle)))
                .unwrap_or(false)
        })
        .map(|p| p.pid)
        .collect()
}

/// File in a run's work directory listing the processes it started (`pid starttime` per line).
pub const PIDS_FILE: &str = "pids";

/// Records a process the run started, so `isobench clean` can find it after a SIGKILL.
pub fn register_process(work_dir: &Path, pid: i32) {
    use std::io::Write;
    let Some(start) = start_time(pid) else { return };
    let _ = std::fs::create_dir_all(work_dir);
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(work_dir.join(PIDS_FILE))
    {
        let _ = writeln!(file, "{pid} {start}");
    }
}

fn start_time(pid: i32) -> Option<u64> {
    procfs::process::Process::new(pid)
        .ok()?
        .stat()
        .ok()
        .map(|s| s.starttime)
}

/// Kills the registered processes of a dead run that are still the same processes.
fn kill_registered(dir: &Path, done: &mut Vec<String>) {
    let Ok(text) = std::fs::read_to_string(dir.join(PIDS_FILE)) else {
        return;
    };
    for line in text.lines() {
        let mut parts = line.split_whitespace();
        let (Some(Ok(pid)), Some(Ok(start))) = (
            parts.next().map(str::parse::<i32>),
            parts.next().map(str::parse::<u64>),
        ) else {
            continue;
        };
        // The start time guards against a recycled PID.
        if start_time(pid) == Some(start) {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
            done.push(format!("killed agent process {pid}"));
        }
    }
}

/// The PID of the isobench run that named a resource: run ids are
/// `isobench-<pid>-<env>-<repetition>` and work directories `isobench-<pid>/`,
/// possibly behind a backend's own prefix.
pub fn run_pid_of(name: &str) -> Option<i32> {
    name.match_indices(WORK_DIR_PREFIX)
        .find_map(|(at, prefix)| {
            let rest = &name[at + prefix.len()..];
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            let after = &rest[digits.len()..];
            let ends = after.is_empty() || after.starts_with('-') || after.starts_with('/');
            (!digits.is_empty() && ends)
                .then(|| digits.parse().ok())
                .flatten()
        })
}

/// True when `name` was created by an isobench run that is no longer alive.
pub fn belongs_to_dead_run(name: &str) -> bool {
    run_pid_of(name).is_some_and(|pid| !pid_alive(pid))
}

/// Removes leftovers; returns one line per thing removed.
pub fn clean_leftovers(_cache: &Path) -> Result<Vec<String>, HarnessError> {
    let mut done = Vec::new();
    // 1. VMMs and agents of dead runs, found by their work directory.
    for (pid, dir) in dead_work_dirs(&std::env::temp_dir()) {
        kill_registered(&dir, &mut done);
        let needle = dir.display().to_string();
        for victim in processes_mentioning(&needle) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(victim),
                nix::sys::signal::Signal::SIGKILL,
            );
            done.push(format!("killed process {victim} of dead run {pid}"));
        }
        if std::fs::remove_dir_all(&dir).is_ok() {
            done.push(format!("removed work directory {}", dir.display()));
        }
    }
    // 2. OCI containers of dead runs (isobench keeps their state under /run/isobench/<runtime>).
    for (runtime, root) in [
        ("runc", "/run/isobench/runc"),
        ("crun", "/run/isobench/crun"),
        ("runsc", "/run/isobench/runsc"),
    ] {
        let Ok(entries) = std::fs::read_dir(root) else {
            continue;
        };
        for entry in entries.flatten() {
            let id = entry
                .file_name()
                .to_string_lossy()
                .trim_end_matches(".state")
                .to_string();
            if !belongs_to_dead_run(&id) {
                continue;
            }
            let deleted = Command::new(runtime)
                .args(["--root", root, "delete", "--force", &id])
                .output();
            if matches!(deleted, Ok(ref o) if o.status.success()) {
                done.push(format!("deleted {runtime} container {id}"));
            }
        }
    }
    // 3. Docker containers of dead runs (when a daemon answers).
    let docker_options = isobench_environments::EnvOptions {
        docker_host: std::env::var("DOCKER_HOST").ok(),
        ..Default::default()
    };
    if let Ok(docker) = isobench_environments::docker::Docker::new(
        isobench_environments::EnvKind::Docker,
        &docker_options,
    ) {
        match docker.remove_containers(belongs_to_dead_run) {
            Ok(removed) => done.extend(
                removed
                    .into_iter()
                    .map(|c| format!("removed docker container {c}")),
            ),
            Err(e) => tracing::warn!("docker leftovers: {e}"),
        }
    }
    // 4. cgroups of dead runs under isobench/ (deepest first), after killing what is left in them.
    let mut groups: Vec<PathBuf> = cgroup::leftovers()
        .into_iter()
        .filter(|g| {
            g.components()
                .any(|c| belongs_to_dead_run(&c.as_os_str().to_string_lossy()))
        })
        .collect();
    groups.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for group in groups {
        if let Ok(procs) = std::fs::read_to_string(group.join("cgroup.procs")) {
            for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
                done.push(format!("killed process {pid} in {}", group.display()));
            }
        }
        if cgroup::remove_group_dir(&group).is_ok() {
            done.push(format!("removed cgroup {}", group.display()));
        }
    }
    // 5. crun's hugetlb workaround, when no live isobench process uses it.
    done.extend(isobench_environments::oci::hugetlb::release_orphaned());
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_pids_are_found_behind_prefixes() {
        assert_eq!(run_pid_of("isobench-1234-docker-0"), Some(1234));
        assert_eq!(
            run_pid_of("isobench-isobench-22834-oci-runc-2"),
            Some(22834)
        );
        assert_eq!(run_pid_of("isobench-agent:abc"), None);
        assert_eq!(run_pid_of("test-start-oci-runc-19900"), None);
        assert_eq!(
            run_pid_of("unix:/tmp/isobench-77/qemu-1/qmp.sock"),
            Some(77)
        );
        assert!(!belongs_to_dead_run(&format!(
            "isobench-{}-native-0",
            std::process::id()
        )));
    }
}
