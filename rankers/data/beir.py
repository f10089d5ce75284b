"""BEIR / MTEB layout: `corpus.jsonl`, `queries.jsonl`, `qrels/<split>.tsv` (header `query-id corpus-id score`)."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from pathlib import Path

from rankers.data.base import Dataset, Document, Qrels
from rankers.errors import InputError
from rankers.io import iter_lines, read_jsonl
from rankers.run import Query


def _find(path: Path, stem: str) -> Path:
    for suffix in (".jsonl", ".jsonl.gz"):
        if (path / f"{stem}{suffix}").exists():
            return path / f"{stem}{suffix}"
    return path / f"{stem}.jsonl"


def _date(obj: dict, path: Path, n: int) -> str | None:
    from rankers.dates import parse_date

    return parse_date(obj.get("date"), path, n)


class BeirDataset(Dataset):
    layout = "beir"
    preset = "mteb"

    @staticmethod
    def detect(path: Path) -> bool:
        return _find(path, "corpus").exists() and _find(path, "queries").exists()

    def documents(self) -> Iterator[Document]:
        path = _find(self.path, "corpus")
        for n, obj in read_jsonl(path):
            if "_id" not in obj:
                raise InputError(path, n, "missing '_id'")
            yield Document(
                docid=str(obj["_id"]),
                text=obj.get("text") or "",
                title=obj.get("title") or "",
                date=_date(obj, path, n),
            )

    def splits(self) -> list[str]:
        qrels = self.path / "qrels"
        return sorted(p.name.removesuffix(".tsv") for p in qrels.glob("*.tsv")) if qrels.is_dir() else []

    @cache  # noqa: B019 - a dataset object lives for one command
    def _all_queries(self) -> dict[str, Query]:
        path = _find(self.path, "queries")
        out: dict[str, Query] = {}
        for n, obj in read_jsonl(path):
            if "_id" not in obj:
                raise InputError(path, n, "missing '_id'")
            qid = str(obj["_id"])
            out[qid] = Query(qid=qid, text=obj.get("text") or "", date=_date(obj, path, n))
        return out

    def _queries(self, split: str) -> dict[str, Query]:
        judged = self._qrels(split, "graded")
        return {qid: q for qid, q in self._all_queries().items() if qid in judged}

    @cache  # noqa: B019
    def _qrels(self, split: str, kind: str) -> Qrels:
        path = self.path / "qrels" / f"{split}.tsv"
        out: Qrels = {}
        for n, line in iter_lines(path):
            cols = line.split("\t")
            if n == 1 and cols[0] == "query-id":
                continue
            if not line.strip():
                continue
            if len(cols) != 3:
                raise InputError(
                    path, n, f"expected 3 tab-separated columns (query-id corpus-id score), got {len(cols)}"
                )
            try:
                grade = int(cols[2])
            except ValueError:
                raise InputError(path, n, f"score {cols[2]!r} is not an integer") from None
            out.setdefault(cols[0], {})[cols[1]] = grade
        return out
