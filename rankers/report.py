"""The renderers of an evaluation result (`rankers.evaluate.Comparison`): a rich table for the terminal,
markdown, CSV, JSON, a LaTeX booktabs table, MTEB's result file, an HTML table (for `rank report`, whose
figures are in `rankers.figures`), and the coverage lines for stderr.

Each run gets a key (a, b, ...); a superscript key beside a score says the run is significantly better than
the run with that key on that metric.
"""

from __future__ import annotations

import json
import math
from typing import Any

from rankers.errors import RankError
from rankers.evaluate import COST_KEYS, Comparison, RunScores

FORMATS = ("table", "markdown", "csv", "json", "latex")
COST_LABELS = {
    "calls": "calls/q",
    "prompt_tokens": "prompt tok/q",
    "completion_tokens": "compl tok/q",
    "wall_s": "wall s/q",
}


def coverage_lines(c: Comparison) -> list[str]:
    """One line per run (and qrels kind): queries judged and ranked, then every problem counted (for stderr)."""
    lines = []
    for r in c.runs:
        for kind, cov in r.coverage.items():
            where = f"{r.name}" + (f" ({kind} qrels)" if len(r.coverage) > 1 else "")
            parts = []
            if cov.missing:
                parts.append(
                    f"{_n(cov.missing, 'judged query has', 'judged queries have')} no ranking "
                    f"(scored 0: {_ex(cov.missing)})"
                )
            if cov.empty:
                parts.append(
                    f"{_n(cov.empty, 'ranking is', 'rankings are')} empty (scored 0: {_ex(cov.empty)})"
                )
            if cov.unjudged:
                parts.append(
                    f"{_n(cov.unjudged, 'ranked query has', 'ranked queries have')} no qrels "
                    f"(not evaluated: {_ex(cov.unjudged)})"
                )
            if cov.no_relevant:
                parts.append(
                    f"{_n(cov.no_relevant, 'judged query has', 'judged queries have')} no relevant "
                    f"document (scores 0 with every run: {_ex(cov.no_relevant)})"
                )
            if cov.duplicates:
                parts.append(f"{cov.duplicates} repeated docids dropped (first kept)")
            head = f"{where}: {cov.judged} judged queries, {cov.ranked} ranked"
            lines.append(head + ("; " + "; ".join(parts) if parts else ""))
    return lines


def _n(items: list, one: str, many: str) -> str:
    return f"{len(items)} {one if len(items) == 1 else many}"


def _ex(qids: list[str], k: int = 5) -> str:
    return ", ".join(qids[:k]) + (", ..." if len(qids) > k else "")


_SUPER = str.maketrans("abcdefghijklmnoprstuvwxyz0123456789", "ᵃᵇᶜᵈᵉᶠᵍʰⁱʲᵏˡᵐⁿᵒᵖʳˢᵗᵘᵛʷˣʸᶻ⁰¹²³⁴⁵⁶⁷⁸⁹")


def superscript(marks: str) -> str:
    """Run keys as Unicode superscripts, for plain-text tables (`0.6789ᵃᵇ`)."""
    return marks.translate(_SUPER)


def _marks(c: Comparison, name: str, metric: str) -> str:
    return "".join(c.key(b) for b in c.beats(name, metric))


def _fmt(x: float) -> str:
    return f"{x:.4f}"


def _pfmt(p: float) -> str:
    if p is None or math.isnan(p):
        return "n/a"
    return "<0.0001" if p < 1e-4 else f"{p:.4f}"


def _cost_cols(c: Comparison) -> list[str]:
    return [COST_LABELS[k] for k in COST_KEYS] if c.has_cost() else []


def _cost_cells(r: RunScores, c: Comparison) -> list[str]:
    if not c.has_cost():
        return []
    if r.cost is None:
        return ["-"] * len(COST_KEYS)
    pq = r.cost.per_query()
    return [f"{pq[k]:.2f}" if k == "wall_s" else f"{pq[k]:.1f}" for k in COST_KEYS]


