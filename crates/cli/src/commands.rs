//! One function per subcommand.

use std::path::Path;

use anyhow::{Context, Result};
use isobench_environments::{EnvKind, HostFacts};
use isobench_harness::session::{self, Session, SessionOptions};
use isobench_harness::{results_path, Registry};
use isobench_harness::{ExperimentConfig, HarnessError};

use crate::cli::{Cli, Command, RunArgs};

/// Runs the chosen subcommand; returns the process exit code. `matches`
/// are the parsed command line `cli` came from (the experiment's options are
/// layered over an experiment file by where each value came from).
pub fn dispatch(cli: Cli, matches: &clap::ArgMatches) -> Result<i32> {
    let cache = cli.cache.clone().unwrap_or_else(isobench_assets::cache_dir);
    match cli.command {
        Command::Run(args) => {
            let run_matches = matches
                .subcommand_matches("run")
                .expect("the run subcommand's matches");
            run(args, run_matches, &cache)
        }
        Command::Setup(args) => crate::setup::setup(&cache, args),
        Command::Doctor(args) => doctor(&cache, args.json),
        Command::Report(args) => crate::reports::report(args),
        Command::Compare(args) => crate::reports::compare(args),
        Command::Clean => clean(&cache),
        Command::ServeBench(args) => crate::serve::serve_bench(args, &cache),
        Command::ColdStart(args) => crate::cold_start::cold_start(args, &cache),
        Command::Density(args) => crate::density::density(args, &cache),
        Command::Interference(args) => crate::interference::interference(args, &cache),
    }
}

fn run(args: RunArgs, matches: &clap::ArgMatches, cache: &Path) -> Result<i32> {
    let facts = HostFacts::probe();
    let options = SessionOptions {
        cache: cache.to_path_buf(),
        agent: args.tool.agent.clone(),
        resume: args.resume.is_some(),
    };
    let mut config = match &args.resume {
        Some(dir) => {
            let recovered = isobench_harness::journal::recover(dir)?;
            if recovered.finished {
                eprintln!("{}", HarnessError::NothingToResume(dir.clone()));
                return Ok(0);
            }
            let mut config = recovered
                .config
                .context("the journal has no configuration")?;
            config.common.output = dir.clone();
            config
        }
        None => {
            let config = ExperimentConfig::layered(matches, args.config.as_deref())?;
            if !args.overwrite && holds_a_run(&config.common.output) {
                return Err(HarnessError::ResultsExist(config.common.output.clone()).into());
            }
            config
        }
    };
    if !args.tool.offline {
        crate::setup::install_required_extras(&config, cache)?;
    }
    session::resolve_environments(&mut config, &facts, &options, &Registry)?;
    if !args.tool.offline {
        crate::setup::ensure_for_run(cache, &config, options.agent.as_deref(), &Registry)?;
    }
    eprintln!("{}", banner(&config));
    let session = Session::open(config, facts, &options)?;
    let config = &session.ctx.config;
    let progress = crate::progress::for_stderr();
    let outcome = isobench_harness::run_experiment(&session.ctx, progress.as_ref());
    let path = results_path(&config.common.output);
    let results = match outcome {
        Ok(results) => results,
        Err(HarnessError::Interrupted(path)) => {
            if let Ok(saved) = isobench_results::ResultsFile::load(&path) {
                let _ = crate::reports::write_all(&saved, &config.common.output);
            }
            eprintln!(
                "interrupted: results measured so far are in {}; continue with `isobench run --resume {}`",
                path.display(),
                config.common.output.display()
            );
            return Ok(130);
        }
        Err(e) => return Err(e.into()),
    };
    let layout = isobench_report::TerminalOptions { wide: args.wide };
    crate::out::print(&isobench_report::terminal_table_with(&results, &layout))?;
    crate::reports::write_all(&results, &config.common.output)?;
    eprintln!(
        "results: {} (and results.csv, samples.csv, report.md, report.html)",
        path.display()
    );
    let failed: Vec<&str> = results
        .environments
        .iter()
        .filter(|e| matches!(e.status, isobench_results::Status::Failed { .. }))
        .map(|e| e.name.as_str())
        .collect();
    if !failed.is_empty() {
        eprintln!(
            "error: environment(s) failed: {} (reasons under the table above and in results.json)",
            failed.join(", ")
        );
        return Ok(1);
    }
    Ok(0)
}

/// True when `output` holds an earlier batch run (its journal, or a
/// results file with environments; serving results alone are kept by a run).
fn holds_a_run(output: &Path) -> bool {
    if output
        .join(isobench_harness::journal::JOURNAL_FILE)
        .exists()
    {
        return true;
    }
    let path = results_path(output);
    match isobench_results::ResultsFile::load(&path) {
        Ok(results) => !results.environments.is_empty(),
        Err(_) => path.exists(),
    }
}

