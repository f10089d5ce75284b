"""The one data model that flows through every stage: a run is an iterable of `Ranking`s.

A `Ranking` is one query and its ranked candidates. Stages are functions (or `Stage` objects)
`Iterable[Ranking] -> Iterator[Ranking]`; they work one query at a time so a shell pipe never holds a
whole run in memory unless a stage truly needs it (fusion, evaluation).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Query:
    qid: str
    text: str
    date: str | None = None
    # Anything a stage wants to carry along: the expansion used, weighted terms, the original text...
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Candidate:
    docid: str
    score: float
    text: str | None = None


@dataclass(slots=True)
class Ranking:
    query: Query
    candidates: list[Candidate] = field(default_factory=list)
    # Per-query bookkeeping of the stages that touched it (LLM cost, repairs, ...).
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def qid(self) -> str:
        return self.query.qid

    def sorted(self) -> Ranking:
        """Candidates by score, highest first; equal scores keep their current order (stable)."""
        self.candidates.sort(key=lambda c: -c.score)
        return self

    def top(self, k: int | None) -> Ranking:
        if k is not None:
            del self.candidates[k:]
        return self

    def rescore_by_rank(self) -> Ranking:
        """Scores n..1 in the current order (for stages whose output is a permutation, like LLM rerankers)."""
        for c, s in zip(self.candidates, by_rank(len(self.candidates)), strict=True):
            c.score = s
        return self

    def to_dict(self) -> dict[str, Any]:
        q = self.query
        out: dict[str, Any] = {"qid": q.qid, "query": q.text}
        if q.date is not None:
            out["date"] = q.date
        if q.fields:
            out["fields"] = q.fields
        out["candidates"] = [
            {"docid": c.docid, "score": c.score} | ({"text": c.text} if c.text is not None else {})
            for c in self.candidates
        ]
        if self.meta:
            out["meta"] = self.meta
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Ranking:
        query = Query(
            qid=str(d["qid"]),
            text=d.get("query") or "",
            date=d.get("date"),
            fields=d.get("fields") or {},
        )
        cands = [
            Candidate(docid=str(c["docid"]), score=float(c.get("score", 0.0)), text=c.get("text"))
            for c in d.get("candidates") or []
        ]
        return cls(query=query, candidates=cands, meta=d.get("meta") or {})


def strictly_decreasing(scores: list[float]) -> list[float]:
    """Scores with ties nudged down, so that no tool's tie-break can reorder the list.

    trec_eval sorts by score and breaks ties by docid; a list whose order came from a reranker or from
    Lucene's internal docids would be silently reordered. The order given is the ranking: each score is
    made smaller than the one before it by the smallest step that survives a round trip through text.
    """
    out: list[float] = []
    prev = math.inf
    for s in scores:
        if not s < prev:
            step = max(abs(prev), 1.0) * 1e-9
            s = prev - step
        out.append(s)
        prev = s
    return out


def by_rank(n: int) -> list[float]:
    """Scores for a list whose only information is its order (LLM permutations): n, n-1, ..., 1."""
    return [float(n - i) for i in range(n)]


class Stage:
    """One pipeline stage. Compose with `>>`: `(bm25 >> rerank)(rankings)`."""

    def __init__(self, fn: Callable[[Iterable[Ranking]], Iterator[Ranking]], name: str | None = None):
        self.fn = fn
        self.name = name or getattr(fn, "__name__", "stage")

    def __call__(self, rankings: Iterable[Ranking]) -> Iterator[Ranking]:
        return iter(self.fn(rankings))

    def __rshift__(self, other: Stage | Callable) -> Stage:
        nxt = other if isinstance(other, Stage) else Stage(other)
        return Stage(lambda rs: nxt(self(rs)), f"{self.name} >> {nxt.name}")

    def __repr__(self) -> str:
        return f"Stage({self.name})"


def as_rankings(queries: Iterable[Query]) -> Iterator[Ranking]:
    """Queries without candidates: the input of a first-stage retriever."""
    for q in queries:
        yield Ranking(query=q)
