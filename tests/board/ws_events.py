#!/usr/bin/env python3
"""Minimal WebSocket client for the aarch64 smoke run (tests/board/smoke.sh); standard
library only, so it needs nothing installed on the host besides python3.

    ws_events.py --port 8080 [--event-type motion] [--phase start] [--backend rknn]
                 [--timeout 180]

Connects to ws://127.0.0.1:PORT/api/ws/events (retrying until the daemon listens), checks
that the first message is `status`, then reads until an `event` message of the wanted type
and phase arrives. With --backend, the status must also report `ai.enabled` with that
backend before the event counts. Prints one line per step and the event as JSON; exits 0 on
success, 1 on timeout or a protocol error, with the reason.
"""

import argparse
import base64
import json
import os
import socket
import struct
import sys
import time


class ProtocolError(Exception):
    pass


def connect(port, deadline):
    """Opens the WebSocket, retrying while the daemon is still starting (under emulation
    that takes seconds)."""
    last = None
    while time.monotonic() < deadline:
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        except OSError as e:
            last = e
            time.sleep(0.5)
            continue
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            "GET /api/ws/events HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        sock.sendall(request.encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(1)
            if not chunk:
                raise ProtocolError(f"connection closed during the handshake: {head!r}")
            head += chunk
        status_line = head.split(b"\r\n", 1)[0].decode(errors="replace")
        if " 101 " not in status_line + " ":
            raise ProtocolError(f"upgrade refused: {status_line}")
        return sock
    raise ProtocolError(f"daemon not reachable on port {port}: {last}")


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ProtocolError("connection closed by the daemon")
        buf += chunk
    return buf


def send_frame(sock, opcode, payload):
    """Client frames must be masked (RFC 6455 section 5.3)."""
    mask = os.urandom(4)
    head = bytes([0x80 | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack(">H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack(">Q", n)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    sock.sendall(head + mask + masked)


def messages(sock):
    """Yields text messages; answers Ping frames (the server closes silent clients)."""
    parts = []
    while True:
        b0, b1 = recv_exact(sock, 2)
        opcode, fin = b0 & 0x0F, b0 & 0x80
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack(">H", recv_exact(sock, 2))[0]
        elif n == 127:
            n = struct.unpack(">Q", recv_exact(sock, 8))[0]
        payload = recv_exact(sock, n)
        if opcode == 0x9:
            send_frame(sock, 0xA, payload)
        elif opcode == 0x8:
            code = struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else None
            raise ProtocolError(f"daemon closed the connection (code {code})")
        elif opcode in (0x1, 0x0):
            parts.append(payload)
            if fin:
                yield b"".join(parts).decode()
                parts = []


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--event-type", default=None, help="wanted event_type (any if unset)")
    ap.add_argument("--phase", default="start")
    ap.add_argument("--backend", default=None, help="status must report ai.backend = this")
    ap.add_argument("--timeout", type=float, default=180)
    args = ap.parse_args()
    start = time.monotonic()
    deadline = start + args.timeout
    try:
        sock = connect(args.port, deadline)
        sock.settimeout(max(1.0, deadline - time.monotonic()))
        print(f"ws: connected after {time.monotonic() - start:.1f} s", flush=True)
        backend_ok = args.backend is None
        first = True
        for text in messages(sock):
            msg = json.loads(text)
            if first and msg.get("type") != "status":
                raise ProtocolError(f"first message is not status: {text[:300]}")
            first = False
            if msg.get("type") == "status":
                ai = msg["data"].get("ai", {})
                if args.backend and ai.get("enabled") and ai.get("backend") == args.backend:
                    if not backend_ok:
                        print(f"ws: status reports ai {json.dumps(ai)}", flush=True)
                    backend_ok = True
                continue
            if msg.get("type") != "event":
                continue
            ev = msg["data"]
            if ev.get("phase") != args.phase:
                continue
            if args.event_type and ev.get("event_type") != args.event_type:
                continue
            if not backend_ok:
                raise ProtocolError(
                    f"event before the status reported backend {args.backend}: {text[:300]}"
                )
            print(f"ws: event after {time.monotonic() - start:.1f} s: {json.dumps(ev)}", flush=True)
            return 0
    except (ProtocolError, OSError, ValueError, KeyError) as e:
        print(f"ws: FAIL after {time.monotonic() - start:.1f} s: {e}", file=sys.stderr)
        return 1
    return 1


if __name__ == "__main__":
    sys.exit(main())
