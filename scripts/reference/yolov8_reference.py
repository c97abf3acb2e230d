#!/usr/bin/env python3
"""Reference YOLOv8 detections with Python onnxruntime, using Ultralytics'
own preprocessing (cv2.imread, LetterBox(auto=False): cv2.INTER_LINEAR
resize, 114 grey padding, BGR->RGB, /255) and postprocessing (conf 0.25,
class-wise NMS at IoU 0.7, scale_boxes). The numbers it prints are pasted
into crates/agent/tests/yolo_reference.rs.

Usage (venv with onnxruntime==1.32.0 numpy opencv-python-headless):
    python scripts/reference/yolov8_reference.py MODEL.onnx IMAGE [IMAGE...]
Options:
    --bench N   also time N inference runs (after 3 warm-ups) and print the
                median in ms (used by scripts/bench-engines.sh)
    --threads T intra-op threads (default 1)
"""
import argparse
import ast
import statistics
import time

import cv2
import numpy as np
import onnxruntime as ort


def letterbox(img, new_shape=(640, 640)):
    h, w = img.shape[:2]
    r = min(new_shape[0] / h, new_shape[1] / w)
    new_unpad = max(round(w * r), 1), max(round(h * r), 1)
    dw, dh = (new_shape[1] - new_unpad[0]) / 2, (new_shape[0] - new_unpad[1]) / 2
    if (w, h) != new_unpad:
        img = cv2.resize(img, new_unpad, interpolation=cv2.INTER_LINEAR)
    top, bottom = round(dh - 0.1), round(dh + 0.1)
    left, right = round(dw - 0.1), round(dw + 0.1)
    img = cv2.copyMakeBorder(img, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(114, 114, 114))
    return img, (new_unpad[0] / w, new_unpad[1] / h), (left, top)


def preprocess(path, size):
    im0 = cv2.imread(path)  # BGR, as Ultralytics loads it
    img, gain, pad = letterbox(im0, size)
    x = img[..., ::-1].transpose(2, 0, 1)[None].astype(np.float32) / 255.0
    return np.ascontiguousarray(x), im0.shape[:2], gain, pad


def nms(boxes, scores, iou_thres):
    order = scores.argsort()[::-1]
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        xx1 = np.maximum(boxes[i, 0], boxes[order[1:], 0])
        yy1 = np.maximum(boxes[i, 1], boxes[order[1:], 1])
        xx2 = np.minimum(boxes[i, 2], boxes[order[1:], 2])
        yy2 = np.minimum(boxes[i, 3], boxes[order[1:], 3])
        inter = np.clip(xx2 - xx1, 0, None) * np.clip(yy2 - yy1, 0, None)
        area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
        iou = inter / (area(boxes[i]) + area(boxes[order[1:]]) - inter)
        order = order[1:][iou <= iou_thres]
    return np.array(keep, dtype=int)


def postprocess(out, orig_hw, gain, pad, conf=0.25, iou=0.7, max_det=300):
    p = out[0].T  # N x (4 + nc)
    cls = p[:, 4:]
    score = cls.max(1)
    cid = cls.argmax(1)
    m = score > conf
    p, score, cid = p[m], score[m], cid[m]
    xy, wh = p[:, :2], p[:, 2:4]
    boxes = np.concatenate([xy - wh / 2, xy + wh / 2], 1)
    offset = cid[:, None] * 7680.0  # class-wise NMS as Ultralytics does it
    keep = nms(boxes + offset, score, iou)[:max_det]
    boxes, score, cid = boxes[keep], score[keep], cid[keep]
    boxes[:, [0, 2]] = ((boxes[:, [0, 2]] - pad[0]) / gain[0]).clip(0, orig_hw[1])
    boxes[:, [1, 3]] = ((boxes[:, [1, 3]] - pad[1]) / gain[1]).clip(0, orig_hw[0])
    return boxes, score, cid


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("images", nargs="+")
    ap.add_argument("--bench", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    so = ort.SessionOptions()
    so.intra_op_num_threads = a.threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(a.model, so, providers=["CPUExecutionProvider"])
    meta = sess.get_modelmeta().custom_metadata_map
    names = ast.literal_eval(meta.get("names", "{}"))
    imgsz = ast.literal_eval(meta.get("imgsz", "[640, 640]"))
    inp = sess.get_inputs()[0].name
    print(f"# onnxruntime {ort.__version__}, cv2 {cv2.__version__}, threads {a.threads}")
    for path in a.images:
        x, hw, gain, pad = preprocess(path, imgsz)
        out = sess.run(None, {inp: x})[0]
        boxes, score, cid = postprocess(out, hw, gain, pad)
        print(f"{path}: {len(score)} detections")
        for b, s, c in zip(boxes, score, cid):
            print(f"    ({int(c)}, \"{names.get(int(c), c)}\", {s:.6f}, [{b[0]:.3f}, {b[1]:.3f}, {b[2]:.3f}, {b[3]:.3f}]),")
        if a.bench:
            for _ in range(3):
                sess.run(None, {inp: x})
            times = []
            for _ in range(a.bench):
                t = time.perf_counter()
                sess.run(None, {inp: x})
                times.append((time.perf_counter() - t) * 1000)
            print(
                f"BENCH python-onnxruntime median_ms={statistics.median(times):.2f} runs={a.bench}"
                f" times_ms={','.join(f'{t:.3f}' for t in times)}"
            )


if __name__ == "__main__":
    main()
