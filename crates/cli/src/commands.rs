//! One function per subcommand.

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::{Context, Result};
use isobench_environments::{registry, EnvKind, EnvOptions, HostFacts};
use isobench_harness::config::Overrides;
use isobench_harness::runner::{results_path, RunContext};
use isobench_harness::{payload, ExperimentConfig, HarnessError};

use crate::cli::{Cli, Command, RunArgs};

/// Runs the chosen subcommand; returns the process exit code.
pub fn dispatch(cli: Cli) -> Result<i32> {
    let cache = cli.cache.clone().unwrap_or_else(isobench_assets::cache_dir);
    match cli.command {
        Command::Run(args) => run(args, &cache),
        Command::Setup(args) => crate::setup::setup(&cache, args),
        Command::Doctor => doctor(&cache),
        Command::Report(args) => crate::reports::report(args),
        Command::Compare(args) => crate::reports::compare(args),
        Command::Clean => clean(&cache),
        Command::ServeBench(args) => crate::serve::serve_bench(args, &cache),
    }
}

fn overrides_of(args: &RunArgs) -> Overrides {
    Overrides {
        env: args.env.clone(),
        workload: args.workload.clone(),
        model: args.model.clone(),
        images: args.images.clone(),
        engine: args.engine.clone(),
        iterations: args.iterations,
        warmup: args.warmup,
        repetitions: args.repetitions,
        vcpus: args.vcpus,
        memory: args.memory,
        threads: args.threads,
        output: args.output.clone(),
        timeout: args.timeout,
        boot_timeout: args.boot_timeout,
        iteration_timeout: args.iteration_timeout,
        seed: args.seed,
        native_cgroup: args.no_native_cgroup.then_some(false),
        kernel: args.kernel.clone(),
        firecracker: args.firecracker.clone(),
        sample_interval_ms: args.sample_interval_ms,
        order: args.order.clone(),
        busy_ms: args.busy_ms,
        touch_mib: args.touch_mib,
    }
}

/// Environments to run: the requested ones (each must be available), or
/// every available one that is not emulated.
fn choose_environments(config: &ExperimentConfig, facts: &HostFacts) -> Result<Vec<EnvKind>> {
    if !config.environments.is_empty() {
        for &kind in &config.environments {
            let availability = registry::detect(kind, facts);
            if !availability.available {
                return Err(HarnessError::Unavailable {
                    env: kind.name().into(),
                    reason: availability.reason,
                    fix: availability.fix,
                }
                .into());
            }
        }
        return Ok(config.environments.clone());
    }
    let chosen: Vec<EnvKind> = EnvKind::ALL
        .into_iter()
        .filter(|&kind| {
            let availability = registry::detect(kind, facts);
            // Emulated VMs (TCG) take minutes per YOLO inference: only on request.
            availability.available && (!kind.is_vm() || facts.kvm.can_boot_linux())
        })
        .collect();
    Ok(chosen)
}

fn run(args: RunArgs, cache: &Path) -> Result<i32> {
    let facts = HostFacts::probe();
    let mut config = match &args.resume {
        Some(dir) => {
            let mut config = isobench_harness::journal::recover(dir)?
                .config
                .context("the journal has no configuration")?;
            config.output = dir.clone();
            config
        }
        None => {
            let file = match &args.config {
                Some(path) => Overrides::from_file(path)?,
                None => Overrides::default(),
            };
            let mut config = ExperimentConfig::resolve(file.merge(overrides_of(&args)))?;
            config.environments = choose_environments(&config, &facts)?;
            config
        }
    };
    if config.environments.is_empty() {
        config.environments = choose_environments(&config, &facts)?;
    }
    let setup = ContextSetup {
        agent: args.agent.as_deref(),
        offline: args.offline,
        jailer: args.jailer,
        resume: args.resume.is_some(),
    };
    let (ctx, work_dir, staging) = build_context(cache, &config, facts, &setup)?;
    eprintln!(
        "isobench: {} on {} ({} iterations after {} warm-ups, {} repetitions, engine {}, {} thread(s)); results in {}",
        config.workload,
        config.environments.iter().map(|k| k.name()).collect::<Vec<_>>().join(", "),
        config.iterations,
        config.warmup,
        config.repetitions,
        config.engine,
        config.threads,
        config.output.display()
    );
    let bars = crate::progress::Bars::new();
    let outcome = isobench_harness::run_experiment(&ctx, &bars);
    let _ = std::fs::remove_dir_all(&work_dir);
    let _ = std::fs::remove_dir_all(&staging);
    let path = results_path(&config.output);
    let results = match outcome {
        Ok(results) => results,
        Err(HarnessError::Interrupted(path)) => {
            if let Ok(saved) = isobench_results::ResultsFile::load(&path) {
                let _ = crate::reports::write_all(&saved, &config.output);
            }
            eprintln!(
                "interrupted: results measured so far are in {}; continue with `isobench run --resume {}`",
                path.display(),
                config.output.display()
            );
            return Ok(130);
        }
        Err(e) => return Err(e.into()),
    };
    print!("{}", isobench_report::terminal_table(&results));
    crate::reports::write_all(&results, &config.output)?;
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
            "error: environment(s) failed: {} (reasons in the table above and in results.json)",
            failed.join(", ")
        );
        return Ok(1);
    }
    Ok(0)
}

