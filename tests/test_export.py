"""rank export: TREC and MS MARCO leaderboard files, checked against the split before anything is written."""

from __future__ import annotations

import json

import pytest
from clirun import rank
from conftest import shared

from rankers.errors import RankError
from rankers.export import check_submission, write_submission
from rankers.io import read_run, write_run
from rankers.run import Candidate, Query, Ranking


def _r(qid: str, docids: list[str], scores: list[float] | None = None) -> Ranking:
    scores = scores if scores is not None else [float(len(docids) - i) for i in range(len(docids))]
    return Ranking(Query(qid, ""), [Candidate(d, s) for d, s in zip(docids, scores, strict=True)])


@pytest.fixture(scope="module")
def scifact_run(tmp_path_factory):
    """A run over every scifact test query: 5 fillers, then the relevant docs (order given = ranking)."""
    from rankers.data import load_dataset

    qrels = load_dataset(shared("scifact")).qrels("test")
    path = tmp_path_factory.mktemp("export") / "bm25.jsonl"
    rankings = [_r(q, [f"{q}-f{i}" for i in range(5)] + sorted(docs)) for q, docs in sorted(qrels.items())]
    write_run(rankings, path)
    return path, rankings


def test_trec_file_has_tag_contiguous_ranks_and_decreasing_scores(tmp_path):
    # Tied scores and an order that disagrees with them: the order given is what gets written.
    rankings = [_r("q1", ["a", "b", "c", "d"], [2.0, 2.0, 2.0, 1.0]), _r("q2", ["x", "y"], [0.5, 0.9])]
    out = tmp_path / "sub.trec"
    assert write_submission(check_submission(rankings, hits=3), out, "trec", "myrun") == 2
    rows = [line.split() for line in out.read_text().splitlines()]
    assert all(len(r) == 6 and r[1] == "Q0" and r[5] == "myrun" for r in rows)
    q1 = [r for r in rows if r[0] == "q1"]
    assert [r[2] for r in q1] == ["a", "b", "c"] and [int(r[3]) for r in q1] == [1, 2, 3]
    scores = [float(r[4]) for r in q1]
    assert scores[0] > scores[1] > scores[2]
    q2 = [r for r in rows if r[0] == "q2"]
    assert [r[2] for r in q2] == ["x", "y"] and float(q2[0][4]) > float(q2[1][4])


def test_msmarco_file_is_qid_pid_rank(tmp_path):
    out = tmp_path / "sub.tsv"
    write_submission([_r("7", ["p1", "p2", "p3"])], out, "msmarco")
    assert out.read_text() == "7\tp1\t1\n7\tp2\t2\n7\tp3\t3\n"


def test_checks_name_the_problem():
    for rankings, msg in [
        ([_r("q1", ["a"]), _r("q1", ["b"])], "query q1 appears twice"),
        ([_r("q1", ["a", "b", "a"])], "docid a appears twice"),
        ([_r("q 1", ["a"])], "whitespace"),
        ([_r("q1", ["a b"])], "whitespace"),
        ([_r("q1", ["a"], [float("nan")])], "score nan"),
    ]:
        with pytest.raises(RankError, match=msg):
            check_submission(rankings, source="run.jsonl")
    with pytest.raises(RankError, match="1 of the split's 2 queries have no ranking: q2"):
        check_submission([_r("q1", ["a"])], expected=["q1", "q2"])
    with pytest.raises(RankError, match="1 queries are not in the split: q3"):
        check_submission([_r("q1", ["a"]), _r("q3", ["a"])], expected=["q1"])
    with pytest.raises(RankError, match="no candidates: q1"):
        check_submission([_r("q1", [])], expected=["q1"])
    with pytest.raises(RankError, match="--hits"):
        check_submission([_r("q1", ["a"])], hits=0)
    with pytest.raises(RankError, match="--tag"):
        write_submission([_r("q1", ["a"])], None, "trec", "two words")


def test_cli_export_checks_the_split_and_round_trips(scifact_run, tmp_path):
    path, rankings = scifact_run
    out = tmp_path / "sub" / "bm25.trec"
    p = rank("export", str(path), "--dataset", str(shared("scifact")), "--hits", "4", "-o", str(out))
    assert p.returncode == 0, p.stderr
    back = list(read_run(out))
    assert len(back) == len(rankings) == 300
    first = {r.qid: r for r in rankings}
    assert all(
        [c.docid for c in r.candidates] == [c.docid for c in first[r.qid].candidates[:4]] for r in back
    )
    assert {line.split()[5] for line in out.read_text().splitlines()} == {"bm25"}


def test_cli_export_missing_query_fails_and_leaves_the_old_file(scifact_run, tmp_path):
    path, rankings = scifact_run
    stream = "".join(json.dumps(r.to_dict()) + "\n" for r in rankings[1:])
    out = tmp_path / "sub.trec"
    out.write_text("previous submission\n")
    p = rank("export", "--dataset", str(shared("scifact")), "-o", str(out), "--tag", "t", stdin=stream)
    assert p.returncode == 2
    assert f"stdin: 1 of the split's 300 queries have no ranking: {rankings[0].qid}" in p.stderr
    assert out.read_text() == "previous submission\n"
    assert list(tmp_path.iterdir()) == [out]  # no temporary file left behind


def test_cli_export_errors_are_one_line(tmp_path):
    dup = tmp_path / "dup.jsonl"
    dup.write_text(json.dumps(_r("q1", ["a", "a"]).to_dict()) + "\n")
    bad = tmp_path / "bad.trec"
    bad.write_text("q1 Q0 a 1 1.0 t\nq1 Q0 b 2\n")
    for args, msg in [
        ([str(dup)], f"{dup}:1: not a ranking: docid a appears twice for query q1"),
        ([str(bad)], f"{bad}:2"),
        ([str(dup), "--format", "csv"], "--format"),
        ([str(dup), "--tag", "a b"], "--tag"),
        ([str(dup), "--split", "test"], "--split: needs --dataset"),
    ]:
        p = rank("export", *args)
        assert p.returncode == 2 and msg in p.stderr, (args, p.stderr)
        assert len(p.stderr.strip().splitlines()) == 1
