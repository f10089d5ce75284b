"""`rank report`: the comparison `rank eval` makes, as one self-contained HTML page of figures (and PNG/SVG)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.common import Dataset, Split
from cli.evaluate import MaxP, Metrics, PresetName, QrelsFile, Runs, Test


def report(
    runs: Runs = None,
    output: Annotated[
        Path,
        typer.Option("--output", "-o", help="HTML file to write (atomically); it opens offline, no CDN."),
    ] = ...,
    dataset: Dataset = None,
    split: Split = None,
    metrics: Metrics = None,
    preset: PresetName = None,
    qrels: QrelsFile = None,
    baseline: Annotated[
        str | None,
        typer.Option(
            "--baseline", "-b", help="Run the per-query differences are taken against (default: the first)."
        ),
    ] = None,
    metric: Annotated[
        str | None,
        typer.Option("--metric", help="Metric of the per-query differences (default: the main metric)."),
    ] = None,
    figures: Annotated[
        Path | None,
        typer.Option("--figures", help="Folder to write each figure to as SVG and PNG (for papers)."),
    ] = None,
    title: Annotated[
        str | None, typer.Option("--title", help="Page title (default: the dataset and split).")
    ] = None,
    max_p: MaxP = 0.05,
    test: Test = "student",
) -> None:
    """Write the evaluation of runs as one HTML page: rank eval's table with significance marks, per-query
    wins and losses against a baseline, quality against depth, LLM cost against quality.

    The numbers are rank eval's own (same flags, same computation); the page embeds its JSON too.
    """
    from cli.common import say
    from cli.evaluate import compare_runs
    from rankers.figures import build_report

    done = compare_runs(runs, dataset, split, metrics, preset, qrels, max_p, test, "rank report")
    c = done.comparison
    texts = None
    if done.dataset is not None:
        texts = {qid: q.text for qid, q in done.dataset.queries(c.split).items()}
    rep = build_report(
        c,
        done.runs,
        done.qrels,
        done.retrieval_qrels,
        baseline=baseline,
        metric=metric,
        texts=texts,
        title=title,
    )
    rep.write(output)
    size = output.stat().st_size
    say(f"rank report: wrote {output} ({size / 1e6:.2f} MB; figures: {', '.join(rep.specs) or 'none'})")
    if figures is not None:
        written = rep.write_figures(figures)
        say(f"rank report: wrote {len(written)} figure files to {figures}/")
