//! The `results.json` model: one experiment, every environment's
//! repetitions with every raw sample, and the computed summaries.
//!
//! Versioned by [`RESULTS_VERSION`]; [`ResultsFile::load`] refuses other
//! versions and truncated files with a one-line error.

use std::collections::BTreeMap;
use std::path::Path;

pub mod serving;

pub use serving::{LatencySummary, PeakStep, RequestCounts, ServingResult};

use isobench_records::Summary as AgentSummary;
use isobench_stats::{Ratio, Summary};
use serde::{Deserialize, Serialize};

/// Version of the results.json schema.
pub const RESULTS_VERSION: u32 = 1;

/// The whole results file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResultsFile {
    /// Schema version ([`RESULTS_VERSION`]).
    pub results_version: u32,
    /// isobench version that wrote the file.
    pub isobench_version: String,
    /// Git revision of isobench, when known.
    pub git_revision: Option<String>,
    /// Unix time (seconds) the experiment started.
    pub started_unix: u64,
    /// The experiment as run.
    pub experiment: Experiment,
    /// The host it ran on.
    pub host: HostInfo,
    /// Identity of the agent and assets (byte-identical in every environment).
    pub payload: PayloadIdentity,
    /// Results per environment, in the order run.
    pub environments: Vec<EnvironmentResult>,
    /// Warnings for the reader (high CV, emulated figures, noisy host).
    #[serde(default)]
    pub warnings: Vec<String>,
    /// Model-serving results (`isobench serve-bench`), per environment and scenario.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub serving: Vec<ServingResult>,
}

/// The experiment's configuration, after defaults and overrides.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Experiment {
    /// Environments requested, in order.
    pub environments: Vec<String>,
    /// Workload name.
    pub workload: String,
    /// Engine (`tract`, `ort`); `native` for hand-written models.
    pub engine: String,
    /// Model file, when the workload uses one.
    pub model: Option<String>,
    /// Image directory, when the workload uses images.
    pub images: Option<String>,
    /// Measured iterations per repetition.
    pub iterations: u64,
    /// Warm-up iterations per repetition.
    pub warmup: u64,
    /// Fresh environments per environment kind.
    pub repetitions: u32,
    /// vCPUs / CPU quota.
    pub vcpus: Option<u32>,
    /// Memory limit / VM RAM, MiB.
    pub memory_mib: Option<u64>,
    /// Engine threads.
    pub threads: u32,
    /// Seed of every random procedure (bootstrap).
    pub seed: u64,
}

/// Facts about the host.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HostInfo {
    /// Hostname.
    pub hostname: String,
    /// `uname -r`.
    pub kernel: String,
    /// CPU model name.
    pub cpu_model: String,
    /// Online CPUs.
    pub cpus: u32,
    /// Total memory, bytes.
    pub memory_bytes: u64,
    /// KVM kind (`hardware`, `pvm`, `absent`, `no-access`).
    pub kvm: String,
    /// 1-minute load average when the experiment started.
    pub load_average: f64,
    /// Versions of the tools involved (dockerd, runc, crun, runsc, qemu, firecracker).
    pub tool_versions: BTreeMap<String, String>,
}

/// sha256 of what runs inside every environment.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct PayloadIdentity {
    /// sha256 of the agent executable.
    pub agent_sha256: String,
    /// True when the agent is a static executable.
    pub agent_static: bool,
    /// sha256 over the asset files the workload reads (sorted by path).
    pub assets_sha256: String,
}

/// How an environment's part of the experiment ended.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Status {
    /// Every repetition completed.
    Completed,
    /// At least one repetition failed; the reason of the first failure.
    Failed {
        /// One-line reason.
        reason: String,
    },
    /// Not run (unavailable here).
    Skipped {
        /// One-line reason.
        reason: String,
    },
}

/// One environment's results.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnvironmentResult {
    /// Environment name (`native`, `docker`, ...).
    pub name: String,
    /// Runtime / VMM version.
    pub runtime_version: Option<String>,
    /// `kvm` / `tcg` for VMs.
    pub accel: Option<String>,
    /// True for software-emulated figures (never compare them with hardware ones).
    pub emulated: bool,
    /// Notes (kernel used, cgroup, runtime options).
    #[serde(default)]
    pub notes: Vec<String>,
    /// Image / bundle / guest image size, bytes.
    pub image_bytes: Option<u64>,
    /// Seconds spent preparing the image.
    pub prepare_seconds: f64,
    /// Outcome.
    pub status: Status,
    /// Every repetition, with raw samples.
    pub repetitions: Vec<Repetition>,
    /// Summary over all repetitions (absent when nothing was measured).
    pub summary: Option<EnvironmentSummary>,
}

