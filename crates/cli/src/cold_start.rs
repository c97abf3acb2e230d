//! `isobench cold-start`: from "start it" to the first answer, phase by
//! phase (see `isobench_harness::cold_start`).

use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use clap::Args;
use isobench_environments::HostFacts;
use isobench_harness::cold_start::ColdStartSettings;
use isobench_harness::config::CommonOptions;
use isobench_harness::session::Session;

use crate::mode::{self, Messages};
use isobench_results::{ColdStartResult, StartType};

/// `isobench cold-start` options.
#[derive(Debug, Args)]
pub struct ColdStartArgs {
    /// Options shared with run.
    #[command(flatten)]
    pub common: CommonOptions,
    /// Agent, downloads.
    #[command(flatten)]
    pub tool: crate::cli::ToolArgs,
    /// Fresh instances started per environment and start type, in seeded
    /// interleaved rounds.
    #[arg(long, default_value_t = 10)]
    pub starts: u32,
    /// How instances start, comma separated: boot (from nothing) and/or
    /// snapshot (restored; environments that cannot say why in the results).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "boot")]
    pub from: Vec<FromArg>,
    /// Seconds to wait for one answer before the start counts as failed.
    #[arg(long, default_value_t = 60)]
    pub response_timeout: u64,
    /// Keep every snapshot under DIR (one subdirectory per environment, DIR
    /// new or empty) instead of removing it after the experiment.
    #[arg(long, value_name = "DIR")]
    pub keep_snapshots: Option<std::path::PathBuf>,
}

/// `--from`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FromArg {
    /// A fresh instance from nothing.
    Boot,
    /// An instance restored from a snapshot of a ready agent.
    Snapshot,
}

impl From<FromArg> for StartType {
    fn from(arg: FromArg) -> Self {
        match arg {
            FromArg::Boot => StartType::Boot,
            FromArg::Snapshot => StartType::Snapshot,
        }
    }
}

/// Runs `isobench cold-start`; returns the exit code (1 when an
/// environment had no successful start of a type it can do).
pub fn cold_start(args: ColdStartArgs, cache: &Path) -> Result<i32> {
    let facts = HostFacts::probe();
    let mut config = mode::config(&args.common)?;
    let mut from: Vec<StartType> = Vec::new();
    for start in args.from.iter().map(|&f| StartType::from(f)) {
        if !from.contains(&start) {
            from.push(start);
        }
    }
    let settings = ColdStartSettings {
        starts: args.starts,
        from,
        response_timeout: Duration::from_secs(args.response_timeout.max(1)),
        keep_snapshots: args.keep_snapshots.clone(),
    };
    settings.validate()?;
    let options = mode::prepare(&mut config, &facts, &args.tool, cache, |_| Ok(()))?;
    eprintln!(
        "isobench cold-start: {} on {}, {} start(s) each from {}; results in {}",
        config.workload(),
        mode::list(config.common.environments.iter().map(|k| k.name())),
        settings.starts,
        mode::list(settings.from.iter().map(|s| s.name())),
        config.common.output.display()
    );
    let session = Session::open(config, facts, &options)?;
    let config = &session.ctx.config;
    let outcome = isobench_harness::cold_start::cold_start(&session.ctx, &settings, &Messages);
    let results = match mode::finished(outcome)? {
        Ok(results) => results,
        Err(code) => return Ok(code),
    };
    println!("{}", render(&results));
    mode::write_reports(&config.common.output, "cold_start")?;
    // A start type an environment can do that never succeeded is a failure;
    // one it cannot do (absent, with its reason) is not.
    let failed: Vec<String> = results
        .iter()
        .filter(|r| r.absent.is_none() && r.samples.is_empty())
        .map(|r| {
            format!(
                "{} {}: {}",
                r.env,
                r.start.map_or("?", StartType::name),
                r.failures.first().map_or("no start", String::as_str)
            )
        })
        .collect();
    if !failed.is_empty() {
        eprintln!("error: {}", failed.join("; "));
        return Ok(1);
    }
    Ok(0)
}

/// The terminal table (the report crate's cold-start table).
pub fn render(results: &[ColdStartResult]) -> String {
    isobench_report::cold_start_table(results)
        .trim_end()
        .to_string()
}
