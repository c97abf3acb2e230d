//! Cold starts (`isobench cold-start`): per environment and start type,
//! every start's phases from the launch request to the first inference's
//! answer, and a warm reference, stored in `results.json` under `cold_start`.
//!
//! A start's phases are consecutive: each begins where the previous one
//! ends, so they add up to [`ColdStartSample::time_to_first_inference_seconds`]
//! exactly. Their definitions are [`Phase::definition`], the one place the
//! reports take them from.

use isobench_records::Digest;
use isobench_stats::{Decision, DecisionOptions, Observations, Summary};
use serde::{Deserialize, Serialize};

/// How an instance was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StartType {
    /// A fresh instance launched from nothing: runtime / VMM start, boot,
    /// agent start, model load.
    Boot,
    /// An instance restored from a snapshot of a serving agent whose model
    /// is loaded and warmed up.
    Snapshot,
}

impl StartType {
    /// Every start type, in the order reports show them.
    pub const ALL: [StartType; 2] = [StartType::Boot, StartType::Snapshot];

    /// Its name (`boot`, `snapshot`), as in `--from`.
    pub fn name(self) -> &'static str {
        match self {
            StartType::Boot => "boot",
            StartType::Snapshot => "snapshot",
        }
    }
}

impl std::fmt::Display for StartType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for StartType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "boot" => Ok(StartType::Boot),
            "snapshot" => Ok(StartType::Snapshot),
            other => Err(format!(
                "`{other}` is not a start type; give boot or snapshot"
            )),
        }
    }
}

/// One phase of a start, from the launch request to the first answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Launch requested → the runtime / VMM process running.
    Runtime,
    /// Runtime / VMM running → the agent process started.
    Boot,
    /// Agent process started → its model load began.
    AgentInit,
    /// The model load.
    ModelLoad,
    /// Restore requested → the backend's restore call returned.
    Restore,
    /// The agent ready (or the restore call returned) → the first
    /// inference's answer read by the host.
    FirstInference,
}

impl Phase {
    /// Every phase, in the order they happen.
    pub const ALL: [Phase; 6] = [
        Phase::Runtime,
        Phase::Boot,
        Phase::AgentInit,
        Phase::ModelLoad,
        Phase::Restore,
        Phase::FirstInference,
    ];

    /// Its name in results.json and the reports.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Runtime => "runtime",
            Phase::Boot => "boot",
            Phase::AgentInit => "agent_init",
            Phase::ModelLoad => "model_load",
            Phase::Restore => "restore",
            Phase::FirstInference => "first_inference",
        }
    }

    /// Its definition, the one the reports print.
    pub fn definition(self) -> &'static str {
        match self {
            Phase::Runtime => "launch requested → the runtime / VMM process running: until the backend's launch call returned (process spawned, container created and started, VMM configured), or until the agent started if that came first",
            Phase::Boot => "runtime / VMM running → agent process started (container set-up, sandbox start, guest kernel boot); the agent's start is placed at the host's arrival of its `ready` record minus the agent's own `ready_us` (start of `main` to model loaded), so transport delays of `ready` count here",
            Phase::AgentInit => "agent process started → model load began, by the agent's clock (`ready_us` − `model_load_us`): reading assets, parsing the invocation",
            Phase::ModelLoad => "the model load and optimisation, by the agent's clock (`model_load_us`); it ends when the agent reports `ready`",
            Phase::Restore => "snapshot starts: restore requested → the backend's restore call returned: for QEMU the guest running again (its state loaded from the migration file, `query-status` running), for gVisor `runsc restore` running with the container's cgroup (the sandbox may still be loading its state)",
            Phase::FirstInference => "boot starts: the host read `ready` → the host read the answer to the first request, sent on the agent's input right away (request transport, the first inference with cold caches, answer transport); snapshot starts: the restore call returned → that answer (the rest of the restore, the first inference, transport)",
        }
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One phase's duration in one start.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PhaseTime {
    /// The phase.
    pub phase: Phase,
    /// Its duration, seconds.
    pub seconds: f64,
}

