//! `ocr-det`: the PP-OCRv4 DBNet text detector (from rapidocr-onnxruntime
//! 1.4.4, Apache-2.0) on a printed page.
//!
//! Pre- and postprocessing follow RapidOCR 1.4.4's `TextDetector` defaults
//! (its `config.yaml`): the short side is scaled to 736 (`limit_type: min`)
//! and both sides rounded to multiples of 32 (cv2 INTER_LINEAR), BGR
//! channel order, `(x / 255 - 0.5) / 0.5`; then the probability map is
//! binarised at 0.3, dilated with a 2x2 kernel, split into 8-connected
//! components, and each component is kept when its mean probability is at
//! least 0.5 and its short side at least 3 px, expanded by DBNet's unclip
//! (ratio 1.6) and scaled back to original pixels. Boxes are axis-aligned
//! and scored over the region's own pixels (RapidOCR fits rotated
//! rectangles and scores them; on a slightly tilted page both keep the same
//! lines).

use std::path::Path;
use std::time::Instant;

use isobench_records::Digest;

use super::yolov8::{inputs_sha256, read_images, ImageInput};
use super::{IterationOutcome, Workload, WorkloadOptions};
use crate::engine::{self, Engine, TensorF32};
use crate::error::AgentError;
use crate::image_ops::{self, Rgb8};

/// Default model under the assets directory.
pub const DEFAULT_MODEL: &str = "models/ppocrv4-det.onnx";
/// Default page image under the assets directory.
pub const DEFAULT_IMAGE: &str = "ocr/page.png";
/// RapidOCR `Det.limit_side_len` (with `limit_type: min`).
pub const LIMIT_SIDE: usize = 736;
/// Binarisation threshold on the probability map.
pub const THRESH: f32 = 0.3;
/// Minimum mean probability of a kept box.
pub const BOX_THRESH: f32 = 0.5;
/// Minimum short side of a box, in map pixels.
pub const MIN_SIZE: f32 = 3.0;
/// DBNet unclip ratio.
pub const UNCLIP_RATIO: f32 = 1.6;
/// At most this many components are considered.
pub const MAX_CANDIDATES: usize = 1000;
/// Boxes kept in an iteration's digest.
pub const DIGEST_BOXES: usize = 20;

/// The detector input size `(width, height)` for an image of `w` x `h`:
/// RapidOCR's `DetPreProcess.resize` with `limit_type: min`.
pub fn det_size(w: usize, h: usize) -> (usize, usize) {
    let ratio = if w.min(h) < LIMIT_SIDE {
        if h < w {
            LIMIT_SIDE as f64 / h as f64
        } else {
            LIMIT_SIDE as f64 / w as f64
        }
    } else {
        1.0
    };
    let round32 = |v: usize| (((v as f64 / 32.0).round_ties_even() as usize) * 32).max(32);
    (
        round32((w as f64 * ratio) as usize),
        round32((h as f64 * ratio) as usize),
    )
}

/// Preprocesses a decoded image into the detector's input tensor.
pub fn preprocess(img: &Rgb8) -> TensorF32 {
    let (dw, dh) = det_size(img.width, img.height);
    let mut resized = image_ops::resize_linear(&img.data, img.width, img.height, 3, dw, dh);
    // RapidOCR feeds OpenCV's BGR order.
    for px in resized.chunks_exact_mut(3) {
        px.swap(0, 2);
    }
    image_ops::normalize_chw(&resized, dw, dh, [0.5; 3], [0.5; 3])
}

