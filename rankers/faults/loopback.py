"""A local HTTP server for the fault tools and tests: a free loopback port, served from a daemon thread while in
a `with` block (the hub stand-in, the flaky proxy, the download tests' server)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class LoopbackServer:
    def __init__(self, handler: type[BaseHTTPRequestHandler]):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def start_range(h: BaseHTTPRequestHandler, size: int, honour: bool = True) -> int | None:
    """Answer a GET of `size` bytes as a file host does: 206 with Content-Range from a `Range: bytes=N-` header
    (unless `honour` is off: then the whole file, 200), 416 past the end. Sends the status, Content-Range and
    Content-Length (the caller may add headers, then ends them); returns where the body starts, None after a 416."""
    start = 0
    rng = h.headers.get("Range")
    if rng and honour:
        start = int(rng.removeprefix("bytes=").rstrip("-"))
        if start >= size:
            h.send_error(416)
            return None
        h.send_response(206)
        h.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
    else:
        h.send_response(200)
    h.send_header("Content-Length", str(size - start))
    return start
