//! The agent's error type. Every failure becomes an `error` record
//! (kind + one-line message) and a non-zero exit.

use std::path::{Path, PathBuf};

/// Everything that can make the agent fail.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// Bad command-line usage (unknown workload, engine, option value).
    #[error("{0}")]
    Usage(String),
    /// A model file is missing, unreadable or not a valid model.
    #[error("model {path}: {message}")]
    Model {
        /// The model file.
        path: PathBuf,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// An input (image, data set) is missing or invalid.
    #[error("input {path}: {message}")]
    Input {
        /// The input file or directory.
        path: PathBuf,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// The inference engine failed at run time.
    #[error("engine {engine}: {message}")]
    Engine {
        /// Engine name.
        engine: String,
        /// What failed.
        message: String,
    },
    /// PID-1 duties failed (mounting, loading modules).
    #[error("init: {0}")]
    Init(String),
    /// The user's program (`exec`) could not start, failed, or printed bad records.
    #[error("program: {0}")]
    Program(String),
    /// Other I/O failure on a named path.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl AgentError {
    /// The machine-readable category written in the `error` record.
    pub fn kind(&self) -> &'static str {
        match self {
            AgentError::Usage(_) => "usage",
            AgentError::Model { .. } => "model",
            AgentError::Input { .. } => "input",
            AgentError::Engine { .. } => "engine",
            AgentError::Init(_) => "init",
            AgentError::Program(_) => "program",
            AgentError::Io { .. } => "io",
        }
    }

    /// Shorthand for a model error.
    pub fn model(path: &Path, message: impl Into<String>) -> Self {
        AgentError::Model {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }

    /// Shorthand for an input error.
    pub fn input(path: &Path, message: impl Into<String>) -> Self {
        AgentError::Input {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }

    /// Shorthand for an I/O error on a path.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        AgentError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
