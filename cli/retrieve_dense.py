"""`rank retrieve --dense` and `rank retrieve --bm25 --dense --fusion rrf`: the dense and hybrid paths.

Kept apart from cli/retrieve.py (the BM25 path) so each stays short; retrieve() hands over when --dense is set.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any


def dense_searcher(index: Path, model: str | None, device: str, batch_size: int, aggregate: str) -> Any:
    from rankers.dense import DenseSearcher

    return DenseSearcher(index, model=model, device=device, batch_size=batch_size, aggregate=aggregate)


def retrieve_dense(
    *,
    index: Path,
    dense_index: Path | None,
    bm25: bool,
    rankings: Any,
    total: int | None,
    hits: int,
    model: str | None,
    device: str,
    batch_size: int,
    aggregate: str,
    fusion: str | None,
    fusion_norm: str | None,
    fusion_weights: str | None,
    rrf_k: int | None,
    bm25_args: dict[str, Any],
    output: Path | None,
    output_format: str | None,
) -> None:
    from cli.common import say
    from cli.index import progress
    from rankers.errors import RankError
    from rankers.io import format_of

    format_of(output, output_format)
    if bm25 and dense_index is None:
        raise RankError("--bm25 --dense: give the BM25 index as --index and the dense one as --dense-index")
    if fusion and not bm25:
        raise RankError(
            "--fusion combines --bm25 and --dense runs: add --bm25 (or fuse run files with rank fuse)"
        )
    searcher = dense_searcher(dense_index or index, model, device, batch_size, aggregate)
    if not bm25:
        with progress("retrieving", "queries", total) as advance:
            n = _emit(_counted(searcher.search(rankings, hits=hits), advance), output, output_format, "dense")
        if output is not None and n is not None:
            say(f"wrote {n:,} rankings to {output}")
        return

    from cli.fuse import parse_weights
    from rankers.bm25 import Bm25Searcher, read_meta
    from rankers.fusion import hybrid_search

    meta = read_meta(index)
    if meta["kind"] != "bm25":
        raise RankError(
            f"--index {index}: a {meta['kind']} index; with --bm25 --dense, --index is the Lucene one"
        )
    weights = parse_weights(fusion_weights)
    queries = list(rankings)

    def track(stage: str, stream: Any) -> Any:
        with progress(stage, "queries", len(queries)) as advance:
            yield from _counted(stream, advance)

    method = fusion or "rrf"
    lexical = Bm25Searcher(index, **bm25_args)
    fused = hybrid_search(queries, lexical, searcher, hits, method, fusion_norm, weights, rrf_k, track=track)
    n = _emit(iter(fused), output, output_format, f"bm25+dense-{method}")
    if output is not None and n is not None:
        say(f"wrote {n:,} fused ({method}) rankings to {output}")


def _counted(stream: Any, advance: Any) -> Any:
    for r in stream:
        advance(1)
        yield r


def _emit(run: Any, output: Path | None, output_format: str | None, tag: str) -> int | None:
    from cli.common import emit

    try:
        return emit(run, output, output_format, tag=tag)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return None
