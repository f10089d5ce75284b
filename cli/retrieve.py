"""Placeholder: being written in this session."""

from __future__ import annotations


def retrieve() -> None:
    from rankers.errors import RankError

    raise RankError("retrieve: not implemented yet")
