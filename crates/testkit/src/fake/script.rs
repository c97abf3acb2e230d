//! What a fake instance prints: a list of (delay, line) outputs, then end
//! of stream or a hang; and the canned agents tests need.

use std::time::Duration;

use isobench_records::Digest;
use serde_json::json;

/// The record format version the fake agent writes.
const RECORD_FORMAT: u32 = 1;

/// How a script ends once its lines are out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// End of stream (the agent exited), with this exit code.
    Exit(i64),
    /// Nothing more, ever (a hung agent or guest): every later read times out.
    Hang,
}

/// One launch's output: each line is due `delay` after the previous one
/// (the first after the launch), then [`End`]. Lines come out as from a
/// pipe: a line whose time has passed is there at the next read.
#[derive(Debug, Clone, PartialEq)]
pub struct Script {
    /// The lines, each with its delay after the previous one.
    pub lines: Vec<(Duration, String)>,
    /// What follows the last line.
    pub end: End,
    /// The instance's last words outside the record stream
    /// ([`isobench_environments::Instance::diagnostics`]), if any.
    pub diagnostics: Option<String>,
}

impl Default for Script {
    fn default() -> Self {
        Script::new()
    }
}

/// A line that starts like a record and is not one: the runner must call
/// it an invalid record.
pub const GARBAGE: &str = r#"{"v":1,"type":"iteration","index":"#;

/// Exit code of the canned crash ([`Script::exits_early`]).
pub const CRASH_EXIT_CODE: i64 = 139;

/// What the canned crash leaves on stderr ([`Script::exits_early`]).
pub const CRASH_DIAGNOSTICS: &str = "Segmentation fault (core dumped)";

impl Script {
    /// No output, then exit code 0.
    pub fn new() -> Self {
        Script {
            lines: Vec::new(),
            end: End::Exit(0),
            diagnostics: None,
        }
    }

    /// Adds `line`, due `after` the previous one.
    pub fn line(mut self, after: Duration, line: impl Into<String>) -> Self {
        self.lines.push((after, line.into()));
        self
    }

    /// Ends with end of stream and exit code `code`.
    pub fn exit(mut self, code: i64) -> Self {
        self.end = End::Exit(code);
        self
    }

    /// Ends with a hang: nothing more, ever.
    pub fn hang(mut self) -> Self {
        self.end = End::Hang;
        self
    }

    /// Sets what the instance reports as its last words outside the records.
    pub fn diagnostics(mut self, text: impl Into<String>) -> Self {
        self.diagnostics = Some(text.into());
        self
    }

    /// A well-behaved agent: `ready`, the warm-ups, the measured
    /// iterations, `summary`, one [`FakeAgent::step`] apart; exit code 0.
    pub fn well_behaved(agent: &FakeAgent) -> Self {
        agent
            .lines()
            .into_iter()
            .fold(Script::new(), |s, l| s.line(agent.step, l))
    }

    /// `ready`, the warm-ups and the first `measured` iterations, then the
    /// agent dies: end of stream, exit code [`CRASH_EXIT_CODE`], diagnostics
    /// [`CRASH_DIAGNOSTICS`].
    pub fn exits_early(agent: &FakeAgent, measured: u64) -> Self {
        agent
            .started(measured)
            .exit(CRASH_EXIT_CODE)
            .diagnostics(CRASH_DIAGNOSTICS)
    }

    /// `ready`, the warm-ups and the first `measured` iterations, then
    /// [`GARBAGE`] (a malformed record), then exit code 0.
    pub fn garbage(agent: &FakeAgent, measured: u64) -> Self {
        agent.started(measured).line(agent.step, GARBAGE)
    }

    /// A guest that never boots / an agent that hangs while loading: one
    /// line of console noise, then a hang before `ready`.
    pub fn hangs_before_ready() -> Self {
        Script::new()
            .line(
                Duration::from_millis(1),
                "[    0.000000] Linux version 6.1.0",
            )
            .hang()
    }

