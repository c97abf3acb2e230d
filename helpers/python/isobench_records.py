"""Report your own program's iterations to isobench.

Copy this one file next to your program (it needs only the standard
library) and run it with

    isobench run --workload command --measure records \
        --rootfs TREE --command "python3 /app/infer.py"

isobench starts the program once per repetition, in every environment, and
reads one JSON line per iteration from its standard output (format version 1,
documented in crates/records/src/user.rs). Everything else the program
prints is passed through untouched.

    import isobench_records as ib

    model = load_model()                 # start-up: not measured
    ib.ready()                           # optional: "model loaded"
    ib.run(lambda i: predict(model, batch(i)))   # warm-ups, then measured iterations

`run` calls your function ISOBENCH_WARMUP + ISOBENCH_ITERATIONS times (isobench
sets both), times each call with a monotonic clock and reports it; the
function's return value becomes the iteration's output digest (use
`digest(...)` to turn predictions into a short, comparable string). For
finer control, time the stages yourself and call `record(...)`.
"""

import hashlib
import json
import os
import sys
import time

FORMAT_VERSION = 1


def warmup_count():
    """Warm-up iterations isobench asked for (ISOBENCH_WARMUP, default 1)."""
    return int(os.environ.get("ISOBENCH_WARMUP", "1"))


def iteration_count():
    """Measured iterations isobench asked for (ISOBENCH_ITERATIONS, default 10)."""
    return int(os.environ.get("ISOBENCH_ITERATIONS", "10"))


def _emit(obj):
    sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def ready():
    """Tells isobench the model is loaded: start-up ends here."""
    _emit({"isobench": FORMAT_VERSION, "ready": True})


def record(index, inference_us, warmup=False, preprocess_us=0, postprocess_us=0,
           output=None, input=None):
    """Reports one iteration. Times are whole microseconds; `output` is a
    short string that must be the same in every environment for the same input."""
    obj = {
        "isobench": FORMAT_VERSION,
        "index": int(index),
        "warmup": bool(warmup),
        "inference_us": int(inference_us),
        "preprocess_us": int(preprocess_us),
        "postprocess_us": int(postprocess_us),
    }
    if output is not None:
        obj["output"] = str(output)
    if input is not None:
        obj["input"] = str(input)
    _emit(obj)


def digest(value):
    """A short, stable digest of predictions: bytes, str, a NumPy array
    (its raw bytes) or anything with a stable repr()."""
    if hasattr(value, "tobytes"):
        data = value.tobytes()
    elif isinstance(value, bytes):
        data = value
    else:
        data = repr(value).encode()
    return hashlib.sha256(data).hexdigest()[:16]


def run(step, warmup=None, iterations=None):
    """Calls `step(i)` for the warm-ups and then the measured iterations,
    timing each call, and reports them. `step` returns the iteration's
    output digest (or None)."""
    for is_warmup, count in ((True, warmup_count() if warmup is None else warmup),
                             (False, iteration_count() if iterations is None else iterations)):
        for index in range(count):
            started = time.perf_counter_ns()
            output = step(index)
            elapsed_us = (time.perf_counter_ns() - started) // 1000
            record(index, elapsed_us, warmup=is_warmup, output=output)
