//! `isobench serve-bench`: model serving across the isolation boundary
//! with the MLPerf LoadGen scenarios (see `isobench_harness::serving`).

use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use clap::Args;
use isobench_environments::HostFacts;
use isobench_harness::config::CommonOptions;
use isobench_harness::serving::{self, Scenario, ServeSettings, TransportKind};
use isobench_harness::session::Session;
use isobench_harness::Registry;

use crate::mode::{self, Messages};
use isobench_harness::HarnessError;
use isobench_results::ServingResult;

/// `isobench serve-bench` options.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Options shared with run.
    #[command(flatten)]
    pub common: CommonOptions,
    /// Agent, downloads.
    #[command(flatten)]
    pub tool: crate::cli::ToolArgs,
    /// Scenarios, comma separated.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "single-stream"
    )]
    pub scenario: Vec<ScenarioArg>,
    /// Server scenario: target queries per second (default: half the
    /// capacity estimated from the warm-up; with --find-peak, the first target).
    #[arg(long)]
    pub qps: Option<f64>,
    /// Minimum seconds per scenario run.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Minimum queries per scenario run (Offline: queries sent at once).
    #[arg(long, default_value_t = 100)]
    pub min_queries: u64,
    /// MultiStream: samples per query.
    #[arg(long, default_value_t = 8)]
    pub samples_per_query: u32,
    /// Server: latency bound of the 99th percentile, ms (default: 5x the
    /// warm-up median latency).
    #[arg(long)]
    pub latency_bound_ms: Option<f64>,
    /// Server: search the highest QPS that meets the latency bound.
    #[arg(long)]
    pub find_peak: bool,
    /// Server: most runs the peak search makes.
    #[arg(long, default_value_t = 8)]
    pub peak_steps: u32,
    /// Transport: stdio (every environment; a VM's serial console), tcp
    /// (native: loopback; docker, kata: a bridge network of the run's own) or vsock (VMs: Firecracker's vsock, QEMU's
    /// vhost-vsock or vhost-user-vsock).
    #[arg(long, value_enum, default_value_t = TransportArg::Stdio)]
    pub transport: TransportArg,
    /// Input every request asks for (an image name, a sample index, `A..B`,
    /// `test-split`); default: the workload's inputs in turn.
    #[arg(long, default_value = "")]
    pub input: String,
    /// Empty requests measuring the transport's own round trip.
    #[arg(long, default_value_t = 200)]
    pub round_trip_requests: u64,
    /// Requests sent before measuring (not recorded).
    #[arg(long, default_value_t = 20)]
    pub warmup_requests: u64,
    /// Seconds without any answer after which pending requests count as lost.
    #[arg(long, default_value_t = 60)]
    pub response_timeout: u64,
}

/// `--transport`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TransportArg {
    /// The agent's stdin/stdout (a VM's serial console).
    Stdio,
    /// A TCP listener (native: loopback; docker, kata: the run's own bridge network).
    Tcp,
    /// A VM's vsock device.
    Vsock,
}

impl From<TransportArg> for TransportKind {
    fn from(arg: TransportArg) -> Self {
        match arg {
            TransportArg::Stdio => TransportKind::Stdio,
            TransportArg::Tcp => TransportKind::Tcp,
            TransportArg::Vsock => TransportKind::Vsock,
        }
    }
}

/// `--scenario`: the MLPerf LoadGen scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ScenarioArg {
    /// One query at a time; reports the 90th percentile latency.
    SingleStream,
    /// Queries of --samples-per-query samples, one at a time; reports p99.
    MultiStream,
    /// Seeded Poisson arrivals at --qps; p99 against --latency-bound-ms.
    Server,
    /// Everything at once; reports samples per second.
    Offline,
}

impl From<ScenarioArg> for Scenario {
    fn from(arg: ScenarioArg) -> Self {
        match arg {
            ScenarioArg::SingleStream => Scenario::SingleStream,
            ScenarioArg::MultiStream => Scenario::MultiStream,
            ScenarioArg::Server => Scenario::Server,
            ScenarioArg::Offline => Scenario::Offline,
        }
    }
}

