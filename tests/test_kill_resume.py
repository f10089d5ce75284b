"""Kill anywhere, resume to the same result (the short form of `make bench-faults`): a few commands on tiny inputs,
killed with SIGKILL at seeded random moments, rerun to completion and compared with an uninterrupted run, while
the output path is watched for anything half-written (rankers/faults/kill.py)."""

from __future__ import annotations

import random

import pytest
from conftest import DATA_DIR, ROOT, shared

from rankers.faults import jobs
from rankers.faults.kill import leftovers, reference, trial

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    shared("scifact"), shared("qmsum-loco")
    return jobs.tiny_inputs(DATA_DIR, tmp_path_factory.mktemp("inputs"), docs=60)


def _kill_twice(job, tmp_path, seed: int, warm_up: bool = False) -> None:
    # warm_up: a first run of rerank is slower (the server's first prompts); moments drawn over it would mostly
    # fall after the later, faster runs have ended.
    ref = reference(job, tmp_path, ROOT, warm_up=warm_up)
    rng = random.Random(seed)
    outcomes = [trial(ref, tmp_path, ROOT, rng, kills=k, n=k) for k in (1, 2)]
    for k, o in zip((1, 2), outcomes, strict=True):
        assert o.ok, (job.name, o)
        # Nothing half-written left beside the output once a run has completed (temporary files of dead runs).
        assert leftovers(tmp_path / f"{job.name.replace(' ', '-')}-{k}") == [], job.name
    assert any(o.killed for o in outcomes)


def test_data_get_killed_resumes_to_the_same_files(inputs, tmp_path):
    with jobs.HubServer(inputs.loco_docs, inputs.loco_queries) as hub:
        _kill_twice(jobs.data_get_job(hub.url), tmp_path, seed=1)


def test_rerank_killed_resumes_from_the_cache_to_the_same_ranking(inputs, tmp_path):
    pytest.importorskip(
        "llama_cpp.server", reason="the llm extra (llama-cpp-python[server]) is not installed"
    )
    from rankers.llm.server import llama_server

    with llama_server("smollm2", n_ctx=2048, threads=1, log=tmp_path / "server.log") as base:
        _kill_twice(jobs.rerank_job(inputs, base, "sliding"), tmp_path, seed=2, warm_up=True)


def test_a_partial_output_is_seen(tmp_path, monkeypatch):
    """The watcher itself: a file written in two steps straight at the output path is caught."""
    import sys

    import rankers.faults.kill as kill

    (tmp_path / "ref").mkdir()
    (tmp_path / "ref" / "out.txt").write_text("a" * 100_000)
    script = "import time,sys; f=open(sys.argv[1],'w'); f.write('a'*50000); f.flush(); time.sleep(0.5); f.write('a'*50000)"
    monkeypatch.setattr(
        kill, "_argv", lambda job, work: ([sys.executable, "-c", script, str(work / "out.txt")], {})
    )
    job = kill.Job("writer", [], "out.txt", kill.same_bytes)
    rc, _, bad = kill.run_to_end(job, tmp_path / "w", ROOT, tmp_path / "ref" / "out.txt")
    assert rc == 0 and bad and "partial output at out.txt" in bad[0]
