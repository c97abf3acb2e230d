//! `yolov8`: an Ultralytics YOLOv8 detection export (ONNX) on photos.
//!
//! Stages, timed like Ultralytics' predict prints them:
//! - preprocess: decode the JPEG/PNG (held in memory) + letterbox to the
//!   model's input size, RGB, /255, NCHW;
//! - inference: one engine run;
//! - postprocess: decode the `1 x (4 + nc) x N` output, confidence filter
//!   (0.25), class-wise NMS (IoU 0.7, at most 300 boxes), boxes scaled back
//!   to original pixels.
//!
//! Class names come from the model's ONNX metadata (`names`), so any
//! Ultralytics export works (the default fall detector, a COCO
//! `yolov8n.onnx`, ...).

use std::path::{Path, PathBuf};
use std::time::Instant;

use isobench_records::{Detection, Digest};
use sha2::{Digest as _, Sha256};

use super::{IterationOutcome, Workload, WorkloadOptions};
use crate::engine::{self, Engine, TensorF32};
use crate::error::AgentError;
use crate::image_ops;

/// Default model under the assets directory.
pub const DEFAULT_MODEL: &str = "models/yolov8-fall.onnx";
/// Default image folder under the assets directory.
pub const DEFAULT_IMAGES: &str = "images";
/// Ultralytics predict default confidence threshold.
pub const CONF_THRESHOLD: f32 = 0.25;
/// Ultralytics predict default NMS IoU threshold.
pub const IOU_THRESHOLD: f32 = 0.7;
/// Ultralytics' `max_det`.
pub const MAX_DETECTIONS: usize = 300;
/// Detections kept in an iteration's digest.
pub const DIGEST_DETECTIONS: usize = 20;

/// One input image, held as its undecoded file bytes.
#[derive(Debug, Clone)]
pub struct ImageInput {
    /// File name (recorded as the iteration's input).
    pub name: String,
    /// Full path (for error messages).
    pub path: PathBuf,
    /// File contents.
    pub bytes: Vec<u8>,
}

/// Reads the images to process: `path` may be one file or a directory,
/// whose `.jpg`/`.jpeg`/`.png` files are taken in name order.
pub fn read_images(path: &Path) -> Result<Vec<ImageInput>, AgentError> {
    let files = if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| AgentError::io(path, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.is_file()
                    && p.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                        matches!(e.to_ascii_lowercase().as_str(), "jpg" | "jpeg" | "png")
                    })
            })
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(AgentError::input(
                path,
                "no .jpg/.jpeg/.png files in this folder; pass --images with photos (`isobench setup` restores the default images)",
            ));
        }
        files
    } else if path.is_file() {
        vec![path.to_path_buf()]
    } else {
        return Err(AgentError::input(
            path,
            "image file or folder not found; run `isobench setup` or pass an existing --images path",
        ));
    };
    files
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).map_err(|e| AgentError::io(&p, e))?;
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            Ok(ImageInput {
                name,
                path: p,
                bytes,
            })
        })
        .collect()
}

/// sha256 over the inputs' bytes, in processing order.
pub fn inputs_sha256(inputs: &[ImageInput]) -> String {
    let mut h = Sha256::new();
    for input in inputs {
        h.update(&input.bytes);
    }
    hex::encode(h.finalize())
}

/// Model input size `(width, height)` from Ultralytics' `imgsz` metadata
/// (`[640, 640]`, i.e. `[h, w]`, or a single number); 640x640 if absent.
pub fn input_size(imgsz: Option<&str>) -> (usize, usize) {
    let Some(text) = imgsz else {
        return (640, 640);
    };
    let nums: Vec<usize> = text
        .trim_matches(|c| c == '[' || c == ']' || c == '(' || c == ')')
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    match nums.as_slice() {
        [s] if *s > 0 => (*s, *s),
        [h, w] if *h > 0 && *w > 0 => (*w, *h),
        _ => (640, 640),
    }
}

/// The YOLOv8 workload with its model loaded.
pub struct Yolov8 {
    engine: Box<dyn Engine>,
    class_names: Vec<String>,
    input_w: usize,
    input_h: usize,
    inputs: Vec<ImageInput>,
    model_sha256: String,
    inputs_sha256: String,
}

impl std::fmt::Debug for Yolov8 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Yolov8")
            .field("engine", &self.engine.kind())
            .field("classes", &self.class_names.len())
            .field("input", &(self.input_w, self.input_h))
            .field("images", &self.inputs.len())
            .finish_non_exhaustive()
    }
}

