"""rank report: the numbers behind each figure worked out by hand, the suite table, escaping, and end to end
the demo's four runs (BM25, BM25+RM3, MiniLM, RRF, made by real `rank` commands on scifact) rendered in a real
headless Chromium: no failed request, no JavaScript error, the charts in the DOM, the query on hover, and
the page's numbers equal to `rank eval --format json`'s. A real LLM rerank (SmolLM2, full and sliding) feeds
the cost chart, its cost read once from meta.cost and once from the sidecar `rank rerank` writes.

The dense run indexes a real subset of scifact (the judged documents of the test queries and the first 150
others, 433 documents, instead of seven minutes of MiniLM for all 5,183 here); all four runs use it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import chromium
import pytest
from clirun import rank
from conftest import REQUIRE, shared

from rankers import evaluate as ev
from rankers.errors import RankError
from rankers.figures import SuiteTable, build_report, charts, render, tables
from rankers.run import Candidate, Query, Ranking


def ok(*args: str) -> subprocess.CompletedProcess:
    p = rank(*args)
    assert p.returncode == 0, f"rank {' '.join(args)}\n{p.stderr[-3000:]}"
    return p


def _keep(screenshot: Path) -> None:
    """Copy a screenshot to $RANK_REPORT_SCREENSHOTS (a folder), for a person to look at."""
    folder = os.environ.get("RANK_REPORT_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        shutil.copy(screenshot, Path(folder) / screenshot.name)


def _r(qid: str, docids: list[str], text: str = "") -> Ranking:
    return Ranking(Query(qid, text), [Candidate(d, float(len(docids) - i)) for i, d in enumerate(docids)])


def _embedded(html: str, element_id: str):
    m = re.search(rf'<script type="application/json" id="{element_id}">(.*?)</script>', html, re.S)
    assert m, element_id
    return json.loads(m.group(1))


# ---------------------------------------------------------------- the numbers behind the figures, by hand

QRELS = {"q1": {"d1": 1}, "q2": {"d2": 1}, "q3": {"d3": 1}}
BASE = [_r("q1", ["x", "d1"]), _r("q2", ["d2"]), _r("q3", ["d3", "y", "z"])]  # MRR 1/2, 1, 1
NEW = [_r("q1", ["d1"], "first query"), _r("q2", ["y", "d2"]), _r("q3", ["d3"])]  # MRR 1, 1/2, 1


def test_per_query_differences_sorted_and_counted_by_hand():
    c = ev.compare(QRELS, {"base": BASE, "new": NEW}, "mrr@10,ndcg@10")
    rows, outcomes = tables.per_query(c, "base", "mrr@10", {"q1": "first query"})
    assert outcomes == {"new": tables.Outcomes(wins=1, ties=1, losses=1)}
    got = [(r["position"], r["qid"], r["diff"], r["outcome"]) for r in rows]
    assert got == [(1, "q1", 0.5, "win"), (2, "q3", 0.0, "tie"), (3, "q2", -0.5, "loss")]
    assert rows[0]["query"] == "first query" and rows[0]["baseline"] == 0.5 and rows[0]["score"] == 1.0
    with pytest.raises(RankError, match=r"--baseline 'bm25': not among the runs \(base, new\)"):
        tables.per_query(c, "bm25", "mrr@10")
    with pytest.raises(
        RankError, match=r"--metric 'map': not among the metrics evaluated \(mrr@10, ndcg@10\)"
    ):
        tables.per_query(c, "base", "map")


def test_depth_curves_at_every_cutoff_by_hand():
    assert tables.cutoffs(0) == [] and tables.cutoffs(1) == [1] and tables.cutoffs(3) == [1, 2, 3]
    assert tables.cutoffs(150) == [1, 2, 3, 5, 10, 20, 30, 50, 100, 150]
    assert tables.cutoffs(1000)[-3:] == [300, 500, 1000]
    c = ev.compare(QRELS, {"base": BASE, "new": NEW}, "ndcg@10,recall@100")
    rows = tables.depth_curves(c, {"base": BASE, "new": NEW}, QRELS)
    got = {(r["run"], r["measure"], r["k"]): r["value"] for r in rows}
    # base is 3 deep: the relevant document at rank 2, 1, 1.  new is 2 deep: at rank 1, 2, 1.
    assert {k for (run, _, k) in got if run == "base"} == {1, 2, 3}
    assert {k for (run, _, k) in got if run == "new"} == {1, 2}
    assert got["base", "Recall@k", 1] == pytest.approx(2 / 3) and got["base", "Recall@k", 2] == 1.0
    import math

    assert got["new", "nDCG@k", 2] == pytest.approx((1 + 1 / math.log2(3) + 1) / 3)
    # The last point of each curve is the table's own number where the cut-off is past the depth.
    assert got["base", "nDCG@k", 3] == pytest.approx(c.scores["base"]["ndcg@10"])


def test_cost_points_keep_runs_without_cost_as_reference_lines():
    run = [_r("q1", ["d1"]), _r("q2", ["d2"]), _r("q3", ["d3"])]
    for r, calls in zip(run, (1, 1, 4), strict=True):
        r.meta["cost"] = {"calls": calls, "prompt_tokens": 100 * calls, "completion_tokens": 5, "wall_s": 0.5}
    c = ev.compare(QRELS, {"base": BASE, "llm": run}, "mrr@10,ndcg@10")
    assert tables.quality_metric(c) == "ndcg@10"
    points, refs = tables.cost_points(c, "ndcg@10")
    assert {(p["axis"], p["cost"]) for p in points} == {
        ("LLM calls per query", 2.0),
        ("prompt tokens per query", 200.0),
        ("wall time per query (s)", 0.5),
    }
    assert all(p["quality"] == 1.0 and p["source"] == "meta" for p in points)
    assert {r["run"] for r in refs} == {"base"} and len(refs) == 3


def test_suite_table_averages_only_complete_systems_and_draws():
    t = SuiteTable(
        {
            "scifact": {"BM25": 0.6789, "MiniLM": 0.6451, "RRF": 0.7202},
            "nfcorpus": {"BM25": 0.3218, "MiniLM": 0.3159, "RRF": 0.34},
            "fiqa": {"BM25": 0.2361, "MiniLM": 0.3687},
        }
    )
    assert t.tasks == ["scifact", "nfcorpus", "fiqa"] and t.systems == ["BM25", "MiniLM", "RRF"]
    avg = t.averages()
    assert avg["BM25"] == pytest.approx((0.6789 + 0.3218 + 0.2361) / 3) and avg["RRF"] is None
    rows = t.rows()
    assert [(r["system"], round(r["score"], 4)) for r in rows if r["average"]] == [
        ("BM25", 0.4123),
        ("MiniLM", 0.4432),
    ]
    svg = render.svg(charts.suite_chart(rows, t.tasks, t.systems, t.metric))
    for text in ("scifact", "fiqa", "Average", "RRF", "0.4123", "0.4432", "0.7202"):
        assert f">{text}</text>" in svg, text
    with pytest.raises(RankError, match="fiqa / BM25: score must be a finite number"):
        SuiteTable({"fiqa": {"BM25": float("nan")}})
    with pytest.raises(RankError, match="the name of the averages row"):
        SuiteTable({"Average": {"BM25": 0.5}}).rows()


def test_one_run_has_no_baseline_to_compare_with():
    c = ev.compare(QRELS, {"base": BASE}, "mrr@10")
    rep = build_report(c, {"base": BASE}, QRELS)
    assert set(rep.specs) == {"depth"} and rep.baseline is None and rep.outcomes == {}


class _Scripts(HTMLParser):
    """The script elements of a page as a browser's tokenizer splits them: (attributes, text)."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[dict, str]] = []
        self._open: dict | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "script":
            self._open = dict(attrs)
            self.found.append((self._open, ""))

    def handle_data(self, data):
        if self._open is not None:
            self.found[-1] = (self._open, self.found[-1][1] + data)

    def handle_endtag(self, tag):
        if tag == "script":
            self._open = None


