//! The `results.json` model: one experiment, every environment's
//! repetitions with every raw sample, and the computed summaries.
//!
//! Versioned by [`RESULTS_VERSION`]; [`ResultsFile::load`] refuses other
//! versions and truncated files with a one-line error.

use std::collections::BTreeMap;
use std::path::Path;

pub mod cold_start;
pub mod density;
pub mod design;
pub mod interference;
pub mod outputs;
pub mod serving;
pub mod warnings;

pub use cold_start::{
    ColdStartResult, ColdStartSample, FaultMeans, PageFaults, Phase, PhaseTime, StartType,
};
pub use density::{
    DensityEnvironment, DensityResults, DensitySettings, DensityStep, DensityTrial, InstanceLoad,
    LimitKind,
};
pub use design::{MemoryDifference, Plan, RunDesign, Stop};
pub use interference::{
    InterferenceLevel, InterferenceResult, LevelSample, NeighbourLoad, TrialProbe,
};

pub use outputs::{EnvOutput, InputOutputs, OutputCheck, OutputMismatch};
pub use serving::{LatencySummary, PeakStep, RequestCounts, ServingResult};
pub use warnings::{AbsentReason, AffectedRepetition, FailedRepetition, Warning};

use isobench_records::{Digest, Engine, Summary as AgentSummary, Workload};
use isobench_stats::{Decision, Interval, Summary, VarianceComponents};
use serde::{Deserialize, Serialize};

/// Version of the results.json schema. v3: typed warnings and absent
/// reasons, the baseline as a field, repetitions numbered by their round
/// from 1, per-environment states with the planned repetitions.
pub const RESULTS_VERSION: u32 = 3;

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
    /// The environment every other one is compared with (`--baseline`;
    /// default `native` when it is in the run, else the first environment).
    pub baseline: Option<String>,
    /// The host it ran on.
    pub host: HostInfo,
    /// Identity of the agent and assets (byte-identical in every environment).
    pub payload: PayloadIdentity,
    /// Results per environment, in the order requested.
    pub environments: Vec<EnvironmentResult>,
    /// How the rounds were planned, the looks taken, the iterations chosen,
    /// and why the run stopped (batch runs).
    #[serde(default)]
    pub design: Option<RunDesign>,
    /// The order instances were launched in: one entry per round, each
    /// listing the environments launched in it, in launch order.
    #[serde(default)]
    pub rounds: Vec<Round>,
    /// The host-speed probe over the whole experiment (see [`Calibration`]).
    #[serde(default)]
    pub host_speed: Option<HostSpeed>,
    /// Whether every environment computed the same outputs for the same inputs.
    #[serde(default)]
    pub outputs: Option<OutputCheck>,
    /// Warnings for the reader (high CV, emulated figures, noisy host), as
    /// data; the reports put them into words.
    #[serde(default)]
    pub warnings: Vec<Warning>,
    /// Model-serving results (`isobench serve-bench`), per environment and scenario.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub serving: Vec<ServingResult>,
    /// Cold-start results (`isobench cold-start`), per environment and start type.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cold_start: Vec<ColdStartResult>,
    /// The host-speed probe over the cold starts (every start's probe
    /// before and after; see [`ColdStartSample::calibration`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cold_start_host_speed: Option<HostSpeed>,
    /// Density results (`isobench density`): per environment, the most
    /// instances that meet a latency bound and the memory each costs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub density: Option<DensityResults>,
    /// Interference results (`isobench interference`), per environment,
    /// workload and neighbour load.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interference: Vec<InterferenceResult>,
}

/// The experiment's configuration, after defaults and overrides.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Experiment {
    /// Environments requested, in order.
    pub environments: Vec<String>,
    /// The workload.
    pub workload: Workload,
    /// The engine that ran (`tract`, `ort`; `native` for hand-written models).
    pub engine: Engine,
    /// Model file, when the workload uses one.
    pub model: Option<String>,
    /// Image directory, when the workload uses images.
    pub images: Option<String>,
    /// Measured iterations per repetition when fixed (`--iterations`);
    /// `None`: chosen from the variance (see [`ResultsFile::design`]).
    pub iterations: Option<u64>,
    /// Warm-up iterations per repetition.
    pub warmup: u64,
    /// Rounds of a fixed design (`--repetitions`); `None`: sequential
    /// rounds (see [`ResultsFile::design`]).
    pub repetitions: Option<u32>,
    /// vCPUs / CPU quota.
    pub vcpus: Option<u32>,
    /// Memory limit / VM RAM, MiB.
    pub memory_mib: Option<u64>,
    /// Engine threads.
    pub threads: u32,
    /// Seed of every random procedure (bootstrap, permutations, round order).
    pub seed: u64,
    /// How repetitions were scheduled.
    pub order: Order,
    /// `--workload command`: the program as run, its root filesystem and how
    /// it was measured (e.g. `python3 /app/knn.py in /srv/tree (records)`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
}