impl ServeArgs {
    fn settings(&self, seed: u64) -> Result<ServeSettings> {
        let scenarios: Vec<Scenario> = self.scenario.iter().map(|&s| s.into()).collect();
        let transport = TransportKind::from(self.transport);
        if !(self.duration.is_finite() && self.duration >= 0.0) {
            return Err(HarnessError::Invalid(format!(
                "--duration {}: give seconds >= 0",
                self.duration
            ))
            .into());
        }
        let latency_bound = match self.latency_bound_ms {
            Some(ms) if !(ms.is_finite() && ms > 0.0) => {
                return Err(HarnessError::Invalid(format!(
                    "--latency-bound-ms {ms}: give a positive bound"
                ))
                .into())
            }
            Some(ms) => Some(Duration::from_secs_f64(ms / 1e3)),
            None => None,
        };
        let settings = ServeSettings {
            scenarios,
            transport,
            qps: self.qps,
            min_duration: Duration::from_secs_f64(self.duration),
            min_queries: self.min_queries,
            samples_per_query: self.samples_per_query,
            latency_bound,
            find_peak: self.find_peak,
            max_peak_steps: self.peak_steps,
            seed,
            round_trip_requests: self.round_trip_requests,
            warmup_requests: self.warmup_requests,
            input: self.input.clone(),
            response_timeout: Duration::from_secs(self.response_timeout.max(1)),
        };
        settings.validate()?;
        Ok(settings)
    }
}

/// Runs `isobench serve-bench`; returns the exit code (1 when a scenario
/// failed, lost requests or got error answers).
pub fn serve_bench(args: ServeArgs, cache: &Path) -> Result<i32> {
    let facts = HostFacts::probe();
    let mut common = args.common.clone();
    if common.environments.is_empty() {
        common.environments = vec![isobench_environments::EnvKind::Native];
    }
    let mut config = mode::config(&common)?;
    let settings = args.settings(config.common.seed)?;
    let options = mode::prepare(&mut config, &facts, &args.tool, cache, |config| {
        for &kind in &config.common.environments {
            let can = isobench_harness::EnvironmentSource::capabilities(&Registry, kind);
            if let Some(reason) = serving::transport_refusal(can, settings.transport) {
                return Err(HarnessError::Invalid(format!(
                    "--transport {}: `{kind}` {reason}",
                    settings.transport.name()
                ))
                .into());
            }
        }
        Ok(())
    })?;
    eprintln!(
        "isobench serve-bench: {} on {} over {}, scenarios {}; results in {}",
        config.workload(),
        mode::list(config.common.environments.iter().map(|k| k.name())),
        settings.transport.name(),
        mode::list(settings.scenarios.iter().map(|s| s.name())),
        config.common.output.display()
    );
    let session = Session::open(config, facts, &options)?;
    let config = &session.ctx.config;
    let outcome = isobench_harness::serving::serve_bench(&session.ctx, &settings, &Messages);
    let results = match mode::finished(outcome)? {
        Ok(results) => results,
        Err(code) => return Ok(code),
    };
    println!("{}", render(&results));
    mode::write_reports(&config.common.output, "serving")?;
    let failed: Vec<String> = results
        .iter()
        .filter_map(|r| {
            r.failure
                .as_ref()
                .map(|f| format!("{} {}: {f}", r.env, r.scenario))
        })
        .collect();
    if !failed.is_empty() {
        eprintln!("error: {}", failed.join("; "));
        return Ok(1);
    }
    Ok(0)
}

/// The terminal table: one row per environment and scenario (the report
/// crate's serving table, drawn by the formatter of every terminal table).
pub fn render(results: &[ServingResult]) -> String {
    isobench_report::serving_table(results)
        .trim_end()
        .to_string()
}
