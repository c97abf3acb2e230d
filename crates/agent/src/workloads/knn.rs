//! `knn`: k-nearest-neighbours classification of the digits test split,
//! written from scratch. The "model" is the training split; one iteration
//! classifies the whole test split.
//!
//! Distances are exact integer squared Euclidean distances; the k nearest are
//! chosen with ties broken by training index, and the vote with ties broken
//! by the nearest neighbour among the tied classes, so results are the same
//! on every machine and for every thread count.

use std::time::Instant;

use isobench_records::{fnv1a64, Digest};
use sha2::{Digest as _, Sha256};

use super::{IterationOutcome, Workload, WorkloadOptions};
use crate::data::{Digits, Samples, CLASSES, FEATURES};
use crate::error::AgentError;

/// The k-nearest-neighbours workload.
#[derive(Debug)]
pub struct Knn {
    digits: Digits,
    k: usize,
    threads: usize,
    /// Test features widened to i32 (the "preprocessed" inputs).
    test: Vec<i32>,
    train: Vec<i32>,
}

impl Knn {
    /// Loads the digits data set from the assets directory.
    pub fn load(opts: &WorkloadOptions) -> Result<Self, AgentError> {
        if let Some(model) = &opts.model {
            return Err(AgentError::Usage(format!(
                "--model {}: the knn workload has no model file (its model is the digits training split); drop --model",
                model.display()
            )));
        }
        if let Some(images) = &opts.images {
            return Err(AgentError::Usage(format!(
                "--images {}: the knn workload classifies the digits data set, not images; drop --images",
                images.display()
            )));
        }
        let digits = Digits::load_from_assets(&opts.assets)?;
        Self::new(digits, opts.k, opts.threads as usize)
    }

    /// A classifier over an already loaded data set.
    pub fn new(digits: Digits, k: usize, threads: usize) -> Result<Self, AgentError> {
        if k == 0 || k > digits.train.len() {
            return Err(AgentError::Usage(format!(
                "--k {k}: must be between 1 and the training split size {}",
                digits.train.len()
            )));
        }
        let train = widen(&digits.train);
        Ok(Knn {
            digits,
            k,
            threads: threads.max(1),
            test: Vec::new(),
            train,
        })
    }

    /// Classifies every sample of `inputs` (i32 features, row-major).
    pub fn predict(&self, inputs: &[i32]) -> Vec<u8> {
        let rows = inputs.len() / FEATURES;
        let mut out = vec![0u8; rows];
        let chunk = rows.div_ceil(self.threads).max(1);
        std::thread::scope(|scope| {
            for (inputs, out) in inputs.chunks(chunk * FEATURES).zip(out.chunks_mut(chunk)) {
                scope.spawn(move || {
                    for (x, slot) in inputs.chunks_exact(FEATURES).zip(out.iter_mut()) {
                        *slot = self.classify(x);
                    }
                });
            }
        });
        out
    }

    /// Classifies one sample.
    fn classify(&self, x: &[i32]) -> u8 {
        // The k best (distance, index) pairs, kept sorted ascending.
        let mut best: Vec<(i32, usize)> = Vec::with_capacity(self.k + 1);
        for (i, t) in self.train.chunks_exact(FEATURES).enumerate() {
            let d: i32 = x.iter().zip(t).map(|(a, b)| (a - b) * (a - b)).sum();
            if best.len() == self.k && d >= best[self.k - 1].0 {
                continue;
            }
            let pos = best.partition_point(|&(bd, _)| bd <= d);
            best.insert(pos, (d, i));
            best.truncate(self.k);
        }
        let mut votes = [0usize; CLASSES];
        for &(_, i) in &best {
            votes[usize::from(self.digits.train.labels[i])] += 1;
        }
        let top = *votes.iter().max().expect("ten classes");
        // Among the classes with the most votes, the one of the nearest neighbour.
        best.iter()
            .map(|&(_, i)| self.digits.train.labels[i])
            .find(|&l| votes[usize::from(l)] == top)
            .expect("k >= 1")
    }

    /// Accuracy on the test split (one classification pass).
    pub fn test_accuracy(&self) -> f64 {
        let predictions = self.predict(&widen(&self.digits.test));
        correct(&predictions, &self.digits.test.labels) as f64 / predictions.len() as f64
    }
}

fn widen(samples: &Samples) -> Vec<i32> {
    samples.features.iter().map(|&v| i32::from(v)).collect()
}

/// Number of predictions equal to their label.
pub(crate) fn correct(predictions: &[u8], labels: &[u8]) -> u32 {
    predictions
        .iter()
        .zip(labels)
        .filter(|(p, l)| p == l)
        .count() as u32
}

/// sha256 over the test split as classified (features then labels).
pub(crate) fn test_split_sha256(digits: &Digits) -> String {
    let mut h = Sha256::new();
    h.update(&digits.test.features);
    h.update(&digits.test.labels);
    hex::encode(h.finalize())
}

impl Workload for Knn {
    fn name(&self) -> isobench_records::Workload {
        isobench_records::Workload::Knn
    }

    fn engine(&self) -> isobench_records::Engine {
        isobench_records::Engine::Native
    }

    fn run_once(&mut self, _index: u64) -> Result<IterationOutcome, AgentError> {
        let t0 = Instant::now();
        self.test = widen(&self.digits.test);
        let t1 = Instant::now();
        let predictions = self.predict(&self.test);
        let t2 = Instant::now();
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
        let features = &self.digits.test.features[range.start * FEATURES..range.end * FEATURES];
        let inputs: Vec<i32> = features.iter().map(|&v| i32::from(v)).collect();
        let t1 = Instant::now();
        let predictions = self.predict(&inputs);
        let t2 = Instant::now();
        let digest = Digest::Labels {
            samples: predictions.len() as u32,
            correct: correct(&predictions, &self.digits.test.labels[range]),
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
        let mut h = Sha256::new();
        h.update(format!("knn k={} ", self.k).as_bytes());
        h.update(&self.digits.train.features);
        h.update(&self.digits.train.labels);
        hex::encode(h.finalize())
    }

    fn inputs_sha256(&self) -> String {
        test_split_sha256(&self.digits)
    }
}
