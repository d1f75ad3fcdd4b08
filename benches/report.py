#!/usr/bin/env python3
"""Markdown summary of the JSON results in a bench output folder (make bench-summary):
tables with median, spread, reference and DESIGN.md §7 target, for docs/benchmarks.md.

  report.py target/bench > target/bench/summary.md
"""

import json
import sys
from pathlib import Path


def load(folder, name):
    p = Path(folder) / name
    return json.loads(p.read_text()) if p.is_file() else None


def num(v):
    """Three significant figures at most, no exponent: 131, 23.8, 0.158."""
    if v is None:
        return "-"
    v = float(v)
    digits = 0 if abs(v) >= 100 else 1 if abs(v) >= 10 else 2 if abs(v) >= 1 else 3
    return f"{v:.{digits}f}"


def spread(s):
    return (f"{num(s['median'])} ({num(s['p10'])}-{num(s['p90'])}; "
            f"min-max {num(s['min'])}-{num(s['max'])})")


def machine(m):
    return (f"{m['host_cpu']} ({m['arch']}, {m['cpus']} CPUs, {m['mem_gib']} GiB), kernel "
            f"{m['kernel']}, {m['date_utc']}, load average {m['loadavg'][0]}/{m['loadavg'][1]}/"
            f"{m['loadavg'][2]}")


def detector(r):
    out = ["## CPU detector vs ONNX Runtime", "",
           f"- Start: {machine(r['machine_start'])}",
           f"- End: {machine(r['machine_end'])}",
           f"- ONNX Runtime {r.get('onnxruntime', '?')}; {r['rounds']} rounds x "
           f"{r['runs_per_round']} runs per backend and thread count ({r['warmup']} warm-up).", "",
           "| threads | tract median (p10-p90; min-max), ms | ONNX Runtime, ms | tract/ORT "
           "(per-round min-max) | ref_detect.py --bench mean, ms | target <= 1.2x |",
           "|---|---|---|---|---|---|"]
    for t, x in r["results"].items():
        rr = x["ratio_per_round"]
        out.append(f"| {t} | {spread(x['tract_ms'])} | {spread(x['ort_ms'])} | "
                   f"{x['ratio_of_medians']}x ({rr['min']}-{rr['max']}) | "
                   f"{x['ref_detect_bench_mean_ms']['median']} | "
                   f"{'met' if x['met'] else 'missed'} |")
    return out


PIPELINE_NAMES = {
    "mjpeg_decode_rgb": "MJPEG 1280x720 -> RGB (zune-jpeg)",
    "mjpeg_decode_luma_small": "MJPEG -> motion luma 256x144 (luma-only decode)",
    "rgb_to_luma_small": "RGB -> motion luma 256x144",
    "nv12_to_rgb": "NV12 -> RGB",
    "nv12_luma_small": "NV12 -> motion luma",
    "yuyv_to_rgb": "YUYV -> RGB",
    "yuyv_luma_small": "YUYV -> motion luma",
    "worker_idle_frame_mjpeg": "worker, idle MJPEG frame (convert + motion)",
    "worker_idle_frame_nv12": "worker, idle NV12 frame (convert + motion)",
    "motion_step_still": "motion step, still scene",
    "motion_step_moving": "motion step, moving shapes",
    "letterbox_1280x720_to_416": "letterbox RGB -> 416x416 tensor",
    "yolox_decode_nms": "YOLOX decode + NMS",
    "snapshot_encode_640": "snapshot JPEG, 640 px wide",
}


def pipeline(r):
    out = ["## Per-frame steps (1280x720)", "",
           f"{r['runs']} runs per step, {r['profile']} build; model load (1 thread) "
           f"{num(r['model_load_ms_1_thread'])} ms.", "",
           "| step | median ms (p10-p90; min-max) |", "|---|---|"]
    steps = r["steps_ms"]
    # The bench's JSON object comes back sorted by key; show the steps in pipeline order.
    for k in [k for k in PIPELINE_NAMES if k in steps] + [k for k in steps if k not in PIPELINE_NAMES]:
        out.append(f"| {PIPELINE_NAMES.get(k, k)} | {spread(steps[k])} |")
    return out


def startup(r):
    out = ["## Start-up (spawn -> READY=1)", "", f"- {machine(r['machine_start'])}",
           f"- {r['repeats']} runs each, alternating.", "",
           "| variant | spawn -> READY=1, ms | daemon's own startup_ms | target |", "|---|---|---|---|"]
    for k, x in r["results"].items():
        target = "<= 1000 ms + model load" if k == "with_model" else "<= 1000 ms"
        out.append(f"| {k.replace('_', ' ')} | {spread(x['spawn_to_ready_ms'])} | "
                   f"{x['daemon_startup_ms_log'].get('median', '-')} | {target} |")
    out.append(f"\nModel cost (difference of medians): {r['model_cost_ms']} ms.")
    return out


def resources(r):
    out = ["## Idle, busy and memory (real daemon, 1280x720 @ 15 fps)", "",
           f"- Start: {machine(r['machine_start'])}",
           f"- End: {machine(r['machine_end'])}",
           f"- Window {r['window_s']} s per scenario, sampled every second.", "",
           "| scenario | CPU % of one core, total (per-second p10-p90) | per camera | by thread "
           "| RSS MiB median (min-max), peak | fps |", "|---|---|---|---|---|---|"]
    for k, x in r["results"].items():
        c, m = x["cpu_pct_per_interval"], x["rss_mib"]
        threads = ", ".join(f"{g} {v}" for g, v in x["cpu_pct_by_thread"].items() if v >= 0.05)
        out.append(f"| {k} | {x['cpu_pct_total']} ({c['p10']}-{c['p90']}) | "
                   f"{x['cpu_pct_per_camera']} | {threads} | {m['median']} ({m['min']}-"
                   f"{m['max']}), {x['rss_peak_mib']} | {x['camera_fps']} |")
    return out


def main():
    folder = sys.argv[1] if len(sys.argv) > 1 else "target/bench"
    parts = []
    for name, fn in (("detector.json", detector), ("pipeline.json", pipeline),
                     ("startup.json", startup), ("resources.json", resources)):
        r = load(folder, name)
        if r:
            parts += fn(r) + [""]
        else:
            parts += [f"({name}: not run)", ""]
    print("\n".join(parts))


if __name__ == "__main__":
    main()
