//! A background thread that samples a [`MeterTarget`] at a fixed interval.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use isobench_environments::cgroup::read_u64;
use isobench_environments::MeterTarget;
use isobench_results::UsageSample;

use super::process_tree::tree_usage;

/// One reading: cumulative CPU seconds and memory in use.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    /// Cumulative CPU seconds.
    pub cpu_seconds: f64,
    /// Memory in use, bytes.
    pub memory_bytes: u64,
    /// Peak memory as the source reports it (cgroup max usage), if any.
    pub peak_bytes: Option<u64>,
}

/// Reads a meter target once.
pub struct Meter {
    target: MeterTarget,
}

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

    /// Takes one reading; `None` once the target is gone.
    pub fn read(&self) -> Option<Reading> {
        match &self.target {
            MeterTarget::CgroupV1 { cpuacct, memory } => {
                let cpu = read_u64(&cpuacct.join("cpuacct.usage"))? as f64 / 1e9;
                let mem = read_u64(&memory.join("memory.usage_in_bytes")).unwrap_or(0);
                Some(Reading {
                    cpu_seconds: cpu,
                    memory_bytes: mem,
                    peak_bytes: read_u64(&memory.join("memory.max_usage_in_bytes")),
                })
            }
            MeterTarget::ProcessTree(pid) => tree_usage(*pid).map(|(cpu, mem)| Reading {
                cpu_seconds: cpu,
                memory_bytes: mem,
                peak_bytes: None,
            }),
            MeterTarget::ProcessTrees(pids) => {
                // The first tree is the instance; the others (device
                // daemons) add to it while they live.
                let (mut cpu, mut mem) = tree_usage(*pids.first()?)?;
                for &pid in &pids[1..] {
                    if let Some((c, m)) = tree_usage(pid) {
                        cpu += c;
                        mem += m;
                    }
                }
                Some(Reading {
                    cpu_seconds: cpu,
                    memory_bytes: mem,
                    peak_bytes: None,
                })
            }
            MeterTarget::Unavailable(_) => None,
        }
    }
}

/// Samples a meter on a thread until stopped.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<UsageSample>>>,
    peak: Arc<Mutex<u64>>,
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
        let peak = Arc::new(Mutex::new(0u64));
        let handle = {
            let (stop, samples, peak) = (stop.clone(), samples.clone(), peak.clone());
            std::thread::Builder::new()
                .name("isobench-sampler".into())
                .spawn(move || {
                    let mut next = Instant::now();
                    while !stop.load(Ordering::Relaxed) {
                        if let Some(reading) = meter.read() {
                            let sample = UsageSample {
                                t: origin.elapsed().as_secs_f64(),
                                cpu: reading.cpu_seconds,
                                mem: reading.memory_bytes,
                            };
                            samples
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .push(sample);
                            let mut peak = peak.lock().unwrap_or_else(|p| p.into_inner());
                            *peak = (*peak)
                                .max(reading.peak_bytes.unwrap_or(0))
                                .max(reading.memory_bytes);
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
            peak,
            handle: Some(handle),
            interval,
            describe,
        }
    }

    /// Takes one last sample now (before the instance is stopped).
    pub fn sample_now(&self, target: &MeterTarget, origin: Instant) {
        if let Some(reading) = Meter::new(target.clone()).read() {
            self.samples
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(UsageSample {
                    t: origin.elapsed().as_secs_f64(),
                    cpu: reading.cpu_seconds,
                    mem: reading.memory_bytes,
                });
            let mut peak = self.peak.lock().unwrap_or_else(|p| p.into_inner());
            *peak = (*peak)
                .max(reading.peak_bytes.unwrap_or(0))
                .max(reading.memory_bytes);
        }
    }

    /// Stops sampling; returns the samples, the peak memory seen, the interval and the source.
    pub fn finish(mut self) -> (Vec<UsageSample>, u64, Duration, String) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
        let samples = std::mem::take(&mut *self.samples.lock().unwrap_or_else(|p| p.into_inner()));
        let peak = *self.peak.lock().unwrap_or_else(|p| p.into_inner());
        (samples, peak, self.interval, self.describe.clone())
    }
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
        let (samples, peak, _, source) = sampler.finish();
        assert!(samples.len() >= 2, "{} samples", samples.len());
        assert!(samples.last().unwrap().cpu > samples.first().unwrap().cpu);
        assert!(peak > 0);
        assert!(source.starts_with("process-tree"));
    }
}