def test_page_survives_text_that_would_end_its_scripts(tmp_path):
    nasty = "x</script><script>alert(1)</script><!--"
    base = [_r("q1", ["x", "d1"]), _r("q2", ["d2"], nasty), _r("q3", ["d3"])]
    c = ev.compare(QRELS, {"a</b>": base, "new": NEW}, "mrr@10")
    suite = SuiteTable({"task<1>": {"a</b>": 0.5, "new": 0.25}})
    rep = build_report(c, {"a</b>": base, "new": NEW}, QRELS, suite=suite)
    html = rep.html()
    parser = _Scripts()
    parser.feed(html)
    ids = [attrs.get("id") for attrs, _ in parser.found]
    assert ids == ["rank-eval", "rank-figures", None, None]  # the text opened no script of its own
    figures = json.loads(parser.found[1][1])
    assert set(figures) == {"fig-per-query", "fig-depth", "fig-suite"}
    texts = {v["qid"]: v["query"] for v in figures["fig-per-query"]["data"]["values"]}
    assert texts == {"q1": "first query", "q2": nasty, "q3": ""}  # the text itself survives
    assert json.loads(parser.found[0][1])["runs"][0]["name"] == "a</b>"
    assert '<td class="run">a&lt;/b&gt;</td>' in html
    written = rep.write_figures(tmp_path / "figs")
    assert sorted(p.name for p in written) == [
        "depth.png",
        "depth.svg",
        "per-query.png",
        "per-query.svg",
        "suite.png",
        "suite.svg",
    ]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in written if p.suffix == ".png")


