//! Workloads: what the agent runs, one module each. A workload owns its
//! model and inputs, and [`Workload::run_once`] times one iteration's
//! stages separately.

use std::path::PathBuf;

use isobench_records::Digest;

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
    /// Engine name as given (`tract`, `ort`; hand-written workloads ignore it).
    pub engine: String,
    /// Intra-op thread count.
    pub threads: u32,
    /// Neighbours for `knn`.
    pub k: usize,
    /// Path of libonnxruntime.so for the `ort` engine (else env `ORT_DYLIB_PATH`).
    pub ort_lib: Option<PathBuf>,
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
    fn name(&self) -> &'static str;
    /// Engine name (`tract`, `ort`, or `native` for hand-written models).
    fn engine(&self) -> &'static str;
    /// Runs iteration number `index` (inputs are cycled by index).
    fn run_once(&mut self, index: u64) -> Result<IterationOutcome, AgentError>;
    /// sha256 of the model (file, or serialized weights).
    fn model_sha256(&self) -> String;
    /// sha256 over all inputs, in processing order.
    fn inputs_sha256(&self) -> String;
}

pub mod knn;
pub mod mlp;
pub mod ocr_det;
pub mod yolov8;