/// Text boxes `(x1, y1, x2, y2)` in original pixels from the DBNet
/// probability map `1 x 1 x H x W`, sorted top to bottom, left to right.
pub fn boxes_from_map(
    map: &TensorF32,
    orig_w: usize,
    orig_h: usize,
) -> Result<Vec<[f32; 4]>, String> {
    let (h, w) = match map.shape.as_slice() {
        [1, 1, h, w] => (*h, *w),
        other => {
            return Err(format!(
                "output shape {other:?} is not a DBNet map (1 x 1 x H x W)"
            ))
        }
    };
    let pred = &map.data;
    // Binarise, then dilate with a 2x2 kernel (anchor at its centre):
    // out(x, y) = max of in over x-1..=x, y-1..=y.
    let bin: Vec<bool> = pred.iter().map(|&p| p > THRESH).collect();
    let mut mask = vec![false; w * h];
    for y in 0..h {
        for x in 0..w {
            let mut v = bin[y * w + x];
            if x > 0 {
                v |= bin[y * w + x - 1];
            }
            if y > 0 {
                v |= bin[(y - 1) * w + x] || (x > 0 && bin[(y - 1) * w + x - 1]);
            }
            mask[y * w + x] = v;
        }
    }
    // 8-connected components -> bounding boxes (flood fill with a stack).
    let mut seen = vec![false; w * h];
    let mut stack = Vec::new();
    let mut boxes = Vec::new();
    let mut components = 0usize;
    for start in 0..w * h {
        if !mask[start] || seen[start] {
            continue;
        }
        components += 1;
        if components > MAX_CANDIDATES {
            break;
        }
        seen[start] = true;
        stack.push(start);
        let (mut x0, mut y0, mut x1, mut y1) = (w, h, 0, 0);
        let (mut pixels, mut sum) = (0usize, 0.0f64);
        while let Some(i) = stack.pop() {
            let (x, y) = (i % w, i / w);
            x0 = x0.min(x);
            x1 = x1.max(x);
            y0 = y0.min(y);
            y1 = y1.max(y);
            pixels += 1;
            sum += f64::from(pred[i]);
            for ny in y.saturating_sub(1)..=(y + 1).min(h - 1) {
                for nx in x.saturating_sub(1)..=(x + 1).min(w - 1) {
                    let j = ny * w + nx;
                    if mask[j] && !seen[j] {
                        seen[j] = true;
                        stack.push(j);
                    }
                }
            }
        }
        let (bw, bh) = ((x1 - x0) as f32, (y1 - y0) as f32);
        if bw.min(bh) < MIN_SIZE {
            continue;
        }
        // Mean probability over the region itself (DBNet's "slow" score:
        // the contour's interior), robust to slightly tilted lines.
        let score = sum / pixels as f64;
        if score < f64::from(BOX_THRESH) {
            continue;
        }
        // Unclip: offset the region by area * ratio / perimeter.
        let d = pixels as f32 * UNCLIP_RATIO / (2.0 * (bw + bh));
        if (bw + 2.0 * d).min(bh + 2.0 * d) < MIN_SIZE + 2.0 {
            continue;
        }
        let sx = orig_w as f32 / w as f32;
        let sy = orig_h as f32 / h as f32;
        let fx = |v: f32| {
            (v * sx)
                .round_ties_even()
                .clamp(0.0, orig_w as f32 - 1.0)
                .trunc()
        };
        let fy = |v: f32| {
            (v * sy)
                .round_ties_even()
                .clamp(0.0, orig_h as f32 - 1.0)
                .trunc()
        };
        let b = [
            fx(x0 as f32 - d),
            fy(y0 as f32 - d),
            fx(x1 as f32 + d),
            fy(y1 as f32 + d),
        ];
        if b[2] - b[0] <= 3.0 || b[3] - b[1] <= 3.0 {
            continue;
        }
        boxes.push(b);
    }
    boxes.sort_by(|a, b| a[1].total_cmp(&b[1]).then(a[0].total_cmp(&b[0])));
    Ok(boxes)
}

/// The OCR text-detection workload with its model loaded.
pub struct OcrDet {
    engine: Box<dyn Engine>,
    inputs: Vec<ImageInput>,
    model_sha256: String,
    inputs_sha256: String,
}

impl std::fmt::Debug for OcrDet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OcrDet")
            .field("engine", &self.engine.kind())
            .field("input_shape", &self.engine.input_shape())
            .field("images", &self.inputs.len())
            .finish_non_exhaustive()
    }
}

impl OcrDet {
    /// Loads the detector (`--model`, else `assets/models/ppocrv4-det.onnx`)
    /// for the size of the page (`--images` file or folder, else
    /// `assets/ocr/page.png`). Several images must share one input size.
    pub fn load(opts: &WorkloadOptions) -> Result<Self, AgentError> {
        let model_path = opts
            .model
            .clone()
            .unwrap_or_else(|| opts.assets.join(DEFAULT_MODEL));
        let images = opts
            .images
            .clone()
            .unwrap_or_else(|| opts.assets.join(DEFAULT_IMAGE));
        if !model_path.is_file() {
            return Err(AgentError::model(
                &model_path,
                "model file not found; run `isobench setup` or pass an existing file with --model",
            ));
        }
        let inputs = read_images(&images)?;
        let mut shape: Option<(usize, usize, &Path)> = None;
        for input in &inputs {
            let img = image_ops::decode(&input.bytes, &input.path)?;
            let size = det_size(img.width, img.height);
            match shape {
                None => shape = Some((size.0, size.1, &input.path)),
                Some((w, h, first)) if (w, h) != size => {
                    return Err(AgentError::input(
                        &input.path,
                        format!(
                            "detector input {}x{} differs from {}x{} of {}; ocr-det runs images of one size, pass a folder of same-sized pages",
                            size.0,
                            size.1,
                            w,
                            h,
                            first.display()
                        ),
                    ))
                }
                Some(_) => {}
            }
        }
        let (w, h, _) = shape.expect("read_images returns at least one image");
        let engine = engine::load(
            opts.engine,
            &model_path,
            &[1, 3, h, w],
            opts.threads,
            opts.ort_lib.as_deref(),
        )?;
        Ok(OcrDet {
            engine,
            model_sha256: engine::sha256_file(&model_path)?,
            inputs_sha256: inputs_sha256(&inputs),
            inputs,
        })
    }

