"""Fusion through ranx: the fused scores follow the published formulas; the command reads and writes runs."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import ROOT

from rankers.errors import RankError
from rankers.fusion import fuse, fuse_runs, hybrid_search
from rankers.io import read_run, write_run
from rankers.run import Candidate, Query, Ranking


def run(rows: dict[str, list[tuple[str, float]]], text: str = "") -> list[Ranking]:
    return [
        Ranking(Query(q, text or f"text of {q}"), [Candidate(d, s) for d, s in c]) for q, c in rows.items()
    ]


A = run({"q1": [("a", 12.0), ("b", 9.0), ("c", 3.0)], "q2": [("x", 5.0), ("y", 4.0)]})
B = run({"q1": [("c", 0.9), ("a", 0.8), ("d", 0.1)], "q2": [("y", 0.7), ("z", 0.5)]})


def scores(rankings: list[Ranking]) -> dict[str, dict[str, float]]:
    return {r.qid: {c.docid: c.score for c in r.candidates} for r in rankings}


def test_rrf_is_the_sum_of_reciprocal_ranks():
    fused, report = fuse([A, B], "rrf")
    s = scores(fused)
    assert s["q1"]["a"] == pytest.approx(1 / 61 + 1 / 62)
    assert s["q1"]["c"] == pytest.approx(1 / 63 + 1 / 61)
    assert s["q1"]["b"] == pytest.approx(1 / 62) and s["q1"]["d"] == pytest.approx(1 / 63)
    assert [c.docid for c in fused[0].candidates] == ["a", "c", "b", "d"]
    assert report["norm"] == "none"
    fused_k, _ = fuse([A, B], "rrf", params={"k": 10})
    assert scores(fused_k)["q1"]["a"] == pytest.approx(1 / 11 + 1 / 12)


def test_combsum_and_combmnz_on_min_max_scores():
    s = scores(fuse([A, B], "combsum")[0])
    # min-max per query: A q1 a=1, b=6/9, c=0; B q1 c=1, a=0.875, d=0
    assert s["q1"]["a"] == pytest.approx(1 + 0.875)
    assert s["q1"]["c"] == pytest.approx(0 + 1)
    m = scores(fuse([A, B], "combmnz")[0])
    assert m["q1"]["a"] == pytest.approx(2 * 1.875) and m["q1"]["b"] == pytest.approx(6 / 9)


def test_wsum_weights():
    s = scores(fuse([A, B], "wsum", weights=[0.2, 0.8])[0])
    assert s["q1"]["a"] == pytest.approx(0.2 * 1 + 0.8 * 0.875)
    with pytest.raises(RankError, match="2 runs"):
        fuse([A, B], "wsum", weights=[1.0])
    with pytest.raises(RankError, match="takes no weights"):
        fuse([A, B], "rrf", weights=[1.0, 2.0])


def test_query_text_hits_and_missing_queries():
    only_q1 = run({"q1": [("d", 1.0), ("a", 0.5)]})
    fused, _ = fuse([A, only_q1], "rrf", hits=2)
    assert [r.qid for r in fused] == ["q1", "q2"]
    assert fused[0].query.text == "text of q1" and all(len(r.candidates) <= 2 for r in fused)
    assert [c.docid for c in fused[1].candidates] == ["x", "y"]  # only run A has q2


def test_optimize_on_qrels_picks_the_better_weights():
    qrels = {"q1": {"c": 1}, "q2": {"y": 1}}  # B ranks these first, A does not
    fused, report = fuse([A, B], "wsum", optimize_qrels=qrels, metric="ndcg@1")
    w = report["params"]["weights"]
    assert w[1] > w[0]
    assert [r.candidates[0].docid for r in fused] == ["c", "y"]


def test_fuse_runs_tunes_on_the_qrels_of_a_dataset_split(tmp_path):
    ds = tmp_path / "tiny"
    (ds / "qrels").mkdir(parents=True)
    (ds / "corpus.jsonl").write_text("".join(f'{{"_id": "{d}", "text": "t"}}\n' for d in "abcdxyz"))
    (ds / "queries.jsonl").write_text('{"_id": "q1", "text": "one"}\n{"_id": "q2", "text": "two"}\n')
    (ds / "qrels" / "dev.tsv").write_text("query-id\tcorpus-id\tscore\nq1\tc\t1\nq2\ty\t1\n")
    (ds / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\ta\t1\nq2\tx\t1\n")
    _, report = fuse_runs([A, B], "wsum", optimize_on=f"{ds}:dev", metric="ndcg@1")
    w = report["params"]["weights"]
    assert w[1] > w[0]  # dev favours run B
    _, report = fuse_runs([A, B], "wsum", optimize_on=f"{ds}:test", metric="ndcg@1")
    w = report["params"]["weights"]
    assert w[0] > w[1]  # test favours run A
    fused, report = fuse_runs([A, B], "rrf", rrf_k=10, hits=1)
    assert report["params"] == {"k": 10} and all(len(r.candidates) == 1 for r in fused)


def test_hybrid_search_fuses_both_searchers_runs_and_tracks_each_stage():
    class Fixed:
        def __init__(self, rankings):
            self.by_q = {r.qid: r for r in rankings}
            self.asked = []

        def search(self, queries, hits):
            for q in queries:
                self.asked.append((q.qid, hits))
                yield Ranking(q.query, self.by_q[q.qid].candidates[:hits])

    lexical, dense = Fixed(A), Fixed(B)
    seen = []

    def track(stage, stream):
        for r in stream:
            seen.append((stage, r.qid))
            yield r

    queries = iter([Ranking(Query("q1", "one"), []), Ranking(Query("q2", "two"), [])])
    fused = hybrid_search(queries, lexical, dense, 2, "wsum", weights=[1.0, 0.0], track=track)
    assert lexical.asked == dense.asked == [("q1", 2), ("q2", 2)]
    assert seen == [("bm25", "q1"), ("bm25", "q2"), ("dense", "q1"), ("dense", "q2")]
    # weight 0 on dense: BM25's order, cut to 2 hits
    assert [[c.docid for c in r.candidates] for r in fused] == [["a", "b"], ["x", "y"]]
    rrf = hybrid_search(iter([Ranking(Query("q1", "one"), [])]), lexical, dense, 3)
    assert [c.docid for c in rrf[0].candidates] == ["a", "c", "b"]


def test_bad_input():
    with pytest.raises(RankError, match="at least two"):
        fuse([A], "rrf")
    with pytest.raises(RankError, match="--method nope"):
        fuse([A, B], "nope")
    with pytest.raises(RankError, match="--norm"):
        fuse([A, B], "combsum", norm="nope")
    with pytest.raises(RankError, match="nothing to optimize|no parameter"):
        fuse([A, B], "combsum", optimize_qrels={"q1": {"a": 1}})


def test_rank_fuse_command(tmp_path):
    a, b, out = tmp_path / "a.trec", tmp_path / "b.jsonl", tmp_path / "fused.trec"
    write_run(A, a)
    write_run(B, b)
    cmd = [sys.executable, "-m", "cli.main", "fuse", str(a), str(b), "--method", "rrf", "-o", str(out)]
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 0, p.stderr
    got = {r.qid: [c.docid for c in r.candidates] for r in read_run(out)}
    assert got == {"q1": ["a", "c", "b", "d"], "q2": ["y", "x", "z"]}
    p = subprocess.run([*cmd[:4], str(a), "--method", "rrf"], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 2 and "at least two runs" in p.stderr
