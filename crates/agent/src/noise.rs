//! The `noise` command: a noisy neighbour for `isobench interference`.
//!
//! The agent prepares its load, emits `ready` (workload `busy`, engine
//! `native`: a load of known shape, not a model; `model_load_us` is the
//! preparation), then loads one core until the stop flag is set (by
//! [`stop_at_end_of_input`]: the host closed the agent's input) or the
//! agent is killed:
//!
//! - [`NoiseLoad::Cpu`]: a busy loop of integer arithmetic in registers,
//!   with no system call and no memory traffic (so it costs the same in a
//!   gVisor sandbox as natively: only the CPU is contended);
//! - [`NoiseLoad::Memory`]: a STREAM-triad-like streamer, `a[i] = b[i] +
//!   s·c[i]` over three buffers of `--mib` MiB each (3 × 64 MiB by default,
//!   larger than any last-level cache), written once before `ready` so they
//!   are resident: memory bandwidth (and the cache it evicts) is contended.
//!
//! Both check the stop flag between chunks of a few milliseconds of work,
//! so the agent ends promptly when its input closes.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use isobench_records::{Engine, NoiseLoad, Ready, Record, Workload};

use crate::error::AgentError;
use crate::run::emit;

/// Everything the `noise` command needs.
#[derive(Debug, Clone)]
pub struct NoiseConfig {
    /// The load.
    pub load: NoiseLoad,
    /// Memory streamer: MiB of each of its three buffers.
    pub mib: u64,
    /// Whether the agent is a VM's init (reported in `ready`).
    pub pid1: bool,
    /// When `main` started, for `ready_us`.
    pub started: Instant,
}

/// What a noise agent did before it stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoiseDone {
    /// Chunks of work completed (busy-loop chunks, or streamed chunks of
    /// 1 MiB per buffer).
    pub chunks: u64,
}

/// Integer operations per busy-loop chunk (a few milliseconds).
const CPU_CHUNK: u32 = 2_000_000;
/// Elements of each buffer streamed between two looks at the stop flag (1 MiB of f64).
const MEMORY_CHUNK: usize = (1 << 20) / std::mem::size_of::<f64>();

/// A flag set when the agent's standard input ends (the host closed it)
/// or cannot be read: a thread reads and discards the input until then.
pub fn stop_at_end_of_input() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    std::thread::Builder::new()
        .name("noise-input".into())
        .spawn(move || {
            let mut buf = [0u8; 4096];
            let stdin = std::io::stdin();
            let mut input = stdin.lock();
            loop {
                match input.read(&mut buf) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
            flag.store(true, Ordering::Relaxed);
        })
        .expect("spawning a thread");
    stop
}

/// Runs the command: prepares the load, `ready` on `records`, then the load
/// until `stop` is set.
pub fn noise(
    config: &NoiseConfig,
    records: &mut dyn Write,
    stop: &AtomicBool,
) -> Result<NoiseDone, AgentError> {
    let prepare_start = Instant::now();
    let mut buffers = match config.load {
        NoiseLoad::Cpu => None,
        NoiseLoad::Memory => Some(Buffers::new(config.mib)?),
    };
    emit(
        records,
        &Record::Ready(Ready {
            workload: Workload::Busy,
            engine: Engine::Native,
            threads: 1,
            ready_us: micros(config.started.elapsed()),
            model_load_us: micros(prepare_start.elapsed()),
            pid1: config.pid1,
            agent_version: env!("CARGO_PKG_VERSION").into(),
        }),
    )?;
    let chunks = match &mut buffers {
        None => spin(stop),
        Some(buffers) => buffers.stream(stop),
    };
    Ok(NoiseDone { chunks })
}

/// The busy loop: chunks of integer arithmetic until `stop`.
fn spin(stop: &AtomicBool) -> u64 {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut chunks = 0;
    while !stop.load(Ordering::Relaxed) {
        for _ in 0..CPU_CHUNK {
            x = std::hint::black_box(x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1));
        }
        chunks += 1;
    }
    std::hint::black_box(x);
    chunks
}

/// The memory streamer's three buffers.
struct Buffers {
    a: Vec<f64>,
    b: Vec<f64>,
    c: Vec<f64>,
}

impl Buffers {
    /// Three buffers of `mib` MiB, every element written (resident).
    fn new(mib: u64) -> Result<Self, AgentError> {
        if mib == 0 {
            return Err(AgentError::Usage(
                "--mib 0: give the memory streamer at least 1 MiB per buffer".into(),
            ));
        }
        let elements = usize::try_from(mib)
            .ok()
            .and_then(|m| m.checked_mul(1 << 20))
            .map(|bytes| bytes / std::mem::size_of::<f64>())
            .ok_or_else(|| AgentError::Usage(format!("--mib {mib} is too large")))?;
        Ok(Buffers {
            a: vec![1.0; elements],
            b: (0..elements).map(|i| (i % 1024) as f64).collect(),
            c: (0..elements).map(|i| (i % 7) as f64 * 0.5).collect(),
        })
    }

    /// Triads over the buffers, chunk by chunk, until `stop`.
    fn stream(&mut self, stop: &AtomicBool) -> u64 {
        let n = self.a.len();
        let mut chunks = 0;
        let mut scalar = 3.0f64;
        let mut at = 0;
        while !stop.load(Ordering::Relaxed) {
            let end = (at + MEMORY_CHUNK).min(n);
            for ((a, b), c) in self.a[at..end]
                .iter_mut()
                .zip(&self.b[at..end])
                .zip(&self.c[at..end])
            {
                *a = b + scalar * c;
            }
            std::hint::black_box(&self.a[at]);
            chunks += 1;
            at = if end == n {
                // A new pass with another scalar: no pass repeats the previous one's stores.
                scalar = if scalar > 1e6 { 3.0 } else { scalar + 1.0 };
                0
            } else {
                end
            };
        }
        chunks
    }
}

fn micros(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn run(load: NoiseLoad, mib: u64) -> (Result<NoiseDone, AgentError>, Vec<Record>) {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let stopper = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            flag.store(true, Ordering::Relaxed);
        });
        let mut out = Vec::new();
        let config = NoiseConfig {
            load,
            mib,
            pid1: false,
            started: Instant::now(),
        };
        let done = noise(&config, &mut out, &stop);
        stopper.join().unwrap();
        let records = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (done, records)
    }

    #[test]
    fn both_loads_report_ready_work_and_stop_on_the_flag() {
        for load in [NoiseLoad::Cpu, NoiseLoad::Memory] {
            let (done, records) = run(load, 2);
            let done = done.unwrap();
            assert!(done.chunks > 0, "{load}: {done:?}");
            assert_eq!(records.len(), 1, "{records:?}");
            let Record::Ready(ready) = &records[0] else {
                panic!("{records:?}")
            };
            assert_eq!(ready.workload, Workload::Busy);
        }
    }

    #[test]
    fn an_empty_memory_buffer_is_a_usage_error_before_ready() {
        let (done, records) = run(NoiseLoad::Memory, 0);
        let err = done.unwrap_err().to_string();
        assert!(err.contains("--mib 0"), "{err}");
        assert!(records.is_empty(), "{records:?}");
    }
}
