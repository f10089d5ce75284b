"""`rank index`: sub-commands."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated

import typer

from cli.common import Threads, say

app = typer.Typer(help="Build BM25 (Lucene) and dense (FAISS) indexes.", no_args_is_help=True)

CPUS = os.cpu_count() or 1


@contextlib.contextmanager
def progress(description: str, unit: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on stderr with a rate in `unit`/s; yields `advance(n)`."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
    )
    from rich.text import Text

    class Rate(ProgressColumn):
        def render(self, task) -> Text:
            speed = task.finished_speed or task.speed
            return Text(f"{speed:,.0f} {unit}/s" if speed else f"- {unit}/s", style="progress.data.speed")

    count = MofNCompleteColumn() if total is not None else TextColumn("{task.completed:,} " + unit)
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        count,
        Rate(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
    )
    task = bar.add_task(description, total=total)
    started = False

    def advance(n: int) -> None:
        # Started on the first item, so an error found before any work shows no empty bar above it.
        nonlocal started
        if not started:
            bar.start()
            bar.reset(task)
            started = True
        bar.advance(task, n)

    try:
        yield advance
    finally:
        if started:
            bar.stop()


@app.command("bm25")
def bm25(
    dataset: Annotated[
        str, typer.Option("--dataset", "-d", help="Dataset folder or registered name to index.")
    ],
    index: Annotated[Path, typer.Option("--index", "-i", help="Folder to write the Lucene index to.")],
    language: Annotated[
        str, typer.Option("--language", help="Analyzer language: en (Porter stemming), zh (CJK bigrams), ...")
    ] = "en",
    threads: Threads = CPUS,
    force: Annotated[bool, typer.Option("--force", help="Replace an index already at --index.")] = False,
) -> None:
    """Build a Lucene (BM25) index of every document of a dataset; the searcher reuses its --language."""
    from rankers.bm25 import build_index

    with progress("indexing", "docs") as advance:
        meta = build_index(dataset, index, language=language, threads=threads, force=force, progress=advance)
    skipped = f", {meta['skipped_empty']:,} empty documents skipped" if meta["skipped_empty"] else ""
    say(
        f"indexed {meta['documents']:,} documents of {meta['dataset_name']} ({meta['language']}) into {index} "
        f"in {meta['seconds']} s{skipped}"
    )
