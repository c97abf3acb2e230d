//! Workloads: what the agent runs, one module each. A workload owns its
//! model and inputs, and [`Workload::run_once`] times one iteration's
//! stages separately.

use std::path::PathBuf;

use isobench_records::{Digest, Engine, Workload as WorkloadKind};

use crate::error::AgentError;

/// What every workload constructor receives: the `run` command's options.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkloadOptions {
    /// Assets directory (`--assets`, else `$ISOBENCH_ASSETS`, else `/assets`).
    pub assets: PathBuf,
    /// Model file overriding the workload's default under `assets/models/`.
    pub model: Option<PathBuf>,
    /// Image directory (or single file) overriding the workload's default inputs.
    pub images: Option<PathBuf>,
    /// Engine as given (`tract`, `ort`; hand-written workloads ignore it).
    pub engine: Engine,
    /// Intra-op thread count.
    pub threads: u32,
    /// Neighbours for `knn`.
    pub k: usize,
    /// Path of libonnxruntime.so for the `ort` engine (else env `ORT_DYLIB_PATH`).
    pub ort_lib: Option<PathBuf>,
    /// CPU milliseconds per iteration of the `busy` calibration workload.
    pub busy_ms: u64,
    /// MiB of memory the `busy` calibration workload holds.
    pub touch_mib: u64,
}

/// The outcome of one iteration: stage timings (µs) and what was computed.
#[derive(Debug, Clone)]
pub struct IterationOutcome {
    /// Name of the input processed (file name, or `test-split`).
    pub input: String,
    /// Preprocessing (decode, resize, normalise), µs.
    pub preprocess_us: u64,
    /// Model execution, µs.
    pub inference_us: u64,
    /// Postprocessing (decode, NMS, scoring), µs.
    pub postprocess_us: u64,
    /// Digest of the result.
    pub digest: Digest,
}

/// One inference workload with its model loaded.
pub trait Workload {
    /// Workload name (`knn`, `mlp`, `yolov8`, `ocr-det`).
    fn name(&self) -> WorkloadKind;
    /// Engine (`tract`, `ort`, or `native` for hand-written models).
    fn engine(&self) -> Engine;
    /// Runs iteration number `index` (inputs are cycled by index).
    fn run_once(&mut self, index: u64) -> Result<IterationOutcome, AgentError>;
    /// Names of the inputs a single request can ask for (`serve`), in the
    /// order default requests cycle through them.
    fn inputs(&self) -> Vec<String>;
    /// Runs the named input once (`serve`): an image file name for the
    /// image workloads; for knn and mlp a test sample index `N`, a range
    /// `A..B` of test samples, or `test-split`. Unknown names are
    /// [`AgentError::Usage`] errors.
    fn run_input(&mut self, input: &str) -> Result<IterationOutcome, AgentError>;
    /// sha256 of the model (file, or serialized weights).
    fn model_sha256(&self) -> String;
    /// sha256 over all inputs, in processing order.
    fn inputs_sha256(&self) -> String;
    /// Threads the engine really uses, when it differs from what was asked
    /// (tract runs on one thread whatever `--threads` says).
    fn engine_threads(&self) -> Option<u32> {
        None
    }
}

/// The test samples an input name of knn / mlp selects: `N`, `A..B`
/// (half-open) or `test-split`, out of `n` test samples.
pub(crate) fn sample_range(input: &str, n: usize) -> Result<std::ops::Range<usize>, AgentError> {
    let unknown = || {
        AgentError::Usage(format!(
            "unknown input `{input}`; this workload takes a test sample index 0..{n}, a range `A..B` or `test-split`"
        ))
    };
    let range = if input == "test-split" {
        0..n
    } else if let Some((a, b)) = input.split_once("..") {
        let a: usize = a.parse().map_err(|_| unknown())?;
        let b: usize = b.parse().map_err(|_| unknown())?;
        a..b
    } else {
        let i: usize = input.parse().map_err(|_| unknown())?;
        i..i.saturating_add(1)
    };
    if range.start >= range.end || range.end > n {
        return Err(unknown());
    }
    Ok(range)
}

/// Position of the image input named `input` among `names`.
pub(crate) fn image_index<'a>(
    input: &str,
    mut names: impl Iterator<Item = &'a str>,
) -> Result<usize, AgentError> {
    let mut known = Vec::new();
    for (i, name) in names.by_ref().enumerate() {
        if name == input {
            return Ok(i);
        }
        known.push(name);
    }
    Err(AgentError::Usage(format!(
        "unknown input `{input}`; this workload's images are: {}",
        known.join(", ")
    )))
}

pub mod busy;
pub mod knn;
pub mod mlp;
pub mod ocr_det;
pub mod yolov8;
