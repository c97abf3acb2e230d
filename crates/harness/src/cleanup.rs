//! `isobench clean`: removes what a run killed with SIGKILL left behind.
//! The generic part is here: the work directories `<tmp>/isobench-<pid>` of
//! dead runs and the processes registered in them or naming them. What a
//! backend leaves elsewhere (containers, cgroups, mounts) is its own to
//! remove: each entry of the environments registry is asked in turn
//! ([`isobench_environments::clean_leftovers`]).

use std::path::{Path, PathBuf};

use isobench_environments::EnvOptions;

use crate::HarnessError;

/// True when `name` carries the PID of an isobench run that is gone
/// (the environments crate's own test, re-exported: the CLI's tests use it).
pub use isobench_environments::run_id::belongs_to_dead_run;

/// Prefix of every per-run work directory in the temp dir: `isobench-<pid>`.
pub const WORK_DIR_PREFIX: &str = isobench_environments::run_id::PREFIX;

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
            (belongs_to_dead_run(&name) && e.path().is_dir()).then(|| (pid, e.path()))
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

/// Removes leftovers; returns one line per thing removed. What a backend
/// could not remove is logged as a warning.
pub fn clean_leftovers(cache: &Path) -> Result<Vec<String>, HarnessError> {
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
    // 2. What each backend's dead runs left (containers, cgroups, mounts).
    let options = EnvOptions {
        cache_dir: cache.to_path_buf(),
        docker_host: std::env::var("DOCKER_HOST").ok(),
        ..EnvOptions::default()
    };
    for (kind, swept) in isobench_environments::clean_leftovers(&options) {
        done.extend(swept.removed);
        for failure in swept.failed {
            tracing::warn!("{kind} leftovers: {failure}");
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_runs_are_found_behind_prefixes() {
        assert!(belongs_to_dead_run(
            "unix:/tmp/isobench-4294967295/qemu-1/qmp.sock"
        ));
        assert!(!belongs_to_dead_run("isobench-agent:abc"));
        assert!(!belongs_to_dead_run(&format!(
            "isobench-{}-native-0",
            std::process::id()
        )));
    }
}