/// What the run is about to do, in two lines.
fn banner(config: &ExperimentConfig) -> String {
    let (c, b) = (&config.common, &config.batch);
    let rounds = match b.repetitions {
        Some(n) => format!("{n} rounds ({} order)", b.order),
        None => format!(
            "rounds until every verdict is decided (budget {}, {}–{} rounds)",
            b.budget, b.min_rounds, b.max_rounds
        ),
    };
    let iterations = match b.iterations {
        Some(n) => format!("{n} iterations"),
        None => "iterations chosen after the first rounds".into(),
    };
    format!(
        "isobench: {} ({}, {} thread(s)), baseline {}\n  on {}\n  {rounds}\n  {iterations} after {} warm-up(s); results in {}",
        config.workload(),
        config.engine_run(),
        c.threads,
        config.baseline(),
        c.environments
            .iter()
            .map(|k| k.name())
            .collect::<Vec<_>>()
            .join(", "),
        b.warmup,
        c.output.display()
    )
}

/// One environment as `doctor` sees it.
#[derive(serde::Serialize)]
struct DoctorRow {
    name: &'static str,
    available: bool,
    reason: String,
    fix: String,
    description: &'static str,
    /// Why its instances cannot be snapshotted here (`null`: they can;
    /// `isobench cold-start --from snapshot`).
    snapshot: Option<String>,
    /// What it uses that is not installed (`isobench setup --env NAME` installs it).
    missing_extras: Vec<MissingExtra>,
}

/// An extra `doctor` found missing.
#[derive(serde::Serialize)]
struct MissingExtra {
    name: &'static str,
    purpose: &'static str,
    required: bool,
    install: String,
}

/// `isobench doctor [--json]`.
fn doctor(cache: &Path, json: bool) -> Result<i32> {
    let facts = HostFacts::probe();
    let options = session::env_options(
        &ExperimentConfig::default(),
        &facts,
        &SessionOptions {
            cache: cache.to_path_buf(),
            ..SessionOptions::default()
        },
    );
    let rows: Vec<DoctorRow> = EnvKind::ALL
        .into_iter()
        .map(|kind| {
            let a = isobench_environments::detect(kind, &facts, &options);
            let missing_extras = isobench_environments::extras(kind)
                .iter()
                .filter(|extra| !extra.is_installed(&options))
                .map(|extra| MissingExtra {
                    name: extra.name,
                    purpose: extra.purpose,
                    required: extra.required,
                    install: format!("isobench setup --env {kind}"),
                })
                .collect();
            DoctorRow {
                name: kind.name(),
                snapshot: isobench_environments::snapshot_refusal(kind),
                available: a.available,
                reason: a.reason,
                fix: a.fix,
                description: kind.description(),
                missing_extras,
            }
        })
        .collect();
    let cgroups = if facts.cgroup_v1 { "v1 (hybrid)" } else { "v2" };
    if json {
        let doc = serde_json::json!({
            "format_version": 1,
            "host": {
                "kvm": facts.kvm.explain(),
                "cgroups": cgroups,
                "root": facts.root,
            },
            "cache": cache,
            "environments": rows,
        });
        crate::out::print(&format!("{}\n", serde_json::to_string_pretty(&doc)?))?;
        return Ok(0);
    }
    let mut text = format!(
        "host: KVM: {}\nhost: cgroups {cgroups}; running as {}\ncache: {}\n\n",
        facts.kvm.explain(),
        if facts.root { "root" } else { "non-root" },
        cache.display()
    );
    let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(0);
    for row in &rows {
        let state = if row.available {
            "available"
        } else {
            "unavailable"
        };
        text.push_str(&format!(
            "{:<width$}  {:<11}  {}  [{}]\n",
            row.name, state, row.reason, row.description
        ));
        if !row.fix.is_empty() {
            text.push_str(&format!("{:<width$}  {:<11}  fix: {}\n", "", "", row.fix));
        }
        if row.available {
            text.push_str(&format!(
                "{:<width$}  {:<11}  snapshot starts: {}\n",
                "",
                "",
                row.snapshot
                    .as_deref()
                    .unwrap_or("yes (cold-start --from snapshot)")
            ));
        }
        for extra in &row.missing_extras {
            let need = if extra.required { "needs" } else { "can use" };
            text.push_str(&format!(
                "{:<width$}  {:<11}  {need} {} (not installed): {}\n",
                "", "", extra.name, extra.install
            ));
        }
    }
    crate::out::print(&text)?;
    Ok(0)
}

fn clean(cache: &Path) -> Result<i32> {
    let report = isobench_harness::cleanup::clean_leftovers(cache)?;
    for line in &report {
        println!("{line}");
    }
    if report.is_empty() {
        println!("nothing to clean");
    }
    Ok(0)
}