/// How repetitions are scheduled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Order {
    /// Rounds: each launches one fresh instance of every environment, in an
    /// order shuffled per round with the experiment's seed, so the host's
    /// drift spreads over every environment alike.
    #[default]
    Interleaved,
    /// Every repetition of one environment, then the next (drift is
    /// attributed to whichever environment ran at that moment).
    Blocked,
}

impl Order {
    /// `interleaved` or `blocked`.
    pub fn name(self) -> &'static str {
        match self {
            Order::Interleaved => "interleaved",
            Order::Blocked => "blocked",
        }
    }
}

impl std::str::FromStr for Order {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "interleaved" => Ok(Order::Interleaved),
            "blocked" => Ok(Order::Blocked),
            other => Err(format!(
                "unknown order `{other}`; use interleaved or blocked"
            )),
        }
    }
}

impl std::fmt::Display for Order {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One round of an interleaved experiment: the environments launched in it, in order.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Round {
    /// The round, from 1 (the `round` of every repetition in it).
    pub round: u32,
    /// Environment names in launch order.
    pub order: Vec<String>,
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
    /// cgroup layout (`v1 (hybrid)`, `v2`).
    #[serde(default)]
    pub cgroup_version: String,
}

impl HostInfo {
    /// The facts that identify a host for cross-host comparisons: CPU
    /// model, CPU count, kernel and cgroup layout (not the host name).
    pub fn fingerprint(&self) -> String {
        format!(
            "{} × {} CPUs, kernel {}, cgroups {}",
            self.cpu_model,
            self.cpus,
            self.kernel,
            if self.cgroup_version.is_empty() {
                "unknown"
            } else {
                &self.cgroup_version
            }
        )
    }
}

/// The host-speed probe: a short, fixed, CPU-bound reference computation
/// timed on the host (not inside the environment) before and after every
/// repetition. Its duration tracks the host's speed: if it takes 10% longer,
/// everything measured at that moment ran on a host about 10% slower.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct Calibration {
    /// Seconds the reference computation took just before the launch.
    pub before: f64,
    /// Seconds it took just after the instance stopped.
    pub after: f64,
}

impl Calibration {
    /// The repetition's host speed figure: the mean of `before` and `after`, seconds.
    pub fn seconds(&self) -> f64 {
        (self.before + self.after) / 2.0
    }
}

/// The host-speed probe over a whole experiment.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct HostSpeed {
    /// Median of every repetition's [`Calibration::seconds`].
    pub median_seconds: f64,
    /// Fastest repetition's probe, seconds.
    pub min_seconds: f64,
    /// Slowest repetition's probe, seconds.
    pub max_seconds: f64,
    /// `max / min - 1`: how much the host's speed drifted over the experiment.
    pub drift: f64,
    /// Repetitions whose probe differs from the median by more than the
    /// drift threshold.
    pub affected: Vec<AffectedRepetition>,
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
    /// Every planned repetition completed.
    Completed,
    /// The run was interrupted (SIGINT / SIGTERM) before every planned
    /// repetition was done; `isobench run --resume` continues it.
    Interrupted,
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
    /// Repetitions planned: the fixed design's count, or the sequential
    /// design's most (`--max-rounds`); done is `repetitions.len()`.
    #[serde(default)]
    pub planned_repetitions: u32,
    /// Every repetition, with raw samples.
    pub repetitions: Vec<Repetition>,
    /// Summary over all repetitions (absent when nothing was measured).
    pub summary: Option<EnvironmentSummary>,
}

/// One fresh instance of an environment.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Repetition {
    /// The round it ran in, from 1 (with `--order blocked`, its ordinal).
    pub round: u32,
    /// Position of this launch in the whole experiment (0 = first instance launched).
    #[serde(default)]
    pub sequence: Option<u32>,
    /// The host-speed probe around this repetition.
    #[serde(default)]
    pub calibration: Option<Calibration>,
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
    /// Error stopping the instance (its exit code and final counters are then unknown).
    #[serde(default)]
    pub stop_error: Option<String>,
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
    /// What the iteration computed (compared across environments).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
}

