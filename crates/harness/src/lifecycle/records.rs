//! The one reader of an instance's records: JSON lines among whatever else
//! the instance prints (a guest kernel's console), within three limits so
//! a hung guest or agent is caught early: the instance's whole life
//! (`--timeout`), launch to the first record (`--boot-timeout`), and record
//! to record (`--iteration-timeout`). It wakes up every 250 ms to notice
//! SIGINT / SIGTERM.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use isobench_environments::{EnvError, Instance};
use isobench_records::{parse_line, LineKind, Record};

use crate::ExperimentConfig;

/// How often the reader wakes up to check the interrupt flag.
const POLL: Duration = Duration::from_millis(250);

/// Lines of other output kept for the message of an instance that ended early.
const NOISE_KEPT: usize = 20;

/// The reader's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepLimits {
    /// The instance's whole life, from launch.
    pub total: Duration,
    /// Launch to the first record.
    pub boot: Duration,
    /// One record to the next.
    pub step: Duration,
}

impl StepLimits {
    /// The experiment's `--timeout`, `--boot-timeout` and `--iteration-timeout`.
    pub fn of(config: &ExperimentConfig) -> Self {
        StepLimits {
            total: Duration::from_secs(config.common.timeout),
            boot: Duration::from_secs(config.batch.boot_timeout),
            step: Duration::from_secs(config.batch.iteration_timeout),
        }
    }
}

/// One record and when it arrived.
#[derive(Debug, Clone)]
pub struct Arrival {
    /// The record.
    pub record: Record,
    /// When the host read it.
    pub at: Instant,
    /// Seconds from the launch to its arrival.
    pub since_launch: f64,
    /// When the previous record arrived (the launch for the first one).
    pub previous: Instant,
}

/// Why reading an instance's records stopped before the mode had what it needed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// SIGINT / SIGTERM arrived.
    #[error("interrupted")]
    Interrupted,
    /// The instance outlived `--timeout`.
    #[error("timed out after {seconds} s (--timeout)")]
    Deadline {
        /// The limit.
        seconds: u64,
    },
    /// No record within `--boot-timeout` of the launch.
    #[error("no ready record within {seconds} s of launch (--boot-timeout): the environment did not boot or the agent hung while loading")]
    BootTimeout {
        /// The limit.
        seconds: u64,
    },
    /// No record within `--iteration-timeout` of the previous one.
    #[error(
        "no record for {seconds} s after the previous one (--iteration-timeout): the agent hung"
    )]
    StepTimeout {
        /// The limit.
        seconds: u64,
    },
    /// The output ended.
    #[error("the agent exited{}", last_output_note(.last_output))]
    Ended {
        /// The runtime's / VMM's last words, else the agent's last stray line.
        last_output: Option<String>,
    },
    /// A line carried the record marker but was not a valid record.
    #[error("agent printed an invalid record: {0}")]
    Invalid(#[source] isobench_records::RecordError),
    /// The agent reported an error (its `error` record).
    #[error("agent error ({kind}): {message}")]
    Agent {
        /// The agent's error category.
        kind: String,
        /// Its one-line message.
        message: String,
    },
    /// Reading the instance's output failed.
    #[error("reading the agent's output: {0}")]
    Stream(#[source] EnvError),
}

fn last_output_note(last: &Option<String>) -> String {
    last.as_ref()
        .map(|l| format!("; last output: {l}"))
        .unwrap_or_default()
}

/// The reading state of one instance.
pub(crate) struct RecordReader {
    limits: StepLimits,
    /// A guest kernel's console keeps talking: keep its latest lines;
    /// elsewhere the first stray lines say what went wrong.
    guest_kernel: bool,
    interrupted: Arc<AtomicBool>,
    last_arrival: Option<Instant>,
    noise: Vec<String>,
}

impl RecordReader {
    pub(crate) fn new(
        limits: StepLimits,
        guest_kernel: bool,
        interrupted: Arc<AtomicBool>,
    ) -> Self {
        RecordReader {
            limits,
            guest_kernel,
            interrupted,
            last_arrival: None,
            noise: Vec::new(),
        }
    }

    /// The next record of `instance` launched at `origin`.
    pub(crate) fn next(
        &mut self,
        instance: &mut dyn Instance,
        origin: Instant,
    ) -> Result<Arrival, ReadError> {
        let deadline = origin + self.limits.total;
        loop {
            if self.interrupted.load(Ordering::Relaxed) {
                return Err(ReadError::Interrupted);
            }
            let now = Instant::now();
            let left = deadline.saturating_duration_since(now);
            if left.is_zero() {
                return Err(ReadError::Deadline {
                    seconds: self.limits.total.as_secs(),
                });
            }
            match self.last_arrival {
                None if now - origin > self.limits.boot => {
                    return Err(ReadError::BootTimeout {
                        seconds: self.limits.boot.as_secs(),
                    });
                }
                Some(last) if now - last > self.limits.step => {
                    return Err(ReadError::StepTimeout {
                        seconds: self.limits.step.as_secs(),
                    });
                }
                _ => {}
            }
            let line = match instance.next_line(left.min(POLL)) {
                Ok(Some(line)) => line,
                Ok(None) => {
                    // The runtime's / VMM's own last words first, else the last stray line.
                    return Err(ReadError::Ended {
                        last_output: instance
                            .diagnostics()
                            .or_else(|| self.noise.last().cloned()),
                    });
                }
                Err(EnvError::Timeout { .. }) => continue,
                // The instance stopped itself at its whole life's limit.
                Err(EnvError::RunDeadline { .. }) => {
                    return Err(ReadError::Deadline {
                        seconds: self.limits.total.as_secs(),
                    })
                }
                Err(e) => return Err(ReadError::Stream(e)),
            };
            match parse_line(&line) {
                Ok(LineKind::Noise) => self.keep_noise(&line),
                Err(e) => return Err(ReadError::Invalid(e)),
                Ok(LineKind::Record(Record::Error(error))) => {
                    return Err(ReadError::Agent {
                        kind: error.kind,
                        message: error.message,
                    })
                }
                Ok(LineKind::Record(record)) => {
                    let at = Instant::now();
                    let previous = self.last_arrival.replace(at).unwrap_or(origin);
                    return Ok(Arrival {
                        record,
                        at,
                        since_launch: (at - origin).as_secs_f64(),
                        previous,
                    });
                }
            }
        }
    }

    fn keep_noise(&mut self, line: &str) {
        let line: String = line.chars().take(200).collect();
        if self.guest_kernel {
            self.noise.push(line);
            if self.noise.len() > NOISE_KEPT {
                self.noise.remove(0);
            }
        } else if self.noise.len() < NOISE_KEPT {
            self.noise.push(line);
        }
    }
}