    /// Intra-op threads the engine really uses (tract: always 1).
    pub fn threads(&self) -> u32 {
        self.engine.threads()
    }

    /// Runs the whole pipeline on one encoded image, without timing.
    pub fn detect(&mut self, bytes: &[u8], path: &Path) -> Result<Vec<[f32; 4]>, AgentError> {
        let img = image_ops::decode(bytes, path)?;
        let tensor = preprocess(&img);
        let outputs = self.engine.run(&tensor)?;
        self.postprocess(&outputs, img.width, img.height)
    }

    fn postprocess(
        &self,
        outputs: &[TensorF32],
        w: usize,
        h: usize,
    ) -> Result<Vec<[f32; 4]>, AgentError> {
        let engine_err = |message: String| AgentError::Engine {
            engine: self.engine.kind().name().into(),
            message,
        };
        let map = outputs
            .first()
            .ok_or_else(|| engine_err("model produced no output".into()))?;
        boxes_from_map(map, w, h).map_err(engine_err)
    }
}

fn micros(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_micros()).unwrap_or(u64::MAX)
}

impl Workload for OcrDet {
    fn engine_threads(&self) -> Option<u32> {
        Some(self.threads())
    }

    fn name(&self) -> isobench_records::Workload {
        isobench_records::Workload::OcrDet
    }

    fn engine(&self) -> isobench_records::Engine {
        self.engine.kind()
    }

    fn run_once(&mut self, index: u64) -> Result<IterationOutcome, AgentError> {
        let input = &self.inputs[(index % self.inputs.len() as u64) as usize];

        let t = Instant::now();
        let img = image_ops::decode(&input.bytes, &input.path)?;
        let (w, h) = (img.width, img.height);
        let tensor = preprocess(&img);
        drop(img);
        let preprocess_us = micros(t);

        let t = Instant::now();
        let outputs = self.engine.run(&tensor)?;
        let inference_us = micros(t);

        let t = Instant::now();
        let mut boxes = self.postprocess(&outputs, w, h)?;
        let postprocess_us = micros(t);

        let count = boxes.len() as u32;
        boxes.truncate(DIGEST_BOXES);
        Ok(IterationOutcome {
            input: input.name.clone(),
            preprocess_us,
            inference_us,
            postprocess_us,
            digest: Digest::TextBoxes { count, boxes },
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

    #[test]
    fn det_size_follows_rapidocr() {
        // page.png is 384x191: ratio 736/191 -> 1479x735 -> 1472x736.
        assert_eq!(det_size(384, 191), (1472, 736));
        assert_eq!(det_size(1000, 800), (992, 800));
    }

    #[test]
    fn finds_one_box_per_blob() {
        let (w, h) = (64, 32);
        let mut data = vec![0.0f32; w * h];
        for y in 10..20 {
            for x in 5..40 {
                data[y * w + x] = 0.9;
            }
        }
        for y in 2..4 {
            data[y * w + 50] = 0.9; // too small
        }
        let map = TensorF32 {
            shape: vec![1, 1, h, w],
            data,
        };
        let boxes = boxes_from_map(&map, w * 2, h * 2).unwrap();
        assert_eq!(boxes.len(), 1, "{boxes:?}");
        let b = boxes[0];
        assert!(
            b[0] < 10.0 && b[2] > 78.0 && b[1] < 20.0 && b[3] > 38.0,
            "{b:?}"
        );
        assert!(boxes_from_map(&TensorF32::zeros(&[1, 2, 4, 4]), 4, 4).is_err());
    }
}