/// One fresh instance of an environment.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Repetition {
    /// 0-based repetition index.
    pub index: u32,
    /// Seconds from launch to the agent's `ready` record (start / boot time).
    pub ready_seconds: Option<f64>,
    /// Seconds from launch to the first iteration record (first inference done).
    pub first_inference_seconds: Option<f64>,
    /// The agent's own process-start-to-model-loaded time, µs.
    pub agent_ready_us: Option<u64>,
    /// Seconds from the VMM's start call (Firecracker's InstanceStart) to `ready`, for VMs that report it.
    #[serde(default)]
    pub guest_start_to_ready_seconds: Option<f64>,
    /// Seconds since launch when the first measured iteration started (host view).
    #[serde(default)]
    pub measured_start_seconds: Option<f64>,
    /// Seconds since launch when the last measured iteration's record arrived.
    #[serde(default)]
    pub measured_end_seconds: Option<f64>,
    /// Measured iterations (warm-ups are not kept).
    pub iterations: Vec<IterationSample>,
    /// Host CPU and memory charged to the environment.
    pub usage: Usage,
    /// The agent's summary record.
    pub agent_summary: Option<AgentSummary>,
    /// Exit code of the instance, when known.
    pub exit_code: Option<i64>,
    /// Error that ended this repetition early.
    pub error: Option<String>,
}

/// One measured iteration.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct IterationSample {
    /// Iteration index.
    pub index: u64,
    /// Input name.
    pub input: String,
    /// In-agent preprocessing, µs.
    pub preprocess_us: u64,
    /// In-agent inference, µs.
    pub inference_us: u64,
    /// In-agent postprocessing, µs.
    pub postprocess_us: u64,
    /// End to end as seen by the host: time between this record's arrival and the previous one's, µs.
    pub end_to_end_us: u64,
}

/// Host resources charged to one instance.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Usage {
    /// What was metered (`cgroup-v1 <path>`, `process-tree <pid>`, or why nothing).
    pub source: String,
    /// Host CPU seconds (user + system) over the instance's life.
    pub cpu_seconds: f64,
    /// Wall seconds the instance lived.
    pub wall_seconds: f64,
    /// Host CPU seconds per measured inference (whole life / iterations).
    pub cpu_seconds_per_inference: f64,
    /// Mean host CPU usage while measured iterations ran, % of one core.
    pub cpu_percent: f64,
    /// Peak memory (cgroup max usage or summed RSS), bytes.
    pub peak_memory_bytes: u64,
    /// For VMs: the VMM's resident memory outside guest RAM, bytes (Firecracker's memory-overhead method).
    #[serde(default)]
    pub vmm_overhead_bytes: Option<u64>,
    /// Sampling interval, ms.
    pub interval_ms: u64,
    /// Samples (seconds since launch, cumulative CPU seconds, memory bytes).
    pub samples: Vec<UsageSample>,
}

/// One usage sample.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct UsageSample {
    /// Seconds since launch.
    pub t: f64,
    /// Cumulative CPU seconds.
    pub cpu: f64,
    /// Memory in use, bytes.
    pub mem: u64,
}

/// Statistics over all repetitions of one environment.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnvironmentSummary {
    /// In-agent inference time, µs.
    pub inference_us: Summary,
    /// Host-observed end-to-end time per iteration, µs.
    pub end_to_end_us: Summary,
    /// Launch to `ready`, seconds (one sample per repetition).
    pub ready_seconds: Option<Summary>,
    /// Launch to first inference done, seconds.
    pub first_inference_seconds: Option<Summary>,
    /// Mean host CPU %, over repetitions.
    pub cpu_percent: f64,
    /// Mean host CPU seconds per inference.
    pub cpu_seconds_per_inference: f64,
    /// Mean peak memory, bytes.
    pub peak_memory_bytes: u64,
    /// Peak memory above the baseline's, bytes (absent for the baseline).
    pub memory_overhead_bytes: Option<i64>,
    /// Accuracy reported by the agent (mean over repetitions).
    pub accuracy: Option<f64>,
    /// Mean inference time relative to the baseline, with CI (absent for the baseline).
    pub ratio_to_baseline: Option<Ratio>,
}

