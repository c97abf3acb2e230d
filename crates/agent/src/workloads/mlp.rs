//! `mlp`: a dense network 64-256-128-10 (ReLU, softmax) that isobench trains
//! itself on the digits training split with a fixed seed (hand-written Adam,
//! mini-batches, deterministic), caches as JSON at
//! `assets/models/mlp-digits.json`, and times inference on the test split.
//!
//! Inputs are the pixel values divided by 16. Every sum runs in a fixed
//! order (no reassociation, no FMA contraction), so training with the same
//! seed gives bit-identical weights run after run (static and dynamic builds
//! agree), and inference from a given weights file gives the same
//! predictions in every environment.
//!
//! # Weights file (`format: "isobench-mlp/1"`)
//!
//! `layers` lists the widths (`[64, 256, 128, 10]`); `weights[l]` is the
//! matrix of layer `l` row-major as `[inputs][outputs]`, `biases[l]` its bias
//! vector. `weights_sha256` is the sha256 of all weights then all biases as
//! little-endian f32, checked on load.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use isobench_records::{fnv1a64, Digest};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::knn::{correct, test_split_sha256};
use super::{IterationOutcome, Workload, WorkloadOptions};
use crate::data::{Digits, Samples, SplitMix64, CLASSES, FEATURES};
use crate::error::AgentError;

/// Path of the cached weights relative to the assets directory.
pub const MLP_FILE: &str = "models/mlp-digits.json";
/// Format tag of the weights file.
pub const MLP_FORMAT: &str = "isobench-mlp/1";
/// Layer widths.
pub const LAYERS: [usize; 4] = [FEATURES, 256, 128, CLASSES];

/// Training hyper-parameters (fixed: they define the model).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrainParams {
    /// Seed for initialisation and shuffling.
    pub seed: u64,
    /// Passes over the training split.
    pub epochs: u32,
    /// Mini-batch size.
    pub batch: usize,
    /// Adam step size.
    pub learning_rate: f32,
}

impl Default for TrainParams {
    fn default() -> Self {
        TrainParams {
            seed: 0x15_0BE7_C4D1_6175,
            epochs: 40,
            batch: 32,
            learning_rate: 1e-3,
        }
    }
}

/// A trained network, as stored in the weights file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MlpModel {
    /// Always [`MLP_FORMAT`].
    pub format: String,
    /// Layer widths, input first.
    pub layers: Vec<usize>,
    /// How it was trained.
    pub params: TrainParams,
    /// sha256 of the digits file it was trained on.
    pub data_sha256: String,
    /// Accuracy on the test split right after training.
    pub test_accuracy: f64,
    /// sha256 of the weights and biases as little-endian f32.
    pub weights_sha256: String,
    /// Per layer, row-major `[inputs][outputs]`.
    pub weights: Vec<Vec<f32>>,
    /// Per layer, one bias per output.
    pub biases: Vec<Vec<f32>>,
}

impl MlpModel {
    /// sha256 of all weights, then all biases, as little-endian f32.
    pub fn compute_weights_sha256(&self) -> String {
        let mut h = Sha256::new();
        for v in self.weights.iter().chain(&self.biases) {
            for x in v {
                h.update(x.to_le_bytes());
            }
        }
        hex::encode(h.finalize())
    }

    /// Parses and checks a weights file's contents.
    pub fn from_json(path: &Path, bytes: &[u8]) -> Result<Self, AgentError> {
        let bad = |m: String| {
            AgentError::model(
                path,
                format!("{m}; delete it and run `isobench-agent train-mlp --assets DIR` to regenerate it"),
            )
        };
        let model: MlpModel = serde_json::from_slice(bytes)
            .map_err(|e| bad(format!("not a valid {MLP_FORMAT} weights file ({e})")))?;
        if model.format != MLP_FORMAT {
            return Err(bad(format!(
                "format is `{}`, expected `{MLP_FORMAT}`",
                model.format
            )));
        }
        if model.layers != LAYERS || model.weights.len() != 3 || model.biases.len() != 3 {
            return Err(bad(format!(
                "layers are {:?}, expected {LAYERS:?}",
                model.layers
            )));
        }
        for l in 0..3 {
            if model.weights[l].len() != LAYERS[l] * LAYERS[l + 1]
                || model.biases[l].len() != LAYERS[l + 1]
            {
                return Err(bad(format!("layer {l} has the wrong number of weights")));
            }
        }
        if model.compute_weights_sha256() != model.weights_sha256 {
            return Err(bad(
                "weights do not match their weights_sha256 (file damaged or edited)".into(),
            ));
        }
        Ok(model)
    }

