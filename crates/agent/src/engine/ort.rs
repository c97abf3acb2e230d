//! The `ort` engine: ONNX Runtime, loaded at run time from
//! `libonnxruntime.so` (the onnxruntime PyPI wheel's library). Only in the
//! dynamic agent build: a static binary cannot `dlopen` it.

use std::path::Path;
use std::sync::OnceLock;

use ort::environment::Environment;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::{TensorElementType, TensorRef, ValueType};

use super::{Engine, TensorF32};
use crate::error::AgentError;

/// The process-wide ONNX Runtime environment (the library is loaded once).
static ENVIRONMENT: OnceLock<Environment> = OnceLock::new();

/// An ONNX Runtime session for one model.
pub struct OrtEngine {
    session: Session,
    input_shape: Vec<usize>,
    threads: u32,
}

impl std::fmt::Debug for OrtEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrtEngine")
            .field("input_shape", &self.input_shape)
            .field("threads", &self.threads)
            .finish_non_exhaustive()
    }
}

fn environment(lib: &Path) -> Result<&'static Environment, AgentError> {
    if let Some(env) = ENVIRONMENT.get() {
        return Ok(env);
    }
    let engine_err = |message: String| AgentError::Engine {
        engine: "ort".into(),
        message,
    };
    if !lib.is_file() {
        return Err(engine_err(format!(
            "ONNX Runtime library {} not found; run `isobench setup`, or pass --ort-lib / set ORT_DYLIB_PATH to libonnxruntime.so",
            lib.display()
        )));
    }
    let env = ort::init_from(lib)
        .map_err(|e| {
            engine_err(format!(
                "cannot load ONNX Runtime from {}: {e}; pass a libonnxruntime.so of version 1.2x+ with --ort-lib",
                lib.display()
            ))
        })?
        .with_name("isobench")
        .build()
        .map_err(|e| engine_err(format!("cannot create the ONNX Runtime environment: {e}")))?;
    Ok(ENVIRONMENT.get_or_init(|| env))
}

impl OrtEngine {
    /// Creates a session for the model at `path` with `threads` intra-op
    /// threads, one inter-op thread and all graph optimisations, loading
    /// ONNX Runtime from `lib` on first use.
    pub fn load(
        path: &Path,
        input_shape: &[usize],
        threads: u32,
        lib: &Path,
    ) -> Result<Self, AgentError> {
        let env = environment(lib)?;
        let threads = threads.max(1);
        let model_err = |e: String| AgentError::model(path, e.replace('\n', " "));
        let mut builder = Session::builder(env)
            .and_then(|b| Ok(b.with_intra_threads(threads as usize)?))
            .and_then(|b| Ok(b.with_inter_threads(1)?))
            .and_then(|b| Ok(b.with_optimization_level(GraphOptimizationLevel::All)?))
            .map_err(|e| AgentError::Engine {
                engine: "ort".into(),
                message: format!("cannot configure the session: {e}"),
            })?;
        let session = builder.commit_from_file(path).map_err(|e| {
            model_err(format!(
                "ONNX Runtime cannot load this model ({e}); pass a real .onnx export with --model (`isobench setup` restores the default models)"
            ))
        })?;
        if session.inputs().len() != 1 {
            return Err(model_err(format!(
                "model has {} inputs; isobench runs single-input image models",
                session.inputs().len()
            )));
        }
        match session.inputs()[0].dtype() {
            ValueType::Tensor {
                ty: TensorElementType::Float32,
                ..
            } => {}
            other => {
                return Err(model_err(format!(
                    "model input is {other}, the ort engine feeds float32; export the model with float32 inputs (Ultralytics: half=False) or use --engine tract"
                )))
            }
        }
        Ok(OrtEngine {
            session,
            input_shape: input_shape.to_vec(),
            threads,
        })
    }
}

fn engine_error(e: impl std::fmt::Display) -> AgentError {
    AgentError::Engine {
        engine: "ort".into(),
        message: e.to_string().replace('\n', " "),
    }
}

impl Engine for OrtEngine {
    fn kind(&self) -> isobench_records::Engine {
        isobench_records::Engine::Ort
    }

    fn threads(&self) -> u32 {
        self.threads
    }

    fn input_shape(&self) -> &[usize] {
        &self.input_shape
    }

    fn metadata(&self, key: &str) -> Option<String> {
        self.session.metadata().ok()?.custom(key)
    }

    fn run(&mut self, input: &TensorF32) -> Result<Vec<TensorF32>, AgentError> {
        if input.shape != self.input_shape {
            return Err(engine_error(format!(
                "input shape {:?} differs from the loaded shape {:?}",
                input.shape, self.input_shape
            )));
        }
        let tensor = TensorRef::from_array_view((input.shape.clone(), input.data.as_slice()))
            .map_err(engine_error)?;
        let outputs = self
            .session
            .run(ort::inputs![tensor])
            .map_err(engine_error)?;
        outputs
            .values()
            .map(|value| {
                let (shape, data) = value
                    .try_extract_tensor::<f32>()
                    .map_err(|e| engine_error(format!("output is not a float32 tensor: {e}")))?;
                Ok(TensorF32 {
                    shape: shape.iter().map(|&d| d.max(0) as usize).collect(),
                    data: data.to_vec(),
                })
            })
            .collect()
    }
}
