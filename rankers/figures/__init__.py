"""`rank report`: an evaluation as pictures, in one self-contained HTML file and as PNG/SVG files for papers.

    report = build_report(comparison, runs, qrels, baseline="bm25", texts=query_texts)
    report.write("report.html")
    report.write_figures("figures/")  # per-query.svg/.png, depth..., cost..., suite...

The figures: per-query differences against a baseline run (sorted win/loss bars, the query on hover, wins,
ties and losses counted); quality against depth (nDCG@k, recall@k); LLM cost against quality for reranking
runs; and, for a suite, a task-by-system table (`SuiteTable`, passed in by whoever ran the suite).

The metrics table is `rank eval`'s own (`rankers.report.render_html_table` of the same `Comparison`), and the
figures read its per-query scores and costs, so the page cannot disagree with `rank eval`. Charts are
Vega-Lite (altair), drawn in the page by vega-embed and written to files by vl-convert; see `render`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

from rankers.evaluate import Comparison, Qrels
from rankers.figures.tables import Outcomes, SuiteTable
from rankers.run import Ranking

__all__ = ["Report", "SuiteTable", "build_report", "suite_page"]


@dataclass
class Report:
    """A comparison with its figures: `.html()` is the page, `.specs` the Vega-Lite spec of each figure."""

    comparison: Comparison
    baseline: str | None
    metric: str
    specs: dict[str, dict[str, Any]]  # figure name -> Vega-Lite spec
    outcomes: dict[str, Outcomes] = field(default_factory=dict)
    cost_metric: str | None = None
    suite: SuiteTable | None = None
    title: str | None = None

    def html(self) -> str:
        from rankers.figures import page, render
        from rankers.report import render_html_table, to_json

        c = self.comparison
        sections = [page.Section("metrics", "Metrics", render_html_table(c))]
        if "per-query" in self.specs:
            rows = "".join(
                f"<tr><td>{escape(run)}</td><td>{o.wins}</td><td>{o.ties}</td><td>{o.losses}</td></tr>"
                for run, o in self.outcomes.items()
            )
            body = (
                f"<p>{escape(self.metric)} of each run minus {escape(self.baseline or '')}'s, one bar per "
                "judged query, sorted from the largest gain to the largest loss; hover over a bar for the "
                "query.</p>\n"
                '<table class="outcomes"><thead><tr><th>run</th><th>wins</th><th>ties</th><th>losses</th>'
                f"</tr></thead><tbody>{rows}</tbody></table>"
            )
            sections.append(
                page.Section("per-query", f"Per query, against {self.baseline}", body, "fig-per-query")
            )
        if "depth" in self.specs:
            body = (
                "<p>nDCG@k and recall@k for k up to each run's depth (its longest ranking), by the same ranx "
                "code as the table.</p>"
            )
            sections.append(page.Section("depth", "Quality against depth", body, "fig-depth"))
        if "cost" in self.specs:
            body = (
                f"<p>{escape(self.cost_metric or '')} against the LLM cost per query (from each run's "
                "<code>meta.cost</code> or its <code>.cost.json</code>); dashed lines: runs without LLM cost, "
                "the level a reranker has to beat.</p>"
            )
            sections.append(page.Section("cost", "Cost against quality", body, "fig-cost"))
        else:
            body = (
                '<p class="note">No run carries an LLM cost (<code>meta.cost</code> in a JSONL run, or '
                "<code>&lt;run&gt;.cost.json</code> beside it, as <code>rank rerank -o</code> writes).</p>"
            )
            sections.append(page.Section("cost", "Cost against quality", body))
        if "suite" in self.specs and self.suite is not None:
            avg = self.suite.averages()
            missing = [s for s, v in avg.items() if v is None]
            note = f" No average for {', '.join(missing)}: a task is missing." if missing else ""
            body = f"<p>{escape(self.suite.metric)} by task and system; the last row averages the tasks.{escape(note)}</p>"
            sections.append(page.Section("suite", "Tasks by systems", body, "fig-suite"))
        figures = {f"fig-{name}": spec for name, spec in self.specs.items()}
        return page.render_page(self.title or _title(c), sections, figures, to_json(c), render.vega_runtime())

    def write(self, path: str | Path) -> None:
        from rankers.io import atomic_write

        text = self.html()
        with atomic_write(path) as f:
            f.write(text)

    def write_figures(self, folder: str | Path) -> list[Path]:
        from rankers.figures.render import write_figures

        return write_figures(self.specs, folder)


def _title(c: Comparison) -> str:
    where = " ".join(x for x in (c.dataset, c.split) if x)
    return f"rank report: {where}" if where else "rank report"


def build_report(
    comparison: Comparison,
    runs: Mapping[str, Sequence[Ranking]],
    qrels: Qrels,
    retrieval_qrels: Qrels | None = None,
    baseline: str | None = None,
    metric: str | None = None,
    texts: Mapping[str, str] | None = None,
    suite: SuiteTable | None = None,
    title: str | None = None,
) -> Report:
    """The figures of a comparison of `runs` (the rankings it scored, by run name).

    `baseline`: the run the per-query differences are taken against (default: the first); `metric`: the
    metric of those differences (default: the comparison's main metric); `texts`: query texts by qid for the
    hover (texts carried by the runs come first); `suite`: a task-by-system table to draw as well.
    """
    from rankers.figures import charts, tables

    c = comparison
    names = c.names
    metric = metric or c.main
    baseline = baseline if baseline is not None else names[0]
    tables.run_of(c, baseline, "--baseline")
    tables.metric_of(c, metric, "--metric")
    specs: dict[str, dict[str, Any]] = {}
    outcomes: dict[str, Outcomes] = {}
    if len(names) > 1:
        query_texts = dict(texts or {})
        for rankings in runs.values():
            query_texts |= {r.qid: r.query.text for r in rankings if r.query.text}
        rows, outcomes = tables.per_query(c, baseline, metric, query_texts)
        specs["per-query"] = charts.per_query_chart(rows, outcomes, baseline, metric)
    depth = tables.depth_curves(c, runs, qrels, retrieval_qrels)
    if depth:
        specs["depth"] = charts.depth_chart(depth, names)
    cost_metric = None
    if c.has_cost():
        cost_metric = tables.quality_metric(c)
        points, refs = tables.cost_points(c, cost_metric)
        specs["cost"] = charts.cost_chart(points, refs, names, cost_metric)
    if suite is not None:
        specs["suite"] = charts.suite_chart(suite.rows(), suite.tasks, suite.systems, suite.metric)
    return Report(c, baseline if len(names) > 1 else None, metric, specs, outcomes, cost_metric, suite, title)


def suite_page(comparison: Mapping[str, Any], title: str | None = None) -> str:
    """The page of `rank suite compare -f html`: its table (each task's main metric, the average over tasks,
    superscripts for significant wins) and the task-by-system chart, from `rankers.suites.compare_systems`'s
    data, which the page also embeds (`<script id="rank-eval">`)."""
    from rankers.figures import charts, page, render

    c = comparison
    names, keys = c["systems"], c["keys"]
    table = SuiteTable({r["task"]: dict(r["scores"]) for r in c["rows"]}, metric="main metric")

    def cell(scores: Mapping[str, float], beats: Mapping[str, list[str]], n: str) -> str:
        marks = "".join(keys[b] for b in beats.get(n, []))
        best = scores[n] == max(scores.values())
        return f'<td class="{"best" if best else ""}" data-value="{scores[n]!r}">{scores[n]:.4f}<sup>{escape(marks)}</sup></td>'

    head = "".join(f"<th>{escape(n)} ({escape(keys[n])})</th>" for n in names)
    rows = [
        f"<tr><td>{escape(r['task'])}</td><td>{escape(r['metric'])}</td>"
        + "".join(cell(r["scores"], r["beats"], n) for n in names)
        + "</tr>"
        for r in c["rows"]
    ]
    a = c["average"]
    if "scores" in a:
        rows.append(
            f"<tr><td><b>average</b> ({a['over']} of {a['of']})</td><td>main</td>"
            + "".join(cell(a["scores"], a["beats"], n) for n in names)
            + "</tr>"
        )
    tests = {"student": "paired t-test", "fisher": "randomization test", "tukey": "Tukey HSD"}[c["test"]]
    legend = (
        f"Superscript: significantly better than that system ({tests}, Holm-corrected over the system pairs, "
        f"p &le; {c['max_p']}); per task over its queries, on the average over the tasks."
    )
    if c["skipped"]:
        legend += " Left out: " + escape("; ".join(f"{t} ({why})" for t, why in c["skipped"]))
    body = (
        f'<table class="suite"><thead><tr><th>task</th><th>metric</th>{head}</tr></thead>'
        f'<tbody>{"".join(rows)}</tbody></table><p class="legend">{legend}</p>'
    )
    spec = charts.suite_chart(table.rows(), table.tasks, table.systems, table.metric)
    sections = [
        page.Section("metrics", "Systems by task", body),
        page.Section("suite", "Tasks by systems", "<p>Each task's main metric.</p>", "fig-suite"),
    ]
    title = title or f"rank suite compare: {c['suite']}"
    return page.render_page(title, sections, {"fig-suite": spec}, dict(c), render.vega_runtime())
