//! `busy`: a calibration workload with a known cost, for checking the
//! host-side meters. Each iteration keeps one core busy until the agent's
//! thread has used `busy_ms` milliseconds of CPU time (so the CPU-seconds
//! per iteration are known exactly, whatever else the host is doing), and
//! the workload holds `touch_mib` MiB of memory it wrote to once at load
//! (so its resident memory is known).

use std::time::{Duration, Instant};

use isobench_records::Digest;

use super::{IterationOutcome, Workload, WorkloadOptions};
use crate::error::AgentError;

/// Default CPU time per iteration (ms) and memory held (MiB): the invocation's defaults.
pub use isobench_records::invocation::{DEFAULT_BUSY_MS, DEFAULT_TOUCH_MIB};

/// The loaded `busy` workload: its touched memory and its per-iteration CPU budget.
pub struct Busy {
    cpu_per_iteration: Duration,
    memory: Vec<u8>,
}

impl Busy {
    /// Allocates and touches `options.touch_mib` MiB (every page written once).
    pub fn load(options: &WorkloadOptions) -> Result<Self, AgentError> {
        if options.busy_ms == 0 {
            return Err(AgentError::Usage(
                "--busy-ms 0: give the busy workload at least 1 ms of CPU per iteration".into(),
            ));
        }
        let bytes = usize::try_from(options.touch_mib)
            .ok()
            .and_then(|m| m.checked_mul(1 << 20))
            .ok_or_else(|| {
                AgentError::Usage(format!("--touch-mib {} is too large", options.touch_mib))
            })?;
        let mut memory = vec![0u8; bytes];
        // `vec![0; n]` maps zero pages lazily: write every page so it is resident.
        for (i, page) in memory.chunks_mut(4096).enumerate() {
            page[0] = (i % 251) as u8 + 1;
        }
        std::hint::black_box(&memory);
        Ok(Busy {
            cpu_per_iteration: Duration::from_millis(options.busy_ms),
            memory,
        })
    }
}

/// CPU time the calling thread has used.
fn thread_cpu_time() -> Duration {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID)
        .map(Duration::from)
        .unwrap_or_default()
}

impl Workload for Busy {
    fn name(&self) -> isobench_records::Workload {
        isobench_records::Workload::Busy
    }

    fn engine(&self) -> isobench_records::Engine {
        isobench_records::Engine::Native
    }

    fn run_once(&mut self, index: u64) -> Result<IterationOutcome, AgentError> {
        let t0 = Instant::now();
        let until = thread_cpu_time() + self.cpu_per_iteration;
        let mut x = index.wrapping_add(0x9E37_79B9_7F4A_7C15);
        while thread_cpu_time() < until {
            for _ in 0..1000 {
                x = std::hint::black_box(x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1));
            }
        }
        let wall = u64::try_from(t0.elapsed().as_micros()).unwrap_or(u64::MAX);
        // The held memory's first byte of every 1 MiB folded in: the pages stay in use.
        let touched: u64 = self
            .memory
            .iter()
            .step_by(1 << 20)
            .map(|&b| u64::from(b))
            .sum();
        Ok(IterationOutcome {
            input: "busy".into(),
            preprocess_us: 0,
            inference_us: wall,
            postprocess_us: 0,
            digest: Digest::Checksum {
                checksum: format!("{}:{touched}", self.cpu_per_iteration.as_millis()),
            },
        })
    }

    fn inputs(&self) -> Vec<String> {
        vec!["busy".into()]
    }

    fn run_input(&mut self, input: &str) -> Result<IterationOutcome, AgentError> {
        if input != "busy" {
            return Err(AgentError::Usage(format!(
                "unknown input `{input}`; the busy workload's only input is `busy`"
            )));
        }
        self.run_once(0)
    }

    fn model_sha256(&self) -> String {
        "none".into()
    }

    fn inputs_sha256(&self) -> String {
        "none".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(busy_ms: u64, touch_mib: u64) -> WorkloadOptions {
        WorkloadOptions {
            assets: "/nonexistent".into(),
            model: None,
            images: None,
            engine: isobench_records::Engine::Native,
            threads: 1,
            k: 3,
            ort_lib: None,
            busy_ms,
            touch_mib,
        }
    }

    #[test]
    fn uses_the_cpu_time_it_is_given() {
        let mut busy = Busy::load(&options(20, 1)).unwrap();
        let before = thread_cpu_time();
        let outcome = busy.run_once(0).unwrap();
        let used = thread_cpu_time() - before;
        assert!(used >= Duration::from_millis(20), "{used:?}");
        assert!(outcome.inference_us >= 20_000, "{}", outcome.inference_us);
        assert!(matches!(outcome.digest, Digest::Checksum { .. }));
        assert!(Busy::load(&options(0, 1)).is_err());
    }
}
