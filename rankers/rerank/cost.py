"""What reranking cost: LLM calls, tokens, wall time, and the repairs the answers needed.

`calls`, `prompt_tokens` and `completion_tokens` count the work done in this run: an answer served from the
cache adds to `cached_calls` (and its tokens to `cached_*_tokens`) instead, so a rerun from the cache shows
0 calls. `wall_s` is this run's time. Per query it goes in `Ranking.meta["cost"]`; the totals go in the
`<output>.cost.json` sidecar, where `rank eval` reads them.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from rankers.llm.base import Completion, TokenScores


@dataclass(slots=True)
class Cost:
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    wall_s: float = 0.0
    cached_calls: int = 0
    cached_prompt_tokens: int = 0
    cached_completion_tokens: int = 0

    def add_completion(self, c: Completion | TokenScores) -> None:
        completion = c.completion_tokens if isinstance(c, Completion) else 0
        if c.cached:
            self.cached_calls += 1
            self.cached_prompt_tokens += c.prompt_tokens
            self.cached_completion_tokens += completion
        else:
            self.calls += 1
            self.prompt_tokens += c.prompt_tokens
            self.completion_tokens += completion

    def add(self, other: Cost) -> None:
        for k in self.__slots__:
            setattr(self, k, getattr(self, k) + getattr(other, k))

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__slots__}
        d["wall_s"] = round(self.wall_s, 4)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Cost:
        return cls(**{k: d[k] for k in cls.__slots__ if k in d})


@dataclass
class Totals:
    """Sums over the queries that went through a reranker (thread-safe: queries finish concurrently)."""

    queries: int = 0
    cost: Cost = field(default_factory=Cost)
    repairs: Counter = field(default_factory=Counter)
    fallbacks: int = 0
    # Wall-clock time of the whole run; below the sum of per-query times when queries run concurrently.
    elapsed_s: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, cost: Cost, repairs: Counter | dict | None = None, fallback: bool = False) -> None:
        with self._lock:
            self.queries += 1
            self.cost.add(cost)
            self.repairs.update(repairs or {})
            self.fallbacks += int(fallback)

    def to_dict(self) -> dict[str, Any]:
        q = max(self.queries, 1)
        c = self.cost
        return {
            "queries": self.queries,
            **c.to_dict(),
            "per_query": {
                "calls": round(c.calls / q, 3),
                "prompt_tokens": round(c.prompt_tokens / q, 1),
                "completion_tokens": round(c.completion_tokens / q, 1),
                "wall_s": round(c.wall_s / q, 3),
            },
            "repairs": dict(sorted(self.repairs.items())),
            "fallbacks_to_sliding": self.fallbacks,
            "elapsed_s": round(self.elapsed_s, 3) if self.elapsed_s is not None else None,
        }

    def summary(self) -> str:
        c, q = self.cost, max(self.queries, 1)
        rep = ", ".join(f"{k} {v}" for k, v in sorted(self.repairs.items())) or "none"
        return (
            f"{self.queries} queries; {c.calls} LLM calls ({c.calls / q:.2f}/query) + {c.cached_calls} from cache; "
            f"tokens {c.prompt_tokens} prompt ({c.prompt_tokens / q:.0f}/query), "
            f"{c.completion_tokens} completion ({c.completion_tokens / q:.0f}/query); "
            f"wall {c.wall_s:.1f} s ({c.wall_s / q:.2f} s/query"
            + (f", {self.elapsed_s:.1f} s elapsed" if self.elapsed_s is not None else "")
            + f"); repairs: {rep}"
        )
