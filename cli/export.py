"""Placeholder: being written in this session."""

from __future__ import annotations


def export() -> None:
    from rankers.errors import RankError

    raise RankError("export: not implemented yet")
