"""Two processes at once: one response cache shared by two writers, two builds of one index, a search while the
index it reads is rebuilt; and an API key that never reaches a file or a stream."""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from rankers.io import read_run, write_run
from rankers.run import Candidate, Query, Ranking

ROOT = Path(__file__).resolve().parent.parent


def rank(*args: str, env: dict | None = None, **kw) -> subprocess.CompletedProcess:
    env = (env or dict(os.environ)) | {"PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "cli.main", *args], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, env=env, cwd=ROOT, timeout=600, **kw)  # fmt: skip


# ---------------------------------------------------------------- the response cache


def _writer(directory: str, worker: int, n: int) -> None:
    from rankers.llm.cache import ResponseCache

    cache = ResponseCache(directory)
    for i in range(n):
        cache.put(f"shared-{i}", {"text": f"same answer {i}"})  # both processes write these
        cache.put(f"w{worker}-{i}", {"text": f"answer {worker}-{i}" * 20})
        assert cache.get(f"w{worker}-{i}") is not None
    cache.close()


def test_two_processes_share_one_response_cache(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), w, 300)) for w in (0, 1)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(300)
    assert [p.exitcode for p in procs] == [0, 0]
    from rankers.llm.cache import ResponseCache

    cache = ResponseCache(tmp_path)
    assert len(cache) == 3 * 300
    assert cache.get("w1-299") == {"text": "answer 1-299" * 20}
    assert cache.get("shared-7") == {"text": "same answer 7"}
    cache.close()


# ---------------------------------------------------------------- one index, two processes


def beir(folder: Path, n_docs: int, seed: int, extra: str = "", every: int = 7) -> Path:
    rnd = random.Random(seed)
    words = [f"w{i}" for i in range(2000)]
    folder.mkdir(parents=True)
    with open(folder / "corpus.jsonl", "w") as f:
        for i in range(n_docs):
            text = " ".join(rnd.choices(words, k=60)) + (f" panda bamboo {extra}" if i % every == 0 else "")
            f.write(json.dumps({"_id": f"d{i}", "title": "", "text": text}) + "\n")
    (folder / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": f"panda bamboo {extra}"}) + "\n")
    (folder / "qrels").mkdir()
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td0\t1\n")
    return folder


def test_a_second_build_of_one_index_is_refused_while_the_first_runs(tmp_path):
    """The build lock is held (here by this process, as a build holds it): `rank index bm25` refuses at once with
    one line naming the holder, and touches nothing."""
    from rankers.locks import building

    data = beir(tmp_path / "data", 20, 1)
    idx = tmp_path / "idx"
    with building(idx, "--index", "index"):
        p = rank("index", "bm25", "--dataset", str(data), "--index", str(idx))
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
    assert (
        p.stderr.count("\n") == 1 and f"pid {os.getpid()}" in p.stderr and "building this index" in p.stderr
    )
    assert not idx.exists() and not list(tmp_path.glob(".idx.build-*"))


@pytest.mark.slow
def test_two_builds_at_once_leave_one_whole_index(tmp_path):
    """Started together: one builds, the other is refused or waits its turn (if the first was already done); never
    a mixed or broken index, never a traceback, never a build folder left behind."""
    data = beir(tmp_path / "data", 3000, 1)
    idx = tmp_path / "idx"
    env = dict(os.environ) | {"PYTHONPATH": str(ROOT)}
    cmd = [
        sys.executable,
        "-m",
        "cli.main",
        "index",
        "bm25",
        "--dataset",
        str(data),
        "--index",
        str(idx),
        "--force",
    ]
    procs = [subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL, text=True, env=env, cwd=ROOT) for _ in range(2)]  # fmt: skip
    results = [(p.wait(600), p.stderr.read()) for p in procs]
    for code, err in results:
        assert "Traceback" not in err, err
        assert code == 0 or (code == 2 and "is building this index now" in err), err
    assert any(code == 0 for code, _ in results)
    meta = json.loads((idx / "rank-index.json").read_text())
    assert meta["documents"] == 3000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "idx"]


