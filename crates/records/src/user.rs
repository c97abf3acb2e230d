//! The record format of a user's own program (`--workload command
//! --measure records`): one JSON object per line on the program's standard
//! output, the same fields the agent's own iteration records carry.
//!
//! # Format, version 1
//!
//! ```text
//! {"isobench": 1, "ready": true}                                          optional: model loaded
//! {"isobench": 1, "index": 0, "warmup": true, "inference_us": 1834}       one per iteration
//! {"isobench": 1, "index": 0, "warmup": false, "inference_us": 1790,
//!  "preprocess_us": 120, "postprocess_us": 15, "output": "7f3a9c01"}
//! ```
//!
//! - `isobench` (required, first key by convention): the format version, 1.
//! - `ready`: the program has loaded its model; without it the first
//!   iteration line marks the end of start-up.
//! - `index` (required on iterations): 0-based, warm-ups and measured
//!   iterations numbered separately, in order.
//! - `warmup`: `true` for warm-up iterations (default `false`).
//! - `inference_us` (required on iterations): the model's execution time,
//!   whole microseconds, measured by the program with a monotonic clock.
//! - `preprocess_us`, `postprocess_us`: the other stages (default 0).
//! - `output`: a short digest of what the iteration computed (predictions,
//!   detections); compared exactly across environments.
//! - `input`: the input's name (default `iteration`).
//!
//! The program learns how many iterations to run from the environment
//! variables `ISOBENCH_WARMUP` and `ISOBENCH_ITERATIONS`. Lines that are not
//! JSON objects with an `isobench` key are the program's own output and are
//! ignored; unknown keys are ignored too. A line with the key that does not
//! follow the format is an error naming the line.

use serde::Deserialize;

/// The version of the format this build reads.
pub const USER_FORMAT_VERSION: u32 = 1;

/// One iteration reported by a user's program.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct UserIteration {
    /// 0-based index (warm-ups and measured iterations numbered separately).
    pub index: u64,
    /// True for a warm-up iteration.
    #[serde(default)]
    pub warmup: bool,
    /// Input name.
    #[serde(default = "default_input")]
    pub input: String,
    /// Preprocessing time, µs.
    #[serde(default)]
    pub preprocess_us: u64,
    /// Model execution time, µs.
    pub inference_us: u64,
    /// Postprocessing time, µs.
    #[serde(default)]
    pub postprocess_us: u64,
    /// Digest of what the iteration computed.
    #[serde(default)]
    pub output: Option<String>,
}

fn default_input() -> String {
    "iteration".into()
}

/// What one line of a user's program turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub enum UserLine {
    /// `{"isobench": 1, "ready": true}`.
    Ready,
    /// An iteration record.
    Iteration(UserIteration),
    /// The program's own output.
    Other,
}

/// A line with the `isobench` key that does not follow the format.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid isobench record from the program ({reason}): {line}; see the format in crates/records/src/user.rs or helpers/python/isobench_records.py")]
pub struct UserRecordError {
    /// What is wrong.
    pub reason: String,
    /// The line, cut to 200 characters.
    pub line: String,
}

#[derive(Deserialize)]
struct Header {
    isobench: serde_json::Value,
    #[serde(default)]
    ready: bool,
}

