"""The pairs file: one synthetic (query, document) training pair per JSONL line.

`{"qid": "synth-<docid>-<i>", "query": "...", "docid": "...", "document": "title + text", "meta": {...}}`
The document text travels with the pair so that `rank train dense` needs no corpus; `docid` ties it to an index.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rankers.errors import InputError, RankError
from rankers.io import atomic_write, read_jsonl


@dataclass(slots=True)
class Pair:
    qid: str
    query: str
    docid: str
    document: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    # Where it was read from, for error messages; not written.
    line: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"qid": self.qid, "query": self.query, "docid": self.docid}
        if self.document is not None:
            out["document"] = self.document
        if self.meta:
            out["meta"] = self.meta
        return out


def read_pairs(path: str | Path, need_text: bool = False) -> list[Pair]:
    """All pairs of a file; a malformed row, an empty query or a repeated qid names its line."""
    if not Path(path).exists():
        raise RankError(f"{path}: no such pairs file")
    out: list[Pair] = []
    seen: dict[str, int] = {}
    for n, obj in read_jsonl(path):
        query, docid = obj.get("query"), obj.get("docid")
        if not isinstance(query, str) or not query.strip():
            raise InputError(path, n, 'no \'query\' text (expected {"qid", "query", "docid", "document"})')
        if docid is None or str(docid) == "":
            raise InputError(path, n, "no 'docid'")
        document = obj.get("document")
        if document is not None and not isinstance(document, str):
            raise InputError(path, n, "'document' must be a string")
        if need_text and not (document or "").strip():
            raise InputError(path, n, f"pair for docid {docid} has no 'document' text")
        qid = str(obj.get("qid") or f"pair-{n}")
        if qid in seen:
            raise InputError(path, n, f"qid {qid} already used on line {seen[qid]}")
        seen[qid] = n
        out.append(Pair(qid, query.strip(), str(docid), document, obj.get("meta") or {}, n))
    if not out:
        raise RankError(f"{path}: no pairs in the file")
    return out


def write_pairs(path: str | Path, pairs: Iterable[Pair]) -> int:
    count = 0
    with atomic_write(path) as f:
        for p in pairs:
            f.write(json.dumps(p.to_dict(), ensure_ascii=False) + "\n")
            count += 1
    return count


def check_docids(pairs: list[Pair], known: Callable[[str], bool], where: str, path: str | Path) -> None:
    """Refuse a pairs file whose documents are not in the index or corpus it is used with."""
    unknown = [p for p in pairs if not known(p.docid)]
    if unknown:
        first = unknown[0]
        more = f" (and {len(unknown) - 1} more pairs)" if len(unknown) > 1 else ""
        raise InputError(path, first.line, f"docid {first.docid} is not in {where}{more}")
