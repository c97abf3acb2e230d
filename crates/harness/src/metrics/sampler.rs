//! A background thread that samples a [`MeterTarget`] at a fixed interval.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use isobench_environments::cgroup::read_u64;
use isobench_environments::MeterTarget;
use isobench_results::UsageSample;

use super::process_tree::{summed_peak_rss, tree_usage};

/// One reading: cumulative CPU seconds and memory in use.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    /// Cumulative CPU seconds.
    pub cpu_seconds: f64,
    /// Memory in use, bytes.
    pub memory_bytes: u64,
    /// Peak memory as a cgroup reports it (`memory.max_usage_in_bytes`, page cache included), if any.
    pub peak_bytes: Option<u64>,
    /// Sum of the peak resident memory (`VmHWM`) of the instance's live host processes.
    pub peak_rss_bytes: Option<u64>,
    /// A cgroup's resident charge: anonymous + shared memory + mapped files
    /// (`total_rss + total_shmem + total_mapped_file` of `memory.stat`), which
    /// also counts shared-memory files no process maps at that moment (gVisor keeps a
    /// sandbox's memory in one).
    pub resident_charge_bytes: Option<u64>,
}

/// Reads a meter target once.
pub struct Meter {
    target: MeterTarget,
}

/// Counter resolution assumed for both meters: cgroup v1's `cpuacct.usage`
/// lags a running task by up to one scheduler tick, and /proc's
/// utime/stime count 10 ms clock ticks.
pub const CPU_RESOLUTION_SECONDS: f64 = 0.010;

/// Shortest measured window whose CPU figure is reported: two readings, each
/// off by up to [`CPU_RESOLUTION_SECONDS`], stay within ±5% of it.
pub const MIN_CPU_WINDOW_SECONDS: f64 = 2.0 * CPU_RESOLUTION_SECONDS / 0.05;

impl Meter {
    /// A meter for `target`.
    pub fn new(target: MeterTarget) -> Self {
        Meter { target }
    }

    /// Describes the source for the results (`cgroup-v1 ...`, `process-tree ...`).
    pub fn describe(&self) -> String {
        match &self.target {
            MeterTarget::CgroupV1 { cpuacct, .. } => format!("cgroup-v1 {}", cpuacct.display()),
            MeterTarget::ProcessTree(pid) => format!("process-tree {pid}"),
            MeterTarget::ProcessTrees(pids) => format!(
                "process-trees {}",
                pids.iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .join("+")
            ),
            MeterTarget::Unavailable(why) => format!("unavailable: {why}"),
        }
    }

    /// The live processes metered: a cgroup's (and its children's), or
    /// every process of the trees.
    pub fn pids(&self) -> Vec<i32> {
        match &self.target {
            MeterTarget::CgroupV1 { cpuacct, memory } => cgroup_pids(memory)
                .or_else(|| cgroup_pids(cpuacct))
                .unwrap_or_default(),
            MeterTarget::ProcessTree(pid) => tree_usage(*pid).map(|t| t.pids).unwrap_or_default(),
            MeterTarget::ProcessTrees(pids) => pids
                .iter()
                .filter_map(|&pid| tree_usage(pid))
                .flat_map(|t| t.pids)
                .collect(),
            MeterTarget::Unavailable(_) => Vec::new(),
        }
    }

