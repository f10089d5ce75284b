"""Start and stop a local OpenAI-compatible server (`python -m llama_cpp.server`) on a loopback port.

For tests and benchmarks that exercise the `openai:` backend against a real server, and for users who want
one without writing the command line themselves.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from rankers.errors import RankError


def _die_with_parent() -> None:
    """Linux: the server gets SIGTERM when the process that started it dies, even by a signal that skips cleanup."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def llama_server(
    model: str | Path,
    n_ctx: int = 8192,
    threads: int | None = None,
    port: int | None = None,
    alias: str = "local",
    startup_s: float = 300.0,
    log: str | Path | None = None,
    extra: list[str] | None = None,
) -> Iterator[str]:
    """Serve a GGUF (a path or a short name, see rankers.llm.models) and yield its base URL (`.../v1`)."""
    from rankers.llm.llamacpp import import_llama_cpp
    from rankers.llm.models import resolve_gguf

    import_llama_cpp()
    path = resolve_gguf(model)
    port = port or free_port()
    cmd = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(path), "--model_alias", alias,
        "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(n_ctx),
        "--n_threads", str(threads or os.cpu_count() or 1), "--n_threads_batch", str(threads or os.cpu_count() or 1),
        *(extra or []),
    ]  # fmt: skip
    out = open(log, "ab") if log else subprocess.DEVNULL
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + startup_s
        while True:
            if proc.poll() is not None:
                raise RankError(
                    f"llama_cpp.server exited with status {proc.returncode} while loading {path.name}"
                )
            try:
                with urllib.request.urlopen(f"{base}/models", timeout=2) as r:
                    json.load(r)
                break
            except urllib.error.HTTPError as e:
                if e.code in (401, 403):
                    break  # up, and asking for its --api_key
                if time.monotonic() > deadline:
                    raise RankError(f"llama_cpp.server did not answer within {startup_s:.0f} s") from None
                time.sleep(0.3)
            except OSError:
                if time.monotonic() > deadline:
                    raise RankError(f"llama_cpp.server did not answer within {startup_s:.0f} s") from None
                time.sleep(0.3)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if log:
            out.close()
