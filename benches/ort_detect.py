#!/usr/bin/env python3
"""ONNX Runtime side of the detector benchmark: the reference pipeline's own session setup
and letterbox (shared/reference/ref_detect.py, imported, not copied), but every run timed on
its own so the report can give a median and spread; ref_detect.py --bench only prints a mean.

Run in the bench venv (onnxruntime, numpy, pillow):
  ort_detect.py --model M --image I --threads N --runs R [--warmup W]
Prints one JSON object like `cargo bench --bench detector -- --samples`.
"""

import argparse
import json
import sys
import time
from pathlib import Path

# No __pycache__ beside the scripts (or in the read-only shared/reference).
sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402

sys.path.insert(0, str(benchlib.shared_dir() / "reference"))
import ref_detect  # noqa: E402
from ref_detect import Image, ort  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--image", required=True)
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=5)
    a = ap.parse_args()
    t = time.perf_counter()
    # Exactly ref_detect.main()'s session: intra-op threads, CPU provider, defaults otherwise.
    so = ort.SessionOptions()
    so.intra_op_num_threads = a.threads
    sess = ort.InferenceSession(a.model, so, providers=["CPUExecutionProvider"])
    load_ms = (time.perf_counter() - t) * 1000
    name = sess.get_inputs()[0].name
    x, _ = ref_detect.letterbox(Image.open(a.image), 416)
    for _ in range(a.warmup):
        sess.run(None, {name: x})
    ms = []
    for _ in range(a.runs):
        t = time.perf_counter()
        sess.run(None, {name: x})
        ms.append((time.perf_counter() - t) * 1000)
    print(json.dumps({
        "bench": "detector",
        "backend": "onnxruntime",
        "onnxruntime": ort.__version__,
        "model": a.model,
        "image": a.image,
        "runs": a.runs,
        "warmup": a.warmup,
        "cpu_backend": [{
            "threads": a.threads,
            "load_ms": round(load_ms, 3),
            "latency_ms": benchlib.stats(ms),
            "samples_ms": [round(v, 3) for v in ms],
        }],
    }))


if __name__ == "__main__":
    main()