    /// Takes one reading; `None` once the target is gone.
    pub fn read(&self) -> Option<Reading> {
        match &self.target {
            MeterTarget::CgroupV1 { cpuacct, memory } => {
                let cpu = read_u64(&cpuacct.join("cpuacct.usage"))? as f64 / 1e9;
                let mem = read_u64(&memory.join("memory.usage_in_bytes")).unwrap_or(0);
                let pids = cgroup_pids(memory).or_else(|| cgroup_pids(cpuacct));
                Some(Reading {
                    cpu_seconds: cpu,
                    memory_bytes: mem,
                    peak_bytes: read_u64(&memory.join("memory.max_usage_in_bytes")),
                    peak_rss_bytes: pids.as_deref().and_then(summed_peak_rss),
                    resident_charge_bytes: resident_charge(memory),
                })
            }
            MeterTarget::ProcessTree(pid) => tree_usage(*pid).map(|tree| Reading {
                cpu_seconds: tree.cpu_seconds,
                memory_bytes: tree.rss_bytes,
                peak_bytes: None,
                peak_rss_bytes: summed_peak_rss(&tree.pids),
                resident_charge_bytes: None,
            }),
            MeterTarget::ProcessTrees(pids) => {
                // The first tree is the instance; the others (device
                // daemons) add to it while they live.
                let first = tree_usage(*pids.first()?)?;
                let (mut cpu, mut mem, mut all) = (first.cpu_seconds, first.rss_bytes, first.pids);
                for &pid in &pids[1..] {
                    if let Some(tree) = tree_usage(pid) {
                        cpu += tree.cpu_seconds;
                        mem += tree.rss_bytes;
                        all.extend(tree.pids);
                    }
                }
                Some(Reading {
                    cpu_seconds: cpu,
                    memory_bytes: mem,
                    peak_bytes: None,
                    peak_rss_bytes: summed_peak_rss(&all),
                    resident_charge_bytes: None,
                })
            }
            MeterTarget::Unavailable(_) => None,
        }
    }
}

/// `total_rss + total_shmem + total_mapped_file` of a cgroup v1 memory
/// directory's `memory.stat` (the whole subtree).
fn resident_charge(memory: &std::path::Path) -> Option<u64> {
    let text = std::fs::read_to_string(memory.join("memory.stat")).ok()?;
    let mut sum = 0;
    let mut found = false;
    for line in text.lines() {
        let mut parts = line.split_whitespace();
        if let (Some(key), Some(value)) = (parts.next(), parts.next()) {
            if matches!(key, "total_rss" | "total_shmem" | "total_mapped_file") {
                sum += value.parse::<u64>().ok()?;
                found = true;
            }
        }
    }
    found.then_some(sum)
}

/// The processes of a cgroup v1 directory and of every cgroup below it
/// (`cgroup.procs`; runtimes put the container in a child such as `ctr`).
fn cgroup_pids(dir: &std::path::Path) -> Option<Vec<i32>> {
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

/// Peaks seen over all readings.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Peaks {
    /// Largest memory in use.
    memory: u64,
    /// Largest cgroup max usage.
    cgroup: Option<u64>,
    /// Largest sum of VmHWM.
    rss: Option<u64>,
    /// Largest cgroup resident charge.
    charge: Option<u64>,
}

impl Peaks {
    fn update(&mut self, reading: &Reading) {
        self.memory = self.memory.max(reading.memory_bytes);
        self.cgroup = max_opt(self.cgroup, reading.peak_bytes);
        self.rss = max_opt(self.rss, reading.peak_rss_bytes);
        self.charge = max_opt(self.charge, reading.resident_charge_bytes);
    }
}

fn max_opt(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// What a [`Sampler`] collected.
#[derive(Debug, Clone, PartialEq)]
pub struct Sampled {
    /// Every reading (seconds since launch, cumulative CPU, memory in use).
    pub samples: Vec<UsageSample>,
    /// Host peak resident memory of the instance: the larger of the
    /// largest sum of its processes' `VmHWM` and the largest cgroup resident
    /// charge over all readings.
    pub peak_rss_bytes: Option<u64>,
    /// Largest cgroup `memory.max_usage_in_bytes` read.
    pub cgroup_peak_bytes: Option<u64>,
    /// The sampling interval.
    pub interval: Duration,
    /// The meter's description.
    pub source: String,
}

/// Samples a meter on a thread until stopped.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<UsageSample>>>,
    peaks: Arc<Mutex<Peaks>>,
    handle: Option<JoinHandle<()>>,
    interval: Duration,
    describe: String,
}

