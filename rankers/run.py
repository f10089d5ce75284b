"""The one data model that flows through every stage: a run is an iterable of `Ranking`s.

A `Ranking` is one query and its ranked candidates. Stages are functions (or `Stage` objects)
`Iterable[Ranking] -> Iterator[Ranking]`; they work one query at a time so a shell pipe never holds a
whole run in memory unless a stage truly needs it (fusion, evaluation).
"""

from __future__ import annotations

import math
import struct
from array import array
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
        """A ranking from its JSON object; a field of the wrong type raises ValueError naming it."""
        text = d.get("query")
        if text is not None and not isinstance(text, str):
            raise ValueError(f"'query' must be text, got {type(text).__name__}")
        date = d.get("date")
        if date is not None and not isinstance(date, str):
            raise ValueError(f"'date' must be text, got {type(date).__name__}")
        fields, meta = d.get("fields") or {}, d.get("meta") or {}
        if not isinstance(fields, dict) or not isinstance(meta, dict):
            raise ValueError("'fields' and 'meta' must be objects")
        cands = d.get("candidates") or []
        if not isinstance(cands, list):
            raise ValueError(f"'candidates' must be a list, got {type(cands).__name__}")
        query = Query(qid=_id(d["qid"], "qid"), text=text or "", date=date, fields=fields)
        return cls(query=query, candidates=[_candidate(c, i) for i, c in enumerate(cands, 1)], meta=meta)


def _id(value: Any, what: str) -> str:
    """A qid or docid as text: JSON strings and integers only (a list or an object is not an id)."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"{what} must be a string or an integer, got {value!r:.40}")
    return str(value)


def _candidate(c: Any, i: int) -> Candidate:
    if not isinstance(c, dict) or "docid" not in c:
        raise ValueError(f"candidate {i} is not an object with a 'docid'")
    score = c.get("score", 0.0)
    if isinstance(score, bool) or not isinstance(score, int | float):
        raise ValueError(f"candidate {i}: score must be a number, got {score!r:.40}")
    try:
        score = float(score)
    except OverflowError:
        raise ValueError(f"candidate {i}: score is beyond a float's range") from None
    if math.isnan(score):
        raise ValueError(f"candidate {i}: score is NaN, a ranking needs comparable scores")
    text = c.get("text")
    if text is not None and not isinstance(text, str):
        raise ValueError(f"candidate {i}: 'text' must be text, got {type(text).__name__}")
    return Candidate(docid=_id(c["docid"], f"candidate {i}: docid"), score=score, text=text)


def strictly_decreasing(scores: list[float]) -> list[float]:
    """Scores with ties nudged down, so that no tool's tie-break can reorder the list.

    trec_eval reads scores into single-precision floats, sorts by them and breaks ties by docid (descending):
    a list whose order came from a reranker, from fusion or from Lucene's internal docids would be silently
    reordered. So every score must be strictly below the one before it *as a float32*: a score that is not
    becomes the largest float32 below its predecessor, written with the fewest digits that read back to it.
    Scores already in order are kept exactly.
    """
    # The common case, checked at C speed: already strictly decreasing in single precision, well inside its
    # range (where the cast below and `float32` agree).
    s32 = array("f", scores).tolist()
    if not s32 or (
        s32[0] < _F32_SAFE and s32[-1] > -_F32_SAFE and all(a > b for a, b in zip(s32, s32[1:], strict=False))
    ):
        return list(scores)
    out: list[float] = []
    prev = math.inf
    for s in scores:
        s32 = float32(s)
        if not s32 < prev:
            if prev == -math.inf:
                # Nothing lies below -inf: the order can only be kept by ranks.
                return by_rank(len(scores))
            s32 = _below_f32(prev)
            s = _shortest_f32(s32)
        out.append(s)
        prev = s32
    return out


def float32(x: float) -> float:
    """`x` as trec_eval holds it: rounded to single precision (beyond its range: infinite)."""
    try:
        return struct.unpack("<f", struct.pack("<f", x))[0]
    except OverflowError:
        return math.copysign(math.inf, x)


def _below_f32(x: float) -> float:
    """The largest float32 strictly below the float32 `x` (x > -inf)."""
    if x == 0:
        return -_F32_TINY
    (bits,) = struct.unpack("<I", struct.pack("<f", x))
    return struct.unpack("<f", struct.pack("<I", bits - 1 if x > 0 else bits + 1))[0]


_F32_SAFE = 3.0e38
_F32_TINY = struct.unpack("<f", struct.pack("<I", 1))[0]


def _shortest_f32(x: float) -> float:
    """A float64 with the fewest significant digits that trec_eval's atof-then-float reads back as float32 `x`."""
    for digits in range(6, 10):
        y = float(f"{x:.{digits}g}")
        if float32(y) == x:
            return y
    return x


def trec_order(rows: Iterable[tuple[str, float]]) -> list[tuple[str, float]]:
    """(docid, score) pairs in trec_eval's order: score as float32 descending, then docid descending.

    This is how trec_eval (and pytrec_eval) rank a run file; lists that `rank` writes are already in this
    order (see `strictly_decreasing`), and foreign files with ties or rounded scores get the same order as
    trec_eval gives them, whatever the rank column or line order says.
    """
    out = sorted(rows, key=lambda r: r[0], reverse=True)
    out.sort(key=lambda r: float32(r[1]), reverse=True)
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
