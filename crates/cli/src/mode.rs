//! What the subcommands of the modes other than `run` (`serve-bench`,
//! `cold-start`, `density`, `interference`) share: their configuration, the setup before they start,
//! and how they end (interrupted, or with their reports written).

use std::path::Path;

use anyhow::Result;
use isobench_environments::HostFacts;
use isobench_harness::config::{BatchOptions, CommonOptions, Workload};
use isobench_harness::session::{self, SessionOptions};
use isobench_harness::{results_path, ExperimentConfig, HarnessError, Registry, RunObserver};

use crate::cli::ToolArgs;

/// Prints a mode's progress messages on stderr.
pub struct Messages;

impl RunObserver for Messages {
    fn message(&self, text: &str) {
        eprintln!("{text}");
    }
}

/// The configuration of a mode from its common flags (knn unless a
/// workload is given), checked.
pub fn config(common: &CommonOptions) -> Result<ExperimentConfig> {
    let mut common = common.clone();
    common.workload.get_or_insert(Workload::Knn);
    let config = ExperimentConfig {
        common,
        batch: BatchOptions::default(),
    };
    config.validate()?;
    Ok(config)
}

/// Before a mode starts: installs what the environments cannot run without,
/// resolves them, lets `check` refuse what the mode cannot do with them,
/// then fetches what the run needs (nothing is installed or fetched with
/// `--offline`). Returns the session's options.
pub fn prepare(
    config: &mut ExperimentConfig,
    facts: &HostFacts,
    tool: &ToolArgs,
    cache: &Path,
    check: impl FnOnce(&ExperimentConfig) -> Result<()>,
) -> Result<SessionOptions> {
    let options = SessionOptions {
        cache: cache.to_path_buf(),
        agent: tool.agent.clone(),
        resume: false,
    };
    if !tool.offline {
        crate::setup::install_required_extras(config, cache)?;
    }
    session::resolve_environments(config, facts, &options, &Registry)?;
    check(config)?;
    if !tool.offline {
        crate::setup::ensure_for_run(cache, config, options.agent.as_deref(), &Registry)?;
    }
    Ok(options)
}

/// A mode's results, or `Err(130)` after saying where what it measured
/// before an interruption is.
pub fn finished<T>(outcome: Result<T, HarnessError>) -> Result<Result<T, i32>> {
    match outcome {
        Ok(results) => Ok(Ok(results)),
        Err(HarnessError::Interrupted(path)) => {
            eprintln!(
                "interrupted: what was measured so far is in {}",
                path.display()
            );
            Ok(Err(130))
        }
        Err(e) => Err(e.into()),
    }
}

/// Writes report.md and report.html next to the results file (the same
/// reports as batch runs, with the mode's `section` of results.json) and
/// says where the results are.
pub fn write_reports(output: &Path, section: &str) -> Result<()> {
    let path = results_path(output);
    if let Ok(saved) = isobench_results::ResultsFile::load(&path) {
        crate::reports::write_all(&saved, output)?;
    }
    eprintln!(
        "results: {} (`{section}`; also report.md, report.html)",
        path.display()
    );
    Ok(())
}

/// `a, b, c`.
pub fn list<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    names.into_iter().collect::<Vec<_>>().join(", ")
}
