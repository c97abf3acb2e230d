//! Interference (`isobench interference`): how much busy neighbours of the
//! same environment slow a serving victim, stored in `results.json` under
//! `interference`, one [`InterferenceResult`] per environment, workload and
//! neighbour load.
//!
//! A trial is one fresh victim (a serving agent driven with seeded Poisson
//! arrivals at a fixed rate) that is measured at every level `K = 0 …
//! Kmax` of neighbours, in an order shuffled per trial. The victim's
//! latency percentiles of each level are one [`LevelSample`]; a level's
//! figure over the trials is an [`InterferenceLevel`], and its slowdown
//! against `K = 0` is decided paired by trial ([`decide_levels`]). The
//! figures' definitions are [`DEFINITIONS`], the one place the reports take
//! them from.

use isobench_stats::{Decision, DecisionOptions, Observations, Summary};
use serde::{Deserialize, Serialize};

use crate::{Calibration, LatencySummary, RequestCounts};

/// What the neighbours run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NeighbourLoad {
    /// The agent's `noise --load cpu`: one thread in a busy loop.
    Cpu,
    /// The agent's `noise --load memory`: one thread streaming a triad over
    /// three buffers larger than the last-level cache.
    Memory,
    /// The victim's own workload run at full speed (`run`, one iteration
    /// after another, for as long as the level lasts).
    Inference,
}

impl NeighbourLoad {
    /// Every load, in the order help texts list them.
    pub const ALL: [NeighbourLoad; 3] = [
        NeighbourLoad::Cpu,
        NeighbourLoad::Memory,
        NeighbourLoad::Inference,
    ];

    /// Its name (`cpu`, `memory`, `inference`), as in `--neighbour-load`.
    pub fn name(self) -> &'static str {
        match self {
            NeighbourLoad::Cpu => "cpu",
            NeighbourLoad::Memory => "memory",
            NeighbourLoad::Inference => "inference",
        }
    }

    /// What a neighbour with this load does, in words (the reports print it).
    pub fn definition(self) -> &'static str {
        match self {
            NeighbourLoad::Cpu => "a CPU spinner: the agent's `noise --load cpu`, one thread of integer arithmetic in registers, no system calls",
            NeighbourLoad::Memory => "a memory-bandwidth streamer: the agent's `noise --load memory`, one thread computing a[i] = b[i] + s·c[i] over three buffers larger than the last-level cache (3 × 64 MiB unless --memory asks for less)",
            NeighbourLoad::Inference => "the victim's workload at full speed: the agent's `run` of the same model, one iteration after another, single-threaded",
        }
    }
}

impl std::fmt::Display for NeighbourLoad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for NeighbourLoad {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        NeighbourLoad::ALL
            .into_iter()
            .find(|l| l.name() == s)
            .ok_or_else(|| format!("`{s}` is not a neighbour load; give cpu, memory or inference"))
    }
}

/// The victim at one level of one trial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LevelSample {
    /// The trial (from 1): one fresh victim measured at every level.
    pub trial: u32,
    /// Neighbours running while the victim was driven (K).
    pub neighbours: u32,
    /// Where the level came in its trial (from 1; the levels' order is
    /// shuffled per trial with the experiment's seed).
    pub position: u32,
    /// The victim's request latencies over the level (request sent →
    /// answer read by the host, µs; HDR histogram percentiles).
    pub latency: LatencySummary,
    /// Answered requests per second over the level.
    pub achieved_qps: f64,
    /// Request bookkeeping (sent, answered, lost, errors, ...).
    pub counts: RequestCounts,
    /// CPU the neighbours used while the victim was driven, in cores: the
    /// CPU seconds their meters counted over the level divided by its wall
    /// seconds, summed over the neighbours; absent without a meter reading.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub neighbour_cores: Option<f64>,
}

/// A trial's host-speed probe and the victim's warm-up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialProbe {
    /// The trial (from 1).
    pub trial: u32,
    /// The host-speed probe just before the victim's launch and just after
    /// it stopped (the reference computation of `isobench run`).
    pub calibration: Calibration,
    /// Median latency of the victim's warm-up requests (one at a time,
    /// no neighbours), µs.
    pub warmup_p50_us: f64,
}