/// Host resources charged to one instance. Every figure is `None` when
/// it could not be measured; `absent` then says why.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Usage {
    /// What was metered (`cgroup-v1 <path>`, `process-tree <pid>`, or why nothing).
    pub source: String,
    /// Host CPU seconds (user + system) over the instance's whole life, launch to stop.
    pub cpu_seconds: Option<f64>,
    /// Wall seconds the instance lived.
    pub wall_seconds: f64,
    /// Host CPU seconds from launch to the agent's `ready` record (boot, runtime
    /// start, model load): the start-up cost, kept apart from inference.
    pub startup_cpu_seconds: Option<f64>,
    /// Host CPU seconds over the measured iterations only: the counters read
    /// when the first measured iteration started (the previous record's
    /// arrival) and when the last one's record arrived.
    pub measured_cpu_seconds: Option<f64>,
    /// Wall seconds between those two readings.
    pub measured_wall_seconds: Option<f64>,
    /// `measured_cpu_seconds / measured iterations`.
    pub cpu_seconds_per_inference: Option<f64>,
    /// `100 * measured_cpu_seconds / measured_wall_seconds`: % of one core while
    /// the measured iterations ran (2 busy cores = 200%).
    pub cpu_percent: Option<f64>,
    /// Why the CPU figures are absent (meter read nothing, window too short).
    #[serde(default)]
    pub absent: Vec<AbsentReason>,
    /// Host peak resident memory of the instance, the same formula in every
    /// environment: the larger of (a) the sum of each of its host processes'
    /// peak RSS (`VmHWM`: the agent and runtime processes of a container's
    /// cgroup, the agent's process tree, a VMM and its device daemons; a VM's
    /// guest memory as the host holds it) and (b) for cgroup-metered
    /// instances, the peak of the cgroup's resident charge (anonymous +
    /// shared memory + mapped files), which also counts memory a sandbox
    /// keeps in a shared-memory file that no process maps at every moment (gVisor).
    pub host_peak_rss_bytes: Option<u64>,
    /// Peak of the cgroup's memory usage (`memory.max_usage_in_bytes`,
    /// page cache included), for cgroup-metered instances.
    pub cgroup_peak_bytes: Option<u64>,
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

/// Statistics over all repetitions of one environment. A repetition (one
/// fresh instance) is the unit of replication: confidence intervals come
/// from a two-level bootstrap (repetitions, then iterations within them) and
/// the verdict from a permutation test on repetition means.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnvironmentSummary {
    /// In-agent inference time, µs: descriptive statistics of every measured
    /// iteration; `mean_ci` and `median_ci` are two-level bootstrap intervals.
    pub inference_us: Summary,
    /// Host-observed end-to-end time per iteration, µs (intervals as above).
    pub end_to_end_us: Summary,
    /// Between- and within-repetition variance of the inference time (µs²)
    /// and the intra-class correlation; absent with one repetition.
    pub variance: Option<VarianceComponents>,
    /// Repetitions whose mean inference time is an outlier among this
    /// environment's repetitions (their indices).
    #[serde(default)]
    pub outlier_repetitions: Vec<u32>,
    /// Repetitions that failed (their indices).
    #[serde(default)]
    pub failed_repetitions: Vec<u32>,
    /// Launch to `ready`, seconds (one sample per repetition).
    pub ready_seconds: Option<Summary>,
    /// Launch to first inference done, seconds.
    pub first_inference_seconds: Option<Summary>,
    /// Mean over repetitions of [`Usage::cpu_percent`].
    pub cpu_percent: Option<f64>,
    /// Mean over repetitions of [`Usage::cpu_seconds_per_inference`].
    pub cpu_seconds_per_inference: Option<f64>,
    /// Mean over repetitions of [`Usage::startup_cpu_seconds`].
    pub startup_cpu_seconds: Option<f64>,
    /// Mean over repetitions of the agent's own peak resident memory, as
    /// the kernel it runs on counts it (`VmHWM`, or `getrusage`'s maxrss
    /// where /proc lacks it, as in gVisor, whose kernel counts whole faulted
    /// ranges), bytes.
    pub workload_peak_rss_bytes: Option<u64>,
    /// Mean over repetitions of [`Usage::host_peak_rss_bytes`].
    pub host_peak_rss_bytes: Option<u64>,
    /// Host memory the isolation itself costs: this environment's
    /// host peak RSS minus the baseline's in the same rounds, both from the
    /// same host-side meter (runtime processes, a sandbox's kernel, a VM's
    /// guest kernel, page cache and VMM), with its interval; `≈ 0` when the
    /// interval holds 0 (the meter's noise); absent for the baseline.
    pub isolation_overhead: Option<MemoryDifference>,
    /// Mean over repetitions of [`Usage::vmm_overhead_bytes`].
    pub vmm_overhead_bytes: Option<u64>,
    /// Accuracy reported by the agent (mean over repetitions).
    pub accuracy: Option<f64>,
    /// The verdict against the baseline (absent for the baseline): the
    /// ratio of mean inference times (geometric mean of the rounds' ratios,
    /// paired on rounds), the interval the verdict used, and the outcome
    /// (slower, faster, same, inconclusive) at the run's last look.
    pub decision: Option<Decision>,
    /// Why this environment was not compared with the baseline.
    #[serde(default)]
    pub not_compared: Option<String>,
}

