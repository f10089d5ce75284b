"""`rank rerank` behind a flaky proxy in front of a real llama.cpp server (SmolLM2-135M), and across a restart of
that server (rankers/faults/flaky.py): retries where a retry can help, one line where it cannot, never a ranking
built from a failed call, and a rerun that asks the server only for what the cache lacks."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import pytest
from conftest import DATA_DIR, ROOT, shared

from rankers.faults import flaky, jobs

pytestmark = pytest.mark.slow
pytest.importorskip("llama_cpp.server", reason="the llm extra (llama-cpp-python[server]) is not installed")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from rankers.llm.server import llama_server

    shared("scifact"), shared("qmsum-loco")
    work = tmp_path_factory.mktemp("flaky")
    inp = jobs.tiny_inputs(DATA_DIR, work / "inputs", docs=60)
    with llama_server("smollm2", n_ctx=2048, threads=1, log=work / "server.log") as base:
        ref = work / "reference.jsonl"
        p = flaky.rerank(inp.run, base, ref, work / "cache-ref", cwd=ROOT)
        assert p.returncode == 0, p.stderr
        yield inp, base, ref, work


@pytest.mark.parametrize("kind", ["503+truncated+nonjson", "timeout"])
def test_faults_that_outlast_the_retries_stop_with_one_line_and_the_rerun_reuses_the_cache(setup, kind):
    inp, base, ref, work = setup
    r = flaky.persistent_fault(inp.run, base, ref, work, ROOT, kind)
    assert r.ok, r
    kinds = kind.split("+")
    tries = max(2, len(kinds))  # --retries: one try per kind, at least two
    assert [r.counts[k] for k in kinds] == [tries // len(kinds)] * len(kinds), r.counts
    assert r.counts.get("ok", 0) == (kind != "timeout")  # that answer came from the cache in the rerun (r.ok)


def test_random_faults_end_in_a_whole_ranking(setup):
    inp, base, ref, work = setup
    r = flaky.random_faults(inp.run, base, work, ROOT, seed=3)
    assert r.ok, r
    assert sum(v for k, v in r.counts.items() if k != "ok") >= 2


def test_a_server_restart_within_the_retries_goes_unnoticed(setup):
    inp, base, ref, work = setup
    r = flaky.server_restart(inp.run, "smollm2", ref, work, ROOT, down_s=0.5, at_s=1.5)
    assert r.ok, r


def test_no_server_outlives_the_process_that_started_it(tmp_path):
    """SIGKILL the process that runs `llama_server` while the server generates: the server must go too (it has
    no one left to stop it), within seconds, not once the generation ends."""
    script = (
        "import sys, time\nfrom rankers.llm.server import llama_server\n"
        "with llama_server('smollm2', n_ctx=1024, threads=1, log=sys.argv[1]) as base:\n    print(base, flush=True)\n"
        "    time.sleep(600)\n"
    )
    starter = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path / "server.log")],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        base = starter.stdout.readline().strip()
        assert base.startswith("http://"), (tmp_path / "server.log").read_text()[-500:]
        (server,) = map(int, open(f"/proc/{starter.pid}/task/{starter.pid}/children").read().split())
        body = {
            "model": "local",
            "messages": [{"role": "user", "content": "Tell a long story."}],
            "max_tokens": 2000,
        }
        req = urllib.request.Request(
            f"{base}/chat/completions", json.dumps(body).encode(), {"Content-Type": "application/json"}
        )
        threading.Thread(
            target=lambda: _quietly(urllib.request.urlopen, req, timeout=120), daemon=True
        ).start()
        time.sleep(1.5)  # generating now
    finally:
        starter.send_signal(signal.SIGKILL)
        starter.wait()
    deadline = time.monotonic() + 15
    while _running(server) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _running(server), f"the server (pid {server}) outlived its starter"


def _quietly(f, *args, **kw):
    try:
        f(*args, **kw)
    except OSError:
        pass


def _running(pid: int) -> bool:
    try:
        state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
