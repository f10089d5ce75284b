"""`rank rerank` behind a flaky proxy in front of a real llama.cpp server (SmolLM2-135M), and across a restart of
that server (rankers/faults/flaky.py): retries where a retry can help, one line where it cannot, never a ranking
built from a failed call, and a rerun that asks the server only for what the cache lacks."""

from __future__ import annotations

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
    with llama_server("smollm2", n_ctx=2048, log=work / "server.log") as base:
        ref = work / "reference.jsonl"
        p = flaky.rerank(inp.run, base, ref, work / "cache-ref", cwd=ROOT)
        assert p.returncode == 0, p.stderr
        yield inp, base, ref, work


@pytest.mark.parametrize("kind", ["503", "timeout", "truncated", "nonjson"])
def test_a_fault_that_persists_stops_with_one_line_and_the_rerun_reuses_the_cache(setup, kind):
    inp, base, ref, work = setup
    r = flaky.persistent_fault(inp.run, base, ref, work, ROOT, kind)
    assert r.ok, r
    assert r.counts[kind] == 2  # --retries 1: two tries, then one line


def test_random_faults_end_in_a_whole_ranking(setup):
    inp, base, ref, work = setup
    r = flaky.random_faults(inp.run, base, work, ROOT, seed=3)
    assert r.ok, r
    assert sum(v for k, v in r.counts.items() if k != "ok") >= 2


def test_a_server_restart_within_the_retries_goes_unnoticed(setup):
    inp, base, ref, work = setup
    r = flaky.server_restart(inp.run, "smollm2", ref, work, ROOT, down_s=0.5, at_s=1.5)
    assert r.ok, r
