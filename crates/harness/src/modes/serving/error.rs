//! Why a serving benchmark of one environment stopped. Recorded as that
//! environment's failure; the other environments go on.

use isobench_environments::EnvError;

/// A serving run that could not go on.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The instance could not be launched.
    #[error("{0}")]
    Launch(#[source] crate::lifecycle::LaunchError),
    /// The agent did not get to `ready` (it exited, hung, failed or was interrupted).
    #[error("{0}")]
    Start(#[source] crate::lifecycle::ReadError),
    /// The agent reported an error (its `error` record).
    #[error("agent error ({kind}): {message}")]
    Agent {
        /// The agent's error category.
        kind: String,
        /// Its one-line message.
        message: String,
    },
    /// The instance's output ended (the agent exited).
    #[error("the agent's output ended (it exited){}", last_output_note(.last_output))]
    OutputEnded {
        /// The runtime's / VMM's last words, else the agent's last stray line.
        last_output: Option<String>,
    },
    /// The agent closed its socket.
    #[error("the agent closed the connection ({what})")]
    Closed {
        /// The connection (`TCP 127.0.0.1:7070`).
        what: String,
    },
    /// A socket operation failed.
    #[error("{what}: {source}")]
    Socket {
        /// What was being done (`connecting to the agent at 127.0.0.1:7070`).
        what: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The environment failed (launch, input, vsock, output stream).
    #[error("{what}: {source}")]
    Env {
        /// What was being done (`launch`, `sending to the agent`).
        what: &'static str,
        /// The environment's error.
        #[source]
        source: EnvError,
    },
    /// A request got no answer in time.
    #[error("no answer to request {id} within {seconds} s: the agent hung or its output is lost")]
    NoAnswer {
        /// The request's id.
        id: u64,
        /// The wait.
        seconds: u64,
    },
    /// A request could not be encoded.
    #[error("encoding a request: {0}")]
    Frame(#[source] isobench_records::serve::FrameError),
    /// The environment gave the instance no way for the host to reach it.
    #[error("{env} gave the instance no {what} the host can reach")]
    Unreachable {
        /// The environment.
        env: String,
        /// `network` or `vsock device`.
        what: &'static str,
    },
    /// Every warm-up request failed.
    #[error("warm-up: every request failed: {first_error}")]
    WarmupFailed {
        /// The first error answer.
        first_error: String,
    },
    /// The warm-up requests were not all answered.
    #[error("warm-up: {answered} of {sent} requests answered")]
    WarmupUnanswered {
        /// Answered.
        answered: u64,
        /// Sent.
        sent: u64,
    },
    /// An instance restored from a snapshot did not answer its first
    /// request (the restore failed, or the restored agent did).
    #[error("restoring the snapshot in {}: {source}", .snapshot.display())]
    Restore {
        /// The snapshot's image directory.
        snapshot: std::path::PathBuf,
        /// What failed.
        #[source]
        source: Box<ServeError>,
    },
    /// SIGINT / SIGTERM arrived.
    #[error("interrupted")]
    Interrupted,
}

fn last_output_note(last: &Option<String>) -> String {
    last.as_ref()
        .map(|l| format!("; last output: {l}"))
        .unwrap_or_default()
}
