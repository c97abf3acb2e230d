//! What one instance really costs the host in memory, when several run at
//! once: the proportional set size (PSS) of every host process it owns,
//! and its cgroup's charge where it has one.
//!
//! **PSS** (`Pss:` of `/proc/<pid>/smaps_rollup`): each resident page of a
//! process counts `1/n` when `n` processes map it. Pages shared between
//! instances (the agent binary, the model file, a runtime's own binary and
//! libraries, page cache the instances map) are therefore split fairly
//! between them, and the sum of PSS over every process of the host is the
//! memory in use. An instance's PSS is the sum over its processes:
//! [`instance_processes`] says which.
//!
//! **cgroup charge** (`memory.usage_in_bytes` of the instance's memory
//! cgroup): what the kernel charges to the group, page cache included;
//! a shared page is charged whole to the first group that touched it, so
//! this figure is not split between instances.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use isobench_environments::cgroup::read_u64;
use isobench_environments::MeterTarget;

/// What `smaps_rollup` says about one process, bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rollup {
    /// `Rss:` resident pages, each counted whole.
    pub rss_bytes: u64,
    /// `Pss:` resident pages, each divided by the number of processes mapping it.
    pub pss_bytes: u64,
    /// `Pss_Anon:` the anonymous part of the PSS (kernels from 5.8).
    pub pss_anon_bytes: Option<u64>,
    /// `Pss_File:` the file-backed part of the PSS (kernels from 5.8).
    pub pss_file_bytes: Option<u64>,
    /// `Pss_Shmem:` the shared-memory part of the PSS (kernels from 5.8).
    pub pss_shmem_bytes: Option<u64>,
}

/// Parses the text of `/proc/<pid>/smaps_rollup` (`Key:   123 kB` lines);
/// `None` when it has no `Pss:` line (a kernel thread, a process gone).
pub fn parse_smaps_rollup(text: &str) -> Option<Rollup> {
    let mut fields: HashMap<&str, u64> = HashMap::new();
    for line in text.lines() {
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        let mut words = rest.split_whitespace();
        let (Some(value), Some("kB")) = (words.next(), words.next()) else {
            continue;
        };
        if let Ok(kib) = value.parse::<u64>() {
            fields.insert(key.trim(), kib * 1024);
        }
    }
    Some(Rollup {
        pss_bytes: *fields.get("Pss")?,
        rss_bytes: fields.get("Rss").copied().unwrap_or(0),
        pss_anon_bytes: fields.get("Pss_Anon").copied(),
        pss_file_bytes: fields.get("Pss_File").copied(),
        pss_shmem_bytes: fields.get("Pss_Shmem").copied(),
    })
}

/// The rollup of process `pid` (`None` once it is gone, or for kernel threads).
pub fn rollup_of(pid: i32) -> Option<Rollup> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    parse_smaps_rollup(&text)
}

/// Per-container shims that parent a container's processes from outside
/// its cgroup (Docker's containerd shim, podman's conmon): counted with
/// the instance whose cgroup processes they parent. `comm` is cut at 15
/// characters, so `containerd-shim-runc-v2` reads `containerd-shim`.
pub const SHIMS: [&str; 2] = ["containerd-shim", "conmon"];

/// A snapshot of the host's process table: parent and name of every process.
struct ProcessTable {
    parent: HashMap<i32, i32>,
    children: HashMap<i32, Vec<i32>>,
    name: HashMap<i32, String>,
}

impl ProcessTable {
    fn read() -> Self {
        let mut table = ProcessTable {
            parent: HashMap::new(),
            children: HashMap::new(),
            name: HashMap::new(),
        };
        if let Ok(all) = procfs::process::all_processes() {
            for process in all.flatten() {
                if let Ok(stat) = process.stat() {
                    table.parent.insert(stat.pid, stat.ppid);
                    table.children.entry(stat.ppid).or_default().push(stat.pid);
                    table.name.insert(stat.pid, stat.comm);
                }
            }
        }
        table
    }

    /// `root` and every live descendant of it.
    fn tree(&self, root: i32, into: &mut BTreeSet<i32>) {
        let mut stack = vec![root];
        while let Some(pid) = stack.pop() {
            if self.parent.contains_key(&pid) && into.insert(pid) {
                if let Some(kids) = self.children.get(&pid) {
                    stack.extend(kids);
                }
            }
        }
    }
}