    /// `ready`, the warm-ups and the first `measured` iterations, then a
    /// hang between iterations.
    pub fn hangs_after(agent: &FakeAgent, measured: u64) -> Self {
        agent.started(measured).hang()
    }

    /// The agent fails at once: an `error` record of `kind` with
    /// `message`, then exit code 1.
    pub fn agent_error(kind: &str, message: &str) -> Self {
        let error = record(json!({ "type": "error", "kind": kind, "message": message }));
        Script::new().line(Duration::from_millis(1), error).exit(1)
    }
}

/// A scripted agent: the record lines a well-behaved agent writes for one
/// repetition (`knn`-like: labels digests over a `test-split` input).
///
/// The lines are written as JSON of record format v1 (the wire format the
/// runner parses), not through the record types, so a fake agent says
/// exactly what a real one would put on the wire.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeAgent {
    /// Workload name in `ready` and `summary`.
    pub workload: String,
    /// Warm-up iterations.
    pub warmup: u64,
    /// Inference time of each measured iteration, µs (one per iteration).
    pub inference_us: Vec<u64>,
    /// Output digest of every iteration.
    pub digest: Digest,
    /// Accuracy in the summary.
    pub accuracy: Option<f64>,
    /// `ready_us` in the ready record.
    pub ready_us: u64,
    /// Delay before each record.
    pub step: Duration,
}

impl FakeAgent {
    /// `warmup` warm-ups, then one measured iteration per entry of
    /// `inference_us`; records 1 ms apart.
    pub fn new(warmup: u64, inference_us: impl IntoIterator<Item = u64>) -> Self {
        FakeAgent {
            workload: "knn".into(),
            warmup,
            inference_us: inference_us.into_iter().collect(),
            digest: Digest::Labels {
                samples: 450,
                correct: 440,
                predictions_hash: "00000000cafef00d".into(),
            },
            accuracy: Some(440.0 / 450.0),
            ready_us: 1500,
            step: Duration::from_millis(1),
        }
    }

    /// `warmup` warm-ups and `iterations` measured iterations of `inference_us` each.
    pub fn steady(warmup: u64, iterations: u64, inference_us: u64) -> Self {
        Self::new(warmup, (0..iterations).map(|_| inference_us))
    }

    /// The same agent with records `step` apart.
    pub fn step(mut self, step: Duration) -> Self {
        self.step = step;
        self
    }

    /// The same agent with every iteration's output `digest`.
    pub fn digest(mut self, digest: Digest) -> Self {
        self.digest = digest;
        self
    }

    /// Measured iterations.
    pub fn iterations(&self) -> u64 {
        self.inference_us.len() as u64
    }

    /// The `ready` record's line.
    pub fn ready(&self) -> String {
        record(json!({
            "type": "ready",
            "workload": self.workload,
            "engine": "tract",
            "threads": 1,
            "ready_us": self.ready_us,
            "model_load_us": self.ready_us / 2,
            "pid1": false,
            "agent_version": "0.0.0-fake",
        }))
    }

    /// Iteration `index`'s line (a warm-up's time is the first measured
    /// one's, twice).
    pub fn iteration(&self, index: u64, warmup: bool) -> String {
        let inference_us = if warmup {
            2 * self.inference_us.first().copied().unwrap_or(1000)
        } else {
            self.inference_us[index as usize]
        };
        record(json!({
            "type": "iteration",
            "index": index,
            "warmup": warmup,
            "input": "test-split",
            "preprocess_us": 5,
            "inference_us": inference_us,
            "postprocess_us": 3,
            "threads": 1,
            "digest": serde_json::to_value(&self.digest).expect("digests serialise"),
        }))
    }

    /// The `summary` record's line.
    pub fn summary(&self) -> String {
        let total: u64 = self.inference_us.iter().sum();
        record(json!({
            "type": "summary",
            "workload": self.workload,
            "engine": "tract",
            "threads": 1,
            "iterations": self.iterations(),
            "warmup": self.warmup,
            "accuracy": self.accuracy,
            "total_inference_us": total,
            "total_wall_us": total + 8 * self.iterations(),
            "model_sha256": "0".repeat(64),
            "inputs_sha256": "1".repeat(64),
            "agent_sha256": "2".repeat(64),
            "peak_rss_bytes": 64u64 << 20,
        }))
    }