/// Page faults an instance's host processes took (the kernel's `minflt`
/// and `majflt` of each, with those of its reaped children, summed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageFaults {
    /// Faults served without I/O (page cache, zero page, copy-on-write).
    pub minor: u64,
    /// Faults that needed I/O (reading the page from a file or swap).
    pub major: u64,
}

/// One start, from the launch (or restore) request to the first answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColdStartSample {
    /// The round it ran in (from 1): each round starts every environment
    /// once, in an order shuffled with the experiment's seed.
    pub round: u32,
    /// Its phases in order; they add up to
    /// [`ColdStartSample::time_to_first_inference_seconds`].
    pub phases: Vec<PhaseTime>,
    /// Seconds from the launch (or restore) request to the host reading the
    /// first inference's answer.
    pub time_to_first_inference_seconds: f64,
    /// Seconds for a second request to the same, now serving, agent: the
    /// warm reference (request sent → answer read by the host).
    pub warm_seconds: Option<f64>,
    /// What the first inference computed (the same in every environment
    /// for the same input).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
    /// The host-speed probe just before the launch (or restore) request and
    /// just after the instance stopped, outside the timed window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<crate::Calibration>,
    /// The instance's host memory once its first answer was read, bytes, as
    /// its meter reads it: the cgroup's `memory.usage_in_bytes` (containers,
    /// gVisor) or the summed RSS of its process trees (native, VMs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_memory_bytes: Option<u64>,
    /// Page faults the instance's host processes took while it answered its
    /// first request: from the host reading `ready` (boot) or the restore
    /// call returning (snapshot) to the host reading the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_request_faults: Option<PageFaults>,
}

impl ColdStartSample {
    /// The duration of `phase`, when this start had it.
    pub fn phase(&self, phase: Phase) -> Option<f64> {
        self.phases
            .iter()
            .find(|p| p.phase == phase)
            .map(|p| p.seconds)
    }
}

/// The starts of one environment of one start type.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ColdStartResult {
    /// Environment name.
    pub env: String,
    /// How its instances were started.
    pub start: Option<StartType>,
    /// The workload.
    pub workload: String,
    /// How requests reached the agent (`stdio`, `serial`).
    pub transport: String,
    /// True for software-emulated figures (QEMU under TCG).
    #[serde(default)]
    pub emulated: bool,
    /// Every successful start, in launch order.
    pub samples: Vec<ColdStartSample>,
    /// Summary of [`ColdStartSample::time_to_first_inference_seconds`] over
    /// the samples.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_to_first_inference: Option<Summary>,
    /// Summary of the warm reference over the samples.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warm: Option<Summary>,
    /// Summary of [`ColdStartSample::host_memory_bytes`] over the samples, bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_memory: Option<Summary>,
    /// Mean of [`ColdStartSample::first_request_faults`] over the samples
    /// that have it (minor, major).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_request_faults: Option<FaultMeans>,
    /// Where the snapshot was kept (`--keep-snapshots DIR`); absent when it
    /// was removed after the experiment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kept_snapshot: Option<String>,
    /// Mean duration of every phase the starts had, in phase order.
    #[serde(default)]
    pub phase_means: Vec<PhaseTime>,
    /// Snapshot starts: the snapshot's size on disk, bytes (every file of
    /// its image directory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_bytes: Option<u64>,
    /// Snapshot starts: seconds to take the snapshot (the checkpoint call,
    /// of an agent with its model loaded and one request answered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_create_seconds: Option<f64>,
    /// Time to first inference against the baseline environment's boot
    /// starts: the verdict (slower, faster, same, inconclusive), paired by
    /// round, one look at the end (a fixed design of `--starts` rounds);
    /// absent for the baseline's own boot starts and with fewer than 2 starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versus_baseline: Option<Decision>,
    /// Snapshot starts: time to first inference against the same
    /// environment's boot starts, the same way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versus_boot: Option<Decision>,
    /// Starts that failed: `round N: why`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<String>,
    /// Why no start of this type ran (the environment is unavailable, or
    /// cannot snapshot here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub absent: Option<String>,
}

