"""`rank events build`: an event store (Lucene index + dates table) from time-stamped items."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.common import Threads, say

app = typer.Typer(help="Event stores for event-aware query expansion (`rank expand`).", no_args_is_help=True)


@app.command("build")
def build(
    source: Annotated[
        str,
        typer.Option(
            "--source",
            "-s",
            help="JSONL of events (id, date, title, text) or a dataset folder whose documents carry a `date`.",
        ),
    ],
    index: Annotated[Path, typer.Option("--index", "-i", help="Folder to write the event store to.")],
    language: Annotated[
        str, typer.Option("--language", help="Analyzer language (as `rank index bm25`).")
    ] = "en",
    lead_words: Annotated[
        int,
        typer.Option(
            "--lead-words", help="Words of each item's text kept after its title (0: the whole text)."
        ),
    ] = 60,
    threads: Threads = 1,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an event store already at --index.")
    ] = False,
) -> None:
    """Index time-stamped items as events; undated items are kept (and counted) but never used for a dated
    query unless `rank expand --undated-events` says so."""
    from rankers.events import build_store

    report = build_store(
        source, index, language=language, lead_words=lead_words, threads=threads, force=force
    )
    span = f", dated {report.date_min} .. {report.date_max}" if report.date_min else ""
    say(f"event store {index}: {report.events:,} events{span}")
    if report.undated:
        say(
            f"{report.undated:,} events have no date: no recency prior, and skipped for dated queries by default"
        )
    if report.empty:
        say(f"{report.empty:,} items without text skipped")
