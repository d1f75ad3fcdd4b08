"""Shared helpers of the benchmark drivers (Python 3 standard library only).

Statistics in the same convention as benches/support/mod.rs (linear interpolation between
closest ranks), the shared-folder lookup, machine facts for the report, and the real daemon
run from a generated config with its CPU time and RSS sampled from /proc.
"""

import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def shared_dir():
    """GOZCU_SHARED, else ../shared beside the checkout (the Makefile exports it)."""
    return Path(os.environ.get("GOZCU_SHARED") or ROOT.parent / "shared")


def quantile(sorted_values, p):
    x = (len(sorted_values) - 1) * p
    i = int(x)
    j = min(i + 1, len(sorted_values) - 1)
    return sorted_values[i] + (sorted_values[j] - sorted_values[i]) * (x - i)


def stats(values, digits=3):
    """Median, p10, p90, min, max, mean and count of `values`."""
    v = sorted(values)
    if not v:
        return {"n": 0}
    r = lambda x: round(x, digits)
    return {
        "n": len(v),
        "median": r(quantile(v, 0.5)),
        "p10": r(quantile(v, 0.1)),
        "p90": r(quantile(v, 0.9)),
        "min": r(v[0]),
        "max": r(v[-1]),
        "mean": r(sum(v) / len(v)),
    }


def machine():
    """What the figures were measured on, and how busy it was."""
    model = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kib = 0
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    except OSError:
        pass
    return {
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "host_cpu": model,
        "arch": platform.machine(),
        "cpus": os.cpu_count(),
        "mem_gib": round(mem_kib / 1048576, 1),
        "kernel": platform.release(),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }


def write_json(path, data):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {path}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def camera_toml(cam_id, device, width=1280, height=720, fps=15, detect_fps=5):
    return (
        f'[[cameras]]\nid = "{cam_id}"\ndevice = "{device}"\nwidth = {width}\n'
        f"height = {height}\nfps = {fps}\ndetect_fps = {detect_fps}\n"
    )


def daemon_toml(port, data_dir, model, cameras, detector=True, threads=2):
    """A gozcu config: loopback listener, storage in data_dir, the CPU detector on `model`
    (or backend "none"), and the given [[cameras]] blocks."""
    det = (
        f'backend = "cpu"\nmodel = "{model}"\nfamily = "yolox"\nthreads = {threads}\n'
        if detector
        else 'backend = "none"\n'
    )
    return (
        f'[server]\nlisten = ["127.0.0.1:{port}"]\n[storage]\ndir = "{data_dir}"\n'
        f"[detector]\n{det}[log]\nlevel = \"info\"\n" + "".join(cameras)
    )


class Daemon:
    """The real `gozcu run` in a temporary folder; stop() sends SIGTERM and waits."""

    def __init__(self, binary, make_config, notify_socket=None, extra_env=None):
        """make_config(port, data_dir) returns the TOML text."""
        self.dir = Path(tempfile.mkdtemp(prefix="gozcu-bench-"))
        self.port = free_port()
        self.config = self.dir / "gozcu.toml"
        self.config.write_text(make_config(self.port, self.dir / "data"))
        self.log = open(self.dir / "daemon.log", "wb")
        env = dict(os.environ)
        env.pop("NOTIFY_SOCKET", None)
        env.update(extra_env or {})
        if notify_socket:
            env["NOTIFY_SOCKET"] = notify_socket
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [str(binary), "run", "--config", str(self.config)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=env,
        )

    @property
    def pid(self):
        return self.proc.pid

    def http(self, path, timeout=2.0):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=timeout) as r:
                return r.read().decode()
        except OSError:
            return None

    def wait_health(self, check, timeout=60.0):
        """Polls /api/health until check(json) is true; the last health seen."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gozcu exited with {self.proc.returncode}:\n{self.log_text()}")
            body = self.http("/api/health")
            if body:
                last = json.loads(body)
                if check(last):
                    return last
            time.sleep(0.2)
        raise RuntimeError(f"gozcu not ready within {timeout} s; last health {last}\n{self.log_text()}")

    def log_text(self):
        self.log.flush()
        return (self.dir / "daemon.log").read_text(errors="replace")[-4000:]

    def stop(self, keep=False):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        if not keep:
            shutil.rmtree(self.dir, ignore_errors=True)


def cpu_ticks(pid):
    """utime + stime of the whole process (all threads), in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        # The command name may hold spaces: fields after the closing parenthesis.
        rest = f.read().rsplit(")", 1)[1].split()
    return int(rest[11]) + int(rest[12])


def rss_kib(pid):
    """VmRSS and VmHWM (peak) from /proc/<pid>/status, KiB."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key = line.split(":", 1)[0]
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                out[key] = int(line.split()[1])
    return out


def sample(pid, seconds, interval=1.0):
    """Samples CPU time and RSS every `interval` s for `seconds`: per-interval CPU % of one
    core, RSS MiB per sample, the whole-window CPU %, and that split by thread group."""
    g0 = thread_groups(pid)
    t0, c0 = time.monotonic(), cpu_ticks(pid)
    last_t, last_c = t0, c0
    cpu, rss, hwm, anon = [], [], 0, []
    while True:
        time.sleep(interval)
        t, c = time.monotonic(), cpu_ticks(pid)
        cpu.append(100.0 * (c - last_c) / CLK_TCK / (t - last_t))
        last_t, last_c = t, c
        m = rss_kib(pid)
        rss.append(m["VmRSS"] / 1024)
        anon.append(m.get("RssAnon", 0) / 1024)
        hwm = max(hwm, m["VmHWM"] / 1024)
        if t - t0 >= seconds - interval / 2:
            break
    g1 = thread_groups(pid)
    span = last_t - t0
    return {
        "cpu_pct_by_thread": {
            g: round(100.0 * (g1[g] - g0.get(g, 0)) / CLK_TCK / span, 2) for g in sorted(g1)
        },
        "window_s": round(last_t - t0, 1),
        "cpu_pct_total": round(100.0 * (last_c - c0) / CLK_TCK / (last_t - t0), 2),
        "cpu_pct_per_interval": stats(cpu, 2),
        "rss_mib": stats(rss, 2),
        "rss_anon_mib": stats(anon, 2),
        "rss_peak_mib": round(hwm, 2),
    }


def metric(text, name):
    """Sum of all samples of a Prometheus metric (any labels) in /metrics text."""
    total = 0.0
    for line in (text or "").splitlines():
        if line.startswith(name) and line[len(name)] in " {":
            total += float(line.rsplit(" ", 1)[1])
    return total


def thread_groups(pid):
    """CPU ticks per thread group: capture (cam-*), worker (work-*), detector
    (gozcu-detect-*, and tract's pool gozcu-tract-*), runtime (gozcu-rt), store (store-writer),
    other. Threads that exited are missing here but counted in cpu_ticks()."""
    groups = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                raw = f.read()
        except OSError:
            continue
        name = raw[raw.index("(") + 1:raw.rindex(")")]
        rest = raw.rsplit(")", 1)[1].split()
        ticks = int(rest[11]) + int(rest[12])
        if name.startswith("cam-"):
            g = "capture"
        elif name.startswith("work-"):
            g = "worker"
        elif name.startswith(("gozcu-detect", "gozcu-tract")):
            g = "detector"
        elif name.startswith("gozcu-rt"):
            g = "runtime"
        elif name.startswith("store-writer"):
            g = "store"
        else:
            g = "other"
        groups[g] = groups.get(g, 0) + ticks
    return groups
