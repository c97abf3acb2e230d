//! The four MLPerf LoadGen scenarios and the settings of a load run.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::HarnessError;

/// A load scenario (MLPerf LoadGen semantics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// One query of one sample at a time; the next is sent when the previous
    /// is answered. Reports the 90th percentile latency.
    SingleStream,
    /// Queries of N samples, one query at a time; a query is done when all
    /// its samples are answered. Reports the 99th percentile query latency.
    MultiStream,
    /// Single-sample queries arriving as a Poisson process at a target QPS
    /// (seeded). Reports the 99th percentile latency against a bound.
    Server,
    /// Every query sent at once; reports samples per second.
    Offline,
}

impl Scenario {
    /// Every scenario, in the usual order.
    pub const ALL: [Scenario; 4] = [
        Scenario::SingleStream,
        Scenario::MultiStream,
        Scenario::Server,
        Scenario::Offline,
    ];

    /// The name used on the command line and in results.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::SingleStream => "single-stream",
            Scenario::MultiStream => "multi-stream",
            Scenario::Server => "server",
            Scenario::Offline => "offline",
        }
    }

    /// The latency percentile the scenario reports.
    pub fn reported_percentile(self) -> f64 {
        match self {
            Scenario::SingleStream => 90.0,
            Scenario::MultiStream | Scenario::Server => 99.0,
            Scenario::Offline => 50.0,
        }
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Scenario {
    type Err = HarnessError;

    fn from_str(s: &str) -> Result<Self, HarnessError> {
        Scenario::ALL
            .into_iter()
            .find(|sc| sc.name() == s.trim())
            .ok_or_else(|| {
                HarnessError::Invalid(format!(
                    "unknown scenario `{s}`; known scenarios: single-stream, multi-stream, server, offline"
                ))
            })
    }
}

/// How requests reach the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// The agent's stdin and stdout (containers: the runtime's stdio;
    /// VMs: a second serial port).
    Stdio,
    /// TCP loopback to an agent listening on the host network (native only).
    Tcp,
    /// The guest's vsock (VMs): Firecracker's hybrid vsock, QEMU's
    /// vhost-vsock or vhost-user-vsock.
    Vsock,
}

impl TransportKind {
    /// Name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            TransportKind::Stdio => "stdio",
            TransportKind::Tcp => "tcp",
            TransportKind::Vsock => "vsock",
        }
    }
}

impl FromStr for TransportKind {
    type Err = HarnessError;

    fn from_str(s: &str) -> Result<Self, HarnessError> {
        match s.trim() {
            "stdio" => Ok(TransportKind::Stdio),
            "tcp" => Ok(TransportKind::Tcp),
            "vsock" => Ok(TransportKind::Vsock),
            other => Err(HarnessError::Invalid(format!(
                "unknown transport `{other}`; known transports: stdio, tcp, vsock"
            ))),
        }
    }
}

/// Settings of a `serve-bench` run.
#[derive(Debug, Clone, PartialEq)]
pub struct ServeSettings {
    /// Scenarios to run, in order, on the same instance.
    pub scenarios: Vec<Scenario>,
    /// Transport.
    pub transport: TransportKind,
    /// Server scenario's target QPS (default: half the capacity estimated
    /// from the warm-up).
    pub qps: Option<f64>,
    /// Minimum duration of each scenario run.
    pub min_duration: Duration,
    /// Minimum number of queries of each scenario run.
    pub min_queries: u64,
    /// Samples per MultiStream query.
    pub samples_per_query: u32,
    /// Server latency bound (default: 5x the warm-up median latency).
    pub latency_bound: Option<Duration>,
    /// Search the highest Server QPS that meets the bound.
    pub find_peak: bool,
    /// Most Server runs the peak search makes.
    pub max_peak_steps: u32,
    /// Seed of the Poisson arrivals.
    pub seed: u64,
    /// Empty requests measuring the transport round trip.
    pub round_trip_requests: u64,
    /// Real requests sent before measuring (not recorded).
    pub warmup_requests: u64,
    /// Input each request asks for (empty: the workload's inputs in turn).
    pub input: String,
    /// Longest wait for an answer before the outstanding requests count as lost.
    pub response_timeout: Duration,
}

