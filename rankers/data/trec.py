"""A folder of classic TREC files: SGML `<DOC>` collection file(s), `<top>` topics, 4-column qrels.

Files are recognised by their content, not their names: a collection file starts with `<DOC>`, a topics file
with `<top>`, a qrels file with a `qid iter docno grade` row (plain or gzipped). Each qrels file is a split named
after its file (`qrels` -> "qrels", `qrels.robust04.txt` -> "qrels.robust04"). A document's text is its whole
`<DOC>` body without the `<DOCNO>` element, as Anserini's TREC collection indexes it.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path

from rankers.data.base import Dataset, Document, Qrels
from rankers.data.qrels import binary, check_kind, read_graded_qrels
from rankers.data.topics import read_topics
from rankers.errors import InputError, RankError
from rankers.io import iter_lines
from rankers.run import Query

_SKIP_SUFFIXES = {".md", ".json", ".py", ".sh", ".zip", ".tar", ".parquet", ".pdf", ".html"}
_SNIFF_BYTES = 4096
_DOC_OPEN = re.compile(r"<DOC>", re.I)
_DOC_CLOSE = re.compile(r"</DOC>", re.I)
_DOCNO = re.compile(r"<DOCNO>\s*(.*?)\s*</DOCNO>", re.I | re.S)
_QREL_ROW = re.compile(r"^\S+\s+\S+\s+\S+\s+-?\d+\s*$")


def _head(path: Path) -> str:
    """The first non-blank text of a file (gz aware); '' for unreadable or binary files."""
    try:
        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(path, "rb") as f:
            data = f.read(_SNIFF_BYTES)
    except OSError:
        return ""
    if b"\0" in data:
        return ""
    return data.decode("utf-8", errors="replace").lstrip()


def classify(path: Path) -> str | None:
    """`collection`, `topics`, `qrels` or None, from the first bytes of a file."""
    if not path.is_file() or path.name.startswith(".") or path.suffix.lower() in _SKIP_SUFFIXES:
        return None
    head = _head(path)
    if _DOC_OPEN.match(head):
        return "collection"
    if re.match(r"<top\b", head, re.I):
        return "topics"
    first = head.split("\n", 1)[0]
    if _QREL_ROW.match(first):
        return "qrels"
    return None


def _split_name(path: Path) -> str:
    name = path.name.removesuffix(".gz")
    for suffix in (".txt", ".tsv", ".qrels"):
        name = name.removesuffix(suffix)
    return name


class TrecDataset(Dataset):
    layout = "trec"
    preset = "default"

    @staticmethod
    def detect(path: Path) -> bool:
        kinds = {classify(p) for p in path.iterdir()} if path.is_dir() else set()
        return {"topics", "qrels"} <= kinds

    @cache  # noqa: B019 - a dataset object lives for one command
    def _files(self) -> dict[str, list[Path]]:
        out: dict[str, list[Path]] = {"collection": [], "topics": [], "qrels": []}
        for p in sorted(self.path.iterdir()):
            kind = classify(p)
            if kind:
                out[kind].append(p)
        return out

    def documents(self) -> Iterator[Document]:
        files = self._files()["collection"]
        if not files:
            raise RankError(
                f"{self.path}: no collection file (a file of <DOC> ... </DOC> records) in the folder"
            )
        seen: set[str] = set()
        for path in files:
            for n, doc in read_sgml_documents(path):
                if doc.docid in seen:
                    raise InputError(path, n, f"DOCNO {doc.docid!r} appears twice")
                seen.add(doc.docid)
                yield doc

    def splits(self) -> list[str]:
        return sorted(_split_name(p) for p in self._files()["qrels"])

    @cache  # noqa: B019
    def _all_topics(self) -> dict[str, Query]:
        out: dict[str, Query] = {}
        for path in self._files()["topics"]:
            for qid, q in read_topics(path).items():
                if qid in out:
                    raise RankError(f"{path}: topic {qid} is also in another topics file of {self.path}")
                out[qid] = q
        return out

    def _queries(self, split: str) -> dict[str, Query]:
        judged = self._qrels(split, "graded")
        return {qid: q for qid, q in self._all_topics().items() if qid in judged}

    @cache  # noqa: B019
    def _qrels(self, split: str, kind: str) -> Qrels:
        path = next(p for p in self._files()["qrels"] if _split_name(p) == split)
        check_kind(kind)
        qrels = read_graded_qrels(path)
        return binary(qrels) if kind == "retrieval" else qrels


def read_sgml_documents(path: Path) -> Iterator[tuple[int, Document]]:
    """(line of `<DOC>`, document) for each `<DOC>` record, streamed line by line."""
    body: list[str] | None = None
    start = 0
    for n, line in iter_lines(path):
        rest = line
        while rest:
            if body is None:
                m = _DOC_OPEN.search(rest)
                if m is None:
                    if rest.strip():
                        raise InputError(path, n, "text outside a <DOC> ... </DOC> record")
                    break
                if rest[: m.start()].strip():
                    raise InputError(path, n, "text outside a <DOC> ... </DOC> record")
                body, start, rest = [], n, rest[m.end() :]
                continue
            close = _DOC_CLOSE.search(rest)
            reopen = _DOC_OPEN.search(rest)
            if reopen and (close is None or reopen.start() < close.start()):
                raise InputError(path, n, f"<DOC> inside the <DOC> opened at line {start}")
            if close is None:
                body.append(rest)
                break
            body.append(rest[: close.start()])
            yield start, _document(path, start, "\n".join(body))
            body, rest = None, rest[close.end() :]
        else:
            if body is not None:
                body.append("")
    if body is not None:
        raise InputError(path, start, "<DOC> is never closed by </DOC>")


def _document(path: Path, line: int, body: str) -> Document:
    m = _DOCNO.search(body)
    if m is None or not m.group(1):
        raise InputError(path, line, "<DOC> without a <DOCNO>")
    text = (body[: m.start()] + body[m.end() :]).strip()
    return Document(docid=m.group(1), text=text)
