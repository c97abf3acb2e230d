//! `isobench interference`: how much K busy neighbours of the same
//! environment slow a serving victim (see `isobench_harness::interference`).

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Result};
use clap::Args;
use isobench_environments::HostFacts;
use isobench_harness::config::{CommonOptions, Workload};
use isobench_harness::interference::InterferenceSettings;
use isobench_harness::session::Session;
use isobench_results::{InterferenceResult, NeighbourLoad};

use crate::mode::{self, Messages};

/// `isobench interference` options.
#[derive(Debug, Args)]
pub struct InterferenceArgs {
    /// Options shared with run.
    #[command(flatten)]
    pub common: CommonOptions,
    /// Agent, downloads.
    #[command(flatten)]
    pub tool: crate::cli::ToolArgs,
    /// The most neighbours K: the victim is measured with 0, 1, … K
    /// neighbours of its own environment (same --vcpus and --memory limits).
    #[arg(long, default_value_t = 2)]
    pub neighbours: u32,
    /// What every neighbour runs: cpu (a busy loop), memory (a
    /// STREAM-triad streamer over 3 buffers larger than the last-level
    /// cache) or inference (the victim's workload at full speed).
    #[arg(long, value_enum, default_value_t = LoadArg::Cpu)]
    pub neighbour_load: LoadArg,
    /// The victim's arrival rate, queries per second (seeded Poisson
    /// arrivals); default: half the capacity the first trial's victim shows
    /// after its warm-up (the lower of 1 / median latency and a burst's
    /// throughput), at most 200 (the load generator shares the host), halved
    /// until the victim alone keeps its median latency
    /// within 3× the warm-up's (at least 1 ms), per environment, then fixed
    /// for every trial.
    #[arg(long)]
    pub qps: Option<f64>,
    /// Seconds each level (each K) drives the victim.
    #[arg(long, default_value_t = 5.0)]
    pub duration: f64,
    /// Trials per environment: each is a fresh victim measured at every K
    /// (the levels in a seeded order); rounds of one trial per environment
    /// in a seeded order. At least 2 for verdicts, 3 to pair them by trial.
    #[arg(long, default_value_t = 3)]
    pub trials: u32,
    /// Requests the victim answers one at a time before a trial's levels
    /// (not recorded; their median latency estimates its capacity).
    #[arg(long, default_value_t = 20)]
    pub warmup_requests: u64,
    /// Seconds without any answer after which pending requests count as lost.
    #[arg(long, default_value_t = 60)]
    pub response_timeout: u64,
}

/// `--neighbour-load`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LoadArg {
    /// A busy loop (the agent's `noise --load cpu`).
    Cpu,
    /// A memory-bandwidth streamer (the agent's `noise --load memory`).
    Memory,
    /// The victim's workload at full speed (the agent's `run`).
    Inference,
}

impl From<LoadArg> for NeighbourLoad {
    fn from(arg: LoadArg) -> Self {
        match arg {
            LoadArg::Cpu => NeighbourLoad::Cpu,
            LoadArg::Memory => NeighbourLoad::Memory,
            LoadArg::Inference => NeighbourLoad::Inference,
        }
    }
}

/// Runs `isobench interference`; returns the exit code (1 when an
/// environment that can run had no measured level).
pub fn interference(args: InterferenceArgs, cache: &Path) -> Result<i32> {
    if !(args.duration.is_finite() && args.duration > 0.0) {
        bail!(
            "--duration {}: give each level a positive number of seconds",
            args.duration
        );
    }
    let settings = InterferenceSettings {
        neighbours: args.neighbours,
        load: args.neighbour_load.into(),
        qps: args.qps,
        duration: Duration::from_secs_f64(args.duration),
        trials: args.trials,
        warmup_requests: args.warmup_requests,
        response_timeout: Duration::from_secs(args.response_timeout.max(1)),
    };
    settings.validate()?;
    let facts = HostFacts::probe();
    let mut config = mode::config(&args.common)?;
    if config.workload() == Workload::Command {
        bail!("--workload command: the victim is a serving agent; give a built-in workload (knn, mlp, yolov8, ocr-det, busy)");
    }
    let options = mode::prepare(&mut config, &facts, &args.tool, cache, |_| Ok(()))?;
    eprintln!(
        "isobench interference: a {} victim on {}, 0 to {} {} neighbour(s), {} trial(s) of {} s per level; results in {}",
        config.workload(),
        mode::list(config.common.environments.iter().map(|k| k.name())),
        settings.neighbours,
        settings.load,
        settings.trials,
        args.duration,
        config.common.output.display()
    );
    let session = Session::open(config, facts, &options)?;
    let config = &session.ctx.config;
    let outcome = isobench_harness::interference::interference(&session.ctx, &settings, &Messages);
    let results = match mode::finished(outcome)? {
        Ok(results) => results,
        Err(code) => return Ok(code),
    };
    println!("{}", render(&results));
    mode::write_reports(&config.common.output, "interference")?;
    let failed: Vec<String> = results
        .iter()
        .filter(|r| r.absent.is_none() && r.samples.is_empty())
        .map(|r| {
            format!(
                "{}: {}",
                r.env,
                r.failures
                    .first()
                    .or(r.refusals.first())
                    .map_or("no level measured", String::as_str)
            )
        })
        .collect();
    if !failed.is_empty() {
        eprintln!("error: {}", failed.join("; "));
        return Ok(1);
    }
    Ok(0)
}

/// The terminal table (the report crate's interference table).
pub fn render(results: &[InterferenceResult]) -> String {
    isobench_report::interference_table(results)
        .trim_end()
        .to_string()
}