impl Default for ServeSettings {
    fn default() -> Self {
        ServeSettings {
            scenarios: vec![Scenario::SingleStream],
            transport: TransportKind::Stdio,
            qps: None,
            min_duration: Duration::from_secs(10),
            min_queries: 100,
            samples_per_query: 8,
            latency_bound: None,
            find_peak: false,
            max_peak_steps: 8,
            seed: 0x15_0BE7C4,
            round_trip_requests: 200,
            warmup_requests: 20,
            input: String::new(),
            response_timeout: Duration::from_secs(60),
        }
    }
}

impl ServeSettings {
    /// Checks values that cannot work.
    pub fn validate(&self) -> Result<(), HarnessError> {
        if self.scenarios.is_empty() {
            return Err(HarnessError::Invalid("give at least one --scenario".into()));
        }
        if let Some(qps) = self.qps {
            if !(qps.is_finite() && qps > 0.0) {
                return Err(HarnessError::Invalid(format!(
                    "--qps {qps}: give a positive number of queries per second"
                )));
            }
        }
        if self.min_queries == 0 {
            return Err(HarnessError::Invalid(
                "--min-queries 0: run at least 1 query".into(),
            ));
        }
        if self.samples_per_query == 0 {
            return Err(HarnessError::Invalid(
                "--samples-per-query 0: a query needs at least 1 sample".into(),
            ));
        }
        if self.latency_bound == Some(Duration::ZERO) {
            return Err(HarnessError::Invalid(
                "--latency-bound-ms 0: give a positive bound".into(),
            ));
        }
        if self.find_peak && !self.scenarios.contains(&Scenario::Server) {
            return Err(HarnessError::Invalid(
                "--find-peak applies to the server scenario; add --scenario server".into(),
            ));
        }
        Ok(())
    }
}

/// Poisson arrival times (seconds from the start) at `qps`, from a seeded RNG.
pub struct Arrivals {
    rng: ChaCha8Rng,
    qps: f64,
    next: f64,
}

impl Arrivals {
    /// A seeded arrival process; the first arrival is at time 0.
    pub fn new(qps: f64, seed: u64) -> Self {
        Arrivals {
            rng: ChaCha8Rng::seed_from_u64(seed),
            qps,
            next: 0.0,
        }
    }

    /// The next arrival time, seconds from the start.
    pub fn next_arrival(&mut self) -> f64 {
        let now = self.next;
        // 1 - U is in (0, 1]: ln never sees 0.
        let u: f64 = 1.0 - self.rng.gen::<f64>();
        self.next += -u.ln() / self.qps;
        now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_bad_names_are_explained() {
        for sc in Scenario::ALL {
            assert_eq!(sc.name().parse::<Scenario>().unwrap(), sc);
        }
        let err = "batch".parse::<Scenario>().unwrap_err().to_string();
        assert!(err.contains("unknown scenario `batch`"), "{err}");
        assert!("udp".parse::<TransportKind>().is_err());
    }

    #[test]
    fn poisson_arrivals_are_seeded_and_have_the_target_rate() {
        let mut a = Arrivals::new(200.0, 7);
        let mut b = Arrivals::new(200.0, 7);
        let times: Vec<f64> = (0..20_000).map(|_| a.next_arrival()).collect();
        let again: Vec<f64> = (0..20_000).map(|_| b.next_arrival()).collect();
        assert_eq!(times, again);
        assert_eq!(times[0], 0.0);
        assert!(times.windows(2).all(|w| w[1] >= w[0]));
        let rate = (times.len() - 1) as f64 / times[times.len() - 1];
        assert!((rate - 200.0).abs() < 200.0 * 0.03, "rate {rate}");
        let mut c = Arrivals::new(200.0, 8);
        let other: Vec<f64> = (0..10).map(|_| c.next_arrival()).collect();
        assert_ne!(other[1..], times[1..10]);
    }

    #[test]
    fn settings_validation_names_the_flag() {
        let bad = |s: ServeSettings| s.validate().unwrap_err().to_string();
        assert!(bad(ServeSettings {
            qps: Some(-1.0),
            ..Default::default()
        })
        .contains("--qps"));
        assert!(bad(ServeSettings {
            min_queries: 0,
            ..Default::default()
        })
        .contains("--min-queries"));
        assert!(bad(ServeSettings {
            find_peak: true,
            ..Default::default()
        })
        .contains("--find-peak"));
        assert!(ServeSettings::default().validate().is_ok());
    }
}
