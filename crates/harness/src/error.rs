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
    /// The user's model or images cannot be used (checked before any launch).
    #[error("{0}")]
    BadInput(String),
    /// The user's root filesystem (`--workload command`) cannot be used.
    #[error("{0}")]
    UserRoot(#[source] isobench_environments::EnvError),
    /// An unknown workload or engine name.
    #[error("invalid configuration: {0}")]
    UnknownName(#[from] isobench_records::UnknownName),
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
    /// A file or directory of the run could not be created, read or written.
    #[error("{what} {path}: {source}")]
    Io {
        /// What isobench was doing (`creating the output directory`).
        what: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// results.json could not be written or read back.
    #[error(transparent)]
    Results(#[from] isobench_results::ResultsError),
    /// An output directory holds a results file this run cannot add to.
    #[error("{source}; choose another --output directory")]
    ResultsInTheWay {
        /// Why it cannot be read.
        #[source]
        source: isobench_results::ResultsError,
    },
    /// `--resume` found no journal.
    #[error("{path}: {source}; is this the output directory of an `isobench run`?")]
    JournalMissing {
        /// The journal file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A journal line other than the last is not a journal entry.
    #[error("{path}: line {line} is corrupt ({source}); remove the directory and start again")]
    JournalCorrupt {
        /// The journal file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// The journal has no start entry.
    #[error("{path}: the journal has no start entry; nothing to resume")]
    JournalEmpty {
        /// The journal file.
        path: PathBuf,
    },
    /// `--resume` of a run whose design is done.
    #[error("{0} holds a finished run: nothing to resume (its results and reports are unchanged)")]
    NothingToResume(PathBuf),
    /// A fresh run into a directory that holds an earlier run's results.
    #[error("{0} holds the results of an earlier run; give --overwrite to replace them, --resume {0} to continue it, or another --output")]
    ResultsExist(PathBuf),
    /// The run was interrupted (Ctrl-C / SIGTERM); results measured so far are saved.
    #[error("interrupted; results measured so far are in {0}")]
    Interrupted(PathBuf),
}

/// Why one repetition ended early. It is recorded with the repetition
/// (the environment is marked failed) and the experiment goes on.
#[derive(Debug, thiserror::Error)]
pub enum RepetitionError {
    /// The instance could not be launched.
    #[error("{0}")]
    Launch(#[source] crate::lifecycle::LaunchError),
    /// Reading its records stopped (interrupt, a limit, an invalid record, the agent's error).
    #[error(transparent)]
    Records(crate::lifecycle::ReadError),
    /// The output ended before the `summary` record.
    #[error("agent exited before its summary record{}", last_output_note(.last_output))]
    EarlyExit {
        /// The runtime's / VMM's last words, else the agent's last stray line.
        last_output: Option<String>,
    },
    /// Appending to the journal failed.
    #[error("journal: {0}")]
    Journal(#[source] Box<HarnessError>),
}

fn last_output_note(last: &Option<String>) -> String {
    last.as_ref()
        .map(|l| format!("; last output: {l}"))
        .unwrap_or_default()
}
