//! The record format spoken by `isobench-agent` (guest side) and read by the
//! host harness: one JSON object per line ("JSON lines"), each carrying the
//! format version `v` and a `type` tag.
//!
//! # Format, version 1
//!
//! ```text
//! {"v":1,"type":"ready", ...}        once, when the model is loaded
//! {"v":1,"type":"iteration", ...}    once per warm-up and measured iteration
//! {"v":1,"type":"summary", ...}      once, after the last iteration
//! {"v":1,"type":"error", ...}        instead of the rest, when the agent fails
//! ```
//!
//! All durations are integer microseconds measured inside the environment
//! with a monotonic clock. Readers must ignore unknown fields (forward
//! compatibility); a change of meaning bumps [`FORMAT_VERSION`].
//!
//! Over a VM serial console other text (kernel messages) may share the line
//! stream: [`parse_line`] finds a record anywhere in a line and reports
//! lines that hold none as [`LineKind::Noise`].

use serde::{Deserialize, Serialize};

pub mod invocation;
pub mod kinds;
pub mod serve;
pub mod user;

pub use invocation::{
    AgentInvocation, ExecCommand, GuestInit, Halt, Listen, ModelSpec, NoiseLoad, NoiseSpec,
    RunSpec, ServeSpec,
};
pub use kinds::{Engine, UnknownName, Workload};

/// Version of the record format; every record carries it as `v`.
pub const FORMAT_VERSION: u32 = 1;

/// Marker that starts every record line, so a reader can find records in a
/// console stream mixed with other output.
pub const RECORD_PREFIX: &str = "{\"v\":";

/// One line of agent output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    /// The model is loaded and the workload is about to start.
    Ready(Ready),
    /// One warm-up or measured iteration.
    Iteration(Iteration),
    /// Totals after the last iteration.
    Summary(Summary),
    /// The agent failed; no further records follow.
    Error(AgentError),
}

/// Emitted once the model and inputs are loaded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ready {
    /// The workload.
    pub workload: Workload,
    /// The inference engine (`native` for hand-written models).
    pub engine: Engine,
    /// Intra-op thread count used by the engine.
    pub threads: u32,
    /// Microseconds from agent process start (first instruction of `main`) to model loaded.
    pub ready_us: u64,
    /// Microseconds spent loading (and optimising) the model alone.
    pub model_load_us: u64,
    /// Whether the agent runs as PID 1 (VM init).
    pub pid1: bool,
    /// Agent version (crate version).
    pub agent_version: String,
}

/// Timings and result digest of one iteration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Iteration {
    /// 0-based index; warm-ups and measured iterations are numbered separately.
    pub index: u64,
    /// True for a warm-up iteration (not used in statistics).
    pub warmup: bool,
    /// Name of the input processed (image file name, or `test-split`).
    pub input: String,
    /// Preprocessing time (decode, letterbox, normalisation), µs.
    pub preprocess_us: u64,
    /// Model execution time, µs.
    pub inference_us: u64,
    /// Postprocessing time (decode, NMS, scoring), µs.
    pub postprocess_us: u64,
    /// Thread count, repeated in every record.
    pub threads: u32,
    /// Small digest of the result.
    pub digest: Digest,
}

/// A compact description of what an iteration computed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Digest {
    /// Classification of a labelled set.
    Labels {
        /// Number of samples classified.
        samples: u32,
        /// Number classified correctly.
        correct: u32,
        /// FNV-1a hash of the predicted label sequence (same predictions, same hash).
        predictions_hash: String,
    },
    /// Object detections on one image.
    Detections {
        /// Detections after NMS, highest score first (at most 20 kept).
        detections: Vec<Detection>,
        /// Total number of detections after NMS.
        count: u32,
    },
    /// Text regions found by a text detector.
    TextBoxes {
        /// Number of text boxes.
        count: u32,
        /// Boxes (x1, y1, x2, y2) in original image pixels, at most 20 kept.
        boxes: Vec<[f32; 4]>,
    },
    /// An opaque checksum of the output (compared exactly between environments).
    Checksum {
        /// The checksum, as text.
        checksum: String,
    },
    /// The iteration reported no output (a user's program that prints none).
    Nothing,
}

