"""Placeholder: being written in this session."""

from __future__ import annotations


def evaluate() -> None:
    from rankers.errors import RankError

    raise RankError("evaluate: not implemented yet")
