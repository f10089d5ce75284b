"""The command line as a user runs it: `rank index bm25`, then `rank retrieve` in shell pipes (subprocesses)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import shared
from test_bm25 import mini_beir

from rankers.data import load_dataset

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
RANK = str(BIN / "rank")


def sh(script: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = os.environ | {"PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "COLUMNS": "120"}
    return subprocess.run(
        ["bash", "-o", "pipefail", "-c", script],
        cwd=cwd,
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


def clean(stderr: str) -> None:
    for bad in ("Traceback", "Exception ignored", "BrokenPipeError"):
        assert bad not in stderr, stderr


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """A small BEIR set and its index, built by the command line."""
    root = tmp_path_factory.mktemp("cli")
    mini_beir(shared("scifact"), root / "mini", docs=400)
    p = sh("rank index bm25 --dataset mini --index idx --threads 2", root)
    assert p.returncode == 0, p.stderr
    assert "indexed 400 documents of mini (en)" in p.stderr
    return root


def test_index_is_recorded_and_not_overwritten(workdir):
    meta = json.loads((workdir / "idx" / "rank-index.json").read_text())
    assert (meta["kind"], meta["language"], meta["documents"]) == ("bm25", "en", 400)
    p = sh("rank index bm25 --dataset mini --index idx", workdir)
    assert p.returncode == 2
    assert p.stderr.strip().splitlines()[-1].startswith("rank: error: --index ")
    assert "--force" in p.stderr
    clean(p.stderr)


def test_retrieve_pipes_into_retrieve(workdir):
    """The second stage reads the first one's queries from stdin; the same BM25 gives the same top 5."""
    p = sh(
        "rank retrieve --index idx --dataset mini --bm25 --hits 20 | tee first.jsonl"
        " | rank retrieve --index idx --hits 5 --with-text --output second.jsonl",
        workdir,
    )
    assert p.returncode == 0, p.stderr
    first, second = lines(workdir / "first.jsonl"), lines(workdir / "second.jsonl")
    queries = load_dataset(workdir / "mini").queries("test")
    assert [r["qid"] for r in first] == [r["qid"] for r in second] == list(queries)
    assert all(len(r["candidates"]) == 20 for r in first)
    docs = {d.docid: d.contents for d in load_dataset(workdir / "mini").documents()}
    for a, b in zip(first, second, strict=True):
        assert b["query"] == queries[b["qid"]].text
        assert [c["docid"] for c in b["candidates"]] == [c["docid"] for c in a["candidates"][:5]]
        assert [c["text"] for c in b["candidates"]] == [docs[c["docid"]] for c in b["candidates"]]


def test_head_ends_the_pipe_without_a_traceback(workdir):
    p = sh("rank retrieve --index idx --dataset mini --hits 1000 2>err.txt | head -1 > one.jsonl", workdir)
    assert p.returncode == 0, (workdir / "err.txt").read_text()
    clean((workdir / "err.txt").read_text())
    (row,) = lines(workdir / "one.jsonl")
    assert row["qid"] == next(iter(load_dataset(workdir / "mini").queries("test")))


def test_stdin_queries_topics_and_errors(workdir):
    piped = '{"qid": "empty", "query": ""}\n{"qid": "i", "query": "insulin resistance"}\n'
    p = sh("rank retrieve --index idx --hits 3", workdir, stdin=piped)
    assert p.returncode == 0, p.stderr
    out = [json.loads(x) for x in p.stdout.splitlines()]
    assert [r["qid"] for r in out] == ["empty", "i"]
    assert out[0]["candidates"] == [] and len(out[1]["candidates"]) == 3
    assert "1 queries have no text" in p.stderr

    (workdir / "topics.tsv").write_text("qid\tquery\nt1\tinsulin resistance\n", encoding="utf-8")
    p = sh("rank retrieve --index idx --topics topics.tsv --hits 3 --output run.trec", workdir)
    assert p.returncode == 0, p.stderr
    rows = [x.split() for x in (workdir / "run.trec").read_text().splitlines()]
    assert [r[0] for r in rows] == ["t1"] * 3 and [r[5] for r in rows] == ["bm25"] * 3
    assert [r[2] for r in rows] == [c["docid"] for c in out[1]["candidates"]]

    for script, message in (
        ("rank retrieve --index idx --dataset mini --language zh", "built with --language en"),
        ("rank retrieve --index nowhere --dataset mini", "--index nowhere: no such index"),
        ("rank retrieve --index idx --dataset mini --topics topics.tsv", "pass one of them"),
    ):
        p = sh(script, workdir)
        assert p.returncode == 2, script
        assert message in p.stderr, p.stderr
        clean(p.stderr)


def test_a_piped_run_is_the_input_and_the_dataset_fills_what_it_lacks(workdir):
    """`rank expand ... | rank retrieve --dataset D`: the piped (expanded) queries are searched, not D's own."""
    queries = load_dataset(workdir / "mini").queries("test")
    qid = next(iter(queries))
    piped = (
        json.dumps({"qid": qid, "query": "insulin resistance"})
        + "\n"
        + json.dumps({"qid": "x", "query": "bees"})
    )
    p = sh("rank retrieve --index idx --dataset mini --hits 3", workdir, stdin=piped + "\n")
    assert p.returncode == 0, p.stderr
    out = [json.loads(x) for x in p.stdout.splitlines()]
    assert [r["qid"] for r in out] == [qid, "x"]  # the pipe's queries only, in its order
    assert out[0]["query"] == "insulin resistance"  # the piped text wins over the dataset's
    assert "the queries are the piped run's" in p.stderr
    # A piped query without text takes the dataset's; one the dataset does not know either is an error.
    p = sh(
        "rank retrieve --index idx --dataset mini --hits 3", workdir, stdin=json.dumps({"qid": qid}) + "\n"
    )
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["query"] == queries[qid].text
    p = sh("rank retrieve --index idx --dataset mini --hits 3", workdir, stdin='{"qid": "nope"}\n')
    assert p.returncode == 2 and "query nope: the run has no text for it" in p.stderr
    # An empty pipe is no run: the dataset's queries are searched.
    p = sh("rank retrieve --index idx --dataset mini --hits 3", workdir, stdin="")
    assert p.returncode == 0 and len(p.stdout.splitlines()) == len(queries)


def test_recency_takes_query_dates_a_trec_run_lacks_from_the_dataset(tmp_path):
    """A TREC run has no query dates: `rank recency --dataset D` reads them from D's queries."""
    realtimeqa = shared("realtimeqa")
    ds = load_dataset(realtimeqa)
    dated = [q for q in ds.queries().values() if q.date][:3]
    docs = [d.docid for d, _ in zip(ds.documents(), range(20), strict=False)]
    run = tmp_path / "run.trec"
    run.write_text("".join(f"{q.qid} Q0 {d} {i} {20 - i} x\n" for q in dated for i, d in enumerate(docs, 1)))
    p = sh(f"rank recency {run} --dataset {realtimeqa} --recency-tau 30", tmp_path)
    assert p.returncode == 0, p.stderr
    assert "have no date" not in p.stderr
    assert [json.loads(x)["date"] for x in p.stdout.splitlines()] == [q.date for q in dated]