def _best(c: Comparison, label: str) -> float:
    return max(r.means[label] for r in c.runs)


def _legend(c: Comparison) -> str:
    if len(c.runs) < 2:
        return ""
    if c.test == "tukey":
        how = "Tukey HSD p"
    else:
        test = {"student": "paired t-test", "fisher": "Fisher randomization test"}[c.test]
        how = f"{test}, Holm-corrected p over the run pairs of each metric"
    return f"Superscripts: significantly better than that run ({how} <= {c.max_p:g})."


def _title(c: Comparison) -> str:
    where = " ".join(x for x in (c.dataset, c.split) if x)
    return f"{where}: main metric {c.main}" if where else f"main metric {c.main}"


def table_renderables(c: Comparison) -> list[Any]:
    """Rich renderables: the title, the scores table, the legend, the pairwise tests (names never markup)."""
    from rich.table import Table
    from rich.text import Text

    t = Table()
    t.add_column("", no_wrap=True)
    t.add_column("run", no_wrap=True)
    for m in c.metrics:
        t.add_column(m.label, justify="right", no_wrap=True)
    for col in _cost_cols(c):
        t.add_column(col, justify="right", no_wrap=True)
    for r in c.runs:
        cells = []
        for m in c.metrics:
            best = len(c.runs) > 1 and r.means[m.label] == _best(c, m.label)
            cell = _fmt(r.means[m.label]) + superscript(_marks(c, r.name, m.label))
            cells.append(Text(cell, style="bold" if best else ""))
        t.add_row(c.key(r.name), Text(r.name), *cells, *_cost_cells(r, c))
    out: list[Any] = [Text(_title(c), style="bold"), t]
    if c.pairs:
        out.append(Text(_legend(c)))
        p = Table()
        numeric = ("diff", "p", "p holm", "p tukey")
        for col in (
            "pair",
            "metric",
            "diff",
            "p",
            "p holm" if c.test != "tukey" else "p tukey",
            "significant",
        ):
            p.add_column(col, justify="right" if col in numeric else "left", no_wrap=True)
        for x in c.pairs:
            p.add_row(
                Text(f"{x.a} vs {x.b}"),
                x.metric,
                f"{x.diff:+.4f}",
                _pfmt(x.p),
                _pfmt(x.p_holm),
                Text(f"yes, {x.better}" if x.better else "no"),
            )
        out.append(p)
    return out


def render_table(c: Comparison, width: int = 200) -> str:
    import io

    from rich.console import Console

    buf = io.StringIO()
    console = Console(file=buf, width=width, force_terminal=False, no_color=True, highlight=False)
    for r in table_renderables(c):
        console.print(r)
    return buf.getvalue()


def render_markdown(c: Comparison) -> str:
    head = [
        "",
        "run",
        *[m.label + (" (main)" if m.label == c.main else "") for m in c.metrics],
        *_cost_cols(c),
    ]
    rows = [head, ["---"] * 2 + ["---:"] * (len(head) - 2)]
    for r in c.runs:
        cells = []
        for m in c.metrics:
            cell = _fmt(r.means[m.label]) + superscript(_marks(c, r.name, m.label))
            cells.append(f"**{cell}**" if len(c.runs) > 1 and r.means[m.label] == _best(c, m.label) else cell)
        rows.append([c.key(r.name), _md(r.name), *cells, *_cost_cells(r, c)])
    lines = [f"**{_md(_title(c))}**", ""] + ["| " + " | ".join(row) + " |" for row in rows]
    if _legend(c):
        lines += ["", _legend(c)]
    if c.pairs:
        pcol = "p (Tukey)" if c.test == "tukey" else "p (Holm)"
        lines += ["", f"| pair | metric | diff | p | {pcol} | significant |", "|---|---|---:|---:|---:|---|"]
        for x in c.pairs:
            sig = f"yes ({_md(x.better)})" if x.better else "no"
            lines.append(
                f"| {_md(x.a)} vs {_md(x.b)} | {x.metric} | {x.diff:+.4f} | {_pfmt(x.p)} | {_pfmt(x.p_holm)} | {sig} |"
            )
    notes = coverage_lines(c)
    if any(not cov.complete for r in c.runs for cov in r.coverage.values()):
        lines += [""] + [f"- {_md(n)}" for n in notes]
    return "\n".join(lines) + "\n"