    /// Every line of a repetition, in order: `ready`, warm-ups, measured
    /// iterations, `summary`.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = self.started_lines(self.iterations());
        lines.push(self.summary());
        lines
    }

    /// `ready`, the warm-ups and the first `measured` iterations.
    fn started_lines(&self, measured: u64) -> Vec<String> {
        assert!(
            measured <= self.iterations(),
            "{measured} of {} iterations",
            self.iterations()
        );
        let mut lines = vec![self.ready()];
        lines.extend((0..self.warmup).map(|i| self.iteration(i, true)));
        lines.extend((0..measured).map(|i| self.iteration(i, false)));
        lines
    }

    /// [`FakeAgent::started_lines`] as a script, one step apart.
    fn started(&self, measured: u64) -> Script {
        self.started_lines(measured)
            .into_iter()
            .fold(Script::new(), |s, l| s.line(self.step, l))
    }
}

/// `fields` as a record line of format v1: `{"v":1,` first, as the agent
/// writes it and as the reader looks for it, then the fields.
fn record(fields: serde_json::Value) -> String {
    let object = fields.to_string();
    let rest = object
        .strip_prefix('{')
        .filter(|rest| rest.len() > 1)
        .expect("a record has fields");
    format!("{{\"v\":{RECORD_FORMAT},{rest}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use isobench_records::{parse_line, LineKind, Record, RecordError};

    fn parsed(script: &Script) -> Vec<Result<LineKind, RecordError>> {
        script.lines.iter().map(|(_, l)| parse_line(l)).collect()
    }

    #[test]
    fn a_well_behaved_agent_writes_valid_records_in_order() {
        let agent = FakeAgent::new(2, [1000, 1100, 1200]);
        let script = Script::well_behaved(&agent);
        assert_eq!(script.end, End::Exit(0));
        let records: Vec<Record> = parsed(&script)
            .into_iter()
            .map(|r| match r.unwrap() {
                LineKind::Record(r) => r,
                LineKind::Noise => panic!("noise"),
            })
            .collect();
        assert_eq!(records.len(), 1 + 2 + 3 + 1);
        assert!(matches!(records[0], Record::Ready(_)));
        assert!(matches!(&records[2], Record::Iteration(i) if i.warmup && i.index == 1));
        assert!(
            matches!(&records[5], Record::Iteration(i) if !i.warmup && i.index == 2 && i.inference_us == 1200)
        );
        assert!(
            matches!(&records[6], Record::Summary(s) if s.iterations == 3 && s.total_inference_us == 3300)
        );
    }

    #[test]
    fn broken_agents_end_the_way_they_say() {
        let agent = FakeAgent::steady(1, 5, 1000);
        let early = Script::exits_early(&agent, 2);
        assert_eq!(early.lines.len(), 1 + 1 + 2);
        assert_eq!(early.end, End::Exit(CRASH_EXIT_CODE));
        assert_eq!(early.diagnostics.as_deref(), Some(CRASH_DIAGNOSTICS));

        let garbage = Script::garbage(&agent, 0);
        assert!(matches!(
            parsed(&garbage).last().unwrap(),
            Err(RecordError::Malformed { .. })
        ));

        assert_eq!(Script::hangs_before_ready().end, End::Hang);
        assert!(matches!(
            parsed(&Script::hangs_before_ready())[..],
            [Ok(LineKind::Noise)]
        ));
        assert_eq!(Script::hangs_after(&agent, 3).lines.len(), 5);

        let error = Script::agent_error("model", "not a valid ONNX file");
        assert_eq!(error.end, End::Exit(1));
        assert!(matches!(
            &parsed(&error)[..],
            [Ok(LineKind::Record(Record::Error(e)))] if e.kind == "model"
        ));
    }
}
