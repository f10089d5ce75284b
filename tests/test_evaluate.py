"""rank eval: metric values worked out by hand, Holm's correction, coverage counting, every output format,
the benchmark presets on real qrels, and the command line (stdin, malformed runs)."""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from clirun import rank
from conftest import ROOT, shared

from rankers import evaluate as ev
from rankers import report
from rankers.errors import RankError
from rankers.io import write_run
from rankers.run import Candidate, Query, Ranking


def _r(qid: str, docids: list[str], meta: dict | None = None) -> Ranking:
    """A ranking in the order given (scores decreasing, as every stage writes them)."""
    return Ranking(
        Query(qid, ""), [Candidate(d, float(len(docids) - i)) for i, d in enumerate(docids)], meta or {}
    )


# ---------------------------------------------------------------- metric values by hand


def test_metric_values_worked_out_by_hand():
    qrels = {"q1": {"d1": 1}, "q2": {"a": 2, "b": 1}}
    run = [_r("q1", ["x", "d1", "y"]), _r("q2", ["b", "a"])]
    got = ev.evaluate(qrels, run, "mrr@10,recall@1,recall@2,ndcg@10,map")
    # q1: the one relevant doc at rank 2.  q2: grade 1 at rank 1, grade 2 at rank 2 (linear gains, as trec_eval).
    q1 = {
        "mrr@10": 1 / 2,
        "recall@1": 0.0,
        "recall@2": 1.0,
        "ndcg@10": (1 / math.log2(3)) / 1.0,
        "map": 1 / 2,
    }
    dcg2 = 1 / math.log2(2) + 2 / math.log2(3)
    idcg2 = 2 / math.log2(2) + 1 / math.log2(3)
    q2 = {
        "mrr@10": 1.0,
        "recall@1": 1 / 2,
        "recall@2": 1.0,
        "ndcg@10": dcg2 / idcg2,
        "map": (1 / 1 + 2 / 2) / 2,
    }
    for m in q1:
        assert got[m] == pytest.approx((q1[m] + q2[m]) / 2), m


def test_candidate_order_is_the_ranking_and_dict_runs_rank_by_score():
    qrels = {"q1": {"d1": 1}}
    # Scores say d1 first, but the list order (what `rank export` writes) puts it third.
    listed = Ranking(Query("q1", ""), [Candidate("x", 1.0), Candidate("y", 2.0), Candidate("d1", 3.0)])
    assert ev.evaluate(qrels, [listed], "mrr@10")["mrr@10"] == pytest.approx(1 / 3)
    assert ev.evaluate(qrels, {"q1": {"x": 1.0, "y": 2.0, "d1": 3.0}}, "mrr@10")["mrr@10"] == 1.0


def test_missing_empty_unjudged_and_duplicates_are_counted_not_dropped():
    qrels = {"q1": {"d1": 1}, "q2": {"d2": 1}, "q3": {"d3": 1}, "q4": {"d4": 0}}
    run = [_r("q1", ["d1", "d1", "z"]), _r("q2", []), _r("q9", ["d1"]), _r("q4", ["d4"])]
    s = ev.score_run(qrels, run, "mrr@10,recall@2", name="r")
    cov = s.coverage["graded"]
    assert (cov.judged, cov.ranked) == (4, 4)
    assert cov.missing == ["q3"] and cov.empty == ["q2"] and cov.unjudged == ["q9"]
    assert cov.no_relevant == ["q4"] and cov.duplicates == 1
    # Mean over the 4 judged queries: only q1 scores; the repeated d1 is not a second hit.
    assert s.means["mrr@10"] == pytest.approx(1 / 4)
    assert s.means["recall@2"] == pytest.approx(1 / 4)
    assert list(s.per_query["mrr@10"]) == [1.0, 0.0, 0.0, 0.0]


def test_a_query_ranked_twice_is_an_error():
    with pytest.raises(RankError, match="query q1 appears twice"):
        ev.evaluate({"q1": {"d": 1}}, [_r("q1", ["d"]), _r("q1", ["e"])], "mrr@10")