    /// The JSON text written to the weights file (ends with a newline).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("model serialises") + "\n"
    }

    /// Logits for a batch of inputs (`rows x 64`, already scaled).
    pub fn forward(&self, inputs: &[f32]) -> Vec<f32> {
        let rows = inputs.len() / FEATURES;
        let mut act = inputs.to_vec();
        for l in 0..3 {
            let mut next = dense(
                &act,
                rows,
                &self.weights[l],
                &self.biases[l],
                LAYERS[l],
                LAYERS[l + 1],
            );
            if l < 2 {
                next.iter_mut().for_each(|v| *v = v.max(0.0));
            }
            act = next;
        }
        act
    }

    /// Predicted class per row of `inputs`.
    pub fn predict(&self, inputs: &[f32], threads: usize) -> Vec<u8> {
        let logits = self.forward_threaded(inputs, threads);
        argmax_rows(&logits)
    }

    /// [`Self::forward`] split over `threads` threads by rows (same result).
    pub fn forward_threaded(&self, inputs: &[f32], threads: usize) -> Vec<f32> {
        let rows = inputs.len() / FEATURES;
        let chunk = rows.div_ceil(threads.max(1)).max(1);
        let mut out = vec![0f32; rows * CLASSES];
        std::thread::scope(|scope| {
            for (inputs, out) in inputs
                .chunks(chunk * FEATURES)
                .zip(out.chunks_mut(chunk * CLASSES))
            {
                scope.spawn(move || out.copy_from_slice(&self.forward(inputs)));
            }
        });
        out
    }

    /// Accuracy on a labelled set.
    pub fn accuracy(&self, samples: &Samples) -> f64 {
        let predictions = self.predict(&scale(samples), 1);
        f64::from(correct(&predictions, &samples.labels)) / predictions.len() as f64
    }
}

/// `out[r][o] = b[o] + sum_i x[r][i] * w[i][o]`, summed in input order.
fn dense(x: &[f32], rows: usize, w: &[f32], b: &[f32], n_in: usize, n_out: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(rows * n_out);
    for r in 0..rows {
        let mut acc = b.to_vec();
        for (i, &xi) in x[r * n_in..(r + 1) * n_in].iter().enumerate() {
            if xi != 0.0 {
                axpy(&mut acc, xi, &w[i * n_out..(i + 1) * n_out]);
            }
        }
        out.extend_from_slice(&acc);
    }
    out
}

/// `y += a * x` (vectorises; no reassociation involved).
fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y += a * x;
    }
}

/// Dot product with 8 fixed partial sums (vectorises, fixed order).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            lanes[k] += x[k] * y[k];
        }
    }
    let mut sum = lanes.iter().sum::<f32>();
    for (x, y) in ra.iter().zip(rb) {
        sum += x * y;
    }
    sum
}

fn argmax_rows(logits: &[f32]) -> Vec<u8> {
    logits
        .chunks_exact(CLASSES)
        .map(|row| {
            let mut best = 0;
            for (c, &v) in row.iter().enumerate() {
                if v > row[best] {
                    best = c;
                }
            }
            best as u8
        })
        .collect()
}

/// Network inputs: pixel values / 16.
pub fn scale(samples: &Samples) -> Vec<f32> {
    samples
        .features
        .iter()
        .map(|&v| f32::from(v) / 16.0)
        .collect()
}

/// Trains the network on the training split of `digits`. Deterministic.
pub fn train(digits: &Digits, params: TrainParams) -> MlpModel {
    let mut rng = SplitMix64::new(params.seed);
    let mut weights: Vec<Vec<f32>> = Vec::new();
    let mut biases: Vec<Vec<f32>> = Vec::new();
    for l in 0..3 {
        // He-uniform initialisation.
        let limit = (6.0 / LAYERS[l] as f64).sqrt();
        weights.push(
            (0..LAYERS[l] * LAYERS[l + 1])
                .map(|_| ((rng.next_f64() * 2.0 - 1.0) * limit) as f32)
                .collect(),
        );
        biases.push(vec![0.0; LAYERS[l + 1]]);
    }
    let mut adam_w: Vec<Adam> = weights.iter().map(|w| Adam::new(w.len())).collect();
    let mut adam_b: Vec<Adam> = biases.iter().map(|b| Adam::new(b.len())).collect();
    let x = scale(&digits.train);
    let labels = &digits.train.labels;
    let n = labels.len();
    let mut order: Vec<usize> = (0..n).collect();
    let mut step = 0;
    for _ in 0..params.epochs {
        for i in (1..n).rev() {
            order.swap(i, rng.below(i as u64 + 1) as usize);
        }
        for batch in order.chunks(params.batch) {
            step += 1;
            let (gw, gb) = gradients(&weights, &biases, &x, labels, batch);
            for l in 0..3 {
                adam_w[l].step(&mut weights[l], &gw[l], params.learning_rate, step);
                adam_b[l].step(&mut biases[l], &gb[l], params.learning_rate, step);
            }
        }
    }
    let mut model = MlpModel {
        format: MLP_FORMAT.into(),
        layers: LAYERS.to_vec(),
        params,
        data_sha256: digits.file_sha256.clone(),
        test_accuracy: 0.0,
        weights_sha256: String::new(),
        weights,
        biases,
    };
    model.test_accuracy = model.accuracy(&digits.test);
    model.weights_sha256 = model.compute_weights_sha256();
    model
}

