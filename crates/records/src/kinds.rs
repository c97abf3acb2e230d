//! The workloads and engines the agent knows, named the same way on both
//! sides of the isolation boundary (command line, records, results).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A workload the agent runs (default: the YOLOv8 detector, the default experiment's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Workload {
    /// k-nearest neighbours written from scratch, on the digits data set.
    Knn,
    /// A dense network trained by isobench, on the digits data set.
    Mlp,
    /// A YOLOv8 detector (any Ultralytics ONNX export) on photos.
    #[default]
    Yolov8,
    /// The PP-OCRv4 DBNet text detector on a printed page.
    OcrDet,
    /// Calibration: a known CPU time per iteration and a known amount of held memory.
    Busy,
    /// The user's own program (`--command`) in the user's root filesystem.
    Command,
}

impl Workload {
    /// Every workload, in the order help texts list them.
    pub const ALL: [Workload; 6] = [
        Workload::Knn,
        Workload::Mlp,
        Workload::Yolov8,
        Workload::OcrDet,
        Workload::Busy,
        Workload::Command,
    ];

    /// The name on the command line and in records.
    pub fn name(self) -> &'static str {
        match self {
            Workload::Knn => "knn",
            Workload::Mlp => "mlp",
            Workload::Yolov8 => "yolov8",
            Workload::OcrDet => "ocr-det",
            Workload::Busy => "busy",
            Workload::Command => "command",
        }
    }

    /// True for workloads that run an ONNX model (tract or ort); the others
    /// are hand-written and always report the `native` engine.
    pub fn runs_onnx(self) -> bool {
        matches!(self, Workload::Yolov8 | Workload::OcrDet)
    }

    /// The engine used when none is asked for.
    pub fn default_engine(self) -> Engine {
        if self.runs_onnx() {
            Engine::Tract
        } else {
            Engine::Native
        }
    }

    /// Every name, comma separated (for error messages).
    pub fn all_names() -> String {
        Self::ALL.map(Workload::name).join(", ")
    }
}

/// An inference engine (default: tract, the static agent's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Engine {
    /// tract (pure Rust; in the static agent).
    #[default]
    Tract,
    /// ONNX Runtime through the `ort` crate (the dynamic agent).
    Ort,
    /// Hand-written model code (knn, mlp, busy).
    Native,
}

impl Engine {
    /// Every engine.
    pub const ALL: [Engine; 3] = [Engine::Tract, Engine::Ort, Engine::Native];

    /// The name on the command line and in records.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Tract => "tract",
            Engine::Ort => "ort",
            Engine::Native => "native",
        }
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A workload or engine name that does not exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnknownName {
    /// Not a workload.
    #[error("unknown workload `{0}`; known workloads: {known}", known = Workload::all_names())]
    Workload(String),
    /// Not an engine.
    #[error("unknown engine `{0}`; known engines: tract, ort (and native for knn, mlp and busy)")]
    Engine(String),
}

impl FromStr for Workload {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Workload::ALL
            .into_iter()
            .find(|w| w.name() == s.trim())
            .ok_or_else(|| UnknownName::Workload(s.to_string()))
    }
}

impl FromStr for Engine {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Engine::ALL
            .into_iter()
            .find(|e| e.name() == s.trim())
            .ok_or_else(|| UnknownName::Engine(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_text_and_serde() {
        for w in Workload::ALL {
            assert_eq!(w.name().parse::<Workload>().unwrap(), w);
            assert_eq!(serde_json::to_string(&w).unwrap(), format!("\"{w}\""));
        }
        for e in Engine::ALL {
            assert_eq!(e.name().parse::<Engine>().unwrap(), e);
            assert_eq!(serde_json::to_string(&e).unwrap(), format!("\"{e}\""));
        }
        let err = "resnet".parse::<Workload>().unwrap_err().to_string();
        assert!(
            err.contains("unknown workload `resnet`") && err.contains("ocr-det"),
            "{err}"
        );
        assert_eq!(Workload::OcrDet.default_engine(), Engine::Tract);
        assert_eq!(Workload::Knn.default_engine(), Engine::Native);
    }
}
