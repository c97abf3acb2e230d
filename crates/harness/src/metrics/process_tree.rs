//! CPU and memory of a process and all its descendants, from /proc.

use std::collections::{HashMap, HashSet};

/// CPU seconds (user + system, including reaped children) and resident
/// memory of `root` and its live descendants.
pub fn tree_usage(root: i32) -> Option<(f64, u64)> {
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
        }
        if let Some(kids) = children.get(&pid) {
            stack.extend(kids);
        }
    }
    Some((cpu_ticks as f64 / ticks, rss_pages * page))
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
        let (cpu, rss) = tree_usage(std::process::id() as i32).unwrap();
        assert!(cpu > 0.0 && rss > 0, "cpu {cpu} rss {rss}");
        assert!(tree_usage(i32::MAX).is_none());
    }
}