@pytest.mark.slow
def test_a_search_during_rebuilds_reads_a_whole_index(tmp_path):
    """Searches opened over and over while another process rebuilds the index (alternating two collections):
    every search succeeds and returns exactly the old index's or the new index's ranking."""
    from rankers.bm25 import Bm25Searcher

    one, two = beir(tmp_path / "one", 300, 1, "alpha"), beir(tmp_path / "two", 300, 2, "alpha", every=5)
    idx = tmp_path / "idx"
    assert rank("index", "bm25", "--dataset", str(one), "--index", str(idx)).returncode == 0

    def search() -> list[tuple[str, float]]:
        with Bm25Searcher(idx) as s:
            (r,) = s.search([Ranking(Query("q1", "panda bamboo alpha"))], hits=10)
        return [(c.docid, c.score) for c in r.candidates]

    expected = {json.dumps(search())}
    script = (
        "import subprocess, sys\n"
        f"for d in [{str(two)!r}]:\n"
        f"    subprocess.run([sys.executable, '-m', 'cli.main', 'index', 'bm25', '--dataset', d, '--index', {str(idx)!r},"
        " '--force'], check=True, stdin=subprocess.DEVNULL)\n"
    )
    env = dict(os.environ) | {"PYTHONPATH": str(ROOT)}
    rebuild = subprocess.Popen(
        [sys.executable, "-c", script], cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True
    )
    seen, opens = set(), 0
    while rebuild.poll() is None:
        seen.add(json.dumps(search()))
        opens += 1
    assert rebuild.returncode == 0, rebuild.stderr.read()
    expected.add(json.dumps(search()))  # the last build is `two`'s
    assert opens > 3 and seen <= expected, (opens, len(seen))
    assert len(expected) == 2  # the two collections rank differently: a mix would show
    assert not list(tmp_path.glob(".idx.build-*")) and not list(tmp_path.glob(".idx.old-*"))


# ---------------------------------------------------------------- two reranks, one cache, one secret key


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    pytest.importorskip(
        "llama_cpp.server", reason="the llm extra (llama-cpp-python[server]) is not installed"
    )
    from rankers.llm.server import llama_server

    log = tmp_path_factory.mktemp("server") / "server.log"
    # The server demands the key: a run that did not send it would fail, so the key is known to be in use.
    with llama_server("smollm2", n_ctx=2048, log=log, extra=["--api_key", MARKER]) as base_url:
        yield base_url


MARKER = "sk-rank-test-7f3a9c1e5b2d4e60-SECRET"


@pytest.mark.slow
def test_two_reranks_share_a_cache_and_the_api_key_is_never_written(server, tmp_path):
    src = tmp_path / "in.jsonl"
    write_run(
        [Ranking(Query(f"q{k}", f"what do pandas eat {k}"),
                 [Candidate(f"d{k}-{i}", 10.0 - i, f"passage {i} on pandas") for i in range(6)]) for k in range(3)],
        src,
    )  # fmt: skip
    cache = tmp_path / "cache"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")} | {"PYTHONPATH": str(ROOT)}
    args = ["rerank", str(src), "--llm", "openai:local", "--base-url", server, "--hits", "6", "--mode", "full",
            "--max-passage-tokens", "12", "--cache-dir", str(cache)]  # fmt: skip
    outs = [tmp_path / "a.trec", tmp_path / "b.jsonl"]
    procs = [
        subprocess.Popen([sys.executable, "-m", "cli.main", *args, "-o", str(outs[0]), "--api-key", MARKER],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env, cwd=ROOT),
        subprocess.Popen([sys.executable, "-m", "cli.main", *args, "-o", str(outs[1])],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                         env=env | {"OPENAI_API_KEY": MARKER}, cwd=ROOT),
    ]  # fmt: skip
    streams = []
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err.decode()
        streams += [out, err]
    a, b = list(read_run(outs[0])), list(read_run(outs[1]))
    assert [[c.docid for c in r.candidates] for r in a] == [[c.docid for c in r.candidates] for r in b]
    # A third run, piped, from the cache alone: every answer is there once, written by whichever came first.
    keyless = rank(*args, "--no-cache", env=env)  # the server refuses it: the runs above did send the key
    assert keyless.returncode != 0 and "Traceback" not in keyless.stderr, keyless.stderr
    third = rank(*args, env=env | {"OPENAI_API_KEY": MARKER})
    assert third.returncode == 0 and "0 LLM calls" in third.stderr, third.stderr
    streams += [third.stdout.encode(), third.stderr.encode()]
    written = [f for f in tmp_path.rglob("*") if f.is_file()]
    assert any(f.name.startswith("responses.sqlite") for f in written) and any(
        f.name.endswith(".cost.json") for f in written
    )
    key = MARKER.encode()
    for f in written:
        assert key not in f.read_bytes(), f"the API key is in {f}"
    for s in streams:
        assert key not in s
