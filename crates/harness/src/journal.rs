//! The run journal: every measured sample is appended to
//! `journal.jsonl` in the output directory as it arrives, each completed
//! repetition and environment as a whole (fsync'd), so that
//! `isobench run --resume DIR` continues an interrupted experiment with no
//! sample lost or duplicated.
//!
//! A repetition is the unit of resumption: one that did not complete is
//! measured again in a fresh environment; its partial samples stay in the
//! journal (marked by the missing `repetition` entry) but not in results.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use isobench_results::{EnvironmentResult, HostInfo, IterationSample, Repetition};
use serde::{Deserialize, Serialize};

use crate::{ExperimentConfig, HarnessError};

/// File name of the journal in the output directory.
pub const JOURNAL_FILE: &str = "journal.jsonl";

/// One journal line.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "entry", rename_all = "snake_case")]
pub enum Entry {
    /// The experiment as configured (first line), with the host as it was
    /// when the run started (a resumed run keeps them).
    Start {
        /// Resolved configuration.
        config: Box<ExperimentConfig>,
        /// The host when the run started.
        #[serde(default)]
        host: Option<Box<HostInfo>>,
        /// Unix time the run started.
        #[serde(default)]
        started_unix: Option<u64>,
    },
    /// A measured iteration, as it arrived.
    Sample {
        /// Environment name.
        env: String,
        /// The repetition's round.
        repetition: u32,
        /// The sample.
        sample: IterationSample,
    },
    /// A repetition that ended (successfully or not), with all its data.
    Repetition {
        /// Environment name.
        env: String,
        /// The repetition.
        repetition: Box<Repetition>,
    },
    /// A round whose every launch is done (interleaved runs): what the
    /// design's next decisions depend on, for `--resume` to replay.
    Round {
        /// The round, from 1.
        round: u32,
        /// Seconds it took.
        seconds: f64,
        /// Measuring seconds of the run when it ended.
        elapsed_seconds: f64,
    },
    /// An environment that is finished (status, metadata, all repetitions).
    Environment {
        /// The environment's results.
        result: Box<EnvironmentResult>,
    },
    /// The run ended with its design done (last line): nothing to resume.
    Finished,
}

/// Appends entries to the journal.
pub struct Journal {
    file: File,
    path: PathBuf,
}

impl Journal {
    /// Opens (creating or appending to) the journal in `output`.
    pub fn open(output: &Path) -> Result<Self, HarnessError> {
        let path = output.join(JOURNAL_FILE);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|source| HarnessError::Io {
                what: "opening the journal",
                path: path.clone(),
                source,
            })?;
        Ok(Journal { file, path })
    }

    /// Appends one entry; `sync` forces it to disk.
    pub fn append(&mut self, entry: &Entry, sync: bool) -> Result<(), HarnessError> {
        let mut line =
            serde_json::to_string(entry).map_err(|e| self.error(std::io::Error::other(e)))?;
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .map_err(|e| self.error(e))?;
        if sync {
            self.file.sync_data().map_err(|e| self.error(e))?;
        }
        Ok(())
    }

    fn error(&self, source: std::io::Error) -> HarnessError {
        HarnessError::Io {
            what: "appending to the journal",
            path: self.path.clone(),
            source,
        }
    }
}

/// What an interrupted experiment had finished, read back from its journal.
#[derive(Debug, Default)]
pub struct Recovered {
    /// The configuration it ran with.
    pub config: Option<ExperimentConfig>,
    /// The host when it started.
    pub host: Option<HostInfo>,
    /// Unix time it started.
    pub started_unix: Option<u64>,
    /// True when the run ended with its design done.
    pub finished: bool,
    /// Environments that finished, by name.
    pub environments: BTreeMap<String, EnvironmentResult>,
    /// Completed repetitions of environments that did not finish, by name.
    pub repetitions: BTreeMap<String, Vec<Repetition>>,
    /// Rounds that were complete.
    pub rounds: Vec<RecoveredRound>,
}

/// A round the journal records as complete.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RecoveredRound {
    /// The round, from 1.
    pub round: u32,
    /// Seconds it took.
    pub seconds: f64,
    /// Measuring seconds of the run when it ended.
    pub elapsed_seconds: f64,
}

/// Reads a journal. A torn last line (the harness was killed mid-write) is ignored.
pub fn recover(output: &Path) -> Result<Recovered, HarnessError> {
    let path = output.join(JOURNAL_FILE);
    let file = File::open(&path).map_err(|source| HarnessError::JournalMissing {
        path: path.clone(),
        source,
    })?;
    let mut recovered = Recovered::default();
    let lines: Vec<String> = BufReader::new(file).lines().map_while(Result::ok).collect();
    let last = lines.len().saturating_sub(1);
    for (number, line) in lines.iter().enumerate() {
        let entry: Entry = match serde_json::from_str(line) {
            Ok(entry) => entry,
            Err(_) if number == last => break,
            Err(source) => {
                return Err(HarnessError::JournalCorrupt {
                    path: path.clone(),
                    line: number + 1,
                    source,
                })
            }
        };
        match entry {
            Entry::Start {
                config,
                host,
                started_unix,
            } => {
                recovered.config = Some(*config);
                recovered.host = host.map(|h| *h);
                recovered.started_unix = started_unix;
            }
            Entry::Finished => recovered.finished = true,
            Entry::Sample { .. } => {}
            Entry::Repetition { env, repetition } => {
                recovered
                    .repetitions
                    .entry(env)
                    .or_default()
                    .push(*repetition);
            }
            Entry::Round {
                round,
                seconds,
                elapsed_seconds,
            } => recovered.rounds.push(RecoveredRound {
                round,
                seconds,
                elapsed_seconds,
            }),
            Entry::Environment { result } => {
                recovered.repetitions.remove(&result.name);
                recovered.environments.insert(result.name.clone(), *result);
            }
        }
    }
    if recovered.config.is_none() {
        return Err(HarnessError::JournalEmpty { path });
    }
    Ok(recovered)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_finished_parts_and_ignores_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let config =
            ExperimentConfig::with(|c| c.common.workload = Some(crate::config::Workload::Knn))
                .unwrap();
        let mut journal = Journal::open(dir.path()).unwrap();
        journal
            .append(
                &Entry::Start {
                    config: Box::new(config.clone()),
                    host: None,
                    started_unix: None,
                },
                true,
            )
            .unwrap();
        let rep = Repetition {
            round: 1,
            ..Repetition::default()
        };
        journal
            .append(
                &Entry::Repetition {
                    env: "docker".into(),
                    repetition: Box::new(rep),
                },
                true,
            )
            .unwrap();
        drop(journal);
        let mut file = OpenOptions::new()
            .append(true)
            .open(dir.path().join(JOURNAL_FILE))
            .unwrap();
        file.write_all(b"{\"entry\":\"sample\",\"env\":\"dock")
            .unwrap();
        let recovered = recover(dir.path()).unwrap();
        assert_eq!(recovered.config.unwrap(), config);
        assert_eq!(recovered.repetitions["docker"].len(), 1);
        assert!(recovered.environments.is_empty());
    }

    #[test]
    fn a_missing_journal_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = recover(dir.path()).unwrap_err().to_string();
        assert!(err.contains("journal.jsonl"), "{err}");
    }
}
