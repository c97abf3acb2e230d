//! Density (`isobench density`): how many serving instances of one
//! environment fit on the host before the tail latency breaks a bound, and
//! what each costs the host in memory; stored in `results.json` under
//! `density`.
//!
//! For k = 1, 2, … up to `--max-instances`, k instances of an environment
//! are started at once and each is driven by its own load generator for
//! `--duration` seconds; a step is one such k in one trial. Every figure is
//! defined where it is stored (the doc comments below); the reports print
//! the same definitions ([`DEFINITIONS`]).

use serde::{Deserialize, Serialize};

use crate::{Calibration, HostSpeed, LatencySummary, RequestCounts};

/// The density experiment's settings, as run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DensitySettings {
    /// The p99 latency bound, ms (`--latency-bound-ms`).
    pub latency_bound_ms: f64,
    /// The largest k tried (`--max-instances`).
    pub max_instances: u32,
    /// Poisson arrivals per instance per second (`--qps-per-instance`);
    /// `None`: a closed loop, each instance's next request sent when its
    /// previous answer arrives.
    pub qps_per_instance: Option<f64>,
    /// Seconds of load per step (`--duration`).
    pub duration_seconds: f64,
    /// Trials per k (`--trials`).
    pub trials: u32,
    /// How the instance counts were searched.
    pub search: String,
    /// The input every request asked for (`--input`); empty: the
    /// workload's inputs in turn.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub input: String,
}

/// The `density` section of results.json.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DensityResults {
    /// The settings.
    pub settings: DensitySettings,
    /// One entry per environment, in the order requested.
    pub environments: Vec<DensityEnvironment>,
    /// The host-speed probe over every step (probe before the launch and
    /// after the stop of each step; "round" is the step's turn number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_speed: Option<HostSpeed>,
}

/// Why an environment's search ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LimitKind {
    /// The p99 over every request of a step exceeded the bound.
    Bound,
    /// A request of a step failed, or was never answered.
    Errors,
    /// The runtime refused to launch the k-th instance (or one failed to
    /// become ready).
    Start,
    /// Every k up to `--max-instances` met the bound.
    MaxInstances,
    /// SIGINT / SIGTERM ended the experiment.
    Interrupted,
    /// The environment cannot run here.
    Unavailable,
}

/// The density of one environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DensityEnvironment {
    /// Environment name.
    pub env: String,
    /// The workload.
    pub workload: String,
    /// How requests reached the agents (`stdio`, `serial`).
    pub transport: String,
    /// True for software-emulated figures (QEMU under TCG).
    #[serde(default)]
    pub emulated: bool,
    /// The largest k whose every trial met the bound with every request
    /// answered without error and every instance started and ready; 0 when
    /// k = 1 did not.
    pub max_instances: u32,
    /// Why the search ended.
    pub limit: LimitKind,
    /// The same in words (`bound broken at k=3: p99 61.2 ms > 50 ms`).
    pub limit_reason: String,
    /// Mean PSS per instance at `max_instances` (mean over its trials),
    /// bytes; see [`DensityTrial::pss_mean_bytes`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pss_per_instance_bytes: Option<u64>,
    /// Mean cgroup charge per instance at `max_instances`, bytes; see
    /// [`DensityTrial::cgroup_usage_mean_bytes`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup_per_instance_bytes: Option<u64>,
    /// Every k tried, in order.
    pub steps: Vec<DensityStep>,
}

/// One k: its trials and what they show together.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DensityStep {
    /// Instances alive at once.
    pub instances: u32,
    /// Every trial of this k (one unless `--trials`).
    pub trials: Vec<DensityTrial>,
    /// True when every trial met the bound ([`DensityTrial::met`]).
    pub met: bool,
    /// Mean over the trials of the p99 of every request, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99_ms: Option<f64>,
    /// The interval of the p99 across trials: the lowest and highest trial's
    /// p99, ms (equal with one trial).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99_range_ms: Option<(f64, f64)>,
    /// Mean over the trials of [`DensityTrial::pss_mean_bytes`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pss_mean_bytes: Option<u64>,
    /// Lowest and highest trial's [`DensityTrial::pss_mean_bytes`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pss_range_bytes: Option<(u64, u64)>,
    /// Mean over the trials of [`DensityTrial::cgroup_usage_mean_bytes`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup_usage_mean_bytes: Option<u64>,
}

