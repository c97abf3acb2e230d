//! Payloads and run contexts the runner tests build again and again, and
//! the exercised environments of a results file.

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use isobench_environments::{AgentPayload, EnvOptions, HostFacts};
use isobench_harness::ExperimentConfig;
use isobench_harness::{EnvironmentSource, RunContext};
use isobench_results::{PayloadIdentity, ResultsFile, Status};

/// The payload of `agent` reading `assets`, with no extra files and no
/// environment variables (what the static agent needs).
pub fn payload(agent: &Path, assets: &Path) -> AgentPayload {
    AgentPayload {
        user_root: None,
        agent_binary: agent.to_path_buf(),
        assets_dir: assets.to_path_buf(),
        extra_files: vec![],
        env: vec![],
    }
}

/// A [`RunContext`] running `config` with environments from `source`
/// (a [`crate::fake::FakeSource`], or `isobench_harness::Registry`
/// for real ones) on `payload`. The work and cache directories are `work`
/// and `cache` under `dir`; the host facts are this host's, the host
/// metadata and payload identity empty; not interrupted, not resuming
/// (set [`RunContext::interrupted`] / [`RunContext::resume`] as needed).
pub fn run_context(
    config: ExperimentConfig,
    source: Arc<dyn EnvironmentSource>,
    payload: AgentPayload,
    dir: &Path,
) -> RunContext {
    RunContext {
        source,
        config,
        payload,
        identity: PayloadIdentity::default(),
        env_options: EnvOptions {
            work_dir: dir.join("work"),
            cache_dir: dir.join("cache"),
            ..EnvOptions::default()
        },
        host_facts: HostFacts::probe(),
        host: Default::default(),
        interrupted: Arc::new(AtomicBool::new(false)),
        resume: false,
    }
}

/// Records with [`crate::exercised`] every environment `results` shows
/// really ran: completed with measured samples, or served a serving
/// scenario with no failure and at least one answer. Call it on the
/// results of a real run only (never of a fake backend).
pub fn exercised_by(results: &ResultsFile) {
    for env in &results.environments {
        let measured = env.repetitions.iter().any(|r| !r.iterations.is_empty());
        if env.status == Status::Completed && measured {
            crate::exercised(&env.name);
        }
    }
    for serving in &results.serving {
        if serving.failure.is_none() && serving.counts.answered > 0 {
            crate::exercised(&serving.env);
        }
    }
}