def _md(s: str) -> str:
    return s.replace("|", "\\|").replace("*", "\\*").replace("_", "\\_")


def render_csv(c: Comparison) -> str:
    import polars as pl

    data: dict[str, list[Any]] = {"key": [], "run": []}
    for m in c.metrics:
        data[m.label] = []
    for m in c.metrics:
        data[f"{m.label} better than"] = []
    for k in COST_KEYS if c.has_cost() else ():
        data[f"{k} per query"] = []
    for k in ("judged", "ranked", "missing", "empty", "unjudged"):
        data[k] = []
    for r in c.runs:
        data["key"].append(c.key(r.name))
        data["run"].append(r.name)
        for m in c.metrics:
            data[m.label].append(r.means[m.label])
            data[f"{m.label} better than"].append(_marks(c, r.name, m.label))
        if c.has_cost():
            pq = r.cost.per_query() if r.cost else {}
            for k in COST_KEYS:
                data[f"{k} per query"].append(pq.get(k))
        cov = r.coverage[c.metrics[0].qrels]
        for k in ("judged", "ranked"):
            data[k].append(getattr(cov, k))
        for k in ("missing", "empty", "unjudged"):
            data[k].append(len(getattr(cov, k)))
    return pl.DataFrame(data).write_csv()


def _num(x: float | None) -> float | None:
    return None if x is None or math.isnan(x) else x


def to_json(c: Comparison) -> dict[str, Any]:
    return {
        "dataset": c.dataset,
        "split": c.split,
        "main": c.main,
        "metrics": [{"label": m.label, "metric": m.name, "qrels": m.qrels} for m in c.metrics],
        "test": c.test,
        "max_p": c.max_p,
        "correction": c.correction,
        "correction_family": "the run pairs of one metric",
        "runs": [
            {
                "key": c.key(r.name),
                "name": r.name,
                "scores": r.means,
                "better_than": {m.label: c.beats(r.name, m.label) for m in c.metrics},
                "cost_per_query": r.cost.per_query() if r.cost else None,
                "cost": {"totals": r.cost.totals, "queries": r.cost.queries, "source": r.cost.source}
                if r.cost
                else None,
                "coverage": {k: cov.to_dict() for k, cov in r.coverage.items()},
            }
            for r in c.runs
        ],
        "comparisons": [
            {
                "a": x.a,
                "b": x.b,
                "metric": x.metric,
                "diff": x.diff,
                "p": _num(x.p),
                "p_adjusted": _num(x.p_holm),
                "significant": x.significant,
                "better": x.better,
            }
            for x in c.pairs
        ],
    }


def render_json(c: Comparison) -> str:
    return json.dumps(to_json(c), ensure_ascii=False, indent=2) + "\n"


