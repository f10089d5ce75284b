"""A flaky HTTP proxy in front of a real OpenAI-compatible server, for testing how `rank` lives with bad answers.

Each chat-completions request draws one fault from a seeded schedule (or from `script`, a list consumed in
order): `ok` forwards it untouched; `429`, `500` and `503` answer that status; `timeout` holds the request longer
than the client waits; `reset` drops the connection without answering; `truncated` sends the upstream answer cut
in half (Content-Length promising all of it); `nonjson` answers 200 with an HTML page; `absurd` answers a
well-formed completion whose text is nonsense. Other paths (models, tokenize) are forwarded untouched.
`counts` tells how many of each were served, `forwarded_ok` how many upstream answers the client got whole.
"""

from __future__ import annotations

import json
import random
import socket
import struct
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from http.server import BaseHTTPRequestHandler

from rankers.faults.loopback import LoopbackServer

FAULTS = ("429", "500", "503", "timeout", "reset", "truncated", "nonjson", "absurd")
ABSURD = (
    "I cannot rank these passages, but here is a poem about bamboo.",
    "[999] > [0] > [-3] > [banana]",
    "[1] > [1] > [1] > [1]",
    "",
)


class FlakyProxy(LoopbackServer):
    def __init__(
        self,
        upstream: str,
        rate: float = 0.5,
        faults: tuple[str, ...] = FAULTS,
        seed: int = 0,
        hang_s: float = 5.0,
        script: list[str] | None = None,
    ):
        self.upstream = upstream.rstrip("/")  # ... /v1
        self.rate, self.faults, self.hang_s = rate, faults, hang_s
        self.rng = random.Random(seed)
        self.script = list(script or [])
        self.counts: Counter = Counter()
        self.forwarded_ok = 0
        self.down = False  # answer every chat request with 503 while set
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                proxy._forward(self, None)

            def do_POST(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                proxy._forward(self, self.rfile.read(n))

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(Handler)
        self.httpd.handle_error = lambda request, address: None  # the connections it drops on purpose
        self.base_url = f"{self.url}/v1"

    def _draw(self) -> str:
        with self._lock:
            if self.down:
                kind = "503"
            elif self.script:
                kind = self.script.pop(0)
            else:
                kind = self.rng.choice(self.faults) if self.rng.random() < self.rate else "ok"
            self.counts[kind] += 1
            return kind

    def _upstream(self, h: BaseHTTPRequestHandler, body: bytes | None) -> tuple[int, bytes]:
        root = self.upstream[: -len("/v1")] if self.upstream.endswith("/v1") else self.upstream
        req = urllib.request.Request(root + h.path, data=body, method=h.command,
                                     headers={"Content-Type": "application/json"})  # fmt: skip
        try:
            with urllib.request.urlopen(req, timeout=600) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def _forward(self, h: BaseHTTPRequestHandler, body: bytes | None) -> None:
        kind = self._draw() if h.path.endswith("/chat/completions") else "ok"
        if kind in ("429", "500", "503"):
            return self._send(h, int(kind), json.dumps({"error": {"message": f"injected {kind}"}}).encode())
        if kind == "timeout":
            time.sleep(self.hang_s)
            return self._reset(h)
        if kind == "reset":
            return self._reset(h)
        if kind == "nonjson":
            return self._send(h, 200, b"<html><body>502 Bad Gateway</body></html>", "text/html")
        try:
            status, data = self._upstream(h, body)
        except OSError:
            return self._reset(h)  # upstream down: the client sees a dropped connection
        if kind == "truncated":
            h.send_response(status)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data[: len(data) // 2])
            h.wfile.flush()
            h.close_connection = True  # a clean close, short of the promised length
            return None
        if kind == "absurd" and status == 200:
            out = json.loads(data)
            with self._lock:
                out["choices"][0]["message"]["content"] = self.rng.choice(ABSURD)
            data = json.dumps(out).encode()
        elif status == 200 and h.path.endswith("/chat/completions"):
            with self._lock:
                self.forwarded_ok += 1
        self._send(h, status, data)

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, data: bytes, ctype: str = "application/json") -> None:
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    @staticmethod
    def _reset(h: BaseHTTPRequestHandler) -> None:
        """Close with a TCP RST (SO_LINGER 0), as a crashed server or a dropped link would."""
        h.close_connection = True
        try:
            h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            h.connection.close()
        except OSError:
            pass
