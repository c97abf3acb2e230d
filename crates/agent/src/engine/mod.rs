//! ONNX inference engines behind one small trait.
//!
//! Two engines, chosen per run by name:
//! - `tract` (feature `tract`, pure Rust, part of the static build),
//! - `ort` (feature `ort`, ONNX Runtime loaded at run time from
//!   `libonnxruntime.so`; only in the dynamic build).
//!
//! A model is loaded once with a fixed input shape; [`Engine::run`] takes a
//! dense f32 tensor in that shape and returns every output as f32.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::AgentError;

#[cfg(feature = "ort")]
pub mod ort;
#[cfg(feature = "tract")]
pub mod tract;

/// Names of the engines this agent knows (compiled in or not).
pub const ENGINE_NAMES: [&str; 2] = ["tract", "ort"];

/// A dense f32 tensor in row-major order.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorF32 {
    /// Dimensions, outermost first (NCHW for images).
    pub shape: Vec<usize>,
    /// `shape.iter().product()` values.
    pub data: Vec<f32>,
}

impl TensorF32 {
    /// A tensor of `shape` filled with zeros.
    pub fn zeros(shape: &[usize]) -> Self {
        TensorF32 {
            shape: shape.to_vec(),
            data: vec![0.0; shape.iter().product()],
        }
    }
}

/// A loaded ONNX model ready to run.
pub trait Engine {
    /// Engine name (`tract` or `ort`).
    fn kind(&self) -> isobench_records::Engine;
    /// Intra-op thread count the engine actually uses.
    fn threads(&self) -> u32;
    /// The fixed input shape the model was loaded with.
    fn input_shape(&self) -> &[usize];
    /// A value from the ONNX model's `metadata_props`, by key.
    fn metadata(&self, key: &str) -> Option<String>;
    /// Runs the model on `input` (which must have [`Engine::input_shape`]);
    /// returns all outputs, converted to f32, in graph order.
    fn run(&mut self, input: &TensorF32) -> Result<Vec<TensorF32>, AgentError>;
}

/// Where the ONNX Runtime shared library is: the `--ort-lib` option, else
/// `$ORT_DYLIB_PATH` (which isobench sets in every environment, each with
/// the path the library has there); `None` when neither is given.
pub fn ort_library_path(explicit: Option<&Path>) -> Option<PathBuf> {
    explicit.map(Path::to_path_buf).or_else(|| {
        std::env::var_os("ORT_DYLIB_PATH")
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
    })
}

/// Loads the ONNX model at `path` into engine `name` with a fixed input
/// shape. `threads` is the intra-op thread count (tract always uses 1);
/// `ort_lib` overrides where `libonnxruntime.so` is found.
pub fn load(
    engine: isobench_records::Engine,
    path: &Path,
    input_shape: &[usize],
    threads: u32,
    ort_lib: Option<&Path>,
) -> Result<Box<dyn Engine>, AgentError> {
    if !path.is_file() {
        return Err(AgentError::model(
            path,
            "model file not found; run `isobench setup` or pass an existing file with --model",
        ));
    }
    // Silence "unused" warnings in builds where an engine is left out.
    let _ = (input_shape, threads, ort_lib);
    match engine {
        isobench_records::Engine::Tract => {
            #[cfg(feature = "tract")]
            {
                Ok(Box::new(tract::TractEngine::load(path, input_shape)?))
            }
            #[cfg(not(feature = "tract"))]
            {
                Err(not_built("tract", "build the agent with --features tract"))
            }
        }
        isobench_records::Engine::Ort => {
            #[cfg(all(feature = "ort", target_feature = "crt-static"))]
            {
                // dlopen from a statically linked binary crashes in glibc.
                Err(AgentError::Engine {
                    engine: "ort".into(),
                    message: "a static binary cannot load libonnxruntime.so; use the dynamic agent build (cargo build --release -p isobench-agent --features ort)".into(),
                })
            }
            #[cfg(all(feature = "ort", not(target_feature = "crt-static")))]
            {
                let lib = ort_library_path(ort_lib).ok_or_else(|| AgentError::Engine {
                    engine: "ort".into(),
                    message: "no ONNX Runtime library given: pass --ort-lib PATH or set ORT_DYLIB_PATH (isobench sets it; `isobench setup` fetches the pinned libonnxruntime.so)".into(),
                })?;
                Ok(Box::new(ort::OrtEngine::load(
                    path,
                    input_shape,
                    threads,
                    &lib,
                )?))
            }
            #[cfg(not(feature = "ort"))]
            {
                Err(not_built(
                    "ort",
                    "use the dynamic agent build with ONNX Runtime (`isobench setup --engine ort` builds it: scripts/build.sh --only-ort)",
                ))
            }
        }
        isobench_records::Engine::Native => Err(AgentError::Usage(
            "engine native runs hand-written models only (knn, mlp, busy); use --engine tract or --engine ort for an ONNX model".into(),
        )),
    }
}

