"""The figures of `rank report` as Vega-Lite specs, built with altair from the rows of `rankers.figures.tables`.

Each function returns a plain Vega-Lite dict (data inline), so the same spec feeds the HTML page (compiled to
Vega and drawn by the Vega runtime) and the PNG/SVG files (rendered by vl-convert). Charts carry no title:
the page has headings and a paper has captions. A run keeps its colour in every chart (`run_colors`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

OUTCOME_COLORS = {"win": "#3b75af", "tie": "#b0b0b0", "loss": "#e4812f"}
# Tableau 10: distinct, colour-blind-tolerant, and what readers of IR papers expect from matplotlib.
PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)
WIDTH = 720


def _alt():
    import altair as alt

    return alt


def run_colors(names: Sequence[str]):
    """One colour per run, in run order, shared by every chart of a report."""
    alt = _alt()
    return alt.Scale(domain=list(names), range=[PALETTE[i % len(PALETTE)] for i in range(len(names))])


def _finish(chart) -> dict[str, Any]:
    chart = (
        chart.configure(font="DejaVu Sans, Helvetica, Arial, sans-serif")
        .configure_axis(labelFontSize=11, titleFontSize=12, titleFontWeight="normal")
        .configure_header(labelFontSize=12, titleFontSize=12)
        .configure_legend(labelFontSize=11, titleFontSize=11)
        .configure_view(stroke="#ddd")
    )
    return chart.to_dict()


def _around(values: Sequence[float], least: float = 0.05):
    """A y scale around the values, at least `least` tall: runs of equal quality would otherwise collapse the
    domain to one point (drawn as a lone, wrong "0" tick)."""
    alt = _alt()
    lo, hi = min(values), max(values)
    if hi - lo >= least:
        return alt.Scale(zero=False, padding=18)
    mid = (lo + hi) / 2
    bottom = max(0.0, mid - least) if lo >= 0 else mid - least
    return alt.Scale(domain=[bottom, mid + least], zero=False)


def per_query_chart(
    rows: Sequence[Mapping[str, Any]], outcomes: Mapping[str, Any], baseline: str, metric: str
) -> dict[str, Any]:
    """Sorted win/loss bars: one panel per run, one bar per judged query (its score minus the baseline's);
    the query's id and text on hover; the panel header counts wins, ties and losses."""
    alt = _alt()
    data = []
    for r in rows:
        o = outcomes[r["run"]]
        panel = f"{r['run']}: {o.wins} wins, {o.ties} ties, {o.losses} losses"
        data.append({**r, "panel": panel})
    n = max((r["position"] for r in rows), default=0)
    chart = (
        alt.Chart(alt.Data(values=data))
        .mark_bar()
        .encode(
            x=alt.X(
                "position:O",
                title=f"the {n} judged queries, largest gain first",
                axis=alt.Axis(labels=False, ticks=False, domain=False),
                scale=alt.Scale(paddingInner=0.1),
            ),
            y=alt.Y("diff:Q", title=f"{metric} − {baseline}"),
            color=alt.Color(
                "outcome:N",
                title=None,
                scale=alt.Scale(domain=list(OUTCOME_COLORS), range=list(OUTCOME_COLORS.values())),
                legend=alt.Legend(orient="top", direction="horizontal"),
            ),
            tooltip=[
                alt.Tooltip("qid:N", title="query id"),
                alt.Tooltip("query:N", title="query"),
                alt.Tooltip("run:N", title="run"),
                alt.Tooltip("score:Q", title=metric, format=".4f"),
                alt.Tooltip("baseline:Q", title=f"{metric} of {baseline}", format=".4f"),
                alt.Tooltip("diff:Q", title="difference", format="+.4f"),
            ],
        )
        .properties(width=WIDTH, height=120)
        .facet(
            row=alt.Row(
                "panel:N",
                title=None,
                sort=list(dict.fromkeys(d["panel"] for d in data)),
                header=alt.Header(
                    labelAngle=0, labelOrient="top", labelAnchor="start", labelFontWeight="bold"
                ),
            ),
            spacing=14,
        )
    )
    return _finish(chart)


def depth_chart(rows: Sequence[Mapping[str, Any]], runs: Sequence[str]) -> dict[str, Any]:
    """nDCG@k and recall@k against k (log scale) for each run, side by side."""
    alt = _alt()
    # Label 1-2-5 steps and each run's own depth; every cut-off would crowd the log axis.
    depths = {max(r["k"] for r in rows if r["run"] == name) for name in {r["run"] for r in rows}}
    ks = sorted({r["k"] for r in rows if str(r["k"]).strip("0") in ("1", "2", "5")} | depths)
    chart = (
        alt.Chart(alt.Data(values=list(rows)))
        .mark_line(point=alt.OverlayMarkDef(size=28), strokeWidth=1.8)
        .encode(
            x=alt.X(
                "k:Q",
                title="depth k",
                scale=alt.Scale(type="log", nice=False),
                axis=alt.Axis(values=ks, format="d", labelFlush=False),
            ),
            y=alt.Y("value:Q", title=None, scale=alt.Scale(zero=False)),
            color=alt.Color("run:N", title="run", scale=run_colors(runs), legend=alt.Legend(orient="bottom")),
            tooltip=[
                alt.Tooltip("run:N"),
                alt.Tooltip("measure:N"),
                alt.Tooltip("k:Q"),
                alt.Tooltip("value:Q", format=".4f"),
            ],
        )
        .properties(width=(WIDTH - 40) // 2, height=260)
        .facet(
            column=alt.Column(
                "measure:N",
                title=None,
                sort=["nDCG@k", "Recall@k"],
                header=alt.Header(labelFontWeight="bold"),
            ),
            spacing=30,
        )
        # Each panel on its own scale: nDCG curves flatten early, recall climbs to 1.
        .resolve_scale(y="independent")
    )
    return _finish(chart)


def cost_chart(
    points: Sequence[Mapping[str, Any]], refs: Sequence[Mapping[str, Any]], runs: Sequence[str], metric: str
) -> dict[str, Any]:
    """Quality against LLM calls, prompt tokens and wall time per query, one panel each; runs without cost
    (first stages) are dashed lines at their quality, the level a reranker has to beat."""
    alt = _alt()
    data = [{**p, "kind": "point"} for p in points]
    data += [{**r, "kind": "ref", "label": f"{r['run']} (no LLM cost)"} for r in refs]
    axes = list(dict.fromkeys(d["axis"] for d in data))
    color = alt.Color("run:N", title="run", scale=run_colors(runs), legend=alt.Legend(orient="bottom"))
    base = alt.Chart().encode(y=alt.Y("quality:Q", title=metric, scale=_around([d["quality"] for d in data])))
    dots = (
        base.transform_filter(alt.datum.kind == "point")
        .mark_point(filled=True, size=90, opacity=0.9)
        .encode(
            x=alt.X("cost:Q", title=None, scale=alt.Scale(zero=True, padding=14), axis=alt.Axis(tickCount=4)),
            color=color,
            tooltip=[
                alt.Tooltip("run:N"),
                alt.Tooltip("axis:N", title="cost"),
                alt.Tooltip("cost:Q", title="per query", format=",.2f"),
                alt.Tooltip("quality:Q", title=metric, format=".4f"),
                alt.Tooltip("source:N", title="cost from"),
            ],
        )
    )
    # Names above the dots (not beside: the costliest run sits at the right edge of its panel).
    names = base.transform_filter(alt.datum.kind == "point").mark_text(dy=-12, fontSize=11)
    names = names.encode(x="cost:Q", text="run:N", color=color)
    lines = base.transform_filter(alt.datum.kind == "ref").mark_rule(strokeDash=[5, 4], strokeWidth=1.4)
    lines = lines.encode(color=color, tooltip=[alt.Tooltip("run:N"), alt.Tooltip("quality:Q", format=".4f")])
    line_names = base.transform_filter(alt.datum.kind == "ref").mark_text(
        align="left", dx=3, dy=-7, fontSize=10
    )
    line_names = line_names.encode(x=alt.value(0), text="label:N", color=color)
    chart = (
        alt.layer(lines, line_names, dots, names, data=alt.Data(values=data))
        .properties(width=(WIDTH - 60) // 3, height=240)
        .facet(
            column=alt.Column("axis:N", title=None, sort=axes, header=alt.Header(labelFontWeight="bold")),
            spacing=20,
        )
        .resolve_scale(x="independent")
    )
    return _finish(chart)


def suite_chart(rows: Sequence[Mapping[str, Any]], tasks: Sequence[str], systems: Sequence[str], metric: str):
    """Tasks by systems: each cell's score as a number on a shade, the averages as the last row."""
    alt = _alt()
    order = [*tasks, *dict.fromkeys(r["task"] for r in rows if r["average"])]
    base = alt.Chart(alt.Data(values=list(rows))).encode(
        x=alt.X("system:N", title=None, sort=list(systems), axis=alt.Axis(orient="top", labelAngle=0)),
        y=alt.Y("task:N", title=None, sort=order),
    )
    cells = base.mark_rect(stroke="white", strokeWidth=2).encode(
        color=alt.Color("score:Q", title=metric, scale=alt.Scale(scheme="blues"), legend=None),
        tooltip=[
            alt.Tooltip("task:N"),
            alt.Tooltip("system:N"),
            alt.Tooltip("score:Q", title=metric, format=".4f"),
        ],
    )
    lo = min(r["score"] for r in rows)
    hi = max(r["score"] for r in rows)
    mid = (lo + hi) / 2
    shade = alt.condition(alt.datum.score > mid, alt.value("white"), alt.value("black"))
    label = alt.Text("score:Q", format=".4f")
    text = base.transform_filter(~alt.datum.average).mark_text(fontSize=12).encode(text=label, color=shade)
    bold = base.transform_filter(alt.datum.average).mark_text(fontSize=12, fontWeight="bold")
    bold = bold.encode(text=label, color=shade)
    chart = alt.layer(cells, text, bold).properties(
        width=min(WIDTH, 110 * len(systems)), height=28 * len(order)
    )
    return _finish(chart)
