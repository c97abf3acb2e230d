//! PP-OCRv4 text detection on page.png (scikit-image's photo of a printed
//! page, 7 lines of text, slightly tilted), checked against RapidOCR
//! 1.4.4's own TextDetector, run once with:
//!
//! ```text
//! /tmp/refvenv/bin/pip install pyclipper shapely pyyaml six   # + onnxruntime, opencv
//! RAPIDOCR_DIR=<unzipped rapidocr_onnxruntime-1.4.4 wheel> /tmp/refvenv/bin/python \
//!     scripts/reference/ocr_det_reference.py models/ppocrv4-det.onnx ocr/page.png
//! ```
//!
//! RapidOCR keeps 5 of the 7 lines (its rotated-rectangle score drops two
//! tilted ones); ours keeps all 7 text lines. Every RapidOCR box must be
//! found by ours (centre inside one of our boxes) and the title line must
//! agree within 3 px.

mod common;

use isobench_agent::workloads::ocr_det::OcrDet;
use isobench_agent::workloads::{Workload, WorkloadOptions};
use isobench_records::Digest;

/// RapidOCR's boxes, axis-aligned (x1, y1, x2, y2), top to bottom.
const RAPIDOCR: [[f32; 4]; 5] = [
    [7.0, 12.0, 292.0, 33.0],
    [4.0, 47.0, 379.0, 66.0],
    [3.0, 63.0, 379.0, 86.0],
    [3.0, 81.0, 378.0, 104.0],
    [4.0, 114.0, 172.0, 140.0],
];

#[test]
fn ocr_finds_the_text_lines_of_page_png() {
    let opts = WorkloadOptions {
        assets: common::assets(),
        model: None,
        images: None,
        engine: isobench_records::Engine::Tract,
        threads: 1,
        k: 3,
        ort_lib: None,
        busy_ms: 0,
        touch_mib: 0,
    };
    let mut w = OcrDet::load(&opts).unwrap();
    let out = w.run_once(0).unwrap();
    assert_eq!(out.input, "page.png");
    let Digest::TextBoxes { count, boxes } = out.digest else {
        panic!("text boxes expected")
    };
    assert_eq!(count, 7, "one box per printed line: {boxes:?}");
    for b in &boxes {
        assert!(
            b[0] >= 0.0 && b[1] >= 0.0 && b[2] <= 384.0 && b[3] <= 191.0,
            "inside the page: {b:?}"
        );
        assert!(b[2] - b[0] > 3.0 && b[3] - b[1] > 3.0, "{b:?}");
    }
    for r in RAPIDOCR {
        let (cx, cy) = ((r[0] + r[2]) / 2.0, (r[1] + r[3]) / 2.0);
        assert!(
            boxes
                .iter()
                .any(|b| b[0] <= cx && cx <= b[2] && b[1] <= cy && cy <= b[3]),
            "RapidOCR box {r:?} not found in {boxes:?}"
        );
    }
    let title = boxes[0];
    for (a, b) in title.iter().zip(RAPIDOCR[0]) {
        assert!(
            (a - b).abs() <= 3.0,
            "title {title:?} vs RapidOCR {:?}",
            RAPIDOCR[0]
        );
    }
}