impl EnvironmentSummary {
    /// The two-level bootstrap CI of the mean inference time.
    pub fn mean_ci(&self) -> Interval {
        self.inference_us.mean_ci
    }
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
    /// A results file with no environments yet, started now.
    pub fn new(
        experiment: Experiment,
        host: HostInfo,
        payload: PayloadIdentity,
        git_revision: Option<String>,
    ) -> Self {
        ResultsFile {
            results_version: RESULTS_VERSION,
            isobench_version: env!("CARGO_PKG_VERSION").to_string(),
            git_revision,
            started_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            experiment,
            baseline: None,
            host,
            payload,
            environments: Vec::new(),
            design: None,
            rounds: Vec::new(),
            host_speed: None,
            outputs: None,
            warnings: Vec::new(),
            serving: Vec::new(),
            cold_start: Vec::new(),
            cold_start_host_speed: None,
            density: None,
            interference: Vec::new(),
        }
    }

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

    /// The baseline environment (the [`ResultsFile::baseline`] field), when it is in the file.
    pub fn baseline_env(&self) -> Option<&EnvironmentResult> {
        let name = self.baseline.as_deref()?;
        self.environments.iter().find(|e| e.name == name)
    }

    /// A copy holding only the repetitions of rounds up to `round` (what the
    /// run knew after that round).
    pub fn clone_up_to(&self, round: u32) -> ResultsFile {
        let mut copy = self.clone();
        for env in &mut copy.environments {
            env.repetitions.retain(|r| r.round <= round);
        }
        copy.rounds.retain(|r| r.round <= round);
        copy
    }

    /// The looks every verdict of the file is decided at: its design's,
    /// else one final look over the rounds run (a fixed design).
    pub fn looks(&self) -> isobench_stats::Looks {
        match self.design.as_ref().map(|d| &d.looks) {
            Some(looks) if !looks.is_empty() => looks.clone(),
            _ => {
                let rounds = self
                    .environments
                    .iter()
                    .flat_map(|e| e.repetitions.iter().map(|r| r.round))
                    .max()
                    .unwrap_or(0);
                isobench_stats::Looks::fixed(rounds.max(1) as usize)
            }
        }
    }

    /// True when `env` is the baseline.
    pub fn is_baseline(&self, env: &str) -> bool {
        self.baseline.as_deref() == Some(env)
    }

    /// The host-speed figure of the experiment: the median probe, seconds.
    pub fn calibration_seconds(&self) -> Option<f64> {
        self.host_speed.as_ref().map(|h| h.median_seconds)
    }
}

impl Repetition {
    /// In-agent inference times of this repetition, µs.
    pub fn inference_us(&self) -> impl Iterator<Item = f64> + '_ {
        self.iterations.iter().map(|i| i.inference_us as f64)
    }
}

impl EnvironmentResult {
    /// An environment about to run, with `planned` repetitions and nothing measured yet.
    pub fn new(name: &str, planned: u32) -> Self {
        EnvironmentResult {
            name: name.to_string(),
            runtime_version: None,
            accel: None,
            emulated: false,
            notes: vec![],
            image_bytes: None,
            prepare_seconds: 0.0,
            status: Status::Completed,
            planned_repetitions: planned,
            repetitions: vec![],
            summary: None,
        }
    }

    /// In-agent inference samples grouped by repetition (repetitions without
    /// samples left out), µs.
    pub fn inference_by_repetition(&self) -> Vec<Vec<f64>> {
        self.repetitions
            .iter()
            .map(|r| r.inference_us().collect::<Vec<_>>())
            .filter(|v| !v.is_empty())
            .collect()
    }

    /// End-to-end samples grouped by repetition (as [`Self::inference_by_repetition`]), µs.
    pub fn end_to_end_by_repetition(&self) -> Vec<Vec<f64>> {
        self.repetitions
            .iter()
            .map(|r| {
                r.iterations
                    .iter()
                    .map(|i| i.end_to_end_us as f64)
                    .collect::<Vec<_>>()
            })
            .filter(|v| !v.is_empty())
            .collect()
    }

    /// True when some repetition failed (its error is set).
    pub fn partly_failed(&self) -> bool {
        self.repetitions.iter().any(|r| r.error.is_some())
            || matches!(self.status, Status::Failed { .. })
    }

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
            baseline: None,
            host: HostInfo::default(),
            payload: PayloadIdentity::default(),
            environments: vec![],
            design: None,
            rounds: vec![],
            host_speed: None,
            outputs: None,
            warnings: vec![],
            serving: vec![],
            cold_start: vec![],
            cold_start_host_speed: None,
            density: None,
            interference: vec![],
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
        let other = text.replace("\"results_version\":3", "\"results_version\":7");
        let err = ResultsFile::from_json(&other, "r.json").unwrap_err();
        assert!(
            matches!(err, ResultsError::Version { found: 7, .. }),
            "{err}"
        );
    }
}
