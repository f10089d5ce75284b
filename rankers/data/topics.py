"""Read a topics (queries) file in whatever format it comes in: TSV, JSONL or TREC `<top>` SGML.

The format is decided by the first non-blank line: `{` means JSONL, a `<top>` tag means TREC SGML, anything
else is TSV. Query ids stay strings exactly as written ("00123" and "-5180" are not numbers).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from rankers.dates import parse_date
from rankers.errors import InputError
from rankers.io import iter_lines, read_jsonl
from rankers.run import Query

# Header names seen in the wild for each column of a TSV topics file.
_QID_NAMES = {"qid", "query_id", "query-id", "queryid", "_id", "id", "topic", "topic_id", "num"}
_TEXT_NAMES = {"query", "text", "title", "question", "query_text"}
_DATE_NAMES = {"date", "query_date", "timestamp"}


def topics_format(path: str | Path) -> str:
    """`jsonl`, `trec` or `tsv`, from the first non-blank line of the file."""
    for _, line in iter_lines(path):
        s = line.strip()
        if not s:
            continue
        if s.startswith("{"):
            return "jsonl"
        if re.match(r"<top\b", s, re.I):
            return "trec"
        return "tsv"
    return "tsv"


def read_topics(path: str | Path) -> dict[str, Query]:
    """Queries of a topics file by qid, in file order; a duplicate qid or a malformed line names file:line."""
    readers = {"jsonl": _read_jsonl, "trec": _read_trec, "tsv": _read_tsv}
    out: dict[str, Query] = {}
    for n, q in readers[topics_format(path)](path):
        if not q.qid:
            raise InputError(path, n, "empty query id")
        if q.qid in out:
            raise InputError(path, n, f"query id {q.qid!r} appears twice")
        out[q.qid] = q
    return out


def _read_jsonl(path: str | Path) -> Iterator[tuple[int, Query]]:
    for n, obj in read_jsonl(path):
        qid = obj.get("_id", obj.get("qid", obj.get("query_id")))
        text = obj.get("text", obj.get("query"))
        if qid is None:
            raise InputError(path, n, "missing query id ('_id' or 'qid')")
        if isinstance(qid, bool) or not isinstance(qid, str | int):
            raise InputError(path, n, f"query id must be a string or an integer, got {qid!r:.40}")
        if text is None:
            raise InputError(path, n, "missing query text ('text' or 'query')")
        if not isinstance(text, str):
            raise InputError(path, n, f"query text must be a string, got {type(text).__name__}")
        yield n, Query(qid=str(qid), text=text, date=parse_date(obj.get("date"), path, n))


def _read_tsv(path: str | Path) -> Iterator[tuple[int, Query]]:
    columns: dict[str, int] | None = None
    seen_first = False
    for n, line in iter_lines(path):
        if not line.strip():
            continue
        cols = line.split("\t")
        if not seen_first:
            seen_first = True
            columns = _header(cols)
            if columns is not None:
                continue
        if columns is None:
            if len(cols) != 2:
                raise InputError(path, n, f"expected 2 tab-separated columns (qid, query), got {len(cols)}")
            yield n, Query(qid=cols[0].strip(), text=cols[1])
            continue
        width = max(columns.values()) + 1
        if len(cols) < width:
            raise InputError(
                path, n, f"expected {width} tab-separated columns like the header, got {len(cols)}"
            )
        date = parse_date(cols[columns["date"]].strip(), path, n) if "date" in columns else None
        yield n, Query(qid=cols[columns["qid"]].strip(), text=cols[columns["text"]], date=date)


def _header(cols: list[str]) -> dict[str, int] | None:
    """Column positions when `cols` is a header row (it names a qid and a text column), else None."""
    names = [c.strip().lower() for c in cols]
    found: dict[str, int] = {}
    for i, name in enumerate(names):
        for key, known in (("qid", _QID_NAMES), ("text", _TEXT_NAMES), ("date", _DATE_NAMES)):
            if name in known and key not in found:
                found[key] = i
    if "qid" in found and "text" in found:
        return found
    return None


_TAG = re.compile(r"<(/?)([a-z]+)[^>]*>", re.I)
# Classic TREC topics prefix the fields: "<num> Number: 301", "<title> Topic: ...", "<desc> Description:".
_PREFIX = re.compile(r"^\s*(number|topic|description|narrative)\s*:\s*", re.I)
_FIELDS = {"desc": "description", "narr": "narrative"}


def _read_trec(path: str | Path) -> Iterator[tuple[int, Query]]:
    """`<top>` blocks; each field runs from its tag to the next tag (closing tags are optional, as in TREC 1-8)."""
    block: list[str] | None = None
    start = 0
    for n, line in iter_lines(path):
        low = line.lower()
        if "<top>" in low:
            if block is not None:
                raise InputError(path, n, f"<top> inside the <top> opened at line {start}")
            block, start = [], n
            line = line[low.index("<top>") + 5 :]
            low = line.lower()
        if block is None:
            if line.strip():
                raise InputError(path, n, "text outside a <top> ... </top> block")
            continue
        if "</top>" in low:
            block.append(line[: low.index("</top>")])
            yield start, _topic(path, start, "\n".join(block))
            block = None
            continue
        block.append(line)
    if block is not None:
        raise InputError(path, start, "<top> is never closed by </top>")


def _topic(path: str | Path, line: int, body: str) -> Query:
    fields: dict[str, str] = {}
    tags = list(_TAG.finditer(body))
    for i, m in enumerate(tags):
        if m.group(1):
            continue
        end = tags[i + 1].start() if i + 1 < len(tags) else len(body)
        name = m.group(2).lower()
        value = _PREFIX.sub("", " ".join(body[m.end() : end].split()), count=1)
        fields.setdefault(name, value)
    if not fields.get("num"):
        raise InputError(path, line, "topic without a <num>")
    text = fields.get("title") or fields.get("query") or ""
    if not text:
        raise InputError(path, line, f"topic {fields['num']} has no <title>")
    extra = {_FIELDS[k]: v for k, v in fields.items() if k in _FIELDS and v}
    return Query(qid=fields["num"], text=text, date=parse_date(fields.get("date"), path, line), fields=extra)