def render_html_table(c: Comparison) -> str:
    """The scores table, its legend, the pairwise tests and the coverage notes as an HTML fragment.

    Each score cell carries its exact value (`data-value`, Python's repr of the float) beside the 4 decimals
    shown, so a reader or a test can check the page against `rank eval --format json` without rounding.
    """
    from html import escape

    head = [
        "",
        "run",
        *[m.label + (" (main)" if m.label == c.main else "") for m in c.metrics],
        *_cost_cols(c),
    ]
    out = [f'<p class="title">{escape(_title(c))}</p>', '<table class="scores">', "<thead><tr>"]
    out += [f"<th>{escape(h)}</th>" for h in head] + ["</tr></thead>", "<tbody>"]
    for r in c.runs:
        cells = [f"<td>{escape(c.key(r.name))}</td>", f'<td class="run">{escape(r.name)}</td>']
        for m in c.metrics:
            v = r.means[m.label]
            marks = _marks(c, r.name, m.label)
            best = ' class="best"' if len(c.runs) > 1 and v == _best(c, m.label) else ""
            sup = f"<sup>{escape(marks)}</sup>" if marks else ""
            cells.append(
                f'<td{best} data-run="{escape(r.name)}" data-metric="{escape(m.label)}" '
                f'data-value="{v!r}">{_fmt(v)}{sup}</td>'
            )
        cells += [f"<td>{x}</td>" for x in _cost_cells(r, c)]
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    if _legend(c):
        out.append(f'<p class="legend">{escape(_legend(c))}</p>')
    if c.pairs:
        pcol = "p (Tukey)" if c.test == "tukey" else "p (Holm)"
        out += [
            f"<details><summary>Every pair ({len(c.pairs)} tests)</summary>",
            '<table class="pairs"><thead><tr>',
            *[f"<th>{h}</th>" for h in ("pair", "metric", "diff", "p", pcol, "significant")],
            "</tr></thead><tbody>",
        ]
        for x in c.pairs:
            sig = f"yes ({escape(x.better)})" if x.better else "no"
            out.append(
                f"<tr><td>{escape(x.a)} vs {escape(x.b)}</td><td>{escape(x.metric)}</td>"
                f"<td>{x.diff:+.4f}</td><td>{_pfmt(x.p)}</td><td>{_pfmt(x.p_holm)}</td><td>{sig}</td></tr>"
            )
        out.append("</tbody></table></details>")
    if any(not cov.complete for r in c.runs for cov in r.coverage.values()):
        out.append(
            '<ul class="coverage">' + "".join(f"<li>{escape(n)}</li>" for n in coverage_lines(c)) + "</ul>"
        )
    return "\n".join(out) + "\n"


_TEX = {
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\^{}",
    "\\": r"\textbackslash{}",
}


def _tex(s: str) -> str:
    return "".join(_TEX.get(ch, ch) for ch in s)


def render_latex(c: Comparison) -> str:
    """A booktabs table (\\usepackage{booktabs}); the best score per metric in bold, marks as superscripts."""
    cols = [m.label for m in c.metrics] + _cost_cols(c)
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        r"\begin{tabular}{ll" + "r" * len(cols) + "}",
        r"\toprule",
        " & ".join(["", "Run", *[_tex(x) for x in cols]]) + r" \\",
        r"\midrule",
    ]
    for r in c.runs:
        cells = []
        for m in c.metrics:
            cell = _fmt(r.means[m.label])
            if len(c.runs) > 1 and r.means[m.label] == _best(c, m.label):
                cell = rf"\textbf{{{cell}}}"
            marks = _marks(c, r.name, m.label)
            cells.append(cell + (rf"$^{{{marks}}}$" if marks else ""))
        lines.append(" & ".join([c.key(r.name), _tex(r.name), *cells, *_cost_cells(r, c)]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    caption = _tex(_title(c)) + "." + (" " + _tex(_legend(c)).replace("<=", r"$\leq$") if _legend(c) else "")
    lines += [rf"\caption{{{caption}}}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def render(c: Comparison, fmt: str) -> str:
    """The comparison as text; an MTEB result file is made by mteb itself (`rankers.export.mteb`)."""
    if fmt not in FORMATS:
        raise RankError(f"--format {fmt!r}: choose from {', '.join(FORMATS)}")
    return {
        "table": render_table,
        "markdown": render_markdown,
        "csv": render_csv,
        "json": render_json,
        "latex": render_latex,
    }[fmt](c)