/// Mean cross-entropy gradients over one mini-batch.
fn gradients(
    weights: &[Vec<f32>],
    biases: &[Vec<f32>],
    x: &[f32],
    labels: &[u8],
    batch: &[usize],
) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    let mut gw: Vec<Vec<f32>> = weights.iter().map(|w| vec![0.0; w.len()]).collect();
    let mut gb: Vec<Vec<f32>> = biases.iter().map(|b| vec![0.0; b.len()]).collect();
    let scale = 1.0 / batch.len() as f32;
    for &s in batch {
        // Forward, keeping every layer's activations.
        let mut acts: Vec<Vec<f32>> = vec![x[s * FEATURES..(s + 1) * FEATURES].to_vec()];
        for l in 0..3 {
            let mut z = dense(
                &acts[l],
                1,
                &weights[l],
                &biases[l],
                LAYERS[l],
                LAYERS[l + 1],
            );
            if l < 2 {
                z.iter_mut().for_each(|v| *v = v.max(0.0));
            }
            acts.push(z);
        }
        // Softmax + cross-entropy: dL/dz = p - onehot.
        let logits = &acts[3];
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let exps: Vec<f32> = logits.iter().map(|v| (v - max).exp()).collect();
        let total: f32 = exps.iter().sum();
        let mut delta: Vec<f32> = exps.iter().map(|e| e / total * scale).collect();
        delta[usize::from(labels[s])] -= scale;
        for l in (0..3).rev() {
            let (n_in, n_out) = (LAYERS[l], LAYERS[l + 1]);
            axpy(&mut gb[l], 1.0, &delta);
            let input = &acts[l];
            for (i, &a) in input.iter().enumerate() {
                if a != 0.0 {
                    axpy(&mut gw[l][i * n_out..(i + 1) * n_out], a, &delta);
                }
            }
            if l > 0 {
                delta = (0..n_in)
                    .map(|i| {
                        // ReLU derivative: zero where the activation was clipped.
                        if input[i] > 0.0 {
                            dot(&weights[l][i * n_out..(i + 1) * n_out], &delta)
                        } else {
                            0.0
                        }
                    })
                    .collect();
            }
        }
    }
    (gw, gb)
}

/// Adam optimiser state for one parameter vector.
struct Adam {
    m: Vec<f32>,
    v: Vec<f32>,
}

impl Adam {
    const B1: f32 = 0.9;
    const B2: f32 = 0.999;
    const EPS: f32 = 1e-8;

    fn new(len: usize) -> Self {
        Adam {
            m: vec![0.0; len],
            v: vec![0.0; len],
        }
    }

    fn step(&mut self, params: &mut [f32], grads: &[f32], lr: f32, t: i32) {
        let c1 = 1.0 - Self::B1.powi(t);
        let c2 = 1.0 - Self::B2.powi(t);
        for ((p, g), (m, v)) in params
            .iter_mut()
            .zip(grads)
            .zip(self.m.iter_mut().zip(self.v.iter_mut()))
        {
            *m = Self::B1 * *m + (1.0 - Self::B1) * g;
            *v = Self::B2 * *v + (1.0 - Self::B2) * g * g;
            *p -= lr * (*m / c1) / ((*v / c2).sqrt() + Self::EPS);
        }
    }
}

/// Trains on `assets/data/digits.csv.gz` and writes `assets/models/mlp-digits.json`
/// (atomically). Returns the model and the path written.
pub fn train_and_save(assets: &Path) -> Result<(MlpModel, PathBuf), AgentError> {
    let digits = Digits::load_from_assets(assets)?;
    let model = train(&digits, TrainParams::default());
    let path = assets.join(MLP_FILE);
    write_model(&path, &model)?;
    Ok((model, path))
}

/// Writes the weights file through a temporary file and a rename.
pub fn write_model(path: &Path, model: &MlpModel) -> Result<(), AgentError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| AgentError::io(dir, e))?;
    let tmp = dir.join(format!(".mlp-digits.json.{}.tmp", std::process::id()));
    let result = std::fs::File::create(&tmp)
        .and_then(|mut f| {
            f.write_all(model.to_json().as_bytes())?;
            f.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(AgentError::io(path, e));
    }
    Ok(())
}