/// Mean page faults per start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct FaultMeans {
    /// Mean minor faults.
    pub minor: f64,
    /// Mean major faults.
    pub major: f64,
}

impl ColdStartResult {
    /// Fills the summaries from the samples (seeded bootstrap intervals).
    pub fn summarize(&mut self, seed: u64) {
        let total: Vec<f64> = self
            .samples
            .iter()
            .map(|s| s.time_to_first_inference_seconds)
            .collect();
        self.time_to_first_inference = Summary::from_samples(&total, seed).ok();
        let warm: Vec<f64> = self.samples.iter().filter_map(|s| s.warm_seconds).collect();
        self.warm = Summary::from_samples(&warm, seed).ok();
        let memory: Vec<f64> = self
            .samples
            .iter()
            .filter_map(|s| s.host_memory_bytes.map(|b| b as f64))
            .collect();
        self.host_memory = Summary::from_samples(&memory, seed).ok();
        let faults: Vec<PageFaults> = self
            .samples
            .iter()
            .filter_map(|s| s.first_request_faults)
            .collect();
        self.first_request_faults = (!faults.is_empty()).then(|| {
            let n = faults.len() as f64;
            FaultMeans {
                minor: faults.iter().map(|f| f.minor as f64).sum::<f64>() / n,
                major: faults.iter().map(|f| f.major as f64).sum::<f64>() / n,
            }
        });
        self.phase_means = Phase::ALL
            .iter()
            .filter_map(|&phase| {
                let times: Vec<f64> = self.samples.iter().filter_map(|s| s.phase(phase)).collect();
                (!times.is_empty()).then(|| PhaseTime {
                    phase,
                    seconds: times.iter().sum::<f64>() / times.len() as f64,
                })
            })
            .collect();
    }
}

/// `(round, time to first inference)` of every start of `r`.
fn by_round(r: &ColdStartResult) -> Vec<(usize, f64)> {
    r.samples
        .iter()
        .map(|s| (s.round as usize, s.time_to_first_inference_seconds))
        .collect()
}

