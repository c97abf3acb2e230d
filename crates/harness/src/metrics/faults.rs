//! Page faults an instance's processes take, from `/proc/<pid>/stat`.
//!
//! A restored instance pages its memory in from the snapshot as it touches
//! it, so the faults taken while it answers its first request are where a
//! restore loses time (REAP's observation). The counters are the kernel's
//! per-process `minflt` (served without I/O: page cache, zero pages,
//! copy-on-write) and `majflt` (needed I/O), each with the counts of the
//! process's children already reaped (`cminflt`, `cmajflt`), summed over
//! the instance's processes.

use isobench_results::PageFaults;

/// The page-fault counters of `pids` summed (processes gone count 0).
pub fn of_pids(pids: &[i32]) -> PageFaults {
    let mut total = PageFaults::default();
    for &pid in pids {
        let Ok(stat) = procfs::process::Process::new(pid).and_then(|p| p.stat()) else {
            continue;
        };
        total.minor += stat.minflt + stat.cminflt;
        total.major += stat.majflt + stat.cmajflt;
    }
    total
}

/// Faults taken between two readings of the same processes (a process
/// that ended in between can make a counter go down: it counts 0).
pub fn between(before: PageFaults, after: PageFaults) -> PageFaults {
    PageFaults {
        minor: after.minor.saturating_sub(before.minor),
        major: after.major.saturating_sub(before.major),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn touching_fresh_memory_takes_minor_faults() {
        let me = [std::process::id() as i32];
        let before = of_pids(&me);
        // 16 MiB of fresh anonymous pages, each written once: ~4096 faults
        // (fewer with transparent huge pages, never none).
        let mut memory = vec![0u8; 16 << 20];
        for page in memory.chunks_mut(4096) {
            page[0] = 1;
        }
        std::hint::black_box(&memory);
        let taken = between(before, of_pids(&me));
        assert!(taken.minor > 0, "no minor fault counted: {taken:?}");
    }

    #[test]
    fn a_process_that_is_gone_counts_nothing_and_counters_never_go_below_zero() {
        assert_eq!(of_pids(&[i32::MAX]), PageFaults::default());
        let later = PageFaults { minor: 5, major: 1 };
        let earlier = PageFaults { minor: 9, major: 0 };
        assert_eq!(between(earlier, later), PageFaults { minor: 0, major: 1 });
    }
}