/// k instances alive at once, loaded together, once.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DensityTrial {
    /// The trial, from 1.
    pub trial: u32,
    /// The turn it ran in (from 1): per k and trial, every environment
    /// still searching takes one turn, in an order shuffled with the seed.
    pub turn: u32,
    /// Instances that started and reported `ready`.
    pub started: u32,
    /// Seconds from the first launch request to the last instance's
    /// `ready` (the instances start concurrently: `Lab::launch_many`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_seconds: Option<f64>,
    /// Why the step failed before its load (start refused, not ready,
    /// warm-up failed), when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// Latencies of every request of every instance (host: request sent →
    /// answer read), merged into one histogram: p50, p99 and the rest.
    #[serde(default)]
    pub latency: LatencySummary,
    /// Request bookkeeping summed over the instances.
    #[serde(default)]
    pub counts: RequestCounts,
    /// Each instance's own figures.
    #[serde(default)]
    pub per_instance: Vec<InstanceLoad>,
    /// Wall seconds of the load (first request sent → last answer read,
    /// the longest over the instances).
    pub load_seconds: f64,
    /// Host CPU seconds charged to all k instances during the load (their
    /// meters read before and after it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_seconds: Option<f64>,
    /// The whole host's CPU busy during the load (`/proc/stat`: not idle,
    /// not iowait), % of all cores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_cpu_percent: Option<f64>,
    /// Mean over the instances of [`InstanceLoad::pss_bytes`], bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pss_mean_bytes: Option<u64>,
    /// Mean over the instances of [`InstanceLoad::cgroup_usage_bytes`], bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup_usage_mean_bytes: Option<u64>,
    /// True when all k instances started, every request was answered
    /// without error, and the merged p99 is within the bound.
    pub met: bool,
    /// The host-speed probe before the launch and after the stop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<Calibration>,
}

/// One instance of a trial.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InstanceLoad {
    /// Its index in the trial, from 0.
    pub index: u32,
    /// Its own latencies' p50, µs.
    pub p50_us: f64,
    /// Its own latencies' p99, µs.
    pub p99_us: f64,
    /// Its requests.
    pub counts: RequestCounts,
    /// Sum of the PSS (`Pss:` of `/proc/<pid>/smaps_rollup`) of every host
    /// process it owns, read after the load while all k instances run, bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pss_bytes: Option<u64>,
    /// The same processes' RSS summed (shared pages counted whole in each), bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rss_bytes: Option<u64>,
    /// How many host processes were counted.
    #[serde(default)]
    pub processes: u32,
    /// Its memory cgroup's `memory.usage_in_bytes` at the same moment,
    /// when it has one, bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup_usage_bytes: Option<u64>,
}