def test_metric_specs_are_checked():
    ms = ev.parse_metrics("ndcg@10, mrr@10:retrieval,map,recall@100-l2")
    assert [(m.name, m.qrels) for m in ms] == [
        ("ndcg@10", "graded"),
        ("mrr@10", "retrieval"),
        ("map", "graded"),
        ("recall@100-l2", "graded"),
    ]
    for bad, msg in [
        ("ndgc@10", "unknown metric"),
        ("ndcg@10:binary", "qrels kind"),
        ("map,map", "twice"),
        ("", "empty"),
    ]:
        with pytest.raises(RankError, match=msg):
            ev.parse_metrics(bad)
    with pytest.raises(RankError, match="not both"):
        ev.resolve_metrics("map", "mteb")
    assert ev.resolve_metrics(None, None, "t2ranking")[1] == "mrr@10"


# ---------------------------------------------------------------- Holm


def test_holm_worked_example():
    # sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> raised to 0.06 (monotone)
    assert ev.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_holm_properties():
    rng = random.Random(7)
    ps = [rng.random() ** 3 for _ in range(12)]
    adj = ev.holm(ps)
    assert all(a >= p for a, p in zip(adj, ps, strict=True)) and max(adj) <= 1.0
    order = sorted(range(len(ps)), key=ps.__getitem__)
    assert all(adj[i] <= adj[j] for i, j in zip(order, order[1:], strict=False))
    assert ev.holm([0.5, float("nan")]) == [1.0, 1.0]
    assert ev.holm([0.2]) == [0.2] and ev.holm([]) == []


# ---------------------------------------------------------------- comparing runs on real qrels


@pytest.fixture(scope="module")
def scifact():
    from rankers.data import load_dataset

    return load_dataset(shared("scifact"))


def _at_rank(qrels: dict, rank_of: dict[str, int], default: int) -> list[Ranking]:
    """Per query: fillers, then the query's relevant docs starting at the given rank."""
    out = []
    for q, docs in sorted(qrels.items()):
        k = rank_of.get(q, default)
        out.append(_r(q, [f"filler{i}" for i in range(k - 1)] + sorted(docs)))
    return out


def test_significance_after_holm_on_scifact_qrels(scifact):
    from scipy import stats

    qrels = scifact.qrels("test")
    qids = sorted(qrels)
    n, k = len(qids), 4
    # b: first relevant doc at rank 2 everywhere; c and d each move it to rank 1 on 4 different queries.
    runs = {
        "b": _at_rank(qrels, {}, 2),
        "c": _at_rank(qrels, dict.fromkeys(qids[:k], 1), 2),
        "d": _at_rank(qrels, dict.fromkeys(qids[k : 2 * k], 1), 2),
    }
    c = ev.compare(qrels, runs, "mrr@10", test="student", max_p=0.05)
    assert c.scores["c"]["mrr@10"] == pytest.approx(0.5 + k * 0.5 / n)
    # Paired t-test on k equal gains out of n: t = sqrt(k (n-1) / (n-k)).
    t = math.sqrt(k * (n - 1) / (n - k))
    p = 2 * stats.t.sf(t, n - 1)
    assert p < 0.05
    got = {(x.a, x.b): x for x in c.pairs}
    assert got["b", "c"].p == pytest.approx(p) and got["b", "d"].p == pytest.approx(p)
    assert got["c", "d"].p == pytest.approx(1.0)
    # Family of 3: the two p's are multiplied by 3 and 2, then made monotone: both 3p > 0.05.
    assert got["b", "c"].p_holm == pytest.approx(3 * p) and got["b", "d"].p_holm == pytest.approx(3 * p)
    assert not any(x.significant for x in c.pairs)
    assert c.beats("c", "mrr@10") == []

    # A clearly better run stays significant after the correction, and is marked so.
    runs["a"] = _at_rank(qrels, {}, 1)
    c = ev.compare(qrels, runs, "mrr@10")
    assert sorted(c.beats("a", "mrr@10")) == ["b", "c", "d"]
    assert all(x.significant == (x.p_holm <= 0.05) and x.p_holm >= x.p for x in c.pairs)
    text = report.render_markdown(c)
    assert "ᵃᵇᶜ" in text  # the fourth run (key d) beats runs a, b, c -> superscript of their keys


