//! The same-answer check: every environment must compute the same outputs
//! for the same inputs (exactly for labels and checksums, within
//! [`isobench_records::DETECTION_SCORE_TOLERANCE`] and
//! [`isobench_records::BOX_TOLERANCE_PX`] for detections and text boxes).

use serde::{Deserialize, Serialize};

/// Whether every environment computed the same outputs for the same inputs.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct OutputCheck {
    /// The environment whose outputs are the reference (the baseline).
    pub reference: String,
    /// How outputs are compared, in words.
    pub tolerance: String,
    /// Measured iterations compared with the reference.
    pub compared: u64,
    /// Iterations whose output differed from the reference.
    pub mismatch_count: u64,
    /// The first differences found (at most [`OutputCheck::KEPT`]).
    pub mismatches: Vec<OutputMismatch>,
    /// What each environment computed, per input.
    pub by_input: Vec<InputOutputs>,
}

impl OutputCheck {
    /// How many mismatches are kept in [`OutputCheck::mismatches`].
    pub const KEPT: usize = 20;

    /// True when no environment's output differed from the reference.
    pub fn consistent(&self) -> bool {
        self.mismatch_count == 0
    }
}

/// One iteration whose output differs from the reference's for the same input.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct OutputMismatch {
    /// Environment.
    pub env: String,
    /// The repetition's round.
    pub round: u32,
    /// Iteration index.
    pub index: u64,
    /// Input name.
    pub input: String,
    /// What differs.
    pub reason: String,
}

/// What every environment computed for one input.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct InputOutputs {
    /// Input name.
    pub input: String,
    /// One line per environment: its output for this input (from its first
    /// measured iteration on it), described for a reader.
    pub outputs: Vec<EnvOutput>,
}

/// One environment's output for one input.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct EnvOutput {
    /// Environment.
    pub env: String,
    /// The output, described (`4 × Normal 0.66 [12, 40, 120, 300] …`).
    pub output: String,
}