/// The definitions the reports print, `(term, definition)`.
pub const DEFINITIONS: [(&str, &str); 8] = [
    (
        "k",
        "instances of the environment alive at once, started together (launch calls one after the other, each returning once the runtime / VMM runs; boots, model loads and the waits for `ready` overlap), each driven by its own load generator over its stdin/stdout for --duration seconds",
    ),
    (
        "p50 ms, p99 ms",
        "percentiles of the latency (host: request sent → answer read) of every request of every instance of the step, merged into one histogram; with several trials, the mean over the trials and [lowest, highest] trial; p99* marks fewer than 100 requests (the p99 is then the slowest request or next to it)",
    ),
    (
        "worst p99",
        "the highest p99 of one instance's own requests (mean over the trials)",
    ),
    (
        "bound",
        "met: every trial started all k instances, answered every request without error and kept the merged p99 within --latency-bound-ms; missed: the p99 or a request broke it; failed: an instance was refused, never became ready or failed under load",
    ),
    (
        "errors",
        "requests answered with an error plus requests never answered, over all instances",
    ),
    (
        "CPU %, host %",
        "host CPU charged to all k instances during the load, % of one core; host: the whole host's CPU busy (/proc/stat), % of all cores",
    ),
    (
        "PSS MiB",
        "proportional set size per instance: for each instance, the sum of `Pss:` (/proc/<pid>/smaps_rollup) over every host process it owns (its runtime or VMM process with its descendants: agent, runtime, gVisor's sentry and gofer; the members of its cgroup; Docker's containerd shim), read after the load while all k run; a page mapped by n processes counts 1/n in each, so what the instances share is split between them; mean over the instances",
    ),
    (
        "cgroup MiB",
        "per instance, the instance's memory cgroup charge (`memory.usage_in_bytes`, page cache included; a shared page is charged whole to the first group that touched it, not split), mean over the instances; — where the instance has no memory cgroup",
    ),
];

impl DensityStep {
    /// Fills the step's summary from its trials.
    pub fn summarize(&mut self) {
        self.met = !self.trials.is_empty() && self.trials.iter().all(|t| t.met);
        let p99: Vec<f64> = self
            .trials
            .iter()
            .filter(|t| t.latency.count > 0)
            .map(|t| t.latency.p99_us / 1e3)
            .collect();
        self.p99_ms = mean(&p99);
        self.p99_range_ms = range(&p99);
        let pss: Vec<f64> = self
            .trials
            .iter()
            .filter_map(|t| t.pss_mean_bytes.map(|b| b as f64))
            .collect();
        self.pss_mean_bytes = mean(&pss).map(|b| b as u64);
        self.pss_range_bytes = range(&pss).map(|(lo, hi)| (lo as u64, hi as u64));
        let charge: Vec<f64> = self
            .trials
            .iter()
            .filter_map(|t| t.cgroup_usage_mean_bytes.map(|b| b as f64))
            .collect();
        self.cgroup_usage_mean_bytes = mean(&charge).map(|b| b as u64);
    }
}

fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

fn range(values: &[f64]) -> Option<(f64, f64)> {
    let lo = values.iter().copied().reduce(f64::min)?;
    let hi = values.iter().copied().reduce(f64::max)?;
    Some((lo, hi))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trial(p99_ms: f64, pss_mib: u64, met: bool) -> DensityTrial {
        DensityTrial {
            latency: LatencySummary {
                count: 10,
                p99_us: p99_ms * 1e3,
                ..LatencySummary::default()
            },
            pss_mean_bytes: Some(pss_mib << 20),
            met,
            ..DensityTrial::default()
        }
    }

    #[test]
    fn a_step_is_met_when_every_trial_is_and_carries_the_range_across_trials() {
        let mut step = DensityStep {
            instances: 2,
            trials: vec![trial(10.0, 20, true), trial(30.0, 24, true)],
            ..DensityStep::default()
        };
        step.summarize();
        assert!(step.met);
        assert_eq!(step.p99_ms, Some(20.0));
        assert_eq!(step.p99_range_ms, Some((10.0, 30.0)));
        assert_eq!(step.pss_mean_bytes, Some(22 << 20));
        assert_eq!(step.pss_range_bytes, Some((20 << 20, 24 << 20)));
        step.trials.push(trial(5.0, 20, false));
        step.summarize();
        assert!(!step.met);
        let mut empty = DensityStep::default();
        empty.summarize();
        assert!(!empty.met && empty.p99_ms.is_none());
    }

    #[test]
    fn limit_kinds_serialize_in_kebab_case() {
        let json = serde_json::to_string(&LimitKind::MaxInstances).unwrap();
        assert_eq!(json, "\"max-instances\"");
    }
}