def test_identical_runs_give_no_significance_and_valid_json(scifact):
    qrels = scifact.qrels("test")
    run = _at_rank(qrels, {}, 3)
    c = ev.compare(qrels, {"x": run, "y": list(run)}, "ndcg@10")
    (pair,) = c.pairs
    assert not pair.significant and pair.p_holm == 1.0
    data = json.loads(report.render_json(c))
    assert data["comparisons"][0]["p"] is None


@pytest.mark.slow
def test_scores_equal_ranx_own_path_on_scifact(scifact):
    """Our typed-list path against ranx's Qrels/Run with make_comparable=True, on a noisy run with gaps."""
    ranx = ev._ranx()
    qrels = scifact.qrels("test")
    rng = random.Random(3)
    pool = [f"doc{i}" for i in range(500)]
    run = []
    for q, docs in sorted(qrels.items()):
        if rng.random() < 0.05:
            continue  # a missing query
        cands = rng.sample(pool, 60)
        for d in docs:
            if rng.random() < 0.8:
                cands.insert(rng.randrange(len(cands)), d)
        run.append(_r(q, cands))
    run.append(_r("not-judged", ["doc1"]))
    ours = ev.evaluate(qrels, run, "mteb")
    theirs = ranx.evaluate(ev.to_ranx_qrels(qrels), ev.to_ranx_run(run), list(ours), make_comparable=True)
    for m, v in ours.items():
        assert v == pytest.approx(float(theirs[m]), abs=1e-12), m


def test_t2ranking_preset_uses_retrieval_qrels():
    from rankers.data import load_dataset

    ds = load_dataset(shared("t2ranking-sample"))
    graded, retrieval = ds.qrels("test"), ds.qrels("test", "retrieval")
    rng = random.Random(0)
    run = []
    for q, docs in sorted(graded.items()):
        order = sorted(docs)
        rng.shuffle(order)
        run.append(_r(q, order))
    got = ev.evaluate(graded, run, "t2ranking", retrieval_qrels=retrieval)
    assert list(got) == ["mrr@10", "recall@50", "recall@1000", "ndcg@10", "ndcg@20"]
    assert got["mrr@10"] == pytest.approx(ev.evaluate(retrieval, run, "mrr@10")["mrr@10"])
    # Grade 1 is not relevant for T2Ranking's MRR: the graded qrels (ranx: grade >= 1) give a higher figure.
    assert ev.evaluate(graded, run, "mrr@10")["mrr@10"] > got["mrr@10"]
    # Over the retrieval qrels' queries only, the same as ranx's relevance level 2 rescaled to those queries.
    l2 = ev.evaluate(graded, run, "mrr@10-l2")["mrr@10-l2"]
    assert got["mrr@10"] == pytest.approx(l2 * len(graded) / len(retrieval))
    assert got["ndcg@10"] == pytest.approx(ev.evaluate(graded, run, "ndcg@10")["ndcg@10"])


# ---------------------------------------------------------------- cost and formats


def test_cost_per_query_from_meta():
    qrels = {"q1": {"d": 1}, "q2": {"d": 1}}
    cost1 = {"calls": 2, "prompt_tokens": 1000, "completion_tokens": 30, "wall_s": 1.5}
    cost2 = {"calls": 4, "prompt_tokens": 3000, "completion_tokens": 50, "wall_s": 2.5}
    run = [_r("q1", ["d"], {"cost": cost1}), _r("q2", ["d"], {"cost": cost2})]
    c = ev.compare(qrels, {"llm": run, "bm25": [_r("q1", ["d"]), _r("q2", ["d"])]}, "mrr@10")
    assert c.runs[0].cost.per_query() == {
        "calls": 3.0,
        "prompt_tokens": 2000.0,
        "completion_tokens": 40.0,
        "wall_s": 2.0,
    }
    assert c.runs[1].cost is None
    text = report.render_markdown(c)
    assert "calls/q" in text and "| 3.0 | 2000.0 | 40.0 | 2.00 |" in text
    with pytest.raises(RankError, match="calls must be a number"):
        ev.evaluate(qrels, [_r("q1", ["d"], {"cost": {"calls": "many"}})], "mrr@10")


