//! cgroup v1 groups that isobench creates itself (native runs with limits,
//! a parent for containers so totals survive their exit).

use std::path::{Path, PathBuf};

use crate::{EnvError, Limits, MeterTarget};

/// Root of the cgroup v1 hierarchies.
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// The controllers isobench groups are created in. Where `cpu` and
/// `cpuacct` are co-mounted (`cpu,cpuacct`) both names lead to one directory,
/// which is visited once per group.
pub const CONTROLLERS: [&str; 4] = ["cpu", "cpuacct", "memory", "cpuset"];

/// Name of the parent group every isobench group lives under.
pub const PARENT: &str = "isobench";

/// A cgroup v1 group in the `cpu,cpuacct`, `memory` and `cpuset` controllers.
#[derive(Debug)]
pub struct CgroupV1 {
    /// Path relative to each controller root, e.g. `isobench/run-1`.
    pub relative: PathBuf,
    root: PathBuf,
    removed: bool,
}

fn controller_dir(root: &Path, controller: &str) -> PathBuf {
    // Debian mounts cpu and cpuacct together as `cpu,cpuacct` with symlinks.
    let joined = root.join(controller);
    if joined.exists() {
        joined
    } else {
        root.join("cpu,cpuacct")
    }
}

fn write(path: &Path, value: &str) -> Result<(), EnvError> {
    std::fs::write(path, value)
        .map_err(|e| EnvError::io(format!("writing `{value}` to {}", path.display()), e))
}

impl CgroupV1 {
    /// Creates `isobench/<name>` in each controller and applies `limits`.
    pub fn create(name: &str, limits: &Limits) -> Result<Self, EnvError> {
        Self::create_under(Path::new(CGROUP_ROOT), name, limits)
    }

    /// As [`CgroupV1::create`] under another root (tests).
    pub fn create_under(root: &Path, name: &str, limits: &Limits) -> Result<Self, EnvError> {
        let relative = Path::new(PARENT).join(name);
        let group = CgroupV1 {
            relative: relative.clone(),
            root: root.to_path_buf(),
            removed: false,
        };
        for dir in unique_dirs(root, &relative) {
            std::fs::create_dir_all(&dir).map_err(|e| {
                EnvError::io(
                    format!(
                        "creating cgroup {} (run as root on a cgroup v1 host)",
                        dir.display()
                    ),
                    e,
                )
            })?;
        }
        // A new cpuset group starts empty: inherit the parent's CPUs and memory nodes.
        let cpuset = root.join("cpuset");
        for (level, file) in [
            (PARENT.into(), "cpuset.cpus"),
            (PARENT.into(), "cpuset.mems"),
        ]
        .into_iter()
        .chain([
            (relative.clone(), "cpuset.cpus"),
            (relative.clone(), "cpuset.mems"),
        ]) {
            let level: PathBuf = level;
            let target = cpuset.join(&level).join(file);
            let parent = target.parent().and_then(Path::parent).map(|p| p.join(file));
            if let Some(parent) = parent {
                if let Ok(value) = std::fs::read_to_string(&parent) {
                    let current = std::fs::read_to_string(&target).unwrap_or_default();
                    if current.trim().is_empty() && !value.trim().is_empty() {
                        write(&target, value.trim())?;
                    }
                }
            }
        }
        let cpu = controller_dir(root, "cpu").join(&relative);
        if let Some(vcpus) = limits.vcpus {
            write(&cpu.join("cpu.cfs_period_us"), "100000")?;
            write(
                &cpu.join("cpu.cfs_quota_us"),
                &(u64::from(vcpus) * 100_000).to_string(),
            )?;
        }
        if let Some(mib) = limits.memory_mib {
            write(
                &controller_dir(root, "memory")
                    .join(&relative)
                    .join("memory.limit_in_bytes"),
                &(mib << 20).to_string(),
            )?;
        }
        if let Some(cpus) = &limits.cpuset {
            write(&cpuset.join(&relative).join("cpuset.cpus"), cpus)?;
        }
        Ok(group)
    }

    /// Writes `pid` into every controller of this group.
    pub fn add_process(&self, pid: i32) -> Result<(), EnvError> {
        for controller in CONTROLLERS {
            write(
                &controller_dir(&self.root, controller)
                    .join(&self.relative)
                    .join("cgroup.procs"),
                &pid.to_string(),
            )?;
        }
        Ok(())
    }