impl Digest {
    /// Names the first number that is not finite, if any. JSON has no
    /// infinity, but a number beyond `f32`'s range reads as one, and would
    /// not serialise back (serde_json writes it as `null`).
    pub fn non_finite_field(&self) -> Option<&'static str> {
        match self {
            Digest::Detections { detections, .. } => detections.iter().find_map(|d| {
                if !d.score.is_finite() {
                    Some("detections[].score")
                } else if !d.bbox.iter().all(|v| v.is_finite()) {
                    Some("detections[].bbox")
                } else {
                    None
                }
            }),
            Digest::TextBoxes { boxes, .. } => {
                (!boxes.iter().flatten().all(|v| v.is_finite())).then_some("boxes")
            }
            Digest::Labels { .. } | Digest::Checksum { .. } | Digest::Nothing => None,
        }
    }
}

/// Largest difference in a detection's score still counted as the same output.
pub const DETECTION_SCORE_TOLERANCE: f32 = 1e-3;
/// Largest difference in a box coordinate (pixels) still counted as the same output.
pub const BOX_TOLERANCE_PX: f32 = 1.0;

impl Digest {
    /// How two outputs of the same input are compared, in words.
    pub const TOLERANCE: &'static str = "labels and checksums exactly; detections: same count and classes in the same order, scores within 0.001, box corners within 1 px; text boxes: same count, corners within 1 px";

    /// `None` when `other` is the same output as `self` (within the
    /// tolerances above), else what differs.
    pub fn differs_from(&self, other: &Digest) -> Option<String> {
        match (self, other) {
            (
                Digest::Labels {
                    samples: sa,
                    correct: ca,
                    predictions_hash: ha,
                },
                Digest::Labels {
                    samples: sb,
                    correct: cb,
                    predictions_hash: hb,
                },
            ) => (sa != sb || ca != cb || ha != hb).then(|| {
                format!(
                    "predictions differ: {ca}/{sa} correct (hash {ha}) vs {cb}/{sb} (hash {hb})"
                )
            }),
            (Digest::Checksum { checksum: a }, Digest::Checksum { checksum: b }) => {
                (a != b).then(|| format!("checksum {a} vs {b}"))
            }
            (Digest::Nothing, Digest::Nothing) => None,
            (
                Digest::Detections {
                    detections: da,
                    count: na,
                },
                Digest::Detections {
                    detections: db,
                    count: nb,
                },
            ) => {
                if na != nb || da.len() != db.len() {
                    return Some(format!("{na} detections vs {nb}"));
                }
                da.iter().zip(db).enumerate().find_map(|(i, (a, b))| {
                    if a.class_id != b.class_id {
                        Some(format!("detection {i}: class {} vs {}", a.class, b.class))
                    } else if (a.score - b.score).abs() > DETECTION_SCORE_TOLERANCE {
                        Some(format!(
                            "detection {i} ({}): score {:.4} vs {:.4}",
                            a.class, a.score, b.score
                        ))
                    } else if !boxes_close(&a.bbox, &b.bbox) {
                        Some(format!(
                            "detection {i} ({}): box {:?} vs {:?}",
                            a.class, a.bbox, b.bbox
                        ))
                    } else {
                        None
                    }
                })
            }
            (
                Digest::TextBoxes {
                    count: na,
                    boxes: ba,
                },
                Digest::TextBoxes {
                    count: nb,
                    boxes: bb,
                },
            ) => {
                if na != nb || ba.len() != bb.len() {
                    return Some(format!("{na} text boxes vs {nb}"));
                }
                ba.iter()
                    .zip(bb)
                    .position(|(a, b)| !boxes_close(a, b))
                    .map(|i| format!("text box {i}: {:?} vs {:?}", ba[i], bb[i]))
            }
            (a, b) => Some(format!("{} output vs {} output", a.kind(), b.kind())),
        }
    }

    /// The digest's kind (`labels`, `detections`, `text_boxes`, `checksum`).
    pub fn kind(&self) -> &'static str {
        match self {
            Digest::Labels { .. } => "labels",
            Digest::Detections { .. } => "detections",
            Digest::TextBoxes { .. } => "text_boxes",
            Digest::Checksum { .. } => "checksum",
            Digest::Nothing => "no",
        }
    }

    /// The output described for a reader, on one line: what was detected
    /// (class, score, box), classified or computed.
    pub fn describe(&self) -> String {
        match self {
            Digest::Labels {
                samples,
                correct,
                predictions_hash,
            } => format!("{correct}/{samples} correct (predictions {predictions_hash})"),
            Digest::Detections { detections, count } => {
                if detections.is_empty() {
                    return "no detections".into();
                }
                let shown: Vec<String> = detections
                    .iter()
                    .take(5)
                    .map(|d| {
                        format!(
                            "{} {:.2} [{:.0}, {:.0}, {:.0}, {:.0}]",
                            d.class, d.score, d.bbox[0], d.bbox[1], d.bbox[2], d.bbox[3]
                        )
                    })
                    .collect();
                let more = if *count as usize > shown.len() {
                    format!(" (+{} more)", *count as usize - shown.len())
                } else {
                    String::new()
                };
                format!("{count} detections: {}{more}", shown.join("; "))
            }
            Digest::TextBoxes { count, .. } => format!("{count} text boxes"),
            Digest::Checksum { checksum } => format!("checksum {checksum}"),
            Digest::Nothing => "no output reported".into(),
        }
    }
}