# ---------------------------------------------------------------- the demo's four runs, end to end


@pytest.fixture(scope="module")
def browser() -> str:
    path = chromium.find()
    if path is None:
        message = "headless Chromium is missing: `make chromium` installs Debian's package (as root)"
        if REQUIRE:
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="module")
def subset(tmp_path_factory) -> Path:
    """scifact with the test queries, their judged documents and the first 150 other documents."""
    src = shared("scifact")
    out = tmp_path_factory.mktemp("data") / "scifact-subset"
    (out / "qrels").mkdir(parents=True)
    shutil.copy(src / "qrels" / "test.tsv", out / "qrels" / "test.tsv")
    shutil.copy(src / "queries.jsonl", out / "queries.jsonl")
    judged = {line.split("\t")[1] for line in (src / "qrels" / "test.tsv").read_text().splitlines()[1:]}
    others = 0
    with open(src / "corpus.jsonl", encoding="utf-8") as f, open(out / "corpus.jsonl", "w") as g:
        for line in f:
            docid = json.loads(line)["_id"]
            if docid in judged or others < 150:
                others += docid not in judged
                g.write(line)
    return out


@pytest.fixture(scope="module")
def demo(subset, tmp_path_factory) -> dict[str, Path]:
    """The four runs of `make demo`, at depth 100, by real rank commands."""
    d = tmp_path_factory.mktemp("demo")
    ds = str(subset)
    ok("index", "bm25", "-d", ds, "-i", str(d / "bm25-idx"), "--threads", "2")
    ok("index", "dense", "-d", ds, "-i", str(d / "minilm-idx"), "--model", "minilm", "--threads", "2")
    runs = {name: d / f"{name}.trec" for name in ("bm25", "bm25-rm3", "minilm", "bm25+minilm-rrf")}
    ok("retrieve", "-i", str(d / "bm25-idx"), "-d", ds, "--bm25", "-k", "100", "-o", str(runs["bm25"]))
    ok(
        "retrieve",
        "-i",
        str(d / "bm25-idx"),
        "-d",
        ds,
        "--bm25",
        "--rm3",
        "-k",
        "100",
        "-o",
        str(runs["bm25-rm3"]),
    )
    ok("retrieve", "-i", str(d / "minilm-idx"), "-d", ds, "--dense", "-k", "100", "-o", str(runs["minilm"]))
    ok("fuse", str(runs["bm25"]), str(runs["minilm"]), "--method", "rrf", "-o", str(runs["bm25+minilm-rrf"]))
    return runs


