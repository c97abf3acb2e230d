//! Clear errors and a non-zero exit for a corrupt ONNX file, an image that
//! is not an image, and an engine this build does not have.

mod common;

use std::process::{Command, Output};

use isobench_records::Record;

const AGENT: &str = env!("CARGO_BIN_EXE_isobench-agent");

fn agent(args: &[&str]) -> Output {
    Command::new(AGENT)
        .args(args)
        .env("ORT_DYLIB_PATH", common::onnxruntime())
        .output()
        .expect("run the agent")
}

fn error_of(out: &Output) -> (String, String) {
    assert!(
        !out.status.success(),
        "must fail: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let records = common::records(&out.stdout);
    let Some(Record::Error(e)) = records.last() else {
        panic!("error record expected: {records:?}")
    };
    (e.kind.clone(), e.message.clone())
}

#[test]
fn corrupt_onnx_is_a_model_error() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("broken.onnx");
    // The real model cut short: starts like ONNX, cannot be decoded.
    let real = std::fs::read(common::assets().join("models/yolov8-fall.onnx")).unwrap();
    std::fs::write(&model, &real[..real.len() / 3]).unwrap();
    let assets = common::assets();
    let engines = if cfg!(feature = "ort") {
        vec!["tract", "ort"]
    } else {
        vec!["tract"]
    };
    for engine in engines {
        let out = agent(&[
            "run",
            "--workload",
            "yolov8",
            "--engine",
            engine,
            "--iterations",
            "1",
            "--assets",
            assets.to_str().unwrap(),
            "--model",
            model.to_str().unwrap(),
        ]);
        let (kind, message) = error_of(&out);
        assert_eq!(kind, "model", "{engine}: {message}");
        assert!(
            message.contains("broken.onnx"),
            "{engine}: names the file: {message}"
        );
    }
    std::fs::write(&model, b"this is not a model").unwrap();
    let out = agent(&[
        "run",
        "--workload",
        "ocr-det",
        "--iterations",
        "1",
        "--assets",
        assets.to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
    ]);
    let (kind, message) = error_of(&out);
    assert_eq!(kind, "model", "{message}");
    assert!(message.contains("not a valid ONNX file"), "{message}");
}

#[test]
fn non_image_is_an_input_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        common::assets().join("images/bus.jpg"),
        dir.path().join("a.jpg"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("b.jpg"),
        b"GIF? no, plain text pretending to be a photo",
    )
    .unwrap();
    let assets = common::assets();
    let out = agent(&[
        "run",
        "--workload",
        "yolov8",
        "--iterations",
        "2",
        "--warmup",
        "0",
        "--assets",
        assets.to_str().unwrap(),
        "--images",
        dir.path().to_str().unwrap(),
    ]);
    let (kind, message) = error_of(&out);
    assert_eq!(kind, "input", "{message}");
    assert!(
        message.contains("b.jpg") && message.contains("not a JPEG or PNG"),
        "{message}"
    );
    // The good image was processed before the bad one failed.
    let records = common::records(&out.stdout);
    assert!(
        records
            .iter()
            .any(|r| matches!(r, Record::Iteration(i) if i.input == "a.jpg")),
        "{records:?}"
    );
}

#[cfg(not(feature = "ort"))]
#[test]
fn ort_in_a_build_without_it_says_which_build_to_use() {
    let assets = common::assets();
    let out = agent(&[
        "run",
        "--workload",
        "yolov8",
        "--engine",
        "ort",
        "--iterations",
        "1",
        "--assets",
        assets.to_str().unwrap(),
    ]);
    let (kind, message) = error_of(&out);
    assert_eq!(kind, "engine", "{message}");
    assert!(
        message.contains("built without ort") && message.contains("dynamic agent build"),
        "{message}"
    );
}
