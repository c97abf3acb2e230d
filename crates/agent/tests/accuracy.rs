//! Accuracy bounds of the digits workloads on the real data set.
//! Timings are printed (`--nocapture`), never asserted.

mod common;

use std::time::Instant;

use isobench_agent::data::Digits;
use isobench_agent::workloads::knn::Knn;
use isobench_agent::workloads::mlp::{self, Mlp, TrainParams};
use isobench_agent::workloads::{Workload, WorkloadOptions};
use isobench_records::Digest;

fn options(assets: &std::path::Path) -> WorkloadOptions {
    WorkloadOptions {
        assets: assets.to_path_buf(),
        model: None,
        images: None,
        engine: isobench_records::Engine::Native,
        threads: 1,
        k: 3,
        ort_lib: None,
        busy_ms: 0,
        touch_mib: 0,
    }
}

fn labels(outcome: &isobench_agent::workloads::IterationOutcome) -> (u32, u32, String) {
    match &outcome.digest {
        Digest::Labels {
            samples,
            correct,
            predictions_hash,
        } => (*samples, *correct, predictions_hash.clone()),
        other => panic!("expected a labels digest, got {other:?}"),
    }
}

#[test]
fn digits_split_is_the_full_data_set() {
    let digits = Digits::load_from_assets(&common::assets()).unwrap();
    assert_eq!(digits.train.len() + digits.test.len(), 1797);
    assert_eq!(digits.test.len(), 450);
    let mut counts = [0; 10];
    digits
        .test
        .labels
        .iter()
        .for_each(|&l| counts[usize::from(l)] += 1);
    assert!(
        counts.iter().all(|&c| c >= 30),
        "every digit is in the test split: {counts:?}"
    );
}

#[test]
fn knn_k3_accuracy_is_at_least_097_and_thread_independent() {
    let assets = common::assets();
    let mut knn = Knn::load(&options(&assets)).unwrap();
    let t0 = Instant::now();
    let outcome = knn.run_once(0).unwrap();
    let (samples, correct, hash) = labels(&outcome);
    let accuracy = f64::from(correct) / f64::from(samples);
    println!(
        "knn k=3: accuracy {accuracy:.4} ({correct}/{samples}), inference {} us, iteration {:?}",
        outcome.inference_us,
        t0.elapsed()
    );
    assert_eq!(samples, 450);
    assert!(accuracy >= 0.97, "knn accuracy {accuracy} < 0.97");

    let mut two = Knn::load(&WorkloadOptions {
        threads: 2,
        ..options(&assets)
    })
    .unwrap();
    assert_eq!(
        labels(&two.run_once(0).unwrap()).2,
        hash,
        "2 threads predict the same labels"
    );
    assert_eq!(knn.model_sha256(), two.model_sha256());
}

#[test]
fn knn_rejects_bad_k_and_model_flags() {
    let assets = common::assets();
    let err = Knn::load(&WorkloadOptions {
        k: 0,
        ..options(&assets)
    })
    .unwrap_err();
    assert!(err.to_string().contains("--k 0"), "{err}");
    let err = Knn::load(&WorkloadOptions {
        model: Some("m.onnx".into()),
        ..options(&assets)
    })
    .unwrap_err();
    assert_eq!(err.kind(), "usage");
}

#[test]
fn mlp_trains_deterministically_to_at_least_095() {
    let dir = common::private_assets();
    let t0 = Instant::now();
    let (model, path) = mlp::train_and_save(dir.path()).unwrap();
    println!(
        "mlp: trained in {:?}, test accuracy {:.4}, weights {}",
        t0.elapsed(),
        model.test_accuracy,
        model.weights_sha256
    );
    assert!(
        model.test_accuracy >= 0.95,
        "mlp accuracy {} < 0.95",
        model.test_accuracy
    );

    // The cached file loads back bit-identically and predicts as trained.
    let mut workload = Mlp::load(&options(dir.path())).unwrap();
    assert!(
        workload.model() == &model,
        "the weights file reads back identically"
    );
    let outcome = workload.run_once(0).unwrap();
    let (samples, correct, hash) = labels(&outcome);
    println!(
        "mlp: inference over {samples} samples {} us",
        outcome.inference_us
    );
    assert_eq!(f64::from(correct) / f64::from(samples), model.test_accuracy);
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(
        workload.model_sha256(),
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes))
    );

    // Same seed, same weights; another seed, other weights.
    let digits = Digits::load_from_assets(dir.path()).unwrap();
    let few = TrainParams {
        epochs: 2,
        ..TrainParams::default()
    };
    let a = mlp::train(&digits, few);
    assert!(a == mlp::train(&digits, few), "training is deterministic");
    assert_ne!(
        a.weights_sha256,
        mlp::train(&digits, TrainParams { seed: 1, ..few }).weights_sha256
    );

    // Threads do not change predictions.
    let mut two = Mlp::load(&WorkloadOptions {
        threads: 2,
        ..options(dir.path())
    })
    .unwrap();
    assert_eq!(labels(&two.run_once(0).unwrap()).2, hash);
}

#[test]
fn mlp_without_cache_trains_in_process_even_when_it_cannot_write() {
    let dir = common::private_assets();
    // `models` is a file, so the weights cannot be written there.
    std::fs::write(dir.path().join("models"), b"in the way").unwrap();
    let mut workload = Mlp::load(&options(dir.path())).unwrap();
    let (samples, correct, _) = labels(&workload.run_once(0).unwrap());
    assert!(f64::from(correct) / f64::from(samples) >= 0.95);
    assert_eq!(
        std::fs::read(dir.path().join("models")).unwrap(),
        b"in the way"
    );
}

#[test]
fn damaged_mlp_weights_are_a_model_error() {
    let dir = common::private_assets();
    let digits = Digits::load_from_assets(dir.path()).unwrap();
    let model = mlp::train(
        &digits,
        TrainParams {
            epochs: 1,
            ..TrainParams::default()
        },
    );
    let path = dir.path().join("edited.json");
    // One weight changed, the recorded checksum kept.
    let mut tampered = model.clone();
    tampered.weights[0][0] += 1.0;
    std::fs::write(&path, tampered.to_json()).unwrap();
    let err = Mlp::load(&WorkloadOptions {
        model: Some(path.clone()),
        ..options(dir.path())
    })
    .unwrap_err();
    assert_eq!(err.kind(), "model");
    assert!(err.to_string().contains("weights_sha256"), "{err}");

    std::fs::write(&path, b"{not json").unwrap();
    let err = Mlp::load(&WorkloadOptions {
        model: Some(path),
        ..options(dir.path())
    })
    .unwrap_err();
    assert_eq!(err.kind(), "model");
    assert!(err.to_string().contains("train-mlp"), "{err}");
}
