"""`rank retrieve`: first-stage retrieval of every query of a dataset, a topics file, or a piped run."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from cli.common import Dataset, Output, OutputFormat, Split, Threads, emit, query_source, say
from cli.index import CPUS, progress


def retrieve(
    index: Annotated[Path, typer.Option("--index", "-i", help="Index folder (from `rank index ...`).")],
    dataset: Dataset = None,
    split: Split = None,
    topics: Annotated[
        Path | None, typer.Option("--topics", help="Queries file: TSV, JSONL or TREC <top> topics.")
    ] = None,
    bm25: Annotated[
        bool, typer.Option("--bm25", help="BM25 over a Lucene index (what a BM25 index gives anyway).")
    ] = False,
    k1: Annotated[float, typer.Option("--k1", help="BM25 k1.")] = 0.9,
    b: Annotated[float, typer.Option("--b", help="BM25 b.")] = 0.4,
    rm3: Annotated[bool, typer.Option("--rm3", help="RM3 pseudo-relevance feedback.")] = False,
    fb_terms: Annotated[int, typer.Option("--fb-terms", help="RM3: expansion terms.")] = 10,
    fb_docs: Annotated[int, typer.Option("--fb-docs", help="RM3: feedback documents.")] = 10,
    original_query_weight: Annotated[
        float, typer.Option("--original-query-weight", help="RM3: weight of the original query.")
    ] = 0.5,
    hits: Annotated[int, typer.Option("--hits", "-k", help="Candidates per query.")] = 1000,
    threads: Threads = CPUS,
    language: Annotated[
        str | None,
        typer.Option(
            "--language", help="Only a check: the analyzer language is the one the index was built with."
        ),
    ] = None,
    with_text: Annotated[
        bool, typer.Option("--with-text", help="Put each candidate's text in the run.")
    ] = False,
    dense: Annotated[
        bool,
        typer.Option(
            "--dense",
            help="Dense (FAISS) search with the model recorded in the index. With --bm25 as well, both runs are "
            "fused (--fusion, default rrf): then --index is the Lucene index and --dense-index the dense one.",
        ),
    ] = False,
    dense_index: Annotated[
        Path | None, typer.Option("--dense-index", help="Dense index folder for --bm25 --dense (hybrid).")
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model", help="Dense: only a check, the index's model must be this one (name or path)."
        ),
    ] = None,
    aggregate: Annotated[
        str,
        typer.Option(
            "--aggregate", help="Dense, chunked index: document score from chunks: maxp | first | mean."
        ),
    ] = "maxp",
    device: Annotated[str, typer.Option("--device", help="Dense: cpu | cuda (query encoding).")] = "cpu",
    batch_size: Annotated[int, typer.Option("--batch-size", help="Dense: queries per encoder batch.")] = 32,
    fusion: Annotated[
        str | None,
        typer.Option("--fusion", help="--bm25 --dense: rrf | combsum | combmnz | wsum (see rank fuse)."),
    ] = None,
    fusion_norm: Annotated[
        str | None,
        typer.Option("--fusion-norm", help="Score normalization for --fusion (see rank fuse --norm)."),
    ] = None,
    fusion_weights: Annotated[
        str | None, typer.Option("--fusion-weights", help="wsum weights, BM25 first: e.g. 0.3,0.7.")
    ] = None,
    rrf_k: Annotated[int | None, typer.Option("--rrf-k", help="RRF's k (default 60).")] = None,
    output: Output = None,
    output_format: OutputFormat = None,
) -> None:
    """Search an index with every query; queries come from --dataset, --topics, or a run piped in (e.g. from
    `rank expand`). Writes a run (JSONL on stdout by default)."""
    from rankers.bm25 import Bm25Searcher, Rm3, read_meta
    from rankers.errors import RankError
    from rankers.hydrate import hydrate
    from rankers.io import format_of

    rankings, total = query_source(dataset, split, topics)
    if dense or fusion:
        from cli.retrieve_dense import retrieve_dense

        if with_text:
            raise RankError("--with-text: not available with --dense yet (the dense index stores no texts)")

        bm25_args = {"k1": k1, "b": b, "rm3": Rm3(fb_terms, fb_docs, original_query_weight) if rm3 else None}
        return retrieve_dense(
            index=index, dense_index=dense_index, bm25=bm25, rankings=rankings, total=total, hits=hits,
            model=model, device=device, batch_size=batch_size, aggregate=aggregate, fusion=fusion,
            fusion_norm=fusion_norm, fusion_weights=fusion_weights, rrf_k=rrf_k,
            bm25_args={**bm25_args, "threads": threads, "language": language},
            output=output, output_format=output_format,
        )  # fmt: skip
    meta = read_meta(index)
    if meta["kind"] != "bm25":
        raise RankError(f"--index {index}: a {meta['kind']} index; --bm25 needs a Lucene index")
    format_of(output, output_format)  # a bad --output-format fails before the index is opened
    searcher = Bm25Searcher(
        index,
        k1=k1,
        b=b,
        rm3=Rm3(fb_terms, fb_docs, original_query_weight) if rm3 else None,
        threads=threads,
        language=language,
    )
    with progress("retrieving", "queries", total) as advance:
        empty = 0

        def counted(stream):
            nonlocal empty
            for r in stream:
                empty += not r.query.text.strip() and not r.candidates
                advance(1)
                yield r

        run = searcher.search(rankings, hits=hits)
        if with_text:
            run = hydrate(run, texts=searcher.doc_texts)
        try:
            n = emit(counted(run), output, output_format, tag="bm25+rm3" if rm3 else "bm25")
        except BrokenPipeError:
            # The reader went away (`| head`): stop quietly, and keep Python's exit flush from complaining.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return
    if n == 0:
        say("rank: warning: no queries came in; the run is empty")
    if empty:
        say(f"{empty:,} queries have no text: their rankings are empty")
    if output is not None:
        say(f"wrote {n:,} rankings to {output}")