def test_cost_sidecar_as_rank_rerank_writes_it(tmp_path):
    # rank rerank nests the totals under "totals" beside its config; the flat form is read too.
    run = tmp_path / "full.trec"
    totals = {"queries": 6, "calls": 6, "prompt_tokens": 3207, "completion_tokens": 612, "wall_s": 80.45}
    Path(f"{run}.cost.json").write_text(json.dumps({"config": {"mode": "full"}, "totals": totals}))
    nested = ev.read_cost_sidecar(run, 300)
    assert nested.queries == 6 and nested.per_query()["prompt_tokens"] == pytest.approx(3207 / 6)
    Path(f"{run}.cost.json").write_text(json.dumps(totals))
    assert ev.read_cost_sidecar(run, 300).totals == nested.totals


def _comparison(scifact) -> ev.Comparison:
    qrels = scifact.qrels("test")
    c = ev.compare(
        qrels,
        {"bm25_top": _at_rank(qrels, {}, 1), "bm25&low": _at_rank(qrels, {}, 4)},
        "mteb",
        costs={
            "bm25&low": ev.Cost(
                {"calls": 30.0, "prompt_tokens": 9e4, "completion_tokens": 600.0, "wall_s": 60.0},
                300,
                "sidecar",
            )
        },
    )
    c.dataset, c.split = "scifact", "test"
    return c


def test_every_format_parses(scifact):
    c = _comparison(scifact)
    data = json.loads(report.render(c, "json"))
    assert [r["name"] for r in data["runs"]] == ["bm25_top", "bm25&low"]
    assert data["runs"][0]["better_than"]["ndcg@10"] == ["bm25&low"]
    assert data["runs"][1]["cost_per_query"]["calls"] == pytest.approx(0.1)
    assert data["runs"][0]["coverage"]["graded"]["missing"] == 0
    assert len(data["comparisons"]) == 4 and data["correction"] == "holm"

    import io

    df = pl.read_csv(io.StringIO(report.render(c, "csv")))
    assert df.columns[:6] == ["key", "run", "ndcg@10", "map@100", "mrr@10", "recall@100"]
    assert df["ndcg@10"][0] == pytest.approx(1.0) and df["ndcg@10 better than"][0] == "b"

    tex = report.render(c, "latex")
    assert "\\begin{tabular}" in tex and "\\end{tabular}" in tex
    assert "bm25\\_top" in tex and "bm25\\&low" in tex and "$^{b}$" in tex

    md = report.render(c, "markdown")
    header = next(line for line in md.splitlines() if line.startswith("|"))
    assert "ndcg@10 (main)" in header and "wall s/q" in header

    table = report.render(c, "table")
    assert "bm25_top vs bm25&low" in table and "Holm-corrected" in table
    # MTEB result files are made by mteb itself: tests/test_mteb_results.py.


# ---------------------------------------------------------------- command line


def test_cli_eval_from_stdin_counts_missing_queries(scifact, tmp_path):
    qrels = scifact.qrels("test")
    run = _at_rank(qrels, {}, 2)[3:]  # three judged queries without a ranking
    stream = "".join(json.dumps(r.to_dict()) + "\n" for r in run)
    p = rank("eval", "--dataset", str(shared("scifact")), "--format", "json", stdin=stream)
    assert p.returncode == 0, p.stderr
    data = json.loads(p.stdout)
    (r,) = data["runs"]
    assert r["name"] == "stdin" and r["coverage"]["graded"]["missing"] == 3
    # Missing queries score 0: MRR is 1/2 over the 297 ranked of the 300 judged.
    assert r["scores"]["mrr@10"] == pytest.approx(0.5 * 297 / 300)
    assert "rank eval: stdin: 300 judged queries, 297 ranked; 3 judged queries have no ranking" in p.stderr


