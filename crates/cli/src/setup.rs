//! `isobench setup` and the on-demand setup before a run.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use isobench_assets::{assets_dir, record_file, Component, Setup};
use isobench_environments::{EnvKind, EnvOptions, Extra};
use isobench_harness::config::Engine;
use isobench_harness::{payload, ExperimentConfig};

use crate::cli::SetupArgs;

/// Relative path of the trained MLP weights in the assets.
pub const MLP_WEIGHTS: &str = "models/mlp-digits.json";

fn announce(cache: &Path) -> Setup {
    Setup::new(cache.to_path_buf()).on_progress(|step| eprintln!("setup: {step}"))
}

/// `isobench setup`: every component, then the MLP weights.
pub fn setup(cache: &Path, args: SetupArgs) -> Result<i32> {
    let mut components = vec![Component::Assets, Component::OnnxRuntime];
    if args.firecracker {
        components.push(Component::Firecracker);
    }
    let report = announce(cache).verify(args.verify).ensure(&components)?;
    println!("{report}");
    train_mlp(cache, args.agent.as_deref())?;
    let options = EnvOptions {
        cache_dir: cache.to_path_buf(),
        ..EnvOptions::default()
    };
    for &kind in &args.environments {
        let extras = isobench_environments::extras(kind);
        for extra in extras {
            if extra.is_installed(&options) {
                println!("setup: {kind}: {} is installed", extra.name);
            } else {
                install_extra(extra, kind, cache)?;
            }
        }
        if extras.is_empty() {
            println!("setup: {kind}: nothing to install beyond its Debian packages (scripts/install-deps.sh)");
        }
    }
    if args.engine == Some(Engine::Ort) && payload::find_agent(None, Engine::Ort.name()).is_err() {
        build_ort_agent()?;
    }
    println!("setup complete: {}", cache.display());
    Ok(0)
}

/// The root of the source tree isobench was built from (its `scripts/`),
/// if it is still on this machine.
fn source_tree() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.join("scripts")
        .is_dir()
        .then(|| root.canonicalize().unwrap_or(root))
}

/// Runs one of the source tree's scripts, saying what and how long first.
fn run_script(
    script: &str,
    args: &[&str],
    what: &str,
    minutes: u32,
    cache: Option<&Path>,
) -> Result<()> {
    let root = source_tree().ok_or_else(|| {
        anyhow!(
            "{what}: {script} is part of isobench's source tree, which is not at {}: run it from a clone of isobench",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").display()
        )
    })?;
    eprintln!("setup: {what} with {script} (about {minutes} min on 2 cores; once)");
    let started = Instant::now();
    let mut command = Command::new(root.join(script));
    command.args(args).current_dir(&root);
    if let Some(cache) = cache {
        command.env("ISOBENCH_CACHE", cache);
    }
    let status = command
        .status()
        .with_context(|| format!("starting {}", root.join(script).display()))?;
    if !status.success() {
        bail!("{what}: {script} failed ({status}); its output is above");
    }
    eprintln!(
        "setup: done in {:.1} min",
        started.elapsed().as_secs_f64() / 60.0
    );
    Ok(())
}

/// Installs one extra of `kind` with its script.
fn install_extra(extra: &Extra, kind: EnvKind, cache: &Path) -> Result<()> {
    run_script(
        extra.script,
        &[],
        &format!(
            "{kind} uses {} ({}): installing it",
            extra.name, extra.purpose
        ),
        extra.minutes,
        Some(cache),
    )
}

/// Builds the dynamic agent with ONNX Runtime (`scripts/build.sh --only-ort`),
/// which the workspace build leaves out.
fn build_ort_agent() -> Result<()> {
    run_script(
        "scripts/build.sh",
        &["--only-ort"],
        "--engine ort needs the agent built with ONNX Runtime: building it",
        ORT_BUILD_MINUTES,
        None,
    )
}

/// About how long `scripts/build.sh --only-ort` takes after the default
/// build on a 2-core machine (13 s measured on an idle one: it compiles
/// `ort`, `ort-sys` and the agent crate; rounded up for a busy one).
const ORT_BUILD_MINUTES: u32 = 1;

/// Before a run: installs what the requested environments cannot run
/// without (youki for oci-youki), saying so; optional extras are left to
/// `isobench setup --env` (doctor lists them).
pub fn install_required_extras(config: &ExperimentConfig, cache: &Path) -> Result<()> {
    let options = EnvOptions {
        cache_dir: cache.to_path_buf(),
        ..EnvOptions::default()
    };
    for &kind in &config.common.environments {
        for extra in isobench_environments::extras(kind) {
            if extra.required && !extra.is_installed(&options) {
                install_extra(extra, kind, cache)?;
            }
        }
    }
    Ok(())
}

/// What a run needs, fetched if missing (a no-op on a complete cache).
pub fn ensure_for_run(
    cache: &Path,
    config: &ExperimentConfig,
    agent: Option<&Path>,
    source: &dyn isobench_harness::EnvironmentSource,
) -> Result<()> {
    let mut components = vec![Component::Assets];
    if config.common.engine == Engine::Ort {
        components.push(Component::OnnxRuntime);
        if agent.is_none() && payload::find_agent(None, Engine::Ort.name()).is_err() {
            build_ort_agent()?;
        }
    }
    let vmm_from_cache = config
        .common
        .environments
        .iter()
        .any(|&kind| source.capabilities(kind).vmm_from_cache);
    if vmm_from_cache && config.common.firecracker.is_none() {
        components.push(Component::Firecracker);
    }
    let report = announce(cache).ensure(&components)?;
    if !report.was_noop() {
        eprintln!("{report}");
    }
    if config.workload() == isobench_harness::config::Workload::Mlp {
        train_mlp(cache, agent)?;
    }
    Ok(())
}

/// Trains the MLP once with the agent and records the weights in the manifest.
fn train_mlp(cache: &Path, agent: Option<&Path>) -> Result<()> {
    let assets = assets_dir(cache);
    if assets.join(MLP_WEIGHTS).is_file() {
        return Ok(());
    }
    let agent = payload::find_agent(agent, "tract")?;
    eprintln!("setup: training the MLP on the digits training split (fixed seed)");
    let out = Command::new(&agent)
        .args(["train-mlp", "--assets"])
        .arg(&assets)
        .output()
        .with_context(|| format!("running {}", agent.display()))?;
    if !out.status.success() {
        bail!(
            "training the MLP failed: {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("no message")
        );
    }
    record_file(&assets, MLP_WEIGHTS)?;
    Ok(())
}