/// One level (K neighbours) over the trials.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InterferenceLevel {
    /// Neighbours (K).
    pub neighbours: u32,
    /// Summary over the trials of the victim's p50 at this level, µs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p50_us: Option<Summary>,
    /// Summary over the trials of the victim's p99 at this level, µs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99_us: Option<Summary>,
    /// Mean over the trials of [`LevelSample::neighbour_cores`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub neighbour_cores: Option<f64>,
    /// The slowdown of the victim's p99 against K = 0: the ratio of this
    /// level's p99 to K = 0's, paired by trial (a fresh victim measured at
    /// both), with the four-outcome verdict at one look; absent for K = 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99_slowdown: Option<Decision>,
    /// The same for the victim's p50.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p50_slowdown: Option<Decision>,
}

/// The interference experiment of one environment, workload and neighbour load.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InterferenceResult {
    /// Environment name.
    pub env: String,
    /// The victim's workload.
    pub workload: String,
    /// What the neighbours ran.
    pub load: Option<NeighbourLoad>,
    /// The most neighbours (Kmax); levels run from 0 to it.
    pub max_neighbours: u32,
    /// How requests reached the victim (`stdio`, `serial`).
    pub transport: String,
    /// True for software-emulated figures (QEMU under TCG).
    #[serde(default)]
    pub emulated: bool,
    /// The victim's arrival rate, queries per second (seeded Poisson
    /// arrivals; the same arrival times at every level of a trial).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_qps: Option<f64>,
    /// True when `target_qps` was chosen by isobench, false when given
    /// (`--qps`): half of [`InterferenceResult::capacity_qps`] (at most 200
    /// QPS, so that the host's load generator stays a light load), halved until
    /// the victim alone, driven at it for a second, kept its median latency
    /// within 3× its warm-up median (at least 1 ms).
    #[serde(default)]
    pub qps_estimated: bool,
    /// The first trial's victim's capacity, queries per second, measured
    /// after its warm-up with no neighbours: the lower of `1 / median
    /// warm-up latency` and the throughput of a burst of requests sent at
    /// once (what the whole path, host side included, sustains); absent
    /// with `--qps`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_qps: Option<f64>,
    /// Seconds each level drives the victim.
    pub duration_seconds: f64,
    /// Trials asked for.
    pub trials: u32,
    /// CPUs of every instance, victim and neighbours (`--vcpus`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vcpus: Option<u32>,
    /// Memory limit of every instance, MiB (`--memory`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mib: Option<u64>,
    /// Memory load: MiB of each of the streamer's three buffers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noise_mib: Option<u64>,
    /// Every level of every trial that ran, in the order they ran.
    pub samples: Vec<LevelSample>,
    /// Every trial's host-speed probe and warm-up.
    #[serde(default)]
    pub probes: Vec<TrialProbe>,
    /// The host's drift over the trials: the slowest trial's probe (the mean
    /// of its before and after) over the fastest's, minus 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_drift: Option<f64>,
    /// Per level, from K = 0: the figures over the trials and the verdicts.
    #[serde(default)]
    pub levels: Vec<InterferenceLevel>,
    /// Neighbours the runtime refused or that failed to start, with the
    /// reason (`trial 1, K=2: neighbour 2: ...`); that level of that trial
    /// was not measured.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refusals: Vec<String>,
    /// Trials that failed (`trial N: why`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<String>,
    /// Why no trial ran (the environment is unavailable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub absent: Option<String>,
}