def test_cli_eval_compares_named_files_with_sidecar_cost_into_markdown(scifact, tmp_path):
    qrels = scifact.qrels("test")
    write_run(_at_rank(qrels, {}, 1), tmp_path / "good.trec")
    write_run(_at_rank(qrels, {}, 5), tmp_path / "weak.jsonl")
    (tmp_path / "weak.jsonl.cost.json").write_text(
        json.dumps(
            {"calls": 600, "prompt_tokens": 1.2e6, "completion_tokens": 9000, "wall_s": 300.0, "queries": 300}
        )
    )
    out = tmp_path / "metrics.md"
    p = rank("eval", "-d", str(shared("scifact")), str(tmp_path / "good.trec"), f"llm={tmp_path / 'weak.jsonl'}",
             "-m", "ndcg@10,mrr@10", "-f", "markdown", "-o", str(out))  # fmt: skip
    assert p.returncode == 0, p.stderr
    md = out.read_text()
    assert "| a | good | **1.0000ᵇ** | **1.0000ᵇ** | - | - | - | - |" in md
    row = next(line for line in md.splitlines() if line.startswith("| b | llm |"))
    assert row.split("|")[4].strip() == "0.2000" and row.split("|")[5:9] == [
        " 2.0 ",
        " 4000.0 ",
        " 30.0 ",
        " 1.00 ",
    ]


def test_runs_are_named_by_name_equals_file_else_by_stem_and_folder(tmp_path):
    from rankers.io import named_runs, run_stem

    assert (
        run_stem("runs/bm25.trec.gz") == "bm25" and run_stem("-") == "stdin" and run_stem(".trec") == ".trec"
    )
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    odd = tmp_path / "x=y.trec"
    odd.write_text("")
    a, b = str(tmp_path / "a" / "bm25.trec"), str(tmp_path / "b" / "bm25.jsonl")
    assert named_runs([a, b, f"llm={a}", str(odd), "-"]) == [
        ("a/bm25", a),
        ("b/bm25", b),
        ("llm", a),
        ("x=y", str(odd)),
        ("stdin", "-"),
    ]
    for args, msg in [
        (["-", "-"], "read once"),
        ([f"={a}"], "empty run name"),
        ([f"x={a}", f"x={b}"], "both named 'x'"),
    ]:
        with pytest.raises(RankError, match=msg):
            named_runs(args)


def test_cli_eval_malformed_run_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.trec"
    bad.write_text("1 Q0 d1 1 2.0 x\n1 Q0 d2 2 1.0 x\n1 Q0 d3 three 0.5 x\n")
    p = rank("eval", "--qrels", str(_qrels_file(tmp_path)), str(bad))
    assert p.returncode == 2
    assert f"{bad}:3" in p.stderr and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1


def test_cli_eval_flag_errors(tmp_path):
    run = tmp_path / "r.trec"
    run.write_text("1 Q0 d1 1 2.0 x\n")
    q = str(_qrels_file(tmp_path))
    for args, msg in [
        (["--metrics", "ndgc@10"], "--metrics"),
        (["--preset", "msmarco"], "--preset"),
        (["--format", "xml"], "--format"),
        (["--test", "wilcoxon"], "--test"),
        (["--max-p", "2"], "--max-p"),
    ]:
        p = rank("eval", "--qrels", q, str(run), *args)
        assert p.returncode == 2 and msg in p.stderr and "Traceback" not in p.stderr, (args, p.stderr)
    p = rank("eval", str(run))
    assert p.returncode == 2 and "--dataset or --qrels" in p.stderr


def _qrels_file(tmp_path: Path) -> Path:
    path = tmp_path / "qrels.txt"
    path.write_text("1 0 d1 1\n2 0 d9 2\n")
    return path


def test_numba_cache_goes_to_the_user_cache(tmp_path):
    code = "from rankers.evaluate import use_numba_cache; use_numba_cache(); import numba; print(numba.config.CACHE_DIR)"
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"} | {"XDG_CACHE_HOME": str(tmp_path)}
    p = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=600
    )
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == str(tmp_path / "rank" / "numba")
