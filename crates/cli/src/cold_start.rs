//! `isobench cold-start`: from "start it" to the first answer, phase by
//! phase (see `isobench_harness::cold_start`).

use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use clap::Args;
use isobench_environments::HostFacts;
use isobench_harness::cold_start::ColdStartSettings;
use isobench_harness::config::{BatchOptions, CommonOptions, Workload};
use isobench_harness::session::{self, Session, SessionOptions};
use isobench_harness::{results_path, Registry, RunObserver};
use isobench_harness::{ExperimentConfig, HarnessError};
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

/// Prints progress messages on stderr.
struct Messages;

impl RunObserver for Messages {
    fn message(&self, text: &str) {
        eprintln!("{text}");
    }
}

/// Runs `isobench cold-start`; returns the exit code (1 when an
/// environment had no successful start of a type it can do).
pub fn cold_start(args: ColdStartArgs, cache: &Path) -> Result<i32> {
    let facts = HostFacts::probe();
    let mut common = args.common.clone();
    common.workload.get_or_insert(Workload::Knn);
    let mut config = ExperimentConfig {
        common,
        batch: BatchOptions::default(),
    };
    config.validate()?;
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
    };
    settings.validate()?;
    let options = SessionOptions {
        cache: cache.to_path_buf(),
        agent: args.tool.agent.clone(),
        resume: false,
    };
    session::resolve_environments(&mut config, &facts, &options, &Registry)?;
    if !args.tool.offline {
        crate::setup::ensure_for_run(cache, &config, options.agent.as_deref(), &Registry)?;
    }
    eprintln!(
        "isobench cold-start: {} on {}, {} start(s) each from {}; results in {}",
        config.workload(),
        config
            .common
            .environments
            .iter()
            .map(|k| k.name())
            .collect::<Vec<_>>()
            .join(", "),
        settings.starts,
        settings
            .from
            .iter()
            .map(|s| s.name())
            .collect::<Vec<_>>()
            .join(", "),
        config.common.output.display()
    );
    let session = Session::open(config, facts, &options)?;
    let config = &session.ctx.config;
    let results = match isobench_harness::cold_start::cold_start(&session.ctx, &settings, &Messages)
    {
        Ok(results) => results,
        Err(HarnessError::Interrupted(path)) => {
            eprintln!(
                "interrupted: starts measured so far are in {}",
                path.display()
            );
            return Ok(130);
        }
        Err(e) => return Err(e.into()),
    };
    println!("{}", render(&results));
    if let Ok(saved) = isobench_results::ResultsFile::load(&results_path(&config.common.output)) {
        crate::reports::write_all(&saved, &config.common.output)?;
    }
    eprintln!(
        "results: {} (`cold_start`; also report.md, report.html)",
        results_path(&config.common.output).display()
    );
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