/// The figures of an interference result and their definitions, in the
/// order the reports show them: `(column, definition)`.
pub const DEFINITIONS: [(&str, &str); 6] = [
    (
        "K",
        "neighbours: instances of the same environment, with the same --vcpus / --memory limits, running the neighbour load while the victim is driven; every level of a trial measures the same victim",
    ),
    (
        "p50 ms / p99 ms",
        "the victim's median / 99th-percentile request latency over a level (request sent → answer read by the host, HDR histogram), mean over the trials (report.html's chart adds its bootstrap 95% interval); requests arrive as a seeded Poisson process at the stated QPS, the same arrival times at every level of a trial",
    ),
    (
        "p99 ×K0 / p50 ×K0",
        "the slowdown against K = 0: the victim's percentile at K neighbours over its percentile at K = 0 in the same trial, geometric mean over the trials, with the interval the verdict used (paired by trial from 3 trials, Welch's interval on the trials' values below)",
    ),
    (
        "verdict",
        "the four outcomes on the p99 slowdown: slower (the interval excludes 1 and the slowdown exceeds 5%), faster, same (the interval lies within ±5%) or inconclusive (neither), at one look after the last trial, α 0.01",
    ),
    (
        "noise cores",
        "CPU the neighbours used while the victim was driven: their CPU seconds over the level's wall seconds, summed over the neighbours, mean over the trials",
    ),
    (
        "host drift",
        "the host-speed probe (the reference computation of `isobench run`, timed before each trial's victim starts and after it stops): the slowest trial's over the fastest's, minus 1",
    ),
];

impl InterferenceResult {
    /// Fills the levels (summaries over the trials and the verdicts against
    /// K = 0, [`decide_levels`]) and the host drift from the samples and
    /// probes (seeded bootstrap intervals).
    pub fn summarize(&mut self, seed: u64, options: &DecisionOptions) {
        let mut ks: Vec<u32> = self.samples.iter().map(|s| s.neighbours).collect();
        ks.sort_unstable();
        ks.dedup();
        self.levels = ks
            .into_iter()
            .map(|k| {
                let at: Vec<&LevelSample> =
                    self.samples.iter().filter(|s| s.neighbours == k).collect();
                let values =
                    |f: fn(&LevelSample) -> f64| -> Vec<f64> { at.iter().map(|s| f(s)).collect() };
                let cores: Vec<f64> = at.iter().filter_map(|s| s.neighbour_cores).collect();
                InterferenceLevel {
                    neighbours: k,
                    p50_us: Summary::from_samples(&values(|s| s.latency.p50_us), seed).ok(),
                    p99_us: Summary::from_samples(&values(|s| s.latency.p99_us), seed).ok(),
                    neighbour_cores: (!cores.is_empty())
                        .then(|| cores.iter().sum::<f64>() / cores.len() as f64),
                    p99_slowdown: None,
                    p50_slowdown: None,
                }
            })
            .collect();
        decide_levels(self, options);
        let probes: Vec<f64> = self
            .probes
            .iter()
            .map(|p| p.calibration.seconds())
            .collect();
        let (min, max) = probes
            .iter()
            .fold((f64::MAX, 0.0f64), |(lo, hi), &p| (lo.min(p), hi.max(p)));
        self.host_drift = (probes.len() >= 2 && min > 0.0).then(|| max / min - 1.0);
    }

    /// The level of `k` neighbours, when it was measured.
    pub fn level(&self, k: u32) -> Option<&InterferenceLevel> {
        self.levels.iter().find(|l| l.neighbours == k)
    }
}

/// `(trial, percentile)` of every sample of `result` at `k` neighbours.
fn by_trial(result: &InterferenceResult, k: u32, p99: bool) -> Vec<(usize, f64)> {
    result
        .samples
        .iter()
        .filter(|s| s.neighbours == k && s.counts.answered > 0)
        .map(|s| {
            let v = if p99 {
                s.latency.p99_us
            } else {
                s.latency.p50_us
            };
            (s.trial as usize, v)
        })
        .collect()
}