@pytest.fixture(scope="module")
def report(demo, subset) -> tuple[Path, dict]:
    out = demo["bm25"].parent / "report.html"
    runs = [str(p) for p in demo.values()]
    p = ok("report", "-d", str(subset), *runs, "-o", str(out), "--figures", str(out.parent / "figures"))
    assert f"rank report: wrote {out}" in p.stderr.replace("\n", "")
    evaluated = json.loads(ok("eval", "-d", str(subset), *runs, "--format", "json").stdout)
    return out, evaluated


@pytest.mark.slow
def test_report_numbers_are_rank_evals(report):
    path, evaluated = report
    html = path.read_text(encoding="utf-8")
    assert _embedded(html, "rank-eval") == evaluated  # the same object, to the last bit
    cells = re.findall(
        r'data-run="([^"]+)" data-metric="([^"]+)" data-value="([^"]+)">([0-9.]+)(?:<sup>(\w+)</sup>)?', html
    )
    runs = {r["name"]: r for r in evaluated["runs"]}
    assert len(cells) == 4 * len(evaluated["metrics"]) == 16
    keys = {r["name"]: r["key"] for r in evaluated["runs"]}
    for run, metric, exact, shown, marks in cells:
        value = runs[run]["scores"][metric]
        assert float(exact) == value and shown == f"{value:.4f}"
        assert marks == "".join(keys[b] for b in runs[run]["better_than"][metric])
    # The bars are the per-query scores behind the table: their means are its numbers.
    figure = _embedded(html, "rank-figures")["fig-per-query"]["data"]["values"]
    assert {v["run"] for v in figure} == {"bm25-rm3", "minilm", "bm25+minilm-rrf"}
    for name in ("bm25-rm3", "minilm", "bm25+minilm-rrf"):
        rows = [v for v in figure if v["run"] == name]
        assert len(rows) == 300
        assert sum(v["score"] for v in rows) / 300 == pytest.approx(
            runs[name]["scores"]["ndcg@10"], abs=1e-12
        )
        assert sum(v["baseline"] for v in rows) / 300 == pytest.approx(
            runs["bm25"]["scores"]["ndcg@10"], abs=1e-12
        )
        counts = [sum(v["outcome"] == o for v in rows) for o in ("win", "tie", "loss")]
        assert f"<tr><td>{name}</td><td>{counts[0]}</td><td>{counts[1]}</td><td>{counts[2]}</td></tr>" in html
    depth = _embedded(html, "rank-figures")["fig-depth"]["data"]["values"]
    for name in runs:
        at = {(v["measure"], v["k"]): v["value"] for v in depth if v["run"] == name}
        assert at["nDCG@k", 10] == pytest.approx(runs[name]["scores"]["ndcg@10"], abs=1e-12)
        assert at["Recall@k", 100] == pytest.approx(runs[name]["scores"]["recall@100"], abs=1e-12)
    assert "fig-cost" not in html and "No run carries an LLM cost" in html
    # One file, offline: nothing is linked; the inlined JavaScript is most of its size.
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html) and "cdn" not in html.lower()
    assert path.stat().st_size < 1.5e6
    figures = sorted(p.name for p in (path.parent / "figures").iterdir())
    assert figures == ["depth.png", "depth.svg", "per-query.png", "per-query.svg"]


