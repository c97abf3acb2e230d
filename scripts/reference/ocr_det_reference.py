#!/usr/bin/env python3
"""Reference text boxes from RapidOCR 1.4.4's own TextDetector (its
config.yaml defaults, onnxruntime, 1 thread). Printed as axis-aligned
(x1, y1, x2, y2) and pasted into crates/agent/tests/ocr_det.rs.

Usage (venv with onnxruntime==1.32.0 numpy opencv-python-headless pyclipper
shapely pyyaml six; the rapidocr_onnxruntime-1.4.4 wheel unzipped in RAPIDOCR_DIR):
    RAPIDOCR_DIR=/tmp/rapidsrc python scripts/reference/ocr_det_reference.py MODEL.onnx page.png
"""
import os
import sys, cv2, numpy as np, yaml
sys.path.insert(0, os.environ["RAPIDOCR_DIR"])
from rapidocr_onnxruntime.ch_ppocr_det.text_detect import TextDetector
cfg = yaml.safe_load(open(os.path.join(os.environ["RAPIDOCR_DIR"], "rapidocr_onnxruntime/config.yaml")))["Det"]
cfg["model_path"] = sys.argv[1]; cfg["intra_op_num_threads"]=1; cfg["inter_op_num_threads"]=1
det = TextDetector(cfg)
img = cv2.imread(sys.argv[2])
boxes, el = det(img)
print(len(boxes))
for b in boxes: print(b[:,0].min(), b[:,1].min(), b[:,0].max(), b[:,1].max())
