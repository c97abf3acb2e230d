//! `isobench density`: how many serving instances of each environment fit
//! on this host within a p99 latency bound, and the host memory each costs
//! (see `isobench_harness::density`).

use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use clap::Args;
use isobench_environments::HostFacts;
use isobench_harness::config::CommonOptions;
use isobench_harness::density::DensityOptions;
use isobench_harness::session::Session;
use isobench_harness::HarnessError;
use isobench_results::DensityResults;

use crate::mode::{self, Messages};

/// `isobench density` options.
#[derive(Debug, Args)]
pub struct DensityArgs {
    /// Options shared with run.
    #[command(flatten)]
    pub common: CommonOptions,
    /// Agent, downloads.
    #[command(flatten)]
    pub tool: crate::cli::ToolArgs,
    /// The bound on the p99 latency of every request of k instances loaded
    /// together, ms (required): the density is the largest k that meets it.
    #[arg(long, value_name = "MS", allow_negative_numbers = true)]
    pub latency_bound_ms: f64,
    /// The largest number of instances alive at once that is tried (k = 1,
    /// 2, … up to it, stopping at the first k that breaks the bound).
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub max_instances: u32,
    /// Seeded Poisson arrivals per instance per second (the serve-bench
    /// server scenario); default: a closed loop, each instance's next
    /// request sent when its previous answer arrives.
    #[arg(long, value_name = "QPS")]
    pub qps_per_instance: Option<f64>,
    /// Seconds of load per instance count and trial.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 5.0,
        allow_negative_numbers = true
    )]
    pub duration: f64,
    /// Trials per instance count (with 2 or more, the environments take
    /// turns in seeded order per trial and the curves carry the range across trials).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub trials: u32,
    /// Requests each instance answers before the load (not recorded).
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub warmup_requests: u64,
    /// Seconds without any answer after which pending requests count as lost.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub response_timeout: u64,
    /// Input every request asks for (an image name, a sample index, `A..B`,
    /// `test-split`); default: the workload's inputs in turn.
    #[arg(long, default_value = "")]
    pub input: String,
}

impl DensityArgs {
    fn options(&self) -> Result<DensityOptions> {
        let ms = self.latency_bound_ms;
        if !(ms.is_finite() && ms > 0.0) {
            return Err(HarnessError::Invalid(format!(
                "--latency-bound-ms {ms}: give a positive bound in ms"
            ))
            .into());
        }
        if !(self.duration.is_finite() && self.duration > 0.0) {
            return Err(HarnessError::Invalid(format!(
                "--duration {}: give a positive number of seconds of load",
                self.duration
            ))
            .into());
        }
        let options = DensityOptions {
            latency_bound: Duration::from_secs_f64(ms / 1e3),
            max_instances: self.max_instances,
            qps_per_instance: self.qps_per_instance,
            duration: Duration::from_secs_f64(self.duration),
            trials: self.trials,
            warmup_requests: self.warmup_requests,
            response_timeout: Duration::from_secs(self.response_timeout.max(1)),
            input: self.input.clone(),
        };
        options.validate()?;
        Ok(options)
    }
}

/// Runs `isobench density`; returns the exit code (0 when the search ran:
/// a density of 0 is a result, with its reason; 130 when interrupted).
pub fn density(args: DensityArgs, cache: &Path) -> Result<i32> {
    let facts = HostFacts::probe();
    let options = args.options()?;
    let mut config = mode::config(&args.common)?;
    let session_options = mode::prepare(&mut config, &facts, &args.tool, cache, |_| Ok(()))?;
    eprintln!(
        "isobench density: {} on {}, k = 1..{} instances, p99 bound {} ms, {} s of load per step; results in {}",
        config.workload(),
        mode::list(config.common.environments.iter().map(|k| k.name())),
        options.max_instances,
        args.latency_bound_ms,
        args.duration,
        config.common.output.display()
    );
    let session = Session::open(config, facts, &session_options)?;
    let config = &session.ctx.config;
    let outcome = isobench_harness::density::density(&session.ctx, &options, &Messages);
    let results = match mode::finished(outcome)? {
        Ok(results) => results,
        Err(code) => return Ok(code),
    };
    println!("{}", render(&results));
    mode::write_reports(&config.common.output, "density")?;
    Ok(0)
}

/// The terminal output (the report crate's density table).
pub fn render(results: &DensityResults) -> String {
    isobench_report::density_table(results)
        .trim_end()
        .to_string()
}