/// Decides every level K ≥ 1 of `result` against K = 0, on the victim's
/// p99 and p50: [`Observations::by_round`] with the trial as the round
/// (paired from 3 complete trials, Welch's interval below), then
/// [`isobench_stats::decide_fixed`] at `options` (one look). A level with
/// fewer than 2 trials on either side gets no decision.
pub fn decide_levels(result: &mut InterferenceResult, options: &DecisionOptions) {
    let decide = |baseline: &[(usize, f64)], candidate: &[(usize, f64)]| {
        if baseline.len() < 2 || candidate.len() < 2 {
            return None;
        }
        isobench_stats::decide_fixed(&Observations::by_round(baseline, candidate), options).ok()
    };
    let k0_p99 = by_trial(result, 0, true);
    let k0_p50 = by_trial(result, 0, false);
    let decisions: Vec<(u32, Option<Decision>, Option<Decision>)> = result
        .levels
        .iter()
        .filter(|l| l.neighbours > 0)
        .map(|l| {
            let k = l.neighbours;
            (
                k,
                decide(&k0_p99, &by_trial(result, k, true)),
                decide(&k0_p50, &by_trial(result, k, false)),
            )
        })
        .collect();
    for (k, p99, p50) in decisions {
        if let Some(level) = result.levels.iter_mut().find(|l| l.neighbours == k) {
            level.p99_slowdown = p99;
            level.p50_slowdown = p50;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(trial: u32, k: u32, p50: f64, p99: f64) -> LevelSample {
        LevelSample {
            trial,
            neighbours: k,
            position: k + 1,
            latency: LatencySummary {
                count: 100,
                p50_us: p50,
                p99_us: p99,
                ..LatencySummary::default()
            },
            achieved_qps: 50.0,
            counts: RequestCounts {
                sent: 100,
                answered: 100,
                ..RequestCounts::default()
            },
            neighbour_cores: Some(k as f64 * 0.9),
        }
    }

    #[test]
    fn levels_are_summarised_and_decided_against_no_neighbours_by_trial() {
        let mut r = InterferenceResult {
            env: "oci-runc".into(),
            load: Some(NeighbourLoad::Cpu),
            max_neighbours: 2,
            ..InterferenceResult::default()
        };
        for trial in 1..=4u32 {
            // Each trial's own speed (drift), shared by its levels.
            let speed = 1.0 + 0.3 * (trial % 2) as f64;
            let noise = 1.0 + 0.01 * (trial % 3) as f64;
            r.samples
                .push(sample(trial, 0, 1000.0 * speed, 2000.0 * speed));
            r.samples.push(sample(
                trial,
                1,
                1000.0 * speed * noise,
                2000.0 * speed * noise,
            ));
            r.samples.push(sample(
                trial,
                2,
                1500.0 * speed * noise,
                6000.0 * speed * noise,
            ));
            r.probes.push(TrialProbe {
                trial,
                calibration: Calibration {
                    before: 0.01 * speed,
                    after: 0.01 * speed,
                },
                warmup_p50_us: 900.0,
            });
        }
        r.summarize(1, &DecisionOptions::default());
        assert_eq!(r.levels.len(), 3);
        let outcome = |d: &Option<Decision>| d.as_ref().map(|d| d.outcome.as_str());
        assert!(r.level(0).unwrap().p99_slowdown.is_none());
        assert_eq!(outcome(&r.level(1).unwrap().p99_slowdown), Some("same"));
        let two = r.level(2).unwrap();
        assert_eq!(outcome(&two.p99_slowdown), Some("slower"));
        // 3× times the geometric mean of the trials' own noise (1.00 to 1.02).
        let ratio = two.p99_slowdown.as_ref().unwrap().ratio;
        assert!(ratio > 3.0 && ratio < 3.06, "{ratio}");
        assert_eq!(outcome(&two.p50_slowdown), Some("slower"));
        assert_eq!(two.p99_us.as_ref().unwrap().n, 4);
        assert!((two.neighbour_cores.unwrap() - 1.8).abs() < 1e-9);
        assert!((r.host_drift.unwrap() - 0.3).abs() < 1e-9);
    }

    #[test]
    fn one_trial_gives_figures_without_a_verdict() {
        let mut r = InterferenceResult {
            samples: vec![sample(1, 0, 1.0, 2.0), sample(1, 1, 1.0, 4.0)],
            ..InterferenceResult::default()
        };
        r.summarize(1, &DecisionOptions::default());
        assert_eq!(r.levels.len(), 2);
        assert!(r.levels.iter().all(|l| l.p99_slowdown.is_none()));
        assert!(r.host_drift.is_none());
    }

    #[test]
    fn loads_parse_their_names_only_and_serialize_in_kebab_case() {
        for load in NeighbourLoad::ALL {
            assert_eq!(load.name().parse::<NeighbourLoad>(), Ok(load));
        }
        assert!("disk"
            .parse::<NeighbourLoad>()
            .unwrap_err()
            .contains("cpu, memory or inference"));
        assert_eq!(
            serde_json::to_string(&NeighbourLoad::Inference).unwrap(),
            "\"inference\""
        );
    }
}
