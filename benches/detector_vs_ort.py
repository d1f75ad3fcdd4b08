#!/usr/bin/env python3
"""CPU detector (tract, benches/detector.rs) vs ONNX Runtime on the same model, the same
image and the same machine, interleaved: each round runs both backends at each thread count,
alternating which goes first, so a load change on a shared machine hits both alike.

  detector_vs_ort.py --tract "cargo bench -q --bench detector --" --python VENV_PYTHON [--rounds 5] [--runs 20]
                     [--threads 1,2] [--out target/bench/detector.json]

Per backend and thread count: all runs of all rounds pooled (median, p10-p90, min-max) and
the median of each round; the tract/ORT ratio of the pooled medians and of each round's
pair. Also each round runs the reference script itself (ref_detect.py --bench) as a check
that the per-run ORT driver measures the same thing.
"""

import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path

# No __pycache__ beside the scripts (or in the read-only shared/reference).
sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402

HERE = Path(__file__).resolve().parent


def run_json(cmd):
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout
    # cargo bench may print other lines; the report is the last JSON line.
    lines = [l for l in out.splitlines() if l.startswith("{")]
    return json.loads(lines[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tract", required=True,
                    help="command running benches/detector.rs, e.g. 'cargo bench -q --bench detector --'")
    ap.add_argument("--python", required=True, help="python of the venv with onnxruntime")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--out", default="target/bench/detector.json")
    a = ap.parse_args()
    shared = benchlib.shared_dir()
    model = str(shared / "models/yolox_nano.onnx")
    image = str(shared / "testdata/images/zidane.jpg")
    ref = str(shared / "reference/ref_detect.py")
    threads = [int(t) for t in a.threads.split(",")]
    report = {"machine_start": benchlib.machine(), "model": model, "image": image,
              "rounds": a.rounds, "runs_per_round": a.runs, "warmup": a.warmup, "results": {}}

    samples = {(b, t): [] for b in ("tract", "ort") for t in threads}
    round_medians = {(b, t): [] for b in ("tract", "ort") for t in threads}
    ref_means = {t: [] for t in threads}
    loads = {(b, t): [] for b in ("tract", "ort") for t in threads}

    def tract(t):
        r = run_json(shlex.split(a.tract) + ["--runs", str(a.runs), "--warmup", str(a.warmup),
                      "--threads", str(t), "--image", image, "--samples"])
        return r["cpu_backend"][0]

    def ort(t):
        r = run_json([a.python, str(HERE / "ort_detect.py"), "--model", model, "--image", image,
                      "--threads", str(t), "--runs", str(a.runs), "--warmup", str(a.warmup)])
        report["onnxruntime"] = r["onnxruntime"]
        return r["cpu_backend"][0]

    for rnd in range(a.rounds):
        for t in threads:
            order = [("tract", tract), ("ort", ort)]
            if rnd % 2:
                order.reverse()
            for name, fn in order:
                res = fn(t)
                samples[(name, t)] += res["samples_ms"]
                round_medians[(name, t)].append(res["latency_ms"]["median"])
                loads[(name, t)].append(res["load_ms"])
                print(f"round {rnd + 1}/{a.rounds} {name} {t} thread(s): "
                      f"median {res['latency_ms']['median']} ms", flush=True)
            r = run_json([a.python, ref, "--model", model, "--bench", str(a.runs),
                          "--threads", str(t), image])
            ref_means[t].append(r["infer_ms"])

    for t in threads:
        tr, on = samples[("tract", t)], samples[("ort", t)]
        ts, os_ = benchlib.stats(tr), benchlib.stats(on)
        paired = [x / y for x, y in zip(round_medians[("tract", t)], round_medians[("ort", t)])]
        report["results"][str(t)] = {
            "tract_ms": ts,
            "ort_ms": os_,
            "tract_round_medians_ms": round_medians[("tract", t)],
            "ort_round_medians_ms": round_medians[("ort", t)],
            "ratio_of_medians": round(ts["median"] / os_["median"], 2),
            "ratio_per_round": benchlib.stats(paired, 2),
            "ref_detect_bench_mean_ms": benchlib.stats(ref_means[t], 2),
            "tract_load_ms": benchlib.stats(loads[("tract", t)], 1),
            "ort_load_ms": benchlib.stats(loads[("ort", t)], 1),
            "target": "tract <= 1.2x ONNX Runtime",
            "met": ts["median"] <= 1.2 * os_["median"],
        }
        print(f"{t} thread(s): tract {ts['median']} ms (p10-p90 {ts['p10']}-{ts['p90']}), "
              f"ORT {os_['median']} ms (p10-p90 {os_['p10']}-{os_['p90']}), "
              f"ratio {report['results'][str(t)]['ratio_of_medians']}x")
    report["machine_end"] = benchlib.machine()
    benchlib.write_json(a.out, report)


if __name__ == "__main__":
    main()
