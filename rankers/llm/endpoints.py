"""Several OpenAI-compatible endpoints serving the same model, used as one: a per-endpoint limit of calls in
flight, the least busy endpoint first, and a failed call moved to another endpoint.

The scheduling rule, per call:
1. Among the endpoints this call has not yet tried in the current round, take one that is up (not cooling down
   after a failure) and has a free slot: the fewest calls in flight relative to its limit, then the shortest
   recent latency, then the order given. If every such endpoint is busy, wait for a slot.
2. An endpoint that fails (no connection, timeout, a retryable HTTP status) cools down: it gets no calls for
   `cooldown` seconds, doubled at each further failure in a row (at most `max_cooldown`); after that, one call at
   a time probes it until one succeeds. The failed call goes straight on to another endpoint (a failover).
3. When every endpoint has failed this call, the round is over: wait (backoff) and start a new round; after
   `retries + 1` rounds the call fails. With one endpoint this is the plain retry-with-backoff of one server.
   If only endpoints that are cooling down are left for a round, the one whose cooldown ends first is probed.

The endpoint never enters a cache key: any endpoint gives the same answer to the same request.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Endpoint:
    url: str  # the base URL (.../v1), never printed as is: see public
    public: str  # the URL fit to print (no user:password, no query)
    limit: int
    inflight: int = 0
    calls: int = 0  # requests sent
    errors: int = 0  # requests that failed (then moved on, or retried)
    busy_s: float = 0.0  # summed time of the successful requests
    strikes: int = 0  # failures in a row
    down_until: float = 0.0
    latency: float | None = None  # moving average of successful requests' wall time
    _order: int = field(default=0, repr=False)

    def up(self, now: float) -> bool:
        return now >= self.down_until

    def free(self) -> bool:
        # A recovering endpoint (it failed last time) takes one probing call at a time.
        return self.inflight < (1 if self.strikes else self.limit)

    def to_dict(self) -> dict[str, Any]:
        ok = self.calls - self.errors - self.inflight
        return {
            "url": self.public,
            "calls": self.calls,
            "errors": self.errors,
            "mean_s": round(self.busy_s / ok, 4) if ok > 0 else None,
        }


class EndpointPool:
    """Hands out endpoints to calls under the rule above; thread-safe."""

    def __init__(
        self,
        urls: Sequence[tuple[str, str]],
        concurrency: int = 4,
        cooldown: float = 2.0,
        max_cooldown: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        if not urls:
            raise ValueError("EndpointPool: no endpoints")
        self.endpoints = [Endpoint(u, p, max(1, concurrency), _order=i) for i, (u, p) in enumerate(urls)]
        self.cooldown, self.max_cooldown, self.clock = cooldown, max_cooldown, clock
        self.failovers = 0  # calls moved to another endpoint after a failure
        self._cond = threading.Condition()

    def __len__(self) -> int:
        return len(self.endpoints)

    @property
    def slots(self) -> int:
        return sum(e.limit for e in self.endpoints)

    def acquire(self, tried: set[int]) -> Endpoint:
        """An endpoint for a call that has already failed on the endpoints numbered in `tried` this round."""
        with self._cond:
            while True:
                now = self.clock()
                left = [e for e in self.endpoints if e._order not in tried]
                up = [e for e in left if e.up(now)]
                # Nothing left but endpoints that are cooling down: probe the one that recovers first.
                pool = up or [min(left, key=lambda e: e.down_until)]
                free = [e for e in pool if e.free()]
                if free:
                    e = min(
                        free,
                        key=lambda e: (
                            e.inflight / e.limit,
                            e.latency if e.latency is not None else 0.0,
                            e._order,
                        ),
                    )
                    e.inflight += 1
                    e.calls += 1
                    return e
                # Wake on a released slot, or when the next cooldown ends (an endpoint comes back).
                ends = [e.down_until - now for e in left if not e.up(now)]
                self._cond.wait(timeout=min([1.0, *ends]) if ends else 1.0)

    def release(self, e: Endpoint, ok: bool, wall_s: float = 0.0, failover: bool = False) -> None:
        with self._cond:
            e.inflight -= 1
            if ok:
                e.strikes, e.down_until = 0, 0.0
                e.busy_s += wall_s
                e.latency = wall_s if e.latency is None else 0.8 * e.latency + 0.2 * wall_s
            else:
                e.errors += 1
                e.strikes += 1
                pause = min(self.max_cooldown, self.cooldown * 2 ** (e.strikes - 1))
                e.down_until = max(e.down_until, self.clock() + pause)
                self.failovers += int(failover)
            self._cond.notify_all()

    def stats(self) -> dict[str, Any]:
        with self._cond:
            return {"failovers": self.failovers, "endpoints": [e.to_dict() for e in self.endpoints]}
