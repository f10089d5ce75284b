"""`rank eval` equals trec_eval (through pytrec_eval, the bindings ir_measures uses) on the same files: runs that
rank writes (BM25, RM3, fused with ties), foreign runs with real ties and rounded scores, graded qrels."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from clirun import rank
from conftest import reference_tool, shared

from rankers import evaluate as ev
from rankers.io import read_run, write_run
from rankers.run import Candidate, Query, Ranking, float32, strictly_decreasing

pytrec_eval = reference_tool("pytrec_eval")

TOL = 1e-4
CUTS = (5, 10, 100)


def trec_file_as_dict(path: Path) -> dict[str, dict[str, float]]:
    """What trec_eval reads from a run file: qid -> docid -> score (the rank column is ignored)."""
    run: dict[str, dict[str, float]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        qid, _, docid, _, score, _ = line.split()
        run.setdefault(qid, {})[docid] = float(score)
    return run


def trec_eval_per_query(qrels, run, cut_mrr: int | None = None) -> dict[str, dict[str, float]]:
    """pytrec_eval's per-query measures; MRR@k is recip_rank over trec_eval's own top k of each query."""
    measures = {"map", "ndcg_cut", "map_cut", "recall", "recip_rank"}
    ev_ = pytrec_eval.RelevanceEvaluator(qrels, measures)
    out = ev_.evaluate(run)
    for k in CUTS:
        top = {}
        for q, docs in run.items():
            # trec_eval's order: score as float32 descending, then docid descending.
            ordered = sorted(docs.items(), key=lambda kv: kv[0], reverse=True)
            ordered.sort(key=lambda kv: float32(kv[1]), reverse=True)
            top[q] = dict(ordered[:k])
        rr = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(top)
        for q, m in rr.items():
            out[q][f"mrr@{k}"] = m["recip_rank"]
    return out


PAIRS = (
    [("map", "map")]
    + [(f"ndcg@{k}", f"ndcg_cut_{k}") for k in CUTS]
    + [(f"map@{k}", f"map_cut_{k}") for k in CUTS]
    + [(f"recall@{k}", f"recall_{k}") for k in CUTS]
    + [(f"mrr@{k}", f"mrr@{k}") for k in CUTS]
)


def assert_equal_to_trec_eval(qrels, rankings, reference_run, what: str) -> None:
    """Per query and on the mean over the queries trec_eval evaluates (those both judged and ranked)."""
    ours = ev.score_run(qrels, rankings, [m for m, _ in PAIRS])
    theirs = trec_eval_per_query(qrels, reference_run)
    qids = sorted(qrels)
    assert theirs, f"{what}: trec_eval evaluated no query"
    for label, name in PAIRS:
        per_q = dict(zip(qids, ours.per_query[label], strict=True))
        worst = max(abs(per_q[q] - m[name]) for q, m in theirs.items())
        assert worst <= TOL, f"{what}: {label} differs from trec_eval's {name} by {worst:.6f}"
        mean_ours = sum(per_q[q] for q in theirs) / len(theirs)
        mean_theirs = sum(m[name] for m in theirs.values()) / len(theirs)
        assert abs(mean_ours - mean_theirs) <= TOL, (what, label, mean_ours, mean_theirs)


# ---------------------------------------------------------------- scores written in single precision


def test_written_scores_keep_their_order_in_single_precision():
    # Ties, and scores that differ in double precision but not in single (what fusion and rerankers produce).
    scores = [0.5, 0.5, 0.5 - 1e-12, 0.49999999, 0.3, 0.3 + 1e-10, -0.0, 0.0, -1e-40, -5.0]
    out = strictly_decreasing(scores)
    as_read = [float32(float(repr(s))) for s in out]
    assert all(a > b for a, b in zip(as_read, as_read[1:], strict=False)), as_read
    assert out[0] == 0.5 and out[4] == 0.3 and out[-1] == -5.0  # scores already in order are kept exactly
    # Every nudged score is written in few digits, not as a 17-digit double.
    assert all(len(repr(s)) <= 16 for s in out), [repr(s) for s in out]
    # A list that cannot be nudged further (down to -inf) falls back to ranks, still strictly decreasing.
    assert strictly_decreasing([1.0, float("-inf"), float("-inf")]) == [3.0, 2.0, 1.0]


def _random_case(seed: int, rounded: bool):
    rnd = random.Random(seed)
    docs = [f"d{i:03d}" for i in range(60)]
    qrels, rankings = {}, []
    for q in range(25):
        qid = f"q{q}"
        judged = rnd.sample(docs, 15)
        qrels[qid] = {d: rnd.choice([0, 0, 1, 2, 3]) for d in judged}
        ranked = rnd.sample(docs, rnd.randint(1, 40))
        # Few distinct score values: many ties, as fusion of ranks or rounded scores give.
        scores = sorted(
            (rnd.choice([1.0, 0.5, 0.25, 0.125]) + rnd.choice([0, 1e-12, 3e-9]) for _ in ranked), reverse=True
        )
        if rounded:
            scores = [round(s, 1) for s in scores]
        rankings.append(
            Ranking(Query(qid, ""), [Candidate(d, s) for d, s in zip(ranked, scores, strict=True)])
        )
    return qrels, rankings


@pytest.mark.parametrize("seed", range(6))
def test_runs_rank_writes_score_as_trec_eval_scores_them(tmp_path, seed):
    """The list order is the ranking: written with nudged scores, trec_eval must see the same order."""
    qrels, rankings = _random_case(seed, rounded=False)
    path = tmp_path / "run.trec"
    write_run(rankings, path)
    assert_equal_to_trec_eval(qrels, read_run(path), trec_file_as_dict(path), f"written run, seed {seed}")
    # The list order itself, as evaluated in memory, is what was written.
    assert (
        ev.score_run(qrels, rankings, "ndcg@10").means == ev.score_run(qrels, read_run(path), "ndcg@10").means
    )


@pytest.mark.parametrize("seed", range(6))
def test_foreign_runs_with_real_ties_follow_trec_eval(tmp_path, seed):
    """A foreign file with ties (rounded scores, lines in any order): ranked as trec_eval ranks it."""
    qrels, rankings = _random_case(seed, rounded=True)
    rnd = random.Random(seed)
    lines = [
        f"{r.qid} Q0 {c.docid} {i} {c.score} other\n" for r in rankings for i, c in enumerate(r.candidates, 1)
    ]
    rnd.shuffle(lines)
    path = tmp_path / "foreign.trec"
    path.write_text("".join(lines), encoding="utf-8")
    ref = trec_file_as_dict(path)
    assert_equal_to_trec_eval(qrels, read_run(path), ref, f"foreign run, seed {seed}")
    # The Python API takes the same dict and must rank it the same way.
    assert_equal_to_trec_eval(qrels, ref, ref, f"dict run, seed {seed}")


# ---------------------------------------------------------------- real runs: BM25, RM3, RRF on scifact


@pytest.fixture(scope="module")
def scifact_runs(tmp_path_factory) -> dict[str, Path]:
    scifact = shared("scifact")
    work = tmp_path_factory.mktemp("trec_eval")
    index = work / "idx"
    p = rank("index", "bm25", "-d", str(scifact), "-i", str(index), "--threads", "2")
    assert p.returncode == 0, p.stderr
    runs = {"bm25": work / "bm25.trec", "rm3": work / "rm3.trec"}
    for name, extra in (("bm25", []), ("rm3", ["--rm3"])):
        p = rank(
            "retrieve",
            "-i",
            str(index),
            "-d",
            str(scifact),
            "--bm25",
            "-k",
            "100",
            *extra,
            "-o",
            str(runs[name]),
        )
        assert p.returncode == 0, p.stderr
    for method in ("rrf", "combsum"):
        runs[method] = work / f"{method}.trec"
        p = rank("fuse", str(runs["bm25"]), str(runs["rm3"]), "--method", method, "-o", str(runs[method]))
        assert p.returncode == 0, p.stderr
    # A foreign-looking run: BM25 with its scores rounded to one decimal (real ties, broken by docid).
    rounded = work / "bm25-rounded.trec"
    rounded.write_text(
        "".join(
            f"{q} Q0 {d} {r} {float(s):.1f} rounded\n"
            for q, _, d, r, s, _ in (line.split() for line in runs["bm25"].read_text().splitlines())
        )
    )
    runs["rounded"] = rounded
    return runs


@pytest.mark.slow
@pytest.mark.parametrize("name", ["bm25", "rm3", "rrf", "combsum", "rounded"])
def test_scifact_runs_equal_trec_eval(scifact_runs, name):
    from rankers.data import load_dataset

    qrels = load_dataset(shared("scifact")).qrels("test")
    path = scifact_runs[name]
    assert_equal_to_trec_eval(qrels, read_run(path), trec_file_as_dict(path), name)


@pytest.mark.slow
def test_rank_eval_command_prints_trec_eval_means(scifact_runs):
    """The command a user runs, on the fused file: its JSON means equal trec_eval's over the judged queries."""
    scifact = shared("scifact")
    path = scifact_runs["rrf"]
    p = rank("eval", "-d", str(scifact), str(path), "-m", "ndcg@10,map@100,recall@100", "-f", "json")
    assert p.returncode == 0, p.stderr
    means = json.loads(p.stdout)["runs"][0]["scores"]
    from rankers.data import load_dataset

    qrels = load_dataset(scifact).qrels("test")
    theirs = trec_eval_per_query(qrels, trec_file_as_dict(path))
    assert len(theirs) == len(qrels)  # every judged query is ranked, so the means are over the same queries
    for label, name in (("ndcg@10", "ndcg_cut_10"), ("map@100", "map_cut_100"), ("recall@100", "recall_100")):
        ref = sum(m[name] for m in theirs.values()) / len(theirs)
        assert abs(means[label] - ref) <= TOL, (label, means[label], ref)
