//! Errors of the environments crate.

use std::path::PathBuf;

/// Everything that can go wrong preparing, launching or stopping an environment.
/// Messages name the thing that failed and, where one exists, the fix.
#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    /// The environment cannot run on this host.
    #[error("environment `{env}` is unavailable: {reason} (fix: {fix})")]
    Unavailable {
        /// Environment name.
        env: String,
        /// Why.
        reason: String,
        /// What the user can do.
        fix: String,
    },
    /// A required file is missing.
    #[error("{what} not found at {path}: {fix}")]
    MissingFile {
        /// What the file is.
        what: String,
        /// Where it was expected.
        path: PathBuf,
        /// What the user can do.
        fix: String,
    },
    /// An external program failed.
    #[error("`{program}` failed: {message}")]
    Command {
        /// Program run.
        program: String,
        /// Its stderr or the spawn error.
        message: String,
    },
    /// The Docker daemon refused or could not be reached.
    #[error("docker: {0}")]
    Docker(String),
    /// A VMM (QEMU, Firecracker) failed.
    #[error("{vmm}: {message}")]
    Vmm {
        /// Which VMM.
        vmm: String,
        /// What happened.
        message: String,
    },
    /// Nothing arrived from the instance in time.
    #[error("no output from `{env}` within {seconds:.0} s ({during})")]
    Timeout {
        /// Environment name.
        env: String,
        /// Seconds waited.
        seconds: f64,
        /// What was awaited.
        during: String,
    },
    /// The environment does not support an operation.
    #[error("{what} is not supported by this environment (fix: {fix})")]
    Unsupported {
        /// The operation.
        what: String,
        /// What the user can do.
        fix: String,
    },
    /// I/O error on a named path or operation.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl EnvError {
    /// Wraps an I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        EnvError::Io {
            context: context.into(),
            source,
        }
    }
}