fn boxes_close(a: &[f32; 4], b: &[f32; 4]) -> bool {
    a.iter()
        .zip(b)
        .all(|(x, y)| (x - y).abs() <= BOX_TOLERANCE_PX)
}

/// One detected object, in original image pixel coordinates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    /// Class name from the model's metadata.
    pub class: String,
    /// Class index.
    pub class_id: u32,
    /// Confidence score.
    pub score: f32,
    /// Box as (x1, y1, x2, y2).
    pub bbox: [f32; 4],
}

/// Emitted after the last iteration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// The workload.
    pub workload: Workload,
    /// The engine.
    pub engine: Engine,
    /// Thread count.
    pub threads: u32,
    /// Measured iterations.
    pub iterations: u64,
    /// Warm-up iterations.
    pub warmup: u64,
    /// Accuracy over measured iterations, where the inputs are labelled.
    pub accuracy: Option<f64>,
    /// Sum of inference time over measured iterations, µs.
    pub total_inference_us: u64,
    /// Wall time of all measured iterations (pre + inference + post), µs.
    pub total_wall_us: u64,
    /// sha256 of the model file (or of the serialized weights for built-in models).
    pub model_sha256: String,
    /// sha256 over the input files in the order processed.
    pub inputs_sha256: String,
    /// sha256 of the agent executable itself (`/proc/self/exe`).
    pub agent_sha256: String,
    /// Peak resident memory of the agent process (`VmHWM` of
    /// `/proc/self/status`, as the kernel it runs on counts it), bytes;
    /// absent where that file is not readable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_rss_bytes: Option<u64>,
}

/// Failure report: the last record of a failed agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentError {
    /// Short machine-readable category (`model`, `input`, `usage`, `engine`, `io`, `init`).
    pub kind: String,
    /// One-line human-readable message naming the thing and the fix.
    pub message: String,
}

/// Errors reading records.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The line holds a record marker but not valid JSON of a known record.
    #[error("malformed agent record: {reason}: {line}")]
    Malformed {
        /// Parser message.
        reason: String,
        /// The offending line (truncated to 200 characters).
        line: String,
    },
    /// The record has a format version this build does not understand.
    #[error("agent record format v{found} is not supported (this build reads v{FORMAT_VERSION}); rebuild the agent and host from the same revision")]
    Version {
        /// Version found in the record.
        found: u64,
    },
}

/// What a line of agent output turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub enum LineKind {
    /// A valid record.
    Record(Record),
    /// Text that carries no record (console noise, kernel log).
    Noise,
}

#[derive(Serialize)]
struct Versioned<'a> {
    v: u32,
    #[serde(flatten)]
    record: &'a Record,
}

impl Record {
    /// Serialises the record as one JSON line (without the trailing newline).
    pub fn to_line(&self) -> String {
        serde_json::to_string(&Versioned {
            v: FORMAT_VERSION,
            record: self,
        })
        .expect("records always serialise")
    }
}

/// Parses one line of agent output. A line without the record marker is
/// [`LineKind::Noise`]; a line with the marker must parse or it is an error.
pub fn parse_line(line: &str) -> Result<LineKind, RecordError> {
    let Some(start) = line.find(RECORD_PREFIX) else {
        return Ok(LineKind::Noise);
    };
    let text = line[start..].trim_end_matches(['\r', '\n', ' ']);
    let malformed = |reason: String| RecordError::Malformed {
        reason,
        line: text.chars().take(200).collect(),
    };
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| malformed(e.to_string()))?;
    let version = value
        .get("v")
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| malformed("missing version field `v`".into()))?;
    if version != u64::from(FORMAT_VERSION) {
        return Err(RecordError::Version { found: version });
    }
    let record: Record = serde_json::from_value(value).map_err(|e| malformed(e.to_string()))?;
    if let Record::Iteration(Iteration { digest, .. }) = &record {
        if let Some(field) = digest.non_finite_field() {
            return Err(malformed(format!("`{field}` is out of range")));
        }
    }
    Ok(LineKind::Record(record))
}