impl Sampler {
    /// Starts sampling `target` every `interval`, with times relative to `origin`.
    pub fn start(target: MeterTarget, interval: Duration, origin: Instant) -> Self {
        let meter = Meter::new(target);
        let describe = meter.describe();
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(Mutex::new(Vec::new()));
        let peaks = Arc::new(Mutex::new(Peaks::default()));
        let handle = {
            let (stop, samples, peaks) = (stop.clone(), samples.clone(), peaks.clone());
            std::thread::Builder::new()
                .name("isobench-sampler".into())
                .spawn(move || {
                    let mut next = Instant::now();
                    while !stop.load(Ordering::Relaxed) {
                        if let Some(reading) = meter.read() {
                            record(&samples, &peaks, &reading, origin);
                        }
                        next += interval;
                        let now = Instant::now();
                        if next > now {
                            std::thread::sleep(next - now);
                        } else {
                            next = now;
                        }
                    }
                })
                .expect("spawning the sampler thread")
        };
        Sampler {
            stop,
            samples,
            peaks,
            handle: Some(handle),
            interval,
            describe,
        }
    }

    /// Adds a reading taken by the caller (at a moment that matters, such as
    /// the start of the measured window) to the samples and peaks.
    pub fn add(&self, reading: &Reading, origin: Instant) {
        record(&self.samples, &self.peaks, reading, origin);
    }

    /// Stops sampling and returns what was collected.
    pub fn finish(mut self) -> Sampled {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
        let mut samples =
            std::mem::take(&mut *self.samples.lock().unwrap_or_else(|p| p.into_inner()));
        samples.sort_by(|a, b| a.t.total_cmp(&b.t));
        let peaks = *self.peaks.lock().unwrap_or_else(|p| p.into_inner());
        Sampled {
            samples,
            peak_rss_bytes: max_opt(peaks.rss, peaks.charge),
            cgroup_peak_bytes: peaks.cgroup,
            interval: self.interval,
            source: self.describe.clone(),
        }
    }
}

fn record(
    samples: &Mutex<Vec<UsageSample>>,
    peaks: &Mutex<Peaks>,
    reading: &Reading,
    origin: Instant,
) {
    samples
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(UsageSample {
            t: origin.elapsed().as_secs_f64(),
            cpu: reading.cpu_seconds,
            mem: reading.memory_bytes,
        });
    peaks
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .update(reading);
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

/// CPU % of one core between two times, from cumulative samples.
pub fn cpu_percent_between(samples: &[UsageSample], from: f64, to: f64) -> Option<f64> {
    let start = samples
        .iter()
        .rev()
        .find(|s| s.t <= from)
        .or_else(|| samples.first())?;
    let end = samples
        .iter()
        .rev()
        .find(|s| s.t <= to)
        .or_else(|| samples.last())?;
    let dt = end.t - start.t;
    (dt > 0.0).then(|| 100.0 * (end.cpu - start.cpu).max(0.0) / dt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_from_cumulative_samples() {
        let s = |t: f64, cpu: f64| UsageSample { t, cpu, mem: 0 };
        let samples = [s(0.0, 0.0), s(1.0, 0.5), s(2.0, 1.5), s(3.0, 1.5)];
        assert_eq!(cpu_percent_between(&samples, 1.0, 2.0), Some(100.0));
        assert_eq!(cpu_percent_between(&samples, 0.0, 3.0), Some(50.0));
        assert_eq!(cpu_percent_between(&[], 0.0, 1.0), None);
    }

    #[test]
    fn samples_a_busy_process_tree() {
        let origin = Instant::now();
        let sampler = Sampler::start(
            MeterTarget::ProcessTree(std::process::id() as i32),
            Duration::from_millis(10),
            origin,
        );
        let mut x = 1u64;
        let until = Instant::now() + Duration::from_millis(200);
        while Instant::now() < until {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        assert_ne!(x, 0);
        let sampled = sampler.finish();
        let samples = &sampled.samples;
        assert!(samples.len() >= 2, "{} samples", samples.len());
        assert!(samples.last().unwrap().cpu > samples.first().unwrap().cpu);
        assert!(sampled.peak_rss_bytes.unwrap() > 0, "{sampled:?}");
        assert_eq!(sampled.cgroup_peak_bytes, None);
        assert!(sampled.source.starts_with("process-tree"));
    }
}
