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
    /// The container engine's API (dockerd, or podman's compatible
    /// service) refused or could not be reached.
    #[error("{engine}: {message}")]
    Engine {
        /// `docker` or `podman`.
        engine: &'static str,
        /// What failed, with the engine's answer.
        message: String,
    },
    /// A VMM (QEMU, Firecracker) failed.
    #[error("{vmm}: {message}")]
    Vmm {
        /// Which VMM.
        vmm: String,
        /// What happened.
        message: String,
    },
    /// No output for too long: nothing arrived within the wait the caller
    /// chose ([`crate::Instance::next_line`]'s `timeout`). The instance may
    /// still be working: waiting again is allowed.
    #[error("no output from `{env}` within {seconds:.1} s")]
    Timeout {
        /// Environment name.
        env: String,
        /// Seconds waited.
        seconds: f64,
    },
    /// The deadline of the whole run ([`crate::LaunchSpec::timeout`])
    /// passed: the instance was stopped.
    #[error(
        "`{env}` ran into the whole run's time limit of {seconds:.0} s (--timeout) and was stopped"
    )]
    RunDeadline {
        /// Environment name.
        env: String,
        /// The whole run's limit, in seconds.
        seconds: f64,
    },
    /// [`crate::Environment::launch`] was called before a successful
    /// [`crate::Environment::prepare`].
    #[error(
        "environment `{env}`: launch called before prepare (prepare builds what launching needs)"
    )]
    NotPrepared {
        /// Environment name.
        env: String,
    },
    /// The environment does not support an operation.
    #[error("{what} is not supported by this environment (fix: {fix})")]
    Unsupported {
        /// The operation.
        what: String,
        /// What the user can do.
        fix: String,
    },
    /// An input that cannot work (a `--rootfs`, `--image`, `--mount` or
    /// guest kernel), named with its fix in the message.
    #[error("{0}")]
    Input(String),
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
    /// The error of a launch before prepare.
    pub fn not_prepared(env: crate::EnvKind) -> Self {
        EnvError::NotPrepared {
            env: env.name().into(),
        }
    }

    /// Wraps an I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        EnvError::Io {
            context: context.into(),
            source,
        }
    }
}