    /// The `cgroup.procs` files of every controller of this group.
    pub fn procs_files(&self) -> Vec<PathBuf> {
        unique_dirs(&self.root, &self.relative)
            .into_iter()
            .map(|d| d.join("cgroup.procs"))
            .collect()
    }

    /// What the harness meters for this group.
    pub fn meter_target(&self) -> MeterTarget {
        MeterTarget::CgroupV1 {
            cpuacct: controller_dir(&self.root, "cpuacct").join(&self.relative),
            memory: controller_dir(&self.root, "memory").join(&self.relative),
        }
    }

    /// Total CPU time charged to the group, in seconds.
    pub fn cpu_seconds(&self) -> Option<f64> {
        read_u64(
            &controller_dir(&self.root, "cpuacct")
                .join(&self.relative)
                .join("cpuacct.usage"),
        )
        .map(|ns| ns as f64 / 1e9)
    }

    /// Peak memory charged to the group, in bytes.
    pub fn peak_memory(&self) -> Option<u64> {
        read_u64(
            &controller_dir(&self.root, "memory")
                .join(&self.relative)
                .join("memory.max_usage_in_bytes"),
        )
    }

    /// Removes the group (its processes must have exited). Idempotent.
    pub fn remove(&mut self) -> Result<(), EnvError> {
        if self.removed {
            return Ok(());
        }
        for controller in CONTROLLERS {
            let dir = controller_dir(&self.root, controller).join(&self.relative);
            remove_group_dir(&dir)?;
            // The shared parent goes too once no other run uses it (rmdir
            // fails harmlessly while it still has groups).
            if let Some(parent) = dir.parent() {
                let _ = std::fs::remove_dir(parent);
            }
        }
        self.removed = true;
        Ok(())
    }
}

impl Drop for CgroupV1 {
    fn drop(&mut self) {
        if let Err(e) = self.remove() {
            tracing::warn!("cgroup clean-up: {e}");
        }
    }
}

/// Removes a cgroup directory, retrying briefly while its last tasks exit.
pub fn remove_group_dir(dir: &Path) -> Result<(), EnvError> {
    for attempt in 0..50 {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if attempt < 49 && e.raw_os_error() == Some(libc::EBUSY) => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => {
                return Err(EnvError::io(
                    format!("removing cgroup {}", dir.display()),
                    e,
                ))
            }
        }
    }
    Ok(())
}

/// Reads a decimal integer file (cgroup counters).
pub fn read_u64(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Lists leftover isobench groups (for `isobench clean`).
///
/// Every hierarchy is searched (runtimes create groups in all of them:
/// blkio, devices, pids, the unified cgroup2 mount, ...), not only the
/// controllers isobench writes to.
pub fn leftovers() -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(hierarchies) = std::fs::read_dir(CGROUP_ROOT) else {
        return found;
    };
    for hierarchy in hierarchies.flatten() {
        // Symlinks (cpu -> cpu,cpuacct) would list the same groups twice.
        if hierarchy.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            collect_dirs(&hierarchy.path().join(PARENT), &mut found);
        }
    }
    found
}

/// Removes the groups runs of `kind` whose isobench process is gone left
/// under `isobench/` in any hierarchy (deepest first), after killing what
/// still runs in them (`isobench clean`).
pub fn sweep_dead_runs(kind: crate::EnvKind) -> crate::Swept {
    let mut swept = crate::Swept::default();
    let mut groups: Vec<PathBuf> = leftovers()
        .into_iter()
        .filter(|group| {
            group
                .components()
                .any(|c| crate::run_id::left_by_dead_run(&c.as_os_str().to_string_lossy(), kind))
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
                swept
                    .removed
                    .push(format!("killed process {pid} in {}", group.display()));
            }
        }
        swept.record(
            remove_group_dir(&group).map(|()| format!("removed cgroup {}", group.display())),
        );
    }
    swept
}

fn collect_dirs(dir: &Path, out: &mut Vec<PathBuf>) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.path().is_dir() {
                out.push(entry.path());
                collect_dirs(&entry.path(), out);
            }
        }
    }
}

/// The group's directory in each controller, each directory once.
fn unique_dirs(root: &Path, relative: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    for controller in CONTROLLERS {
        let base = controller_dir(root, controller);
        let base = base.canonicalize().unwrap_or(base);
        let dir = base.join(relative);
        if !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
    dirs
}