/// The MLP workload: the trained network and the test split.
#[derive(Debug)]
pub struct Mlp {
    model: MlpModel,
    model_sha256: String,
    digits: Digits,
    threads: usize,
}

impl Mlp {
    /// Loads the weights (`--model`, else `assets/models/mlp-digits.json`)
    /// and the digits data. When the default weights file is missing the
    /// network is trained here and the file written if the assets directory
    /// is writable.
    pub fn load(opts: &WorkloadOptions) -> Result<Self, AgentError> {
        if let Some(images) = &opts.images {
            return Err(AgentError::Usage(format!(
                "--images {}: the mlp workload classifies the digits data set, not images; drop --images",
                images.display()
            )));
        }
        let digits = Digits::load_from_assets(&opts.assets)?;
        let (model, model_sha256) = match &opts.model {
            Some(path) => read_model(path)?,
            None => {
                let path = opts.assets.join(MLP_FILE);
                match std::fs::read(&path) {
                    Ok(bytes) => (MlpModel::from_json(&path, &bytes)?, sha256(&bytes)),
                    // Missing (also when `models` is not a directory): train here.
                    Err(_) if !path.exists() => {
                        let model = train(&digits, TrainParams::default());
                        if let Err(e) = write_model(&path, &model) {
                            eprintln!("isobench-agent: note: trained the mlp in-process but could not cache it ({e}); continuing");
                        }
                        let json = model.to_json();
                        (model, sha256(json.as_bytes()))
                    }
                    Err(e) => return Err(AgentError::io(&path, e)),
                }
            }
        };
        Ok(Mlp {
            model,
            model_sha256,
            digits,
            threads: (opts.threads as usize).max(1),
        })
    }

    /// The loaded network.
    pub fn model(&self) -> &MlpModel {
        &self.model
    }
}

fn read_model(path: &Path) -> Result<(MlpModel, String), AgentError> {
    let bytes = std::fs::read(path).map_err(|e| {
        AgentError::model(
            path,
            format!("cannot read the mlp weights file ({e}); check the --model path or drop --model to use assets/{MLP_FILE}"),
        )
    })?;
    Ok((MlpModel::from_json(path, &bytes)?, sha256(&bytes)))
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl Workload for Mlp {
    fn name(&self) -> isobench_records::Workload {
        isobench_records::Workload::Mlp
    }

    fn engine(&self) -> isobench_records::Engine {
        isobench_records::Engine::Native
    }

    fn run_once(&mut self, _index: u64) -> Result<IterationOutcome, AgentError> {
        let t0 = Instant::now();
        let inputs = scale(&self.digits.test);
        let t1 = Instant::now();
        let logits = self.model.forward_threaded(&inputs, self.threads);
        let t2 = Instant::now();
        let predictions = argmax_rows(&logits);
        let digest = Digest::Labels {
            samples: predictions.len() as u32,
            correct: correct(&predictions, &self.digits.test.labels),
            predictions_hash: fnv1a64(&predictions),
        };
        let t3 = Instant::now();
        Ok(IterationOutcome {
            input: "test-split".into(),
            preprocess_us: (t1 - t0).as_micros() as u64,
            inference_us: (t2 - t1).as_micros() as u64,
            postprocess_us: (t3 - t2).as_micros() as u64,
            digest,
        })
    }

    fn inputs(&self) -> Vec<String> {
        (0..self.digits.test.len()).map(|i| i.to_string()).collect()
    }

    fn run_input(&mut self, input: &str) -> Result<IterationOutcome, AgentError> {
        let range = super::sample_range(input, self.digits.test.len())?;
        let t0 = Instant::now();
        let selected = Samples {
            features: self.digits.test.features[range.start * FEATURES..range.end * FEATURES]
                .to_vec(),
            labels: self.digits.test.labels[range.clone()].to_vec(),
        };
        let inputs = scale(&selected);
        let t1 = Instant::now();
        let logits = self.model.forward_threaded(&inputs, self.threads);
        let t2 = Instant::now();
        let predictions = argmax_rows(&logits);
        let digest = Digest::Labels {
            samples: predictions.len() as u32,
            correct: correct(&predictions, &selected.labels),
            predictions_hash: fnv1a64(&predictions),
        };
        let t3 = Instant::now();
        Ok(IterationOutcome {
            input: input.into(),
            preprocess_us: (t1 - t0).as_micros() as u64,
            inference_us: (t2 - t1).as_micros() as u64,
            postprocess_us: (t3 - t2).as_micros() as u64,
            digest,
        })
    }

    fn model_sha256(&self) -> String {
        self.model_sha256.clone()
    }

    fn inputs_sha256(&self) -> String {
        test_split_sha256(&self.digits)
    }
}
