"""Run a function over a stream with a few calls in flight, yielding results in input order."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def ordered_map(
    fn: Callable[[T], R], items: Iterable[T], concurrency: int = 1, ahead: int | None = None
) -> Iterator[R]:
    """`map(fn, items)` with up to `concurrency` calls in flight; reads at most `ahead` items ahead (default:
    twice the concurrency, so that one slow item at the head does not leave the other workers idle while the
    results wait for their turn).

    Threads, not processes: the calls wait on a server or release the GIL inside a native model. An error
    in any call is raised when its turn comes; the calls already running finish (their results, if cached
    by `fn`, are kept), the rest are not started.
    """
    if concurrency <= 1:
        for item in items:
            yield fn(item)
        return
    ahead = max(concurrency, ahead or 2 * concurrency)
    pending: deque[Future[R]] = deque()
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="llm") as pool:
        try:
            for item in items:
                pending.append(pool.submit(fn, item))
                if len(pending) >= ahead:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for f in pending:
                f.cancel()