/// Decides every start type against the `baseline` environment's boot
/// starts, and every snapshot start type against its own boot starts
/// (paired by round, [`isobench_stats::decide_fixed`] at `options`).
pub fn decide_all(results: &mut [ColdStartResult], baseline: &str, options: &DecisionOptions) {
    let boots: Vec<(String, Vec<(usize, f64)>)> = results
        .iter()
        .filter(|r| r.start == Some(StartType::Boot))
        .map(|r| (r.env.clone(), by_round(r)))
        .collect();
    let boot_of = |env: &str| boots.iter().find(|(e, _)| e == env).map(|(_, s)| s);
    let decide = |reference: Option<&Vec<(usize, f64)>>, candidate: &[(usize, f64)]| {
        let reference = reference.filter(|r| r.len() >= 2)?;
        if candidate.len() < 2 {
            return None;
        }
        isobench_stats::decide_fixed(&Observations::by_round(reference, candidate), options).ok()
    };
    for r in results.iter_mut() {
        let own = by_round(r);
        let is_baseline_boot = r.env == baseline && r.start == Some(StartType::Boot);
        r.versus_baseline = if is_baseline_boot {
            None
        } else {
            decide(boot_of(baseline), &own)
        };
        r.versus_boot = if r.start == Some(StartType::Snapshot) {
            decide(boot_of(&r.env), &own)
        } else {
            None
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(round: u32, phases: &[(Phase, f64)]) -> ColdStartSample {
        ColdStartSample {
            round,
            phases: phases
                .iter()
                .map(|&(phase, seconds)| PhaseTime { phase, seconds })
                .collect(),
            time_to_first_inference_seconds: phases.iter().map(|p| p.1).sum(),
            warm_seconds: Some(0.001),
            digest: None,
            calibration: None,
            host_memory_bytes: Some(1 << 20),
            first_request_faults: Some(PageFaults {
                minor: 10 * round as u64,
                major: 0,
            }),
        }
    }

    #[test]
    fn summaries_average_each_phase_over_the_starts_that_had_it() {
        let mut r = ColdStartResult {
            env: "native".into(),
            start: Some(StartType::Boot),
            samples: vec![
                sample(1, &[(Phase::Runtime, 0.01), (Phase::ModelLoad, 0.2)]),
                sample(2, &[(Phase::Runtime, 0.03), (Phase::ModelLoad, 0.4)]),
            ],
            ..ColdStartResult::default()
        };
        r.summarize(1);
        let means: Vec<(Phase, f64)> = r.phase_means.iter().map(|p| (p.phase, p.seconds)).collect();
        assert_eq!(means.len(), 2);
        assert_eq!(means[0].0, Phase::Runtime);
        assert!((means[0].1 - 0.02).abs() < 1e-12);
        assert!((means[1].1 - 0.3).abs() < 1e-12);
        let total = r.time_to_first_inference.unwrap();
        assert_eq!(total.n, 2);
        assert!((total.mean - 0.32).abs() < 1e-12);
        assert_eq!(r.warm.unwrap().n, 2);
        assert!((r.host_memory.unwrap().mean - (1 << 20) as f64).abs() < 1e-6);
        let faults = r.first_request_faults.unwrap();
        assert!((faults.minor - 15.0).abs() < 1e-12, "{faults:?}");
        assert_eq!(faults.major, 0.0);
    }

    #[test]
    fn starts_are_decided_against_the_baseline_and_snapshots_against_their_boot() {
        let starts = |env: &str, start: StartType, scale: f64, salt: u32| ColdStartResult {
            env: env.into(),
            start: Some(start),
            samples: (1..=8)
                .map(|round| {
                    // A round-to-round drift every side shares, and noise of its own.
                    let t = 0.1
                        * (1.0 + 0.2 * (round % 3) as f64)
                        * scale
                        * (1.0 + 0.004 * ((round * 7 + salt) % 5) as f64);
                    sample(round, &[(Phase::Runtime, t)])
                })
                .collect(),
            ..ColdStartResult::default()
        };
        let mut results = vec![
            starts("native", StartType::Boot, 1.0, 0),
            starts("gvisor", StartType::Boot, 1.5, 1),
            starts("gvisor", StartType::Snapshot, 1.5, 2),
            starts("oci-runc", StartType::Boot, 1.0, 3),
        ];
        decide_all(&mut results, "native", &DecisionOptions::default());
        assert!(results[0].versus_baseline.is_none());
        let outcome = |d: &Option<Decision>| d.as_ref().map(|d| d.outcome.as_str());
        assert_eq!(outcome(&results[1].versus_baseline), Some("slower"));
        assert_eq!(outcome(&results[2].versus_baseline), Some("slower"));
        assert_eq!(outcome(&results[2].versus_boot), Some("same"));
        assert_eq!(outcome(&results[3].versus_baseline), Some("same"));
        assert!(results[1].versus_boot.is_none());
    }

    #[test]
    fn start_types_parse_their_names_only() {
        for start in StartType::ALL {
            assert_eq!(start.name().parse::<StartType>(), Ok(start));
        }
        assert!("warm"
            .parse::<StartType>()
            .unwrap_err()
            .contains("boot or snapshot"));
    }

    #[test]
    fn serializes_phase_names_in_snake_case() {
        let json = serde_json::to_string(&sample(1, &[(Phase::FirstInference, 0.5)])).unwrap();
        assert!(json.contains("\"first_inference\""), "{json}");
    }
}
