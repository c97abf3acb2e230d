//! What every experiment mode runs with: where environments come from
//! ([`EnvironmentSource`]: the registry, or a fake in tests), the resolved
//! configuration, the agent payload, the host, and the interrupt flag
//! ([`RunContext`]); and who hears about progress ([`RunObserver`]).

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use isobench_environments::{
    AgentPayload, Availability, Capabilities, EnvError, EnvKind, EnvOptions, Environment, HostFacts,
};
use isobench_results::{HostInfo, PayloadIdentity, Status};

use crate::ExperimentConfig;

/// Where the modes get their environments: the registry, or a fake in tests.
/// Detection, construction and capabilities are all asked here, so a fake
/// can change any of them.
pub trait EnvironmentSource: Send + Sync {
    /// Whether `kind` can run here with these options.
    fn detect(&self, kind: EnvKind, facts: &HostFacts, options: &EnvOptions) -> Availability;
    /// Builds the environment for `kind`.
    fn build(&self, kind: EnvKind, options: &EnvOptions) -> Result<Box<dyn Environment>, EnvError>;
    /// What `kind` can do.
    fn capabilities(&self, kind: EnvKind) -> Capabilities {
        isobench_environments::capabilities(kind)
    }
}

/// The environments of [`isobench_environments::registry`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Registry;

impl EnvironmentSource for Registry {
    fn detect(&self, kind: EnvKind, facts: &HostFacts, options: &EnvOptions) -> Availability {
        isobench_environments::detect(kind, facts, options)
    }

    fn build(&self, kind: EnvKind, options: &EnvOptions) -> Result<Box<dyn Environment>, EnvError> {
        isobench_environments::build(kind, options)
    }
}

/// Everything an experiment needs besides its configuration.
pub struct RunContext {
    /// Where environments come from (the registry outside tests).
    pub source: Arc<dyn EnvironmentSource>,
    /// The resolved configuration.
    pub config: ExperimentConfig,
    /// The agent and assets.
    pub payload: AgentPayload,
    /// Their fingerprints.
    pub identity: PayloadIdentity,
    /// Environment construction options.
    pub env_options: EnvOptions,
    /// Host facts (KVM kind, cgroups).
    pub host_facts: HostFacts,
    /// Host metadata for the results.
    pub host: HostInfo,
    /// Set by a signal handler to stop the run early.
    pub interrupted: Arc<AtomicBool>,
    /// Continue the experiment journalled in the output directory instead of starting afresh.
    pub resume: bool,
}

/// Path of the results file in an output directory.
pub fn results_path(output: &Path) -> PathBuf {
    output.join("results.json")
}

/// Creates the output directory (and its parents); the path of its results file.
pub fn output_results(output: &Path) -> Result<PathBuf, crate::HarnessError> {
    std::fs::create_dir_all(output).map_err(|source| crate::HarnessError::Io {
        what: "creating the output directory",
        path: output.to_path_buf(),
        source,
    })?;
    Ok(results_path(output))
}

/// Receives progress events (the CLI draws progress bars, or prints
/// plain lines, from them).
pub trait RunObserver: Sync {
    /// An environment starts; it runs at most `rounds` repetitions.
    fn environment_started(&self, _env: &str, _rounds: u32) {}
    /// A record arrived.
    fn iteration_done(&self, _env: &str, _round: u32, _index: u64, _warmup: bool) {}
    /// A repetition ended (successfully or not).
    fn repetition_finished(&self, _env: &str, _repetition: &isobench_results::Repetition) {}
    /// A round ended; `results` holds its summaries and verdicts so far.
    fn round_finished(&self, _round: u32, _results: &isobench_results::ResultsFile) {}
    /// An environment finished.
    fn environment_finished(&self, _env: &str, _status: &Status) {}
    /// A message for the user.
    fn message(&self, _text: &str) {}
}

/// An observer that ignores everything.
pub struct SilentObserver;
impl RunObserver for SilentObserver {}
