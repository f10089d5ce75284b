"""Flags and plumbing shared by the commands: where runs come from and go to. Light imports only."""

from __future__ import annotations

import itertools
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


def stdin_is_piped() -> bool:
    """Whether a run comes in on stdin: a pipe, a socket or a redirected file; not a terminal, not /dev/null.

    A character device (terminal, /dev/null, what a cron job or a CI step often gets) carries no run, so a command
    given one still takes its queries from --dataset/--topics instead of reading an empty run.
    """
    import os
    import stat

    try:
        mode = os.fstat(sys.stdin.fileno()).st_mode
    except (OSError, ValueError):
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISREG(mode) or stat.S_ISSOCK(mode)


def input_run(path: str | Path | None):
    """Rankings from a run file, or from stdin when no file (or `-`) is given."""
    from rankers.errors import RankError
    from rankers.io import STDIO, read_run

    if path is None or str(path) == STDIO:
        if not stdin_is_piped():
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
    """Queries from a piped run, else --dataset or --topics: (rankings, their number when known).

    The rule of every stage: a run piped in is the input. --dataset/--topics then only supply what the piped
    queries lack (text, date, fields, by qid), so `rank expand ... | rank retrieve --dataset D` searches the
    expanded queries, never D's plain ones.
    """
    from rankers.errors import RankError
    from rankers.hydrate import fill_queries
    from rankers.io import STDIO, read_run
    from rankers.run import as_rankings

    if dataset is not None and topics is not None:
        raise RankError("--dataset and --topics both give queries: pass one of them")
    if split is not None and dataset is None:
        raise RankError("--split needs --dataset")
    queries = None
    if dataset is not None:
        from rankers.data import load_dataset

        queries = load_dataset(dataset).queries(split)
    elif topics is not None:
        from rankers.data.topics import read_topics

        queries = read_topics(topics)
    if stdin_is_piped():
        run = read_run(STDIO)
        first = next(run, None)
        if first is not None:
            run = itertools.chain([first], run)
            if queries is None:
                return run, None
            flag = "--dataset" if dataset is not None else "--topics"
            say(f"the queries are the piped run's; {flag} supplies only what they lack (text, date, fields)")
            return fill_queries(run, queries), None
        # An empty pipe carries no run: the queries come from the flags, as without a pipe.
    if queries is None:
        raise RankError("no queries: pass --dataset or --topics, or pipe a run with queries in")
    return as_rankings(queries.values()), len(queries)


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
