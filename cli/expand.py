"""`rank expand`: event-aware query expansion (events dated before each query, decayed by age)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from cli.common import Dataset, Output, OutputFormat, Split, emit, query_source, say


def expand(
    events: Annotated[Path, typer.Option("--events", "-e", help="Event store (from `rank events build`).")],
    dataset: Dataset = None,
    split: Split = None,
    topics: Annotated[
        Path | None, typer.Option("--topics", help="Queries file: TSV, JSONL or TREC topics.")
    ] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="One date (YYYY-MM-DD) for every query.")
    ] = None,
    query_date_field: Annotated[
        str,
        typer.Option("--query-date-field", help="Where a query's date is: `date`, or a key of its fields."),
    ] = "date",
    window_days: Annotated[
        int | None, typer.Option("--window-days", help="Only events at most this many days before the query.")
    ] = None,
    tau: Annotated[
        float, typer.Option("--tau", help="Recency decay exp(-age/tau), in days; 0: no decay.")
    ] = 14.0,
    top_events: Annotated[int, typer.Option("--top-events", "-m", help="Events used per query.")] = 3,
    min_score: Annotated[
        float, typer.Option("--min-score", help="Drop events whose similarity x decay (0..1) is below this.")
    ] = 0.0,
    method: Annotated[
        str,
        typer.Option("--method", help="terms: weighted terms for BM25; text: event text appended (dense)."),
    ] = "terms",
    weight: Annotated[
        float, typer.Option("--weight", "-w", help="terms: weight of the original query (0..1).")
    ] = 0.3,
    fb_terms: Annotated[int, typer.Option("--fb-terms", help="terms: event terms added.")] = 30,
    idf: Annotated[
        bool, typer.Option("--idf/--no-idf", help="terms: weigh event terms by idf in the store.")
    ] = False,
    depth: Annotated[
        int, typer.Option("--depth", help="BM25 candidate events fetched before the date filter.")
    ] = 1000,
    same_day: Annotated[
        bool,
        typer.Option(
            "--same-day",
            help="Also use events dated the query's own day (dates are days: they may postdate it).",
        ),
    ] = False,
    undated_events: Annotated[
        bool,
        typer.Option(
            "--undated-events", help="Use events without a date (no recency prior) for dated queries."
        ),
    ] = False,
    show: Annotated[bool, typer.Option("--show", help="Print on stderr why each query changed.")] = False,
    output: Output = None,
    output_format: OutputFormat = None,
) -> None:
    """Expand each query (from --dataset, --topics, or a run piped in) with the events dated before it; pipe the
    result into `rank retrieve` (weighted terms) or a dense retriever (text)."""
    from rankers.events import EventStore
    from rankers.expand import ExpandConfig, Expander
    from rankers.io import format_of

    cfg = ExpandConfig(
        method=method,
        top_events=top_events,
        tau=tau or None,
        window_days=window_days,
        min_score=min_score,
        weight=weight,
        fb_terms=fb_terms,
        idf=idf,
        depth=depth,
        as_of=as_of,
        date_field=query_date_field,
        same_day=same_day,
        undated_events=undated_events,
    )
    cfg.check()
    format_of(output, output_format)
    rankings, _ = query_source(dataset, split, topics)
    expander = Expander(EventStore(events), cfg, show=(lambda s: print(s, file=sys.stderr)) if show else None)
    emit(expander(rankings), output, output_format, tag="expand")
    st = expander.stats
    say(
        f"expanded {st.expanded:,} of {st.queries:,} queries with events from {events}; "
        f"{st.future_events:,} candidate events dated on/after their query's date were excluded "
        f"(in {st.queries_with_future:,} queries)"
    )
    if st.without_events:
        say(f"{st.without_events:,} queries found no eligible event and are unchanged")
    if st.undated_queries:
        say(f"{st.undated_queries:,} queries have no date: no recency prior, every dated event a candidate")
    if st.undated_events:
        verb = (
            "used without a recency prior"
            if undated_events
            else "skipped (pass --undated-events to use them)"
        )
        say(f"{st.undated_events:,} candidate events have no date: {verb}")