/// Errors loading a results file.
#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    /// File could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Not JSON, or not a results file, or truncated.
    #[error("{path} is not a valid isobench results file ({reason}); was it truncated? re-run `isobench run` or restore the file")]
    Invalid {
        /// The file.
        path: String,
        /// Parser message.
        reason: String,
    },
    /// Written by another schema version.
    #[error("{path} has results format v{found}, this isobench reads v{RESULTS_VERSION}; use the isobench version that wrote it")]
    Version {
        /// The file.
        path: String,
        /// Version found.
        found: u64,
    },
}

impl ResultsFile {
    /// Reads and validates a results file.
    pub fn load(path: &Path) -> Result<Self, ResultsError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ResultsError::Io {
            path: shown.clone(),
            source,
        })?;
        Self::from_json(&text, &shown)
    }

    /// Parses results from text; `origin` names it in errors.
    pub fn from_json(text: &str, origin: &str) -> Result<Self, ResultsError> {
        let invalid = |reason: String| ResultsError::Invalid {
            path: origin.to_string(),
            reason,
        };
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
        let version = value
            .get("results_version")
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| invalid("no `results_version` field".into()))?;
        if version != u64::from(RESULTS_VERSION) {
            return Err(ResultsError::Version {
                path: origin.to_string(),
                found: version,
            });
        }
        serde_json::from_value(value).map_err(|e| invalid(e.to_string()))
    }

    /// Writes the file atomically (temporary file in the same directory, fsync, rename).
    pub fn save_atomic(&self, path: &Path) -> Result<(), ResultsError> {
        use std::io::Write;
        let shown = path.display().to_string();
        let io = |source| ResultsError::Io {
            path: shown.clone(),
            source,
        };
        let tmp = path.with_extension("json.tmp");
        let mut file = std::fs::File::create(&tmp).map_err(io)?;
        serde_json::to_writer_pretty(&mut file, self).map_err(|e| io(std::io::Error::other(e)))?;
        file.write_all(b"\n").map_err(io)?;
        file.sync_all().map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }

    /// The environment used as the baseline for ratios: `native` if present, else the first.
    pub fn baseline(&self) -> Option<&EnvironmentResult> {
        self.environments
            .iter()
            .find(|e| e.name == "native" && e.summary.is_some())
            .or_else(|| self.environments.iter().find(|e| e.summary.is_some()))
    }
}

impl Repetition {
    /// In-agent inference times of this repetition, µs.
    pub fn inference_us(&self) -> impl Iterator<Item = f64> + '_ {
        self.iterations.iter().map(|i| i.inference_us as f64)
    }
}

impl EnvironmentResult {
    /// All in-agent inference samples across repetitions, µs.
    pub fn all_inference_us(&self) -> Vec<f64> {
        self.repetitions
            .iter()
            .flat_map(Repetition::inference_us)
            .collect()
    }

    /// All end-to-end samples across repetitions, µs.
    pub fn all_end_to_end_us(&self) -> Vec<f64> {
        self.repetitions
            .iter()
            .flat_map(|r| r.iterations.iter().map(|i| i.end_to_end_us as f64))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ResultsFile {
        ResultsFile {
            results_version: RESULTS_VERSION,
            isobench_version: "0.1.0".into(),
            git_revision: None,
            started_unix: 1,
            experiment: Experiment::default(),
            host: HostInfo::default(),
            payload: PayloadIdentity::default(),
            environments: vec![],
            warnings: vec![],
            serving: vec![],
        }
    }

    #[test]
    fn saves_and_loads() {
        let dir =
            std::env::temp_dir().join(format!("isobench-results-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("results.json");
        sample().save_atomic(&path).unwrap();
        let loaded = ResultsFile::load(&path).unwrap();
        assert_eq!(loaded.results_version, RESULTS_VERSION);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn rejects_truncated_and_other_versions() {
        let text = serde_json::to_string(&sample()).unwrap();
        let err = ResultsFile::from_json(&text[..text.len() / 2], "r.json").unwrap_err();
        assert!(
            err.to_string()
                .contains("not a valid isobench results file"),
            "{err}"
        );
        let other = text.replace("\"results_version\":1", "\"results_version\":7");
        let err = ResultsFile::from_json(&other, "r.json").unwrap_err();
        assert!(
            matches!(err, ResultsError::Version { found: 7, .. }),
            "{err}"
        );
    }
}
