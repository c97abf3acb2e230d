//! CPU and memory of a process and all its descendants, from /proc.

use std::collections::{HashMap, HashSet};

/// What a process tree uses at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct TreeUsage {
    /// CPU seconds (user + system, including reaped children) of the tree.
    pub cpu_seconds: f64,
    /// Resident memory of the live processes, bytes.
    pub rss_bytes: u64,
    /// The live processes: the root first, then its descendants.
    pub pids: Vec<i32>,
}

/// CPU seconds (user + system, including reaped children) and resident
/// memory of `root` and its live descendants.
pub fn tree_usage(root: i32) -> Option<TreeUsage> {
    let ticks = procfs::ticks_per_second() as f64;
    let page = procfs::page_size();
    let all = procfs::process::all_processes().ok()?;
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    let mut stats = HashMap::new();
    for process in all.flatten() {
        if let Ok(stat) = process.stat() {
            children.entry(stat.ppid).or_default().push(stat.pid);
            stats.insert(stat.pid, stat);
        }
    }
    stats.get(&root)?;
    let mut seen = HashSet::new();
    let mut stack = vec![root];
    let mut pids = Vec::new();
    let (mut cpu_ticks, mut rss_pages) = (0u64, 0u64);
    while let Some(pid) = stack.pop() {
        if !seen.insert(pid) {
            continue;
        }
        if let Some(stat) = stats.get(&pid) {
            // cutime/cstime hold the CPU of children already reaped, so a
            // short-lived helper's time is not lost between samples.
            cpu_ticks +=
                stat.utime + stat.stime + stat.cutime.max(0) as u64 + stat.cstime.max(0) as u64;
            rss_pages += stat.rss;
            pids.push(pid);
        }
        if let Some(kids) = children.get(&pid) {
            stack.extend(kids);
        }
    }
    Some(TreeUsage {
        cpu_seconds: cpu_ticks as f64 / ticks,
        rss_bytes: rss_pages * page,
        pids,
    })
}

/// Peak resident memory of one process (`VmHWM`), bytes; `None` once it
/// has exited (a zombie has no memory lines) or for kernel threads.
pub fn peak_rss(pid: i32) -> Option<u64> {
    let status = procfs::process::Process::new(pid).ok()?.status().ok()?;
    status.vmhwm.map(|kib| kib * 1024)
}

/// Sum of [`peak_rss`] over `pids` (processes that are gone count 0);
/// `None` when none of them could be read.
pub fn summed_peak_rss(pids: &[i32]) -> Option<u64> {
    let peaks: Vec<u64> = pids.iter().filter_map(|&pid| peak_rss(pid)).collect();
    (!peaks.is_empty()).then(|| peaks.iter().sum())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_uses_cpu_and_memory() {
        // Busy for 100 ms of CPU (clock ticks are 10 ms).
        let until = std::time::Instant::now() + std::time::Duration::from_millis(100);
        let mut x = 1u64;
        while std::time::Instant::now() < until {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        assert_ne!(x, 0);
        let me = std::process::id() as i32;
        let usage = tree_usage(me).unwrap();
        assert!(usage.cpu_seconds > 0.0 && usage.rss_bytes > 0, "{usage:?}");
        assert_eq!(usage.pids[0], me);
        assert!(tree_usage(i32::MAX).is_none());
        let hwm = peak_rss(me).unwrap();
        assert!(
            hwm >= usage.rss_bytes / 2,
            "VmHWM {hwm} vs RSS {}",
            usage.rss_bytes
        );
        // VmHWM only grows: read again, it is at least the first reading.
        assert!(summed_peak_rss(&[me, i32::MAX]).unwrap() >= hwm);
        assert_eq!(summed_peak_rss(&[i32::MAX]), None);
    }
}
