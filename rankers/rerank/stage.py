"""Rerank a stream of rankings with any reranker, several queries in flight, totals kept for the report."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import Protocol

from rankers.llm.concurrent import ordered_map
from rankers.rerank.cost import Totals
from rankers.rerank.listwise import Outcome
from rankers.run import Ranking


class Reranker(Protocol):
    def rerank(self, r: Ranking) -> Outcome: ...


def rerank_run(
    rankings: Iterable[Ranking], reranker: Reranker, concurrency: int = 1, totals: Totals | None = None
) -> Iterator[Ranking]:
    """Reranked rankings in input order; `totals` (if given) sums cost and repairs as queries finish.

    A query fails as a whole (server down, context too short): the error stops the run, and the answers of
    the queries already done stay in the backend's cache, so a rerun picks up from there.
    """
    totals = totals if totals is not None else Totals()
    t0 = time.perf_counter()
    for out in ordered_map(reranker.rerank, rankings, concurrency):
        totals.add(out.cost, out.repairs, out.fell_back)
        totals.elapsed_s = time.perf_counter() - t0
        yield out.ranking
