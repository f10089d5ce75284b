"""Listwise reranking strategies, apart from any model: they reorder positions through a `rank_window` callback.

`rank_window(items)` gets some items in their current order and returns the same items in a new order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable
from typing import TypeVar

from rankers.errors import RankError

T = TypeVar("T", bound=Hashable)


def sliding_windows(n: int, window: int, stride: int) -> list[tuple[int, int]]:
    """(start, end) of each window, from the bottom of the list to the top, as RankGPT and rank_llm slide.

    100 items, window 20, stride 10: (80, 100), (70, 90), ..., (0, 20): 9 windows. Each window's best
    `window - stride` items are carried into the next one, so up to that many can rise from the bottom to the top.
    """
    if window < 1:
        raise RankError(f"--window-size {window}: must be at least 1")
    if not 1 <= stride <= window:
        raise RankError(f"--stride {stride}: must be between 1 and --window-size ({window})")
    out: list[tuple[int, int]] = []
    end = n
    while end > 0:
        start = max(0, end - window)
        out.append((start, end))
        if start == 0:
            break
        end -= stride
    return out


def sliding(
    items: list[T],
    rank_window: Callable[[list[T]], list[T]],
    window: int = 20,
    stride: int = 10,
    passes: int = 1,
) -> list[T]:
    if passes < 1:
        raise RankError(f"--passes {passes}: must be at least 1")
    order = list(items)
    for _ in range(passes):
        for start, end in sliding_windows(len(order), window, stride):
            order[start:end] = _checked(order[start:end], rank_window(order[start:end]))
    return order


def complete_passes(n: int, window: int, stride: int) -> list[int]:
    """Where each pass of `complete` starts: a sliding pass over items[start:] fixes its best `window - stride`,
    so the next pass starts that much lower, until what is left fits one window (100, 20, 10: 0, 10, ..., 80)."""
    sliding_windows(n, window, stride)  # checks the flags
    if stride == window:
        # Windows that share nothing carry nothing up: one pass orders each window, never the whole list.
        raise RankError(
            f"--stride {stride}: a complete ordering needs windows that overlap (stride < window)"
        )
    starts, start = [], 0
    while True:
        starts.append(start)
        if n - start <= window:
            return starts
        start += window - stride


def complete(
    items: list[T], rank_window: Callable[[list[T]], list[T]], window: int = 20, stride: int = 10
) -> list[T]:
    """The whole list ordered by windows: a sliding pass over all items fixes the top `window - stride`, the next
    pass slides over the rest and fixes the next ones, and so on (Liu et al., "Sliding Windows Are Not the End":
    window 20, stride 10 over 100 candidates is 9 passes, 45 calls). What full-ranking fine-tuning learns from."""
    order = list(items)
    for start in complete_passes(len(order), window, stride):
        order[start:] = sliding(order[start:], rank_window, window, stride)
    return order


def full(items: list[T], rank_window: Callable[[list[T]], list[T]]) -> list[T]:
    """All items in one window: one call."""
    return _checked(list(items), rank_window(list(items))) if items else []


def _checked(before: list[T], after: list[T]) -> list[T]:
    # A broken rank_window would silently lose or duplicate candidates; that is a bug, not bad input.
    if Counter(after) != Counter(before):
        raise AssertionError("rank_window must return a permutation of its input")
    return after
