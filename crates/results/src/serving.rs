//! Results of `isobench serve-bench`: one [`ServingResult`] per environment
//! and scenario, stored in `results.json` under `serving`.

use serde::{Deserialize, Serialize};

/// Latency distribution of a set of requests or queries, from an HDR
/// histogram (3 significant digits), in microseconds.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct LatencySummary {
    /// Number of values recorded.
    pub count: u64,
    /// Smallest value.
    pub min_us: f64,
    /// Mean.
    pub mean_us: f64,
    /// Median.
    pub p50_us: f64,
    /// 90th percentile.
    pub p90_us: f64,
    /// 95th percentile.
    pub p95_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
    /// Largest value.
    pub max_us: f64,
}

/// Request bookkeeping: every id sent must come back exactly once.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RequestCounts {
    /// Requests sent (samples; a MultiStream query sends several).
    pub sent: u64,
    /// Distinct ids answered.
    pub answered: u64,
    /// Answers with `ok == false` (unknown input, engine error).
    pub errors: u64,
    /// Ids sent but never answered before the drain timeout.
    pub lost: u64,
    /// Ids answered more than once (extra answers).
    pub duplicated: u64,
    /// Answers for ids never sent (including id 0: unreadable requests).
    pub unexpected: u64,
}

/// One step of the Server scenario's search for the peak QPS.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct PeakStep {
    /// Target QPS tried.
    pub target_qps: f64,
    /// QPS achieved.
    pub achieved_qps: f64,
    /// 99th percentile latency, µs.
    pub p99_us: f64,
    /// Whether the latency bound was met (and nothing was lost).
    pub met: bool,
}

/// One environment under one load scenario.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ServingResult {
    /// Environment name.
    pub env: String,
    /// Scenario: `single-stream`, `multi-stream`, `server`, `offline`.
    pub scenario: String,
    /// Transport between host and agent: `stdio`, `tcp`, `serial`.
    pub transport: String,
    /// Workload.
    pub workload: String,
    /// Engine as reported by the agent.
    pub engine: String,
    /// True for software-emulated figures (TCG).
    #[serde(default)]
    pub emulated: bool,
    /// Launch to agent `ready`, seconds.
    pub ready_seconds: Option<f64>,
    /// Round trip of empty requests (no inference): the transport's own cost.
    pub round_trip: Option<LatencySummary>,
    /// Target QPS (Server), when one applies.
    pub target_qps: Option<f64>,
    /// Samples per query (MultiStream; 1 otherwise).
    pub samples_per_query: u32,
    /// Queries completed.
    pub queries: u64,
    /// Request bookkeeping.
    pub counts: RequestCounts,
    /// Seconds from the first request to the last answer.
    pub duration_seconds: f64,
    /// Queries per second achieved.
    pub achieved_qps: f64,
    /// Samples (requests) per second achieved: the Offline figure.
    pub samples_per_second: f64,
    /// Query latency as seen by the host (Server: from the scheduled arrival).
    pub latency: LatencySummary,
    /// The percentile the scenario reports (90 SingleStream, 99 MultiStream
    /// and Server, 50 Offline).
    pub reported_percentile: f64,
    /// That percentile's latency, µs.
    pub reported_latency_us: f64,
    /// Mean in-agent time per answered request (pre + inference + post), µs.
    pub agent_time_mean_us: f64,
    /// Latency bound (Server), ms.
    pub latency_bound_ms: Option<f64>,
    /// Whether the bound was met: p99 within it and no request lost.
    pub bound_met: Option<bool>,
    /// Highest QPS that met the bound (`--find-peak`).
    pub peak_qps: Option<f64>,
    /// The peak search's steps.
    #[serde(default)]
    pub peak_search: Vec<PeakStep>,
    /// Host CPU seconds charged to the environment during the scenario.
    pub cpu_seconds: Option<f64>,
    /// Host CPU seconds per request.
    pub cpu_seconds_per_request: Option<f64>,
    /// What was metered (`cgroup-v1 ...`, `process-tree ...`).
    #[serde(default)]
    pub cpu_source: String,
    /// Reported latency relative to native's for the same scenario (1.0 = same).
    pub latency_ratio_to_native: Option<f64>,
    /// Peak (or achieved) QPS relative to native's (1.0 = same).
    pub throughput_ratio_to_native: Option<f64>,
    /// First error messages returned by the agent (at most 5).
    #[serde(default)]
    pub first_errors: Vec<String>,
    /// Why the scenario failed, when it did.
    pub failure: Option<String>,
}
