"""QEMU guest handling for the VM suite: builds the kernel/initramfs pair, boots a guest
under TCG with the daemon's HTTP port and the control shell forwarded to loopback, runs
commands in it and polls it. Python standard library only; the scenarios are in run.py."""

import ctypes
import http.client
import os
import signal
import socket
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))
WORK = os.path.join(HERE, "work")
BOOT_TIMEOUT = 90.0


class Failure(Exception):
    pass


class Reporter:
    """Prints one PASS/FAIL line per step with the time since the variant started."""

    def __init__(self, variant):
        self.variant = variant
        self.t0 = time.monotonic()
        self.failed = False

    def elapsed(self):
        return time.monotonic() - self.t0

    def ok(self, step, detail=""):
        suffix = f": {detail}" if detail else ""
        print(f"PASS [{self.variant}] {step} (t={self.elapsed():.1f}s){suffix}", flush=True)

    def fail(self, step, detail):
        self.failed = True
        print(f"FAIL [{self.variant}] {step} (t={self.elapsed():.1f}s): {detail}", flush=True)


def die_with_parent():
    """Runs in the QEMU child before exec: the kernel kills it if this driver dies, even by
    SIGKILL, so no VM outlives a test run."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kernel_and_initrd(gozcu, config_path):
    """Runs build-initramfs.sh (cached); returns (kernel, initrd) paths."""
    cmd = [os.path.join(HERE, "build-initramfs.sh")]
    if gozcu:
        cmd += ["--gozcu", gozcu, "--config", config_path]
    t = time.monotonic()
    out = subprocess.run(cmd, check=False, capture_output=True, text=True)
    if out.returncode != 0:
        raise Failure(f"build-initramfs.sh failed:\n{out.stderr.strip()}")
    vals = dict(line.split("=", 1) for line in out.stdout.split() if "=" in line)
    size = os.path.getsize(vals["INITRD"]) / 1e6
    print(f"initramfs ready in {time.monotonic() - t:.1f}s: {vals['INITRD']} ({size:.1f} MB)",
          flush=True)
    return vals["KERNEL"], vals["INITRD"]


class Vm:
    """One QEMU guest with the HTTP port (8080) and the control shell (2323) forwarded."""

    def __init__(self, name, kernel, initrd, append):
        self.http_port = free_port()
        self.ctl_port = free_port()
        self.log_path = os.path.join(WORK, f"{name}-serial.log")
        self.log = open(self.log_path, "wb")
        fwd = (f"hostfwd=tcp:127.0.0.1:{self.http_port}-:8080,"
               f"hostfwd=tcp:127.0.0.1:{self.ctl_port}-:2323")
        cmd = ["qemu-system-x86_64", "-accel", "tcg", "-cpu", "max", "-m", "512M", "-smp", "1",
               "-nographic", "-no-reboot", "-kernel", kernel, "-initrd", initrd,
               # clocksource=hpet: under a loaded TCG host the kernel can miscalibrate the
               # TSC (seen: guest time running 10x fast); HPET follows the host clock.
               "-append", f"console=ttyS0 quiet panic=-1 clocksource=hpet {append}",
               # No option ROM: iPXE is only for network boot and costs time under TCG.
               "-device", "e1000,netdev=n0,romfile=", "-netdev", f"user,id=n0,{fwd}"]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True,
                                     preexec_fn=die_with_parent)

    def serial(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.log.close()

    def ctl(self, command, timeout=60.0):
        """Runs a shell command in the guest; returns (exit code, output with stderr).
        `timeout` bounds each wait for output: a hang guard, generous because the emulated
        guest shares two host cores with a debug daemon streaming cameras."""
        script = f"{{ {command}\n}} 2>&1; echo \"__rc=$?\"; exit\n".encode()
        with socket.create_connection(("127.0.0.1", self.ctl_port), timeout=timeout) as s:
            s.sendall(script)
            chunks = []
            while True:
                b = s.recv(65536)
                if not b:
                    break
                chunks.append(b)
        out = b"".join(chunks).decode("utf-8", "replace")
        head, sep, tail = out.rpartition("__rc=")
        if not sep:
            raise ConnectionError(f"control shell gave no exit code (got {out!r})")
        return int(tail.strip() or "255"), head

    def ctl_ok(self, command, timeout=60.0):
        rc, out = self.ctl(command, timeout)
        if rc != 0:
            raise Failure(f"`{command}` exited {rc}: {out.strip()}")
        return out

    def http_get(self, path, timeout=5.0):
        conn = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=timeout)
        try:
            # The Host a client on the device's own network would send.
            conn.request("GET", path, headers={"Host": "localhost:8080"})
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()


def wait_for(what, fn, timeout, interval=0.5, vm=None):
    """Polls fn() -> (done, state) until done; raises Failure with the last state."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            done, last = fn()
            if done:
                return last
        except (OSError, ConnectionError, http.client.HTTPException, ValueError) as e:
            last = f"{type(e).__name__}: {e}"
        if vm is not None and not vm.alive():
            raise Failure(f"{what}: QEMU exited (rc {vm.proc.returncode})")
        if vm is not None and "gozcu-vm: gozcu exited" in vm.serial():
            raise Failure(f"{what}: the daemon exited; last state: {last}")
        if time.monotonic() > deadline:
            raise Failure(f"{what}: not reached within {timeout:.0f}s; last state: {last}")
        time.sleep(interval)


def wait_ctl(vm, timeout=BOOT_TIMEOUT):
    def probe():
        # Short timeout: before the guest listens, QEMU's user net holds the connection
        # open while it retries the guest SYN, so a new attempt is quicker than waiting.
        rc, out = vm.ctl("echo up", timeout=2)
        return rc == 0 and "up" in out, out.strip()
    wait_for("control shell", probe, timeout, vm=vm)


def indent(text, prefix="    | "):
    return "\n".join(prefix + line for line in text.rstrip().splitlines())


def dump_logs(vm):
    """Prints the end of the daemon log and of the serial console (after a failure)."""
    if vm.alive():
        try:
            _, log = vm.ctl("tail -n 60 /tmp/gozcu.log", timeout=5)
            print("--- last lines of the daemon log (/tmp/gozcu.log in the VM):")
            print(indent(log))
        except (OSError, ConnectionError) as e:
            print(f"--- daemon log unavailable: {e}")
    print(f"--- last lines of the serial console ({vm.log_path}):")
    print(indent("\n".join(vm.serial().splitlines()[-40:])), flush=True)