/// Reads an ONNX file's `metadata_props` without preparing the model
/// (used to learn the input size before loading an engine). Returns an
/// empty map when the file has none or this build has no ONNX parser.
pub fn model_metadata(path: &Path) -> Result<HashMap<String, String>, AgentError> {
    if !path.is_file() {
        return Err(AgentError::model(
            path,
            "model file not found; run `isobench setup` or pass an existing file with --model",
        ));
    }
    #[cfg(feature = "tract")]
    {
        tract::metadata_props(path)
    }
    #[cfg(not(feature = "tract"))]
    {
        Ok(HashMap::new())
    }
}

/// sha256 (hex) of a file's contents, read in chunks.
pub fn sha256_file(path: &Path) -> Result<String, AgentError> {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let mut file = std::fs::File::open(path).map_err(|e| AgentError::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|e| AgentError::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

#[allow(dead_code)]
fn not_built(engine: &str, fix: &str) -> AgentError {
    AgentError::Engine {
        engine: engine.to_string(),
        message: format!("this agent was built without {engine}; {fix}"),
    }
}

/// Parses Ultralytics' `names` metadata, a Python dict literal such as
/// `{0: 'Normal', 1: 'Fall'}` (keys in any order, names quoted with `'`
/// or `"`, possibly containing commas, colons or escaped quotes) into a
/// list indexed by class id. Missing ids get `class<N>`.
pub fn parse_class_names(text: &str) -> Option<Vec<String>> {
    let body = text.trim().strip_prefix('{')?.strip_suffix('}')?;
    let mut chars = body.chars().peekable();
    let mut entries: Vec<(usize, String)> = Vec::new();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == ':' {
                break;
            }
            key.push(c);
            chars.next();
        }
        chars.next()?; // ':'
        let id: usize = key.trim().parse().ok()?;
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let quote = chars.next()?;
        if quote != '\'' && quote != '"' {
            return None;
        }
        let mut name = String::new();
        loop {
            let c = chars.next()?;
            if c == '\\' {
                name.push(chars.next()?);
            } else if c == quote {
                break;
            } else {
                name.push(c);
            }
        }
        entries.push((id, name));
    }
    if entries.is_empty() {
        return None;
    }
    let len = entries.iter().map(|(id, _)| id + 1).max()?;
    if len > 100_000 {
        return None;
    }
    let mut names: Vec<String> = (0..len).map(|i| format!("class{i}")).collect();
    for (id, name) in entries {
        names[id] = name;
    }
    Some(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ultralytics_names() {
        assert_eq!(
            parse_class_names("{0: 'Normal', 1: 'Fall'}").unwrap(),
            vec!["Normal", "Fall"]
        );
        let coco = "{0: 'person', 1: 'bicycle', 2: \"it's, odd: yes\", 3: 'a\\'b'}";
        assert_eq!(
            parse_class_names(coco).unwrap(),
            vec!["person", "bicycle", "it's, odd: yes", "a'b"]
        );
        assert_eq!(
            parse_class_names("{1: 'b', 0: 'a'}").unwrap(),
            vec!["a", "b"]
        );
        assert_eq!(
            parse_class_names("{2: 'c'}").unwrap(),
            vec!["class0", "class1", "c"]
        );
        assert!(parse_class_names("['a', 'b']").is_none());
        assert!(parse_class_names("{}").is_none());
        assert!(parse_class_names("{x: 'a'}").is_none());
        assert!(parse_class_names("{0: 'unterminated}").is_none());
    }

    #[test]
    fn unknown_engine_is_a_usage_error() {
        let model = std::env::current_exe().unwrap();
        let err = load(
            isobench_records::Engine::Native,
            &model,
            &[1, 3, 8, 8],
            1,
            None,
        )
        .err()
        .unwrap();
        assert_eq!(err.kind(), "usage");
        assert!(
            err.to_string().contains("--engine tract or --engine ort"),
            "{err}"
        );
    }

    #[test]
    fn missing_model_is_a_model_error() {
        let err = load(
            isobench_records::Engine::Tract,
            Path::new("/nonexistent/m.onnx"),
            &[1],
            1,
            None,
        )
        .err()
        .unwrap();
        assert_eq!(err.kind(), "model");
        assert!(err.to_string().contains("/nonexistent/m.onnx"), "{err}");
    }
}