/// The host processes of one instance: the trees of `roots` (its runtime
/// or VMM process and the roots its meter target names:
/// `Instance::host_processes`), every process of its cgroup (and the
/// groups below it) when it is metered through one, and the per-container
/// shim ([`SHIMS`]) parenting a process of that cgroup.
pub fn instance_processes(target: &MeterTarget, roots: &[i32]) -> Vec<i32> {
    let table = ProcessTable::read();
    let mut pids = BTreeSet::new();
    for &root in roots.iter().chain(target.root_pids().iter()) {
        table.tree(root, &mut pids);
    }
    if let MeterTarget::CgroupV1 { cpuacct, memory } = target {
        let members = cgroup_pids(memory).or_else(|| cgroup_pids(cpuacct));
        for pid in members.unwrap_or_default() {
            table.tree(pid, &mut pids);
            if let Some(parent) = table.parent.get(&pid) {
                let shim = table
                    .name
                    .get(parent)
                    .is_some_and(|n| SHIMS.iter().any(|s| n.starts_with(s)));
                if shim {
                    pids.insert(*parent);
                }
            }
        }
    }
    pids.into_iter().collect()
}

/// The processes of a cgroup v1 directory and of every group below it.
fn cgroup_pids(dir: &Path) -> Option<Vec<i32>> {
    let text = std::fs::read_to_string(dir.join("cgroup.procs")).ok()?;
    let mut pids: Vec<i32> = text.lines().filter_map(|l| l.trim().parse().ok()).collect();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                pids.extend(cgroup_pids(&entry.path()).unwrap_or_default());
            }
        }
    }
    Some(pids)
}

/// One instance's memory at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceMemory {
    /// Sum of `Pss:` over [`InstanceMemory::processes`], bytes (`None`
    /// when none could be read).
    pub pss_bytes: Option<u64>,
    /// Sum of `Rss:` over the same processes (every shared page counted
    /// whole in each), bytes.
    pub rss_bytes: Option<u64>,
    /// The processes counted.
    pub processes: Vec<i32>,
    /// `memory.usage_in_bytes` of its memory cgroup, when it has one.
    pub cgroup_usage_bytes: Option<u64>,
}

/// Sum of the rollups of `pids` (PSS, RSS); `None` when none could be read.
pub fn pss_of(pids: &[i32]) -> Option<(u64, u64)> {
    let rollups: Vec<Rollup> = pids.iter().filter_map(|&p| rollup_of(p)).collect();
    (!rollups.is_empty()).then(|| {
        (
            rollups.iter().map(|r| r.pss_bytes).sum(),
            rollups.iter().map(|r| r.rss_bytes).sum(),
        )
    })
}

/// Reads one instance's memory now (see the module documentation).
pub fn instance_memory(target: &MeterTarget, roots: &[i32]) -> InstanceMemory {
    let processes = instance_processes(target, roots);
    let sums = pss_of(&processes);
    let cgroup_usage_bytes = match target {
        MeterTarget::CgroupV1 { memory, .. } => read_u64(&memory.join("memory.usage_in_bytes")),
        _ => None,
    };
    InstanceMemory {
        pss_bytes: sums.map(|s| s.0),
        rss_bytes: sums.map(|s| s.1),
        processes,
        cgroup_usage_bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROLLUP: &str = "\
55d0c0a00000-7ffd5c9f1000 ---p 00000000 00:00 0                          [rollup]
Rss:               13696 kB
Pss:                5012 kB
Pss_Anon:           2048 kB
Pss_File:           2964 kB
Pss_Shmem:             0 kB
Shared_Clean:      10000 kB
Anonymous:          2048 kB
";

    #[test]
    fn parses_the_rollup_in_bytes() {
        let r = parse_smaps_rollup(ROLLUP).unwrap();
        assert_eq!(r.rss_bytes, 13696 * 1024);
        assert_eq!(r.pss_bytes, 5012 * 1024);
        assert_eq!(r.pss_anon_bytes, Some(2048 * 1024));
        assert_eq!(r.pss_file_bytes, Some(2964 * 1024));
        assert_eq!(r.pss_shmem_bytes, Some(0));
    }

    #[test]
    fn older_kernels_and_empty_files_are_handled() {
        let old = "Rss: 100 kB\nPss: 40 kB\n";
        let r = parse_smaps_rollup(old).unwrap();
        assert_eq!((r.pss_bytes, r.pss_anon_bytes), (40 * 1024, None));
        assert_eq!(parse_smaps_rollup(""), None);
        assert_eq!(parse_smaps_rollup("Rss: 1 kB\n"), None);
    }

    #[test]
    fn this_process_has_a_pss_within_its_rss() {
        let me = std::process::id() as i32;
        let r = rollup_of(me).expect("own smaps_rollup");
        assert!(r.pss_bytes > 0 && r.pss_bytes <= r.rss_bytes, "{r:?}");
        let memory = instance_memory(&MeterTarget::ProcessTree(me), &[]);
        assert!(memory.processes.contains(&me), "{memory:?}");
        assert!(memory.pss_bytes.unwrap() >= r.pss_bytes / 2, "{memory:?}");
        assert_eq!(memory.cgroup_usage_bytes, None);
        assert!(rollup_of(i32::MAX).is_none());
    }
}
