//! The `tract` engine: pure-Rust ONNX inference (static-friendly).
//!
//! The model is parsed with a concrete input fact, optimised once and kept
//! as a runnable plan. tract runs single-threaded, so the recorded thread
//! count is always 1.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::Factoid;

use super::{Engine, TensorF32};
use crate::error::AgentError;

/// A model loaded and optimised by tract.
pub struct TractEngine {
    plan: Arc<TypedRunnableModel>,
    input_shape: Vec<usize>,
    input_type: DatumType,
    metadata: HashMap<String, String>,
}

impl std::fmt::Debug for TractEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TractEngine")
            .field("input_shape", &self.input_shape)
            .field("input_type", &self.input_type)
            .finish_non_exhaustive()
    }
}

/// Decodes the ONNX protobuf at `path` and returns its `metadata_props`.
pub fn metadata_props(path: &Path) -> Result<HashMap<String, String>, AgentError> {
    let proto = read_proto(path)?;
    Ok(proto
        .metadata_props
        .iter()
        .map(|p| (p.key.clone(), p.value.clone()))
        .collect())
}

fn read_proto(path: &Path) -> Result<tract_onnx::pb::ModelProto, AgentError> {
    tract_onnx::onnx().proto_model_for_path(path).map_err(|e| {
        AgentError::model(
            path,
            format!(
                "not a valid ONNX file ({}); pass a real .onnx export with --model (`isobench setup` restores the default models)",
                one_line(&e)
            ),
        )
    })
}

impl TractEngine {
    /// Parses, types and optimises the ONNX model at `path` for a fixed
    /// `input_shape`.
    pub fn load(path: &Path, input_shape: &[usize]) -> Result<Self, AgentError> {
        let onnx = tract_onnx::onnx()
            .with_ignore_output_shapes(true)
            .with_ignore_value_info(true);
        let proto = read_proto(path)?;
        let metadata: HashMap<String, String> = proto
            .metadata_props
            .iter()
            .map(|p| (p.key.clone(), p.value.clone()))
            .collect();
        let dir = path.parent().and_then(|d| d.to_str());
        let parsed = onnx.parse(&proto, dir).map_err(|e| {
            AgentError::model(
                path,
                format!("tract cannot read this ONNX graph: {}", one_line(&e)),
            )
        })?;
        drop(proto);
        let mut model = parsed.model;
        if model.inputs.len() != 1 {
            return Err(AgentError::model(
                path,
                format!(
                    "model has {} inputs; isobench runs single-input image models",
                    model.inputs.len()
                ),
            ));
        }
        // Keep a declared half/double input type; anything else is fed as f32.
        let declared = model
            .input_fact(0)
            .ok()
            .and_then(|f| f.datum_type.concretize());
        let input_type = match declared {
            Some(t @ (DatumType::F16 | DatumType::F64)) => t,
            _ => DatumType::F32,
        };
        model
            .set_input_fact(0, InferenceFact::dt_shape(input_type, input_shape))
            .and_then(|_| model.into_optimized())
            .and_then(|m| m.into_runnable())
            .map(|plan| TractEngine {
                plan,
                input_shape: input_shape.to_vec(),
                input_type,
                metadata,
            })
            .map_err(|e| {
                AgentError::model(
                    path,
                    format!(
                        "tract cannot prepare the model for input shape {input_shape:?}: {}",
                        one_line(&e)
                    ),
                )
            })
    }
}

fn one_line(e: &anyhow::Error) -> String {
    format!("{e:#}").replace('\n', " ")
}

fn engine_error(e: impl std::fmt::Display) -> AgentError {
    AgentError::Engine {
        engine: "tract".into(),
        message: e.to_string().replace('\n', " "),
    }
}

impl Engine for TractEngine {
    fn kind(&self) -> isobench_records::Engine {
        isobench_records::Engine::Tract
    }

    fn threads(&self) -> u32 {
        1
    }

    fn input_shape(&self) -> &[usize] {
        &self.input_shape
    }

    fn metadata(&self, key: &str) -> Option<String> {
        self.metadata.get(key).cloned()
    }

    fn run(&mut self, input: &TensorF32) -> Result<Vec<TensorF32>, AgentError> {
        if input.shape != self.input_shape {
            return Err(engine_error(format!(
                "input shape {:?} differs from the loaded shape {:?}",
                input.shape, self.input_shape
            )));
        }
        let tensor = Tensor::from_shape(&input.shape, &input.data).map_err(engine_error)?;
        let tensor = if self.input_type == DatumType::F32 {
            tensor
        } else {
            tensor
                .cast_to_dt(self.input_type)
                .map_err(engine_error)?
                .into_owned()
        };
        let outputs = self.plan.run(tvec!(tensor.into())).map_err(engine_error)?;
        outputs
            .into_iter()
            .map(|value| {
                let t = value.into_tensor();
                let t = t.cast_to::<f32>().map_err(engine_error)?;
                let data = t
                    .try_as_plain_ram()
                    .and_then(|v| v.as_slice::<f32>().map(<[f32]>::to_vec))
                    .map_err(engine_error)?;
                Ok(TensorF32 {
                    shape: t.shape().to_vec(),
                    data,
                })
            })
            .collect()
    }
}
