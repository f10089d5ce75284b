"""`rank export`: a checked leaderboard file (TREC with a run tag, or MS MARCO) from a run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.common import Dataset, Split


def export(
    run: Annotated[
        str | None, typer.Argument(help="Run file (JSONL, TREC or MS MARCO); `-` or none: stdin.")
    ] = None,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            "-f",
            help="trec | msmarco | mteb (a results folder in the MTEB results repository's layout).",
        ),
    ] = "trec",
    tag: Annotated[
        str | None, typer.Option("--tag", help="TREC run tag (default: the run file's stem).")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (atomically); default stdout.")
    ] = None,
    dataset: Dataset = None,
    split: Split = None,
    hits: Annotated[int | None, typer.Option("--hits", "-k", help="Keep the top K of each ranking.")] = None,
    task: Annotated[
        str | None, typer.Option("--task", help="mteb: the MTEB task (default: from the dataset's name).")
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model", help="mteb: the system's name, ORGANISATION/NAME (default: rank/<run stem>)."
        ),
    ] = None,
    revision: Annotated[
        str | None, typer.Option("--revision", help="mteb: the system's revision folder.")
    ] = None,
    model_type: Annotated[
        str, typer.Option("--model-type", help="mteb: dense | sparse | cross-encoder | hybrid | ...")
    ] = "dense",
) -> None:
    """Write a leaderboard file; with --dataset, every query of the split must have a ranking.

    Nothing is written when a check fails: duplicate queries or docids, ids with spaces, non-finite scores,
    queries missing from (or foreign to) the split.
    """
    from cli.common import input_run, say
    from rankers.errors import RankError
    from rankers.export import FORMATS, check_submission, check_tag, write_submission
    from rankers.io import run_stem

    if fmt not in (*FORMATS, "mteb"):
        raise RankError(f"--format {fmt}: choose from {', '.join((*FORMATS, 'mteb'))}")
    source = run if run not in (None, "-") else "stdin"
    if fmt == "mteb":
        return _export_mteb(
            input_run(run), source, dataset, split, output, task, model, revision, model_type, hits
        )
    for flag, value in (("--task", task), ("--model", model), ("--revision", revision)):
        if value is not None:
            raise RankError(f"{flag}: only with --format mteb")
    tag = check_tag(tag if tag is not None else (run_stem(run) if source != "stdin" else "rank"))
    if hits is not None and hits < 1:
        raise RankError(f"--hits {hits}: must be at least 1")
    expected = None
    if dataset is not None:
        from rankers.data import load_dataset

        ds = load_dataset(dataset)
        expected = list(ds.queries(ds.check_split(split)))
    elif split is not None:
        raise RankError("--split: needs --dataset")
    rankings = check_submission(input_run(run), source=source, expected=expected, hits=hits)
    n = write_submission(rankings, output, fmt, tag)
    if output is not None:
        say(f"rank export: wrote {n} queries to {output} ({fmt}, tag {tag})")


def _export_mteb(rankings, source, dataset, split, output, task, model, revision, model_type, hits) -> None:
    from cli.common import say
    from rankers.data import load_dataset
    from rankers.errors import RankError
    from rankers.export import check_submission, mteb
    from rankers.io import run_stem

    if dataset is None or output is None:
        raise RankError(
            "--format mteb: give --dataset (its qrels score the run) and --output (the results folder)"
        )
    ds = load_dataset(dataset)
    split = ds.check_split(split)
    t = mteb.mteb_task(task or ds.name)
    meta = mteb.model_meta(model or f"rank/{run_stem(source)}", revision, model_type)
    checked = check_submission(rankings, source=source, hits=hits)
    result = mteb.task_result(t, ds.qrels(split), checked, split)
    for path in mteb.save(output, meta, [result]):
        say(f"rank export: wrote {path}")
