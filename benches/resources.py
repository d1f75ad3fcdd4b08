#!/usr/bin/env python3
"""Idle cost, busy cost and memory of the real daemon (release build).

Each scenario starts `gozcu run` with 1280x720 cameras at 15 fps, waits until every camera
is online (and the model loaded), lets it settle, then samples /proc/<pid>/stat (CPU time,
all threads, and per thread group) and /proc/<pid>/status (VmRSS, VmHWM) once a second
for the window (default 60 s).

  resources.py --gozcu target/release/gozcu [--window 60] [--settle 5]
               [--only idle_1cam_nv12,...] [--env KEY=VALUE ...]
               [--out target/bench/resources.json]

Scenarios (detector = the CPU backend on the shared YOLOX-Nano, `threads = 2`):
  idle_{1,4}cam_nv12    testsrc:static (nothing moves), detector configured: DESIGN.md §7
                        wants the detector not run and <= 5% of one core per camera
  idle_1cam_mjpeg       one 1280x720 JPEG replayed as an MJPEG camera (a still UVC webcam)
  motion_{1,4}cam       testsrc:moving (constant motion): the detector runs at detect_fps = 5
  mem_2cam_detector     2 x testsrc:moving with the detector: RSS target <= 60 MiB
  mem_2cam_no_detector  the same with backend = "none" (motion events): <= 15 MiB
"""

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

# No __pycache__ beside the scripts (or in the read-only shared/reference).
sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402


def scenarios(still_dir):
    def cams(n, device):
        return [benchlib.camera_toml(f"c{i + 1}", device) for i in range(n)]

    static, moving, mjpeg = "testsrc:static", "testsrc:moving", f"replay:{still_dir}"
    return {
        "idle_1cam_nv12": (cams(1, static), True),
        "idle_4cam_nv12": (cams(4, static), True),
        "idle_1cam_mjpeg": (cams(1, mjpeg), True),
        "motion_1cam": (cams(1, moving), True),
        "motion_4cam": (cams(4, moving), True),
        "mem_2cam_detector": (cams(2, moving), True),
        "mem_2cam_no_detector": (cams(2, moving), False),
    }


def run(binary, model, name, cameras, detector, window, settle, env):
    n = len(cameras)
    d = benchlib.Daemon(
        binary,
        lambda port, data: benchlib.daemon_toml(port, data, model, cameras, detector),
        extra_env=env,
    )
    try:
        health = d.wait_health(
            lambda h: h["cameras"]["online"] == n and (h["ai"]["enabled"] or not detector)
        )
        time.sleep(settle)
        s = benchlib.sample(d.pid, window)
        after = d.wait_health(lambda h: True)
    finally:
        d.stop()
    s["scenario"] = name
    s["cameras"] = n
    s["detector"] = "cpu yolox_nano threads=2" if detector else "none"
    s["env"] = env
    s["cpu_pct_per_camera"] = round(s["cpu_pct_total"] / n, 2)
    s["camera_fps"] = [c.get("fps") for c in after.get("camera_list", [])]
    s["ai"] = after.get("ai")
    s["ai_at_start"] = health.get("ai")
    return s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gozcu", required=True)
    ap.add_argument("--window", type=float, default=60)
    ap.add_argument("--settle", type=float, default=5)
    ap.add_argument("--only", default="")
    ap.add_argument("--env", action="append", default=[],
                    help="KEY=VALUE for the daemon's environment (e.g. MALLOC_ARENA_MAX=2)")
    ap.add_argument("--out", default="target/bench/resources.json")
    a = ap.parse_args()
    shared = benchlib.shared_dir()
    model = shared / "models/yolox_nano.onnx"
    still_dir = Path(tempfile.mkdtemp(prefix="gozcu-bench-still-"))
    shutil.copy(shared / "testdata/images/zidane.jpg", still_dir / "frame.jpg")
    report = {"machine_start": benchlib.machine(), "window_s": a.window, "results": {}}
    try:
        wanted = [w for w in a.only.split(",") if w]
        for name, (cameras, detector) in scenarios(still_dir).items():
            if wanted and name not in wanted:
                continue
            env = dict(kv.split("=", 1) for kv in a.env)
            r = run(a.gozcu, model, name, cameras, detector, a.window, a.settle, env)
            report["results"][name] = r
            print(f"{name}: CPU {r['cpu_pct_total']}% total, {r['cpu_pct_per_camera']}% per "
                  f"camera (per-second p10-p90 {r['cpu_pct_per_interval']['p10']}-"
                  f"{r['cpu_pct_per_interval']['p90']}); threads {r['cpu_pct_by_thread']}; "
                  f"RSS median {r['rss_mib']['median']} MiB, peak {r['rss_peak_mib']} MiB; "
                  f"fps {r['camera_fps']}", flush=True)
    finally:
        shutil.rmtree(still_dir, ignore_errors=True)
    report["machine_end"] = benchlib.machine()
    benchlib.write_json(a.out, report)


if __name__ == "__main__":
    main()
