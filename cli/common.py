"""Flags and plumbing shared by the commands: where runs come from and go to. Light imports only."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

Output = Annotated[
    Path | None,
    typer.Option("--output", "-o", help="Run file to write (atomically); default: stdout as JSONL."),
]
OutputFormat = Annotated[
    str | None,
    typer.Option(
        "--output-format", help="jsonl | trec | msmarco (default: from the --output extension, else jsonl)."
    ),
]
Dataset = Annotated[
    str | None,
    typer.Option("--dataset", "-d", help="Dataset folder or registered name (see `rank data list`)."),
]
Split = Annotated[
    str | None, typer.Option("--split", help="Split whose queries/qrels to use (default: the dataset's).")
]
Threads = Annotated[int, typer.Option("--threads", help="Worker threads.")]


def input_run(path: str | Path | None):
    """Rankings from a run file, or from stdin when no file (or `-`) is given."""
    from rankers.errors import RankError
    from rankers.io import STDIO, read_run

    if path is None or str(path) == STDIO:
        if sys.stdin.isatty():
            raise RankError(
                "no input run: give a run file or pipe one in (e.g. rank retrieve ... | rank ...)"
            )
        return read_run(STDIO)
    return read_run(path)


def emit(rankings, output: Path | None, output_format: str | None, tag: str = "rank") -> int:
    from rankers.io import STDIO, write_run

    return write_run(rankings, output if output is not None else STDIO, output_format, tag)


def say(message: str) -> None:
    """Progress and summaries go to stderr: stdout carries the run."""
    from rich.console import Console

    Console(stderr=True).print(message)


def query_source(dataset: str | None, split: str | None, topics: Path | None):
    """Queries from --dataset, --topics or a piped run: (rankings without candidates, their number when known)."""
    from rankers.errors import RankError
    from rankers.io import STDIO, read_run
    from rankers.run import as_rankings

    if dataset is not None and topics is not None:
        raise RankError("--dataset and --topics both give queries: pass one of them")
    if split is not None and dataset is None:
        raise RankError("--split needs --dataset")
    if dataset is not None:
        from rankers.data import load_dataset

        queries = load_dataset(dataset).queries(split)
        return as_rankings(queries.values()), len(queries)
    if topics is not None:
        from rankers.data.topics import read_topics

        queries = read_topics(topics)
        return as_rankings(queries.values()), len(queries)
    if sys.stdin.isatty():
        raise RankError("no queries: pass --dataset or --topics, or pipe a run with queries in")
    return read_run(STDIO), None


def refuse_unused(ctx: typer.Context, unused: dict[str, str]) -> None:
    """Stop with one line when the user gave a flag that this invocation cannot use (param name -> why not).

    A flag that is silently ignored makes a user believe a run was made with a setting it never had.
    """
    from rankers.errors import RankError

    for name, why in unused.items():
        # By name: typer may carry its own copy of click, whose ParameterSource is another enum.
        source = ctx.get_parameter_source(name)
        if source is not None and source.name in ("COMMANDLINE", "ENVIRONMENT"):
            param = next(p for p in ctx.command.params if p.name == name)
            raise RankError(f"{param.opts[0]}: {why}")