impl Yolov8 {
    /// Loads the model (`--model`, else `assets/models/yolov8-fall.onnx`)
    /// into the chosen engine and reads the images (`--images`, else
    /// `assets/images/`) into memory.
    pub fn load(opts: &WorkloadOptions) -> Result<Self, AgentError> {
        let model_path = opts
            .model
            .clone()
            .unwrap_or_else(|| opts.assets.join(DEFAULT_MODEL));
        let images = opts
            .images
            .clone()
            .unwrap_or_else(|| opts.assets.join(DEFAULT_IMAGES));
        let metadata = engine::model_metadata(&model_path)?;
        let (input_w, input_h) = input_size(metadata.get("imgsz").map(String::as_str));
        let inputs = read_images(&images)?;
        let engine = engine::load(
            opts.engine,
            &model_path,
            &[1, 3, input_h, input_w],
            opts.threads,
            opts.ort_lib.as_deref(),
        )?;
        let class_names = engine
            .metadata("names")
            .or_else(|| metadata.get("names").cloned())
            .and_then(|n| engine::parse_class_names(&n))
            .unwrap_or_default();
        if let Some(task) = metadata.get("task").filter(|t| t.as_str() != "detect") {
            return Err(AgentError::model(
                &model_path,
                format!("this is a YOLO `{task}` model; the yolov8 workload needs a detection export (task=detect)"),
            ));
        }
        Ok(Yolov8 {
            engine,
            class_names,
            input_w,
            input_h,
            model_sha256: engine::sha256_file(&model_path)?,
            inputs_sha256: inputs_sha256(&inputs),
            inputs,
        })
    }

    /// Intra-op threads the engine really uses (tract: always 1).
    pub fn threads(&self) -> u32 {
        self.engine.threads()
    }

    /// Class names from the model's metadata (empty if it has none).
    pub fn class_names(&self) -> &[String] {
        &self.class_names
    }

    /// Runs the whole pipeline on one encoded image and returns all
    /// detections after NMS (highest score first), without timing.
    pub fn detect(&mut self, bytes: &[u8], path: &Path) -> Result<Vec<Detection>, AgentError> {
        let img = image_ops::decode(bytes, path)?;
        let (tensor, geometry) = image_ops::letterbox(&img, self.input_w, self.input_h);
        let outputs = self.engine.run(&tensor)?;
        self.postprocess(&outputs, &geometry)
    }

    fn postprocess(
        &self,
        outputs: &[TensorF32],
        geometry: &image_ops::LetterboxGeometry,
    ) -> Result<Vec<Detection>, AgentError> {
        let out = outputs.first().ok_or_else(|| AgentError::Engine {
            engine: self.engine.kind().name().into(),
            message: "model produced no output".into(),
        })?;
        let raw =
            decode_predictions(out, CONF_THRESHOLD).map_err(|message| AgentError::Engine {
                engine: self.engine.kind().name().into(),
                message,
            })?;
        let kept = nms(raw, IOU_THRESHOLD, MAX_DETECTIONS);
        Ok(kept
            .into_iter()
            .map(|c| Detection {
                class: self
                    .class_names
                    .get(c.class_id)
                    .cloned()
                    .unwrap_or_else(|| format!("class{}", c.class_id)),
                class_id: c.class_id as u32,
                score: c.score,
                bbox: geometry.to_original(c.bbox),
            })
            .collect())
    }
}

/// A candidate box in model-input pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    /// (x1, y1, x2, y2).
    pub bbox: [f32; 4],
    /// Best class score.
    pub score: f32,
    /// Best class index.
    pub class_id: usize,
}

/// Decodes a YOLOv8 head output `1 x (4 + nc) x N` (rows: cx, cy, w, h,
/// class scores) into candidates whose best class score exceeds `conf`.
pub fn decode_predictions(out: &TensorF32, conf: f32) -> Result<Vec<Candidate>, String> {
    let (rows, n) = match out.shape.as_slice() {
        [1, rows, n] | [rows, n] if *rows > 4 => (*rows, *n),
        other => {
            return Err(format!(
                "output shape {other:?} is not a YOLOv8 detection head (1 x (4+classes) x anchors); use an Ultralytics detect export"
            ))
        }
    };
    if out.data.len() != rows * n {
        return Err(format!(
            "output has {} values for shape {:?}",
            out.data.len(),
            out.shape
        ));
    }
    let nc = rows - 4;
    let d = &out.data;
    let mut found = Vec::new();
    for i in 0..n {
        let mut best = f32::NEG_INFINITY;
        let mut best_c = 0;
        for c in 0..nc {
            let s = d[(4 + c) * n + i];
            if s > best {
                best = s;
                best_c = c;
            }
        }
        if best > conf {
            let (cx, cy, w, h) = (d[i], d[n + i], d[2 * n + i], d[3 * n + i]);
            let (hw, hh) = (w / 2.0, h / 2.0);
            found.push(Candidate {
                bbox: [cx - hw, cy - hh, cx + hw, cy + hh],
                score: best,
                class_id: best_c,
            });
        }
    }
    Ok(found)
}

fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let area = |r: &[f32; 4]| (r[2] - r[0]).max(0.0) * (r[3] - r[1]).max(0.0);
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    let union = area(a) + area(b) - inter;
    if union <= 0.0 {
        0.0
    } else {
        inter / union
    }
}

/// Class-wise greedy NMS (as torchvision's, per class): highest score
/// first, a box is dropped when its IoU with a kept box of the same class
/// exceeds `iou_threshold`. Returns at most `max_det` boxes, best first.
pub fn nms(mut candidates: Vec<Candidate>, iou_threshold: f32, max_det: usize) -> Vec<Candidate> {
    candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<Candidate> = Vec::new();
    for c in candidates {
        if kept.len() >= max_det {
            break;
        }
        if kept
            .iter()
            .all(|k| k.class_id != c.class_id || iou(&k.bbox, &c.bbox) <= iou_threshold)
        {
            kept.push(c);
        }
    }
    kept
}

fn micros(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_micros()).unwrap_or(u64::MAX)
}

impl Workload for Yolov8 {
    fn engine_threads(&self) -> Option<u32> {
        Some(self.threads())
    }

    fn name(&self) -> isobench_records::Workload {
        isobench_records::Workload::Yolov8
    }

    fn engine(&self) -> isobench_records::Engine {
        self.engine.kind()
    }

    fn run_once(&mut self, index: u64) -> Result<IterationOutcome, AgentError> {
        let input = &self.inputs[(index % self.inputs.len() as u64) as usize];

        let t = Instant::now();
        let img = image_ops::decode(&input.bytes, &input.path)?;
        let (tensor, geometry) = image_ops::letterbox(&img, self.input_w, self.input_h);
        drop(img);
        let preprocess_us = micros(t);

        let t = Instant::now();
        let outputs = self.engine.run(&tensor)?;
        let inference_us = micros(t);

        let t = Instant::now();
        let detections = self.postprocess(&outputs, &geometry)?;
        let postprocess_us = micros(t);

        let count = detections.len() as u32;
        let mut detections = detections;
        detections.truncate(DIGEST_DETECTIONS);
        Ok(IterationOutcome {
            input: input.name.clone(),
            preprocess_us,
            inference_us,
            postprocess_us,
            digest: Digest::Detections { detections, count },
        })
    }

    fn inputs(&self) -> Vec<String> {
        self.inputs.iter().map(|i| i.name.clone()).collect()
    }

    fn run_input(&mut self, input: &str) -> Result<IterationOutcome, AgentError> {
        let index = super::image_index(input, self.inputs.iter().map(|i| i.name.as_str()))?;
        self.run_once(index as u64)
    }

    fn model_sha256(&self) -> String {
        self.model_sha256.clone()
    }

    fn inputs_sha256(&self) -> String {
        self.inputs_sha256.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(bbox: [f32; 4], score: f32, class_id: usize) -> Candidate {
        Candidate {
            bbox,
            score,
            class_id,
        }
    }

    #[test]
    fn nms_is_class_wise() {
        let boxes = vec![
            cand([0.0, 0.0, 10.0, 10.0], 0.8, 0),
            cand([0.0, 0.0, 10.0, 10.5], 0.9, 0),
            cand([0.0, 0.0, 10.0, 10.0], 0.7, 1),
            cand([20.0, 20.0, 30.0, 30.0], 0.6, 0),
        ];
        let kept = nms(boxes, 0.7, 300);
        let scores: Vec<f32> = kept.iter().map(|c| c.score).collect();
        assert_eq!(scores, vec![0.9, 0.7, 0.6]);
        assert_eq!(nms(kept, 0.7, 2).len(), 2);
    }

    #[test]
    fn decodes_any_class_count() {
        // 3 classes, 2 anchors: anchor 0 is class 2 at 0.9, anchor 1 below threshold.
        let n = 2;
        let mut data = vec![0.0; 7 * n];
        data[0] = 50.0; // cx
        data[n] = 60.0; // cy
        data[2 * n] = 20.0; // w
        data[3 * n] = 10.0; // h
        data[6 * n] = 0.9; // class 2, anchor 0
        data[4 * n + 1] = 0.2; // class 0, anchor 1
        let t = TensorF32 {
            shape: vec![1, 7, n],
            data,
        };
        let c = decode_predictions(&t, 0.25).unwrap();
        assert_eq!(c, vec![cand([40.0, 55.0, 60.0, 65.0], 0.9, 2)]);
        let bad = TensorF32::zeros(&[1, 3, 5]);
        assert!(decode_predictions(&bad, 0.25).is_err());
    }

    #[test]
    fn reads_imgsz_metadata() {
        assert_eq!(input_size(Some("[640, 640]")), (640, 640));
        assert_eq!(input_size(Some("[384, 640]")), (640, 384));
        assert_eq!(input_size(Some("320")), (320, 320));
        assert_eq!(input_size(None), (640, 640));
    }
}
