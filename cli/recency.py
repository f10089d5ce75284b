"""`rank recency`: filter or boost a run's documents by their dates relative to each query's date."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.common import Output, OutputFormat, emit, say


def recency(
    run: Annotated[Path | None, typer.Argument(help="Run to re-score (default: stdin).")] = None,
    dataset: Annotated[
        str,
        typer.Option("--dataset", "-d", help="Dataset whose documents carry a `date` (the run's docids)."),
    ] = ...,
    before_query_date: Annotated[
        bool, typer.Option("--before-query-date", help="Drop documents dated after the query's date.")
    ] = False,
    recency_tau: Annotated[
        float | None,
        typer.Option(
            "--recency-tau", help="Multiply each score by exp(-age/tau), age in days at the query date."
        ),
    ] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="One date (YYYY-MM-DD) for every query.")
    ] = None,
    query_date_field: Annotated[
        str,
        typer.Option("--query-date-field", help="Where a query's date is: `date`, or a key of its fields."),
    ] = "date",
    split: Annotated[
        str | None,
        typer.Option(
            "--split", help="The split whose queries supply dates a run lacks (default: the dataset's)."
        ),
    ] = None,
    output: Output = None,
    output_format: OutputFormat = None,
) -> None:
    """Re-score a run by document dates (a stage: run in, run out). Queries need dates: those the run lacks (a
    TREC run has none) come from the dataset's queries (--split), or one date for all from --as-of."""
    from cli.common import input_run
    from rankers.data import load_dataset
    from rankers.hydrate import fill_queries
    from rankers.io import format_of
    from rankers.recency import Recency, document_days

    format_of(output, output_format)
    stage = Recency(
        {}, before_query_date=before_query_date, tau=recency_tau, as_of=as_of, date_field=query_date_field
    )
    ds = load_dataset(dataset)
    stage.days = document_days(ds)
    # A query the dataset does not know keeps what it has: recency reads dates only, never query texts.
    rankings = fill_queries(input_run(run), ds.queries(split), require_text=False)
    emit(stage(rankings), output, output_format, tag="recency")
    st = stage.stats
    say(
        f"recency: {st.queries:,} queries, {st.dropped_after_query:,} documents dated after their query dropped"
    )
    if st.undated_queries:
        say(f"{st.undated_queries:,} queries have no date: passed through unchanged (use --as-of)")
    if st.undated_documents:
        say(
            f"{st.undated_documents:,} candidates have no date ({st.unknown_documents:,} not in {dataset}): "
            "kept, with the mean decay of their ranking"
        )
