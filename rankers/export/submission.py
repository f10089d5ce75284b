"""Leaderboard submission files: a run checked for what leaderboards reject, then written as TREC or MS MARCO.

Checked before anything is written: one ranking per query, no docid twice in a ranking, ids that survive
whitespace-separated columns, finite scores and, when the split's queries are known, every query present
(and no other). Ranks are the candidates' positions, 1..k, so they are contiguous by construction.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

from rankers.errors import RankError
from rankers.run import Ranking

FORMATS = ("trec", "msmarco")


def check_tag(tag: str) -> str:
    if not tag or any(ch.isspace() for ch in tag):
        raise RankError(f"--tag {tag!r}: a run tag must be one word (no spaces), it fills TREC's last column")
    return tag


def check_submission(
    rankings: Iterable[Ranking],
    source: str = "run",
    expected: Iterable[str] | None = None,
    hits: int | None = None,
) -> list[Ranking]:
    """The rankings cut to `hits`, or a RankError naming the first problem (and how many queries it hits)."""
    if hits is not None and hits < 1:
        raise RankError(f"--hits {hits}: must be at least 1")
    out: list[Ranking] = []
    seen: set[str] = set()
    for r in rankings:
        qid = r.qid
        if not qid or any(ch.isspace() for ch in qid):
            raise RankError(
                f"{source}: query id {qid!r} is empty or holds whitespace; it would break the columns"
            )
        if qid in seen:
            raise RankError(f"{source}: query {qid} appears twice")
        seen.add(qid)
        docs: set[str] = set()
        for c in r.candidates:
            if not c.docid or any(ch.isspace() for ch in c.docid):
                raise RankError(f"{source}: query {qid}: docid {c.docid!r} is empty or holds whitespace")
            if c.docid in docs:
                raise RankError(f"{source}: query {qid}: docid {c.docid} appears twice")
            if not math.isfinite(c.score):
                raise RankError(f"{source}: query {qid}: docid {c.docid} has score {c.score}")
            docs.add(c.docid)
        out.append(r.top(hits))
    if expected is not None:
        wanted = list(expected)
        wanted_set = set(wanted)
        missing = [q for q in wanted if q not in seen]
        if missing:
            raise RankError(
                f"{source}: {len(missing)} of the split's {len(wanted)} queries have no ranking: {_ex(missing)}"
            )
        extra = [r.qid for r in out if r.qid not in wanted_set]
        if extra:
            raise RankError(
                f"{source}: {len(extra)} queries are not in the split: {_ex(extra)} (wrong --split?)"
            )
        empty = [r.qid for r in out if not r.candidates]
        if empty:
            raise RankError(f"{source}: {len(empty)} queries have no candidates: {_ex(empty)}")
    return out


def _ex(qids: list[str], k: int = 5) -> str:
    return ", ".join(qids[:k]) + (", ..." if len(qids) > k else "")


def write_submission(
    rankings: list[Ranking], dest: str | Path | None, fmt: str = "trec", tag: str = "rank"
) -> int:
    """TREC `qid Q0 docid rank score tag` or MS MARCO `qid<TAB>pid<TAB>rank`; atomic to a file, or stdout."""
    from rankers.io import STDIO, write_run

    if fmt not in FORMATS:
        raise RankError(f"--format {fmt!r}: choose from {', '.join(FORMATS)}")
    check_tag(tag)
    return write_run(rankings, dest if dest is not None else STDIO, fmt, tag)
