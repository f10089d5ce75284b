"""Qrels files: TREC 4-column graded qrels and 2-column binary pair lists; the graded/retrieval kinds."""

from __future__ import annotations

from pathlib import Path

from rankers.data.base import Qrels
from rankers.errors import InputError, RankError
from rankers.io import iter_lines

KINDS = ("graded", "retrieval")
_ID_HEADERS = {"qid", "pid", "query_id", "query-id", "docid", "doc_id", "id"}


def check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise RankError(f"qrels kind {kind!r}: choose from {', '.join(KINDS)}")


def is_header(cols: list[str]) -> bool:
    """A first row that names its columns (`qid ...`, `query-id ...`) rather than holding ids."""
    return cols[0].strip().lower() in _ID_HEADERS


def binary(qrels: Qrels, min_grade: int = 1) -> Qrels:
    """The pairs graded `min_grade` or more, as grade 1; queries left with none are dropped."""
    out: Qrels = {}
    for qid, docs in qrels.items():
        kept = {d: 1 for d, g in docs.items() if g >= min_grade}
        if kept:
            out[qid] = kept
    return out


def read_graded_qrels(path: Path) -> Qrels:
    """TREC 4-column qrels `qid <iter> pid grade`, tab- or space-separated, optional header row."""
    out: Qrels = {}
    for n, line in iter_lines(path):
        if not line.strip():
            continue
        cols = line.split()
        if n == 1 and is_header(cols):
            continue
        if len(cols) != 4:
            raise InputError(path, n, f"expected 4 columns (qid 0 pid grade), got {len(cols)}")
        try:
            grade = int(cols[3])
        except ValueError:
            raise InputError(path, n, f"grade {cols[3]!r} is not an integer") from None
        docs = out.setdefault(cols[0], {})
        if cols[2] in docs:
            raise InputError(path, n, f"pair ({cols[0]}, {cols[2]}) appears twice")
        docs[cols[2]] = grade
    return out


def read_pair_qrels(path: Path) -> Qrels:
    """Binary qrels `qid pid` (each listed pair is relevant, grade 1), optional header row."""
    out: Qrels = {}
    for n, line in iter_lines(path):
        if not line.strip():
            continue
        cols = line.split()
        if n == 1 and is_header(cols):
            continue
        if len(cols) != 2:
            raise InputError(path, n, f"expected 2 columns (qid pid), got {len(cols)}")
        out.setdefault(cols[0], {})[cols[1]] = 1
    return out