/// FNV-1a 64-bit hash, used for compact prediction digests.
pub fn fnv1a64(bytes: &[u8]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready() -> Record {
        Record::Ready(Ready {
            workload: Workload::Knn,
            engine: Engine::Native,
            threads: 1,
            ready_us: 1234,
            model_load_us: 1000,
            pid1: false,
            agent_version: "0.1.0".into(),
        })
    }

    #[test]
    fn round_trips_with_version_first() {
        let line = ready().to_line();
        assert!(line.starts_with("{\"v\":1,\"type\":\"ready\""), "{line}");
        assert_eq!(parse_line(&line).unwrap(), LineKind::Record(ready()));
    }

    #[test]
    fn finds_record_after_console_noise() {
        let line = format!("[    1.234] random kernel text {}\r", ready().to_line());
        assert_eq!(parse_line(&line).unwrap(), LineKind::Record(ready()));
        assert_eq!(
            parse_line("[    0.000] Linux version 6.1").unwrap(),
            LineKind::Noise
        );
    }

    #[test]
    fn rejects_truncated_and_foreign_versions() {
        let line = ready().to_line();
        let cut = &line[..line.len() - 5];
        assert!(matches!(
            parse_line(cut),
            Err(RecordError::Malformed { .. })
        ));
        let v2 = line.replacen("{\"v\":1", "{\"v\":2", 1);
        assert!(matches!(
            parse_line(&v2),
            Err(RecordError::Version { found: 2 })
        ));
        let unknown = "{\"v\":1,\"type\":\"bogus\"}";
        assert!(matches!(
            parse_line(unknown),
            Err(RecordError::Malformed { .. })
        ));
    }

    #[test]
    fn ignores_unknown_fields() {
        let line = ready()
            .to_line()
            .replacen("\"pid1\"", "\"extra\":5,\"pid1\"", 1);
        assert_eq!(parse_line(&line).unwrap(), LineKind::Record(ready()));
    }

    #[test]
    fn outputs_compare_within_the_stated_tolerance() {
        let det = |score: f32, x: f32| Digest::Detections {
            count: 1,
            detections: vec![Detection {
                class: "Normal".into(),
                class_id: 0,
                score,
                bbox: [x, 2.0, 30.0, 40.0],
            }],
        };
        assert_eq!(det(0.5, 1.0).differs_from(&det(0.5005, 1.9)), None);
        assert!(det(0.5, 1.0)
            .differs_from(&det(0.51, 1.0))
            .unwrap()
            .contains("score"));
        assert!(det(0.5, 1.0)
            .differs_from(&det(0.5, 3.0))
            .unwrap()
            .contains("box"));
        let labels = |h: &str| Digest::Labels {
            samples: 450,
            correct: 440,
            predictions_hash: h.into(),
        };
        assert_eq!(labels("ab").differs_from(&labels("ab")), None);
        assert!(labels("ab").differs_from(&labels("ac")).is_some());
        assert!(labels("ab").differs_from(&det(0.5, 1.0)).is_some());
        assert!(det(0.66, 1.0).describe().contains("Normal 0.66"));
    }

    #[test]
    fn fnv_is_stable() {
        assert_eq!(fnv1a64(b""), "cbf29ce484222325");
        assert_ne!(fnv1a64(&[1, 2, 3]), fnv1a64(&[3, 2, 1]));
    }

    #[test]
    fn a_number_beyond_f32_range_is_malformed_not_infinity() {
        // Found by the record_line fuzz target: the bbox read as infinity,
        // which serialises as `null` and could not be read back.
        let line = format!(
            r#"{{"v":1,"type":"iteration","index":0,"warmup":false,"input":"bus.jpg","preprocess_us":5,"inference_us":100,"postprocess_us":3,"threads":1,"digest":{{"kind":"detections","count":1,"detections":[{{"class":"person","class_id":0,"score":{score},"bbox":[0,2,{x2},4]}}]}}}}"#,
            score = "0.5",
            x2 = "7".repeat(60)
        );
        let err = parse_line(&line).unwrap_err();
        assert!(
            err.to_string()
                .contains("`detections[].bbox` is out of range"),
            "{err}"
        );
        let line = line.replace(&"7".repeat(60), "3").replace("0.5", "1e39");
        let err = parse_line(&line).unwrap_err();
        assert!(
            err.to_string()
                .contains("`detections[].score` is out of range"),
            "{err}"
        );
        let fine = line.replace("1e39", "0.5");
        assert!(matches!(parse_line(&fine), Ok(LineKind::Record(_))));
    }
}