@pytest.mark.slow
def test_report_renders_in_headless_chromium(report, browser, tmp_path):
    path, evaluated = report
    queries = {
        json.loads(line)["_id"]: json.loads(line)["text"]
        for line in open(shared("scifact") / "queries.jsonl")
    }
    with chromium.Page(browser) as page:
        page.goto(path.as_uri())
        assert page.wait_until("document.body.getAttribute('data-figures-drawn')") == "2"
        assert page.errors() == []
        assert page.requests() == [path.as_uri()] and page.failed_requests() == []
        dom = page.evaluate(
            """(() => { const out = {};
              for (const el of document.querySelectorAll('.figure')) out[el.id] = {
                svg: el.querySelectorAll('svg.marks').length,
                bars: el.querySelectorAll('g.mark-rect path').length,
                lines: el.querySelectorAll('g.mark-line path').length };
              out.cells = Array.from(document.querySelectorAll('table.scores td[data-value]')).map(td => td.innerText);
              return out; })()"""
        )
        assert dom["fig-per-query"] == {"svg": 1, "bars": 3 * 300, "lines": 0}
        assert dom["fig-depth"]["svg"] == 1 and dom["fig-depth"]["lines"] == 2 * 4  # two panels, four runs
        shown = [f"{r['scores'][m['label']]:.4f}" for r in evaluated["runs"] for m in evaluated["metrics"]]
        assert [re.sub(r"[^0-9.]", "", c)[:6] for c in dom["cells"]] == shown
        # Hover over the largest gain of the first run: the tooltip names the query and shows its text.
        x, y = page.evaluate(
            """(() => { const b = document.querySelector('#fig-per-query g.mark-rect path');
              b.scrollIntoView({block: 'center'}); const r = b.getBoundingClientRect();
              return [r.x + r.width / 2, r.y + r.height / 2]; })()"""
        )
        page.hover(x, y)
        tip = page.wait_until(
            "(() => { const t = document.getElementById('vg-tooltip-element');"
            " return t && t.classList.contains('visible') && t.innerText; })()"
        )
        qid = re.search(r"query id\s+(\S+)", tip).group(1)
        assert queries[qid] in tip and "bm25-rm3" in tip
        page.evaluate("window.scrollTo(0, 0)")
        shot = page.screenshot(tmp_path / "report.png")
        assert shot.stat().st_size > 50_000
        _keep(shot)
    assert page.proc.returncode is not None  # the browser is gone


@pytest.mark.slow
def test_cli_refuses_an_unknown_baseline_or_metric(demo, subset, tmp_path):
    runs = [str(demo["bm25"]), str(demo["minilm"])]
    p = rank("report", "-d", str(subset), *runs, "-o", str(tmp_path / "r.html"), "--baseline", "bm42")
    assert (
        p.returncode == 2 and "rank: error: --baseline 'bm42': not among the runs (bm25, minilm)" in p.stderr
    )
    p = rank("report", "-d", str(subset), *runs, "-o", str(tmp_path / "r.html"), "--metric", "ndcg@5")
    assert p.returncode == 2 and "--metric 'ndcg@5': not among the metrics evaluated" in p.stderr
    assert not (tmp_path / "r.html").exists()


# ---------------------------------------------------------------- cost against quality, from a real LLM


