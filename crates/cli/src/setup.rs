//! `isobench setup` and the on-demand setup before a run.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};
use isobench_assets::{assets_dir, record_file, Component, Setup};
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
    println!("setup complete: {}", cache.display());
    Ok(0)
}

/// What a run needs, fetched if missing (a no-op on a complete cache).
pub fn ensure_for_run(
    cache: &Path,
    config: &ExperimentConfig,
    agent: Option<&Path>,
    source: &dyn isobench_harness::EnvironmentSource,
) -> Result<()> {
    let mut components = vec![Component::Assets];
    if config.common.engine == isobench_harness::config::Engine::Ort {
        components.push(Component::OnnxRuntime);
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