/// How to build a [`RunContext`] beyond the experiment itself.
pub struct ContextSetup<'a> {
    /// An explicit agent binary (`--agent`).
    pub agent: Option<&'a Path>,
    /// Never download (`--offline`).
    pub offline: bool,
    /// Start Firecracker through its jailer.
    pub jailer: bool,
    /// Continue the journalled experiment.
    pub resume: bool,
}

/// Everything `run` and `serve-bench` share before measuring: assets (fetched
/// unless offline), the agent payload, signal handling, the per-run work
/// directory and environment options. Returns the context, the work
/// directory and the staging directory (both removed by the caller).
pub fn build_context(
    cache: &Path,
    config: &ExperimentConfig,
    facts: HostFacts,
    setup: &ContextSetup<'_>,
) -> Result<(RunContext, std::path::PathBuf, std::path::PathBuf)> {
    if !setup.offline {
        crate::setup::ensure_for_run(cache, config, setup.agent)?;
    }
    let agent = payload::find_agent(setup.agent, &config.engine)?;
    let staging = config.output.join(".staging");
    let assets = payload::stage_assets(config, &isobench_assets::assets_dir(cache), &staging)?;
    let onnxruntime = (config.engine == "ort").then(|| isobench_assets::onnxruntime_lib(cache));
    let (payload, identity) = payload::build_payload(agent, assets, onnxruntime.as_deref())?;
    let interrupted = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, interrupted.clone())
            .context("installing the signal handler")?;
    }
    let work_dir = std::env::temp_dir().join(format!("isobench-{}", std::process::id()));
    std::fs::create_dir_all(&work_dir)
        .with_context(|| format!("creating {}", work_dir.display()))?;
    let ctx = RunContext {
        host: isobench_harness::host::host_info(&facts),
        env_options: EnvOptions {
            cache_dir: cache.to_path_buf(),
            work_dir: work_dir.clone(),
            native_cgroup: config.native_cgroup && facts.root && facts.cgroup_v1,
            kernel: config.kernel.clone(),
            firecracker: config.firecracker.clone().or_else(|| {
                let bundled = isobench_assets::firecracker_bin(cache);
                bundled.is_file().then_some(bundled)
            }),
            jailer: setup.jailer,
            docker_host: std::env::var("DOCKER_HOST").ok(),
        },
        host_facts: facts,
        config: config.clone(),
        payload,
        identity,
        interrupted,
        resume: setup.resume,
    };
    Ok((ctx, work_dir, staging))
}

fn doctor(cache: &Path) -> Result<i32> {
    let facts = HostFacts::probe();
    println!("host: KVM: {}", facts.kvm.explain());
    println!(
        "host: cgroups {}; running as {}",
        if facts.cgroup_v1 { "v1 (hybrid)" } else { "v2" },
        if facts.root { "root" } else { "non-root" }
    );
    println!("cache: {}", cache.display());
    println!();
    let mut width = 0;
    let rows: Vec<_> = EnvKind::ALL
        .into_iter()
        .map(|kind| {
            width = width.max(kind.name().len());
            (kind, registry::detect(kind, &facts))
        })
        .collect();
    for (kind, availability) in rows {
        let state = if availability.available {
            "available"
        } else {
            "unavailable"
        };
        println!(
            "{:<width$}  {:<11}  {}  [{}]",
            kind.name(),
            state,
            availability.reason,
            kind.description()
        );
        if !availability.fix.is_empty() {
            println!("{:<width$}  {:<11}  fix: {}", "", "", availability.fix);
        }
    }
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