@pytest.mark.slow
def test_cost_chart_from_a_real_rerank_read_from_meta_and_from_the_sidecar(demo, subset, browser, tmp_path):
    pytest.importorskip("llama_cpp", reason="the llm extra (llama-cpp-python) is not installed")
    qids = ["1", "3"]
    texts = {json.loads(line)["_id"]: json.loads(line)["text"] for line in open(subset / "queries.jsonl")}
    (tmp_path / "topics.tsv").write_text("".join(f"{q}\t{texts[q]}\n" for q in qids))
    qrels = [
        line
        for line in (subset / "qrels" / "test.tsv").read_text().splitlines()[1:]
        if line.split("\t")[0] in qids
    ]
    (tmp_path / "qrels.tsv").write_text("\n".join(qrels) + "\n")
    first = tmp_path / "bm25.jsonl"
    idx = str(demo["bm25"].parent / "bm25-idx")
    ok("retrieve", "-i", idx, "--topics", str(tmp_path / "topics.tsv"), "--bm25", "-k", "3", "--with-text",
       "-o", str(first))  # fmt: skip
    # SmolLM2 (135M) cannot rank; three short passages keep its six calls to seconds. Sliding: 2 windows/query.
    common = ["--llm", "llamacpp:smollm2", "--hits", "3", "--max-passage-tokens", "16",
              "--cache-dir", str(tmp_path / "cache")]  # fmt: skip
    ok("rerank", str(first), *common, "--mode", "full", "-o", str(tmp_path / "full.jsonl"))
    ok("rerank", str(first), *common, "--mode", "sliding", "--window-size", "2", "--stride", "1",
       "-o", str(tmp_path / "sliding.trec"))  # fmt: skip
    out = tmp_path / "cost.html"
    runs = [str(first), str(tmp_path / "full.jsonl"), str(tmp_path / "sliding.trec")]
    ok("report", "--qrels", str(tmp_path / "qrels.tsv"), *runs, "-o", str(out))
    evaluated = json.loads(ok("eval", "--qrels", str(tmp_path / "qrels.tsv"), *runs, "-f", "json").stdout)
    by = {r["name"]: r for r in evaluated["runs"]}
    assert by["bm25"]["cost"] is None
    assert by["full"]["cost"]["source"] == "meta" and by["full"]["cost_per_query"]["calls"] == 1.0
    # A TREC run keeps no meta: its cost is the sidecar's, nested as `rank rerank` writes it.
    assert by["sliding"]["cost"]["source"] == "sidecar" and by["sliding"]["cost_per_query"]["calls"] == 2.0
    assert (
        by["sliding"]["cost_per_query"]["prompt_tokens"] > by["full"]["cost_per_query"]["prompt_tokens"] > 0
    )
    html = out.read_text(encoding="utf-8")
    assert _embedded(html, "rank-eval") == evaluated
    points = [
        v for v in _embedded(html, "rank-figures")["fig-cost"]["data"]["values"] if v["kind"] == "point"
    ]
    for v in points:
        key = {"LLM calls per query": "calls", "prompt tokens per query": "prompt_tokens"}.get(
            v["axis"], "wall_s"
        )
        assert (
            v["cost"] == by[v["run"]]["cost_per_query"][key]
            and v["quality"] == by[v["run"]]["scores"]["ndcg@10"]
        )
    with chromium.Page(browser) as page:
        page.goto(out.as_uri())
        assert page.wait_until("document.body.getAttribute('data-figures-drawn')") == "3"
        assert page.errors() == [] and page.failed_requests() == [] and page.requests() == [out.as_uri()]
        # Two reranked runs in three panels; BM25 as a dashed line in each (legend symbols are not marks).
        assert (
            page.evaluate("document.querySelectorAll('#fig-cost g.mark-symbol.role-mark path').length") == 6
        )
        assert page.evaluate("document.querySelectorAll('#fig-cost g.mark-rule.role-mark line').length") == 3
        page.evaluate("document.getElementById('cost').scrollIntoView()")
        _keep(page.screenshot(tmp_path / "cost.png"))


def test_suite_page_renders_in_headless_chromium(browser, tmp_path):
    """`rank suite compare -f html`: the table of each task's main metric with its marks, and the chart."""
    from rankers.figures import suite_page

    c = {
        "suite": "local", "systems": ["bm25", "rrf"], "keys": {"bm25": "a", "rrf": "b"}, "test": "student",
        "max_p": 0.05, "skipped": [["t2ranking-sample", "skipped by every system (nothing to search)"]],
        "rows": [
            {"task": "scifact", "metric": "ndcg@10", "queries": 300, "scores": {"bm25": 0.6789, "rrf": 0.7202},
             "beats": {"bm25": [], "rrf": ["bm25"]}, "pairs": []},
            {"task": "lecard-t2", "metric": "mrr@10:retrieval", "queries": 100, "scores": {"bm25": 0.6886, "rrf": 0.6601},
             "beats": {"bm25": [], "rrf": []}, "pairs": []},
        ],
        "average": {"over": 2, "of": 2, "scores": {"bm25": 0.68375, "rrf": 0.69015}, "beats": {"bm25": [], "rrf": []},
                    "pairs": []},
    }  # fmt: skip
    path = tmp_path / "suite.html"
    path.write_text(suite_page(c), encoding="utf-8")
    with chromium.Page(browser) as page:
        page.goto(path.as_uri())
        assert page.wait_until("document.body.getAttribute('data-figures-drawn')") == "1"
        assert page.errors() == [] and page.failed_requests() == []
        dom = page.evaluate(
            """(() => ({
              embedded: JSON.parse(document.getElementById('rank-eval').textContent),
              cells: Array.from(document.querySelectorAll('table.suite td[data-value]')).map(td => td.innerText),
              svg: document.querySelectorAll('#fig-suite svg.marks').length }))()"""
        )
    assert dom["embedded"] == c and dom["svg"] == 1
    assert dom["cells"] == ["0.6789", "0.7202a", "0.6886", "0.6601", f"{0.68375:.4f}", f"{0.69015:.4f}"]
