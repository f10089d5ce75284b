"""A stand-in for a remote OpenAI-compatible API, for testing and benchmarking our endpoint scheduler (not a
model): every chat call is answered after a fixed delay with a scripted permutation of the passages in the
prompt ([1]..[n], answered in reverse order), and the server counts the calls it got and the most it held at once.
It has no tokenize endpoint (404), so the client estimates tokens, as it does against OpenAI itself.

    with delay_server(delay=0.2) as (url, stats):
        ...  # url: http://127.0.0.1:PORT/v1; stats["calls"], stats["max_inflight"]
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_ID = re.compile(r"\[(\d+)\]")


def permutation_answer(messages: list[dict[str, str]]) -> str:
    """The passages of the prompt, [1]..[n] (n: the largest run of ids from 1 that all appear), reversed."""
    seen = {int(m) for msg in messages for m in _ID.findall(msg.get("content", ""))}
    n = 0
    while n + 1 in seen:
        n += 1
    return " > ".join(f"[{i}]" for i in range(n, 0, -1))


@contextlib.contextmanager
def delay_server(
    delay: float = 0.2, fail_first: int = 0, status: int = 503, jitter: float = 0.0, seed: int = 0
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Serve on a free loopback port; the first `fail_first` chat calls get HTTP `status` (after the delay).
    `jitter`: each delay is drawn uniformly within +- that fraction of `delay` (a seeded draw)."""
    import random

    rng = random.Random(seed)
    stats: dict[str, Any] = {"calls": 0, "inflight": 0, "max_inflight": 0, "failed": 0}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            return None

        def _send(self, code: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path.rstrip("/") == "/v1/models":
                self._send(200, {"data": [{"id": "delay", "context_length": 65536}]})
            else:
                self._send(404, {"error": {"message": "not found"}})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            if self.path != "/v1/chat/completions":
                self._send(404, {"error": {"message": "not found"}})
                return
            with lock:
                stats["calls"] += 1
                stats["inflight"] += 1
                stats["max_inflight"] = max(stats["max_inflight"], stats["inflight"])
                fail = stats["calls"] <= fail_first
                wait = delay * (1 + jitter * (2 * rng.random() - 1))
            try:
                time.sleep(wait)
            finally:
                with lock:
                    stats["inflight"] -= 1
            if fail:
                with lock:
                    stats["failed"] += 1
                self._send(status, {"error": {"message": "overloaded"}})
                return
            text = permutation_answer(body.get("messages") or [])
            prompt = sum(len(m.get("content", "")) for m in body.get("messages") or []) // 4
            self._send(
                200,
                {
                    "choices": [{"message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": prompt, "completion_tokens": max(1, len(text) // 3)},
                },
            )

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 128

    httpd = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", stats
    finally:
        httpd.shutdown()
        httpd.server_close()


def main() -> None:
    """`python tests/delay_server.py --delay 0.2 --servers 4`: print one base URL a line, serve until stdin closes
    (bench/rerank_scale.py runs the servers in their own process, away from the client's GIL)."""
    import argparse
    import sys

    ap = argparse.ArgumentParser()
    ap.add_argument("--delay", type=float, default=0.2)
    ap.add_argument("--servers", type=int, default=1)
    ap.add_argument("--jitter", type=float, default=0.0)
    args = ap.parse_args()
    with contextlib.ExitStack() as stack:
        for i in range(args.servers):
            url, _stats = stack.enter_context(delay_server(args.delay, jitter=args.jitter, seed=i))
            print(url, flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    main()
