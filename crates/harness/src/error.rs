//! Errors of the harness.

use std::path::PathBuf;

/// Everything that stops an experiment (as opposed to one environment failing,
/// which is recorded in the results and does not stop the others).
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// The experiment file could not be read.
    #[error("cannot read experiment file {path}: {source}")]
    ConfigRead {
        /// The file.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The experiment file is not valid TOML or has unknown keys.
    #[error("experiment file {path} is invalid: {message}")]
    ConfigParse {
        /// The file.
        path: PathBuf,
        /// Parser message (line and column included).
        message: String,
    },
    /// A configuration value is out of range or unknown.
    #[error("invalid configuration: {0}")]
    Invalid(String),
    /// An environment requested explicitly cannot run here.
    #[error("environment `{env}` is unavailable on this host: {reason} (fix: {fix}); run `isobench doctor` for details")]
    Unavailable {
        /// Environment name.
        env: String,
        /// Why.
        reason: String,
        /// Fix.
        fix: String,
    },
    /// The agent binary is missing.
    #[error("agent binary not found ({searched}); build it with `scripts/build.sh` or pass --agent PATH")]
    AgentMissing {
        /// Where it was looked for.
        searched: String,
    },
    /// Assets are missing or incomplete.
    #[error("{0}")]
    Assets(String),
    /// Writing results failed.
    #[error("writing results to {path}: {message}")]
    Output {
        /// The file or directory.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// The run was interrupted (Ctrl-C / SIGTERM); results measured so far are saved.
    #[error("interrupted; results measured so far are in {0}")]
    Interrupted(PathBuf),
}
