//! tract and ONNX Runtime give the same results on the same model and
//! image: scores within 1e-3, boxes within 1 px. Needs the dynamic build:
//! `cargo test --release -p isobench-agent --features ort`.
#![cfg(all(feature = "ort", feature = "tract"))]

mod common;

use std::path::Path;

use isobench_agent::workloads::ocr_det::OcrDet;
use isobench_agent::workloads::yolov8::Yolov8;
use isobench_agent::workloads::{Workload, WorkloadOptions};
use isobench_records::Digest;

fn options(engine: &str) -> WorkloadOptions {
    WorkloadOptions {
        assets: common::assets(),
        model: None,
        images: None,
        engine: engine.parse().expect("an engine name"),
        threads: 1,
        k: 3,
        ort_lib: Some(common::onnxruntime()),
        busy_ms: 0,
        touch_mib: 0,
    }
}

fn close(a: &[f32; 4], b: &[f32; 4], tol: f32) -> bool {
    a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tol)
}

#[test]
fn yolo_tract_and_ort_agree_on_bus_and_zidane() {
    let mut tract = Yolov8::load(&options("tract")).unwrap();
    let mut ort = Yolov8::load(&options("ort")).unwrap();
    assert_eq!(
        (tract.engine().name(), ort.engine().name()),
        ("tract", "ort")
    );
    for image in ["bus.jpg", "zidane.jpg"] {
        let path = common::assets().join("images").join(image);
        let bytes = std::fs::read(&path).unwrap();
        let a = tract.detect(&bytes, Path::new(&path)).unwrap();
        let b = ort.detect(&bytes, Path::new(&path)).unwrap();
        assert!(!a.is_empty(), "{image}: people found");
        assert_eq!(a.len(), b.len(), "{image}: tract {a:?} ort {b:?}");
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.class, y.class, "{image}");
            assert!((x.score - y.score).abs() <= 1e-3, "{image}: {x:?} vs {y:?}");
            assert!(close(&x.bbox, &y.bbox, 1.0), "{image}: {x:?} vs {y:?}");
        }
    }
}

#[test]
fn ocr_tract_and_ort_agree_on_page() {
    let boxes = |engine: &str| {
        let mut w = OcrDet::load(&options(engine)).unwrap();
        match w.run_once(0).unwrap().digest {
            Digest::TextBoxes { boxes, count } => {
                assert_eq!(boxes.len(), count as usize);
                boxes
            }
            other => panic!("text boxes expected: {other:?}"),
        }
    };
    let (a, b) = (boxes("tract"), boxes("ort"));
    assert!(!a.is_empty());
    assert_eq!(a.len(), b.len(), "tract {a:?} ort {b:?}");
    for (x, y) in a.iter().zip(&b) {
        assert!(close(x, y, 1.0), "tract {x:?} ort {y:?}");
    }
}
