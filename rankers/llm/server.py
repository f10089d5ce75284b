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
from collections.abc import Callable, Iterator
from pathlib import Path

from rankers.errors import RankError


def _die_with_parent() -> Callable[[], None] | None:
    """Linux: a preexec_fn that has the kernel SIGKILL the server when the thread that started it ends, even by a
    signal that skips cleanup; None elsewhere.

    PR_SET_PDEATHSIG fires on the death of the parent *thread*: enter and leave `llama_server` in one thread.
    SIGKILL, not SIGTERM: on SIGTERM uvicorn waits for the requests in flight, and a generation whose client is
    gone runs to its max_tokens first, minutes on a slow CPU. libc is loaded here, in the parent: loading a
    library between fork and exec can deadlock in a threaded process.
    """
    if not sys.platform.startswith("linux"):
        return None
    import ctypes
    import signal

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def arm() -> None:
        prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the parent died before prctl: no signal would ever come
            os._exit(1)

    return arm


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
    from rankers.llm.llamacpp import import_llama_cpp, usable_cpus
    from rankers.llm.models import resolve_gguf

    import_llama_cpp()
    path = resolve_gguf(model)
    port = port or free_port()
    cmd = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(path), "--model_alias", alias,
        "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(n_ctx),
        "--n_threads", str(threads or usable_cpus()), "--n_threads_batch", str(threads or usable_cpus()),
        *(extra or []),
    ]  # fmt: skip
    out = open(log, "ab") if log else subprocess.DEVNULL
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent())
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
        # SIGTERM lets an idle server exit cleanly; one that is generating would wait for the request to end
        # (see _die_with_parent), so it gets SIGKILL after a few seconds.
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if log:
            out.close()
