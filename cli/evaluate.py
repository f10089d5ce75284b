"""`rank eval`: score one run, or compare several with paired tests and a Holm correction."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.common import Dataset, Split

# The flags `rank eval` and `rank report` share: both compare the same runs the same way (`compare_runs`).
Runs = Annotated[
    list[str] | None,
    typer.Argument(
        help="Run files (JSONL, TREC or MS MARCO; NAME=FILE names a run); `-` or none: stdin.",
        show_default=False,
    ),
]
Metrics = Annotated[
    str | None,
    typer.Option(
        "--metrics",
        "-m",
        help="ranx metrics, e.g. ndcg@10,mrr@10,recall@100,map; add :retrieval "
        "to judge with the binary retrieval qrels (T2Ranking grades 2-3).",
    ),
]
PresetName = Annotated[
    str | None,
    typer.Option("--preset", help="mteb | t2ranking | loco | trec | default (default: the dataset's)."),
]
QrelsFile = Annotated[
    Path | None,
    typer.Option(
        "--qrels", help="Qrels file (TREC 4 columns, BEIR 3, or qid docid) instead of the dataset's."
    ),
]
MaxP = Annotated[float, typer.Option("--max-p", help="Significance level, after the Holm correction.")]
Test = Annotated[str, typer.Option("--test", help="Paired test: student | fisher | tukey.")]


def evaluate(
    runs: Runs = None,
    dataset: Dataset = None,
    split: Split = None,
    metrics: Metrics = None,
    preset: PresetName = None,
    qrels: QrelsFile = None,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            "-f",
            help="table | markdown | csv | json | latex | mteb (one run: the task's result file, made by mteb).",
        ),
    ] = "table",
    task: Annotated[
        str | None,
        typer.Option(
            "--task", help="-f mteb: the MTEB task (default: the dataset's name, e.g. scifact -> SciFact)."
        ),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (atomically); default stdout.")
    ] = None,
    max_p: MaxP = 0.05,
    test: Test = "student",
) -> None:
    """Score runs against the qrels; with several runs, test every pair (Holm-corrected per metric).

    Judged queries missing from a run score 0 and are reported on stderr, as are ranked queries without qrels.
    """
    from cli.common import say
    from rankers import report
    from rankers.errors import RankError
    from rankers.io import atomic_write

    formats = (*report.FORMATS, "mteb")
    if fmt not in formats:
        raise RankError(f"--format {fmt}: choose from {', '.join(formats)}")
    if task is not None and fmt != "mteb":
        raise RankError("--task: only with --format mteb")
    if fmt == "mteb" and (metrics or preset or qrels is not None or dataset is None):
        raise RankError(
            "--format mteb: scored by mteb's own metrics on the dataset's qrels; give --dataset, "
            "not --metrics, --preset or --qrels"
        )
    done = compare_runs(runs, dataset, split, metrics, preset, qrels, max_p, test, "rank eval")
    comparison = done.comparison
    if fmt == "mteb":
        return _write_mteb(
            done.runs, done.qrels, done.dataset, comparison.split, task, output, comparison.seconds
        )

    if output is None and fmt == "table" and sys.stdout.isatty():
        from rich.console import Console

        console = Console()
        for r in report.table_renderables(comparison):
            console.print(r)
        return
    text = report.render(comparison, fmt)
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        with atomic_write(output) as f:
            f.write(text)
        say(f"rank eval: wrote {output}")


@dataclass
class Compared:
    """What `rank eval` and `rank report` both start from: the comparison and what it was computed on."""

    comparison: Any  # rankers.evaluate.Comparison
    runs: dict[str, list]  # run name -> its rankings
    dataset: Any  # rankers.data dataset, or None with --qrels
    qrels: dict
    retrieval_qrels: dict | None


def compare_runs(
    runs: list[str] | None,
    dataset: str | None,
    split: str | None,
    metrics: str | None,
    preset: str | None,
    qrels: Path | None,
    max_p: float,
    test: str,
    who: str,
) -> Compared:
    """Load the runs and the qrels, score and compare them, print the coverage lines on stderr."""
    import time

    from cli.common import input_run
    from rankers import evaluate as ev
    from rankers import report
    from rankers.errors import RankError
    from rankers.io import STDIO, named_runs

    if test not in ev.TESTS:
        raise RankError(f"--test {test}: choose from {', '.join(ev.TESTS)}")
    if not 0 < max_p < 1:
        raise RankError(f"--max-p {max_p}: must be between 0 and 1")
    if dataset is None and qrels is None:
        raise RankError("--dataset or --qrels: say what to judge the runs against")

    ds = None
    if dataset is not None:
        from rankers.data import load_dataset

        ds = load_dataset(dataset)
        split = ds.check_split(split)
    chosen, main = ev.resolve_metrics(metrics, preset, ds.preset if ds is not None else "default")
    if qrels is not None:
        graded = ev.read_qrels_file(qrels)
        retrieval = None
    else:
        graded = ds.qrels(split, "graded")
        needs = {m.qrels for m in chosen}
        retrieval = ds.qrels(split, "retrieval") if "retrieval" in needs else None

    sources = named_runs(runs or [STDIO])
    start = time.perf_counter()
    loaded: dict[str, list] = {}
    costs: dict[str, object] = {}
    for name, source in sources:
        loaded[name] = list(input_run(None if source == STDIO else source))
        if source != STDIO:
            costs[name] = ev.read_cost_sidecar(source, len(loaded[name]))
    comparison = ev.compare(
        graded, loaded, chosen, test=test, max_p=max_p, retrieval_qrels=retrieval, main=main, costs=costs
    )
    comparison.dataset = ds.name if ds is not None else Path(str(qrels)).stem
    comparison.split = split
    comparison.seconds = time.perf_counter() - start
    for line in report.coverage_lines(comparison):
        # Plain print: one unwrapped line per run, for grep (rich would wrap at the terminal width).
        print(f"{who}: {line}", file=sys.stderr)
    return Compared(comparison, loaded, ds, graded, retrieval)


def _write_mteb(loaded, qrels, ds, split, task, output, seconds) -> None:
    from cli.common import say
    from rankers.errors import RankError
    from rankers.export import mteb

    if len(loaded) != 1:
        raise RankError(f"--format mteb: an MTEB result holds one model's scores; got {len(loaded)} runs")
    (rankings,) = loaded.values()
    t = mteb.mteb_task(task or ds.name)
    text = mteb.to_json(mteb.task_result(t, qrels, rankings, split, seconds=seconds))
    if output is None:
        sys.stdout.write(text)
        return
    from rankers.io import atomic_write

    with atomic_write(output) as f:
        f.write(text)
    say(f"rank eval: wrote the {t.metadata.name} result to {output}")