/// Reads one line of a user program's output.
pub fn parse_user_line(line: &str) -> Result<UserLine, UserRecordError> {
    let text = line.trim();
    if !text.starts_with('{') || !text.contains("\"isobench\"") {
        return Ok(UserLine::Other);
    }
    let Ok(value) = serde_json::from_str::<serde_json::Value>(text) else {
        return Ok(UserLine::Other);
    };
    if value.get("isobench").is_none() {
        return Ok(UserLine::Other);
    }
    let bad = |reason: String| UserRecordError {
        reason,
        line: text.chars().take(200).collect(),
    };
    let header: Header = serde_json::from_value(value.clone()).map_err(|e| bad(e.to_string()))?;
    match header.isobench.as_u64() {
        Some(v) if v == u64::from(USER_FORMAT_VERSION) => {}
        _ => {
            return Err(bad(format!(
                "`isobench` is {}, this isobench reads version {USER_FORMAT_VERSION}",
                header.isobench
            )))
        }
    }
    if header.ready {
        return Ok(UserLine::Ready);
    }
    serde_json::from_value::<UserIteration>(value)
        .map(UserLine::Iteration)
        .map_err(|e| bad(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_iterations_ready_and_ignores_chatter() {
        assert_eq!(
            parse_user_line(r#"{"isobench": 1, "ready": true}"#),
            Ok(UserLine::Ready)
        );
        let line = r#"{"isobench": 1, "index": 2, "warmup": false, "inference_us": 1790, "output": "ab", "extra": 5}"#;
        let UserLine::Iteration(it) = parse_user_line(line).unwrap() else {
            panic!("an iteration")
        };
        assert_eq!(
            (it.index, it.warmup, it.inference_us, it.preprocess_us),
            (2, false, 1790, 0)
        );
        assert_eq!(it.output.as_deref(), Some("ab"));
        assert_eq!(it.input, "iteration");
        for chatter in [
            "loading model...",
            "{}",
            r#"{"loss": 0.1}"#,
            "",
            "{not json",
        ] {
            assert_eq!(parse_user_line(chatter), Ok(UserLine::Other), "{chatter}");
        }
    }

    #[test]
    fn a_record_that_does_not_follow_the_format_is_an_error() {
        let err = parse_user_line(r#"{"isobench": 1, "index": 0}"#).unwrap_err();
        assert!(err.reason.contains("inference_us"), "{err}");
        let err = parse_user_line(r#"{"isobench": 2, "index": 0, "inference_us": 1}"#).unwrap_err();
        assert!(err.to_string().contains("version 1"), "{err}");
        let err =
            parse_user_line(r#"{"isobench": 1, "index": -1, "inference_us": 1}"#).unwrap_err();
        assert!(err.to_string().contains("invalid isobench record"), "{err}");
    }
}

/// How a user's program is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Measure {
    /// The program prints one [`UserIteration`] line per iteration and runs
    /// all of them in one process.
    Records,
    /// Each iteration is one fresh invocation of the program, timed from
    /// start to exit (start-up plus work, for programs that print nothing).
    Process,
}

impl Measure {
    /// `records` or `process`.
    pub fn name(self) -> &'static str {
        match self {
            Measure::Records => "records",
            Measure::Process => "process",
        }
    }
}

/// Everything the agent's `exec` command needs to run a user's program,
/// handed over as one hex-encoded JSON argument ([`ExecSpec::encode`]) so
/// that it crosses a VM's kernel command line intact.
#[derive(Debug, Clone, PartialEq, serde::Serialize, Deserialize)]
pub struct ExecSpec {
    /// The program and its arguments (no shell unless argv names one).
    pub argv: Vec<String>,
    /// Environment variables, on top of a fixed minimal environment.
    pub env: Vec<(String, String)>,
    /// Working directory inside the root filesystem (default `/`).
    pub workdir: Option<String>,
    /// How the program is measured.
    pub measure: Measure,
    /// Measured iterations.
    pub iterations: u64,
    /// Warm-up iterations.
    pub warmup: u64,
}

/// An `--spec` argument that does not decode.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "--spec does not decode ({0}); the host and the agent must come from the same isobench build"
)]
pub struct BadSpec(pub String);

impl ExecSpec {
    /// `argv` measured as `measure`, `warmup` then `iterations` times, in
    /// the default environment and working directory.
    pub fn new(argv: Vec<String>, measure: Measure, iterations: u64, warmup: u64) -> Self {
        ExecSpec {
            argv,
            env: vec![],
            workdir: None,
            measure,
            iterations,
            warmup,
        }
    }

    /// Hex of the JSON text.
    pub fn encode(&self) -> String {
        hex_encode(
            serde_json::to_string(self)
                .expect("an exec spec serialises")
                .as_bytes(),
        )
    }

    /// Reads [`ExecSpec::encode`]'s output.
    pub fn decode(text: &str) -> Result<Self, BadSpec> {
        let bytes = hex_decode(text).ok_or_else(|| BadSpec("not hex".into()))?;
        serde_json::from_slice(&bytes).map_err(|e| BadSpec(e.to_string()))
    }
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hex_decode(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod spec_tests {
    use super::*;

    #[test]
    fn a_spec_survives_the_round_trip_and_has_no_spaces() {
        let spec = ExecSpec {
            argv: vec!["python3".into(), "/app/infer.py".into(), "--n 1".into()],
            env: vec![("A".into(), "b c".into())],
            workdir: Some("/app".into()),
            measure: Measure::Records,
            iterations: 30,
            warmup: 3,
        };
        let text = spec.encode();
        assert!(text.chars().all(|c| c.is_ascii_hexdigit()), "{text}");
        assert_eq!(ExecSpec::decode(&text).unwrap(), spec);
        assert!(ExecSpec::decode("zz").is_err());
        assert!(ExecSpec::decode("abc").is_err());
    }
}
