#!/usr/bin/env python3
"""Start-up time of the real daemon: from spawning `gozcu run` to its READY=1 sd_notify
datagram, read from a NOTIFY_SOCKET this script binds (as systemd would for Type=notify),
with and without the detector model, each repeated (default 7 times, alternating).

  startup.py --gozcu target/release/gozcu [--repeats 7] [--out target/bench/startup.json]

Config: one 1280x720 testsrc:static camera, a fresh storage folder per run (the store is
created, as on a first boot), loopback listener; "with model" = the CPU backend on the
shared YOLOX-Nano (threads = 2), "without" = backend "none". The daemon's own log line
`gozcu ready startup_ms=...` (measured inside the process) is recorded beside it.
"""

import argparse
import re
import socket
import sys
import tempfile
import time
from pathlib import Path

# No __pycache__ beside the scripts (or in the read-only shared/reference).
sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402


def one_start(binary, model, detector):
    with tempfile.TemporaryDirectory(prefix="gozcu-notify-") as tmp:
        path = str(Path(tmp) / "notify.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        sock.settimeout(60)
        cams = [benchlib.camera_toml("c1", "testsrc:static")]
        d = benchlib.Daemon(
            binary,
            lambda port, data: benchlib.daemon_toml(port, data, model, cams, detector),
            notify_socket=path,
        )
        try:
            while True:
                msg = sock.recv(4096).decode(errors="replace")
                if "READY=1" in msg.split("\n"):
                    ready_ms = (time.perf_counter() - d.started) * 1000
                    break
            status = next((l[7:] for l in msg.split("\n") if l.startswith("STATUS=")), "")
            # The log line follows READY=1 immediately; give it a moment to be written.
            inner = None
            for _ in range(50):
                m = re.search(r"startup_ms\W+(\d+)", d.log_text())
                if m:
                    inner = int(m.group(1))
                    break
                time.sleep(0.02)
        finally:
            sock.close()
            d.stop()
        return ready_ms, inner, status


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gozcu", required=True)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--out", default="target/bench/startup.json")
    a = ap.parse_args()
    model = benchlib.shared_dir() / "models/yolox_nano.onnx"
    report = {"machine_start": benchlib.machine(), "repeats": a.repeats, "results": {}}
    runs = {"with_model": [], "without_model": []}
    inner = {"with_model": [], "without_model": []}
    status = {}
    # One untimed start first: page cache warm for the binary and the model, as on a device
    # that restarts the service (a cold boot adds the storage read time of both).
    one_start(a.gozcu, model, True)
    for _ in range(a.repeats):
        for key, det in (("with_model", True), ("without_model", False)):
            ms, own, st = one_start(a.gozcu, model, det)
            runs[key].append(ms)
            if own is not None:
                inner[key].append(own)
            status[key] = st
    for key in runs:
        report["results"][key] = {
            "spawn_to_ready_ms": benchlib.stats(runs[key], 1),
            "daemon_startup_ms_log": benchlib.stats(inner[key], 1),
            "status": status[key],
        }
        s = report["results"][key]["spawn_to_ready_ms"]
        print(f"{key}: spawn to READY=1 median {s['median']} ms (min-max {s['min']}-{s['max']}); "
              f"STATUS={status[key]}")
    w, wo = (report["results"][k]["spawn_to_ready_ms"]["median"] for k in runs)
    report["model_cost_ms"] = round(w - wo, 1)
    report["machine_end"] = benchlib.machine()
    benchlib.write_json(a.out, report)


if __name__ == "__main__":
    main()
