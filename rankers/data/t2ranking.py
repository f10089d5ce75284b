"""T2Ranking layout (THUIR/T2Ranking): `collection.tsv[.gz]`, `queries.<split>.tsv`, graded `qrels.<split>.tsv`,
binary `qrels.retrieval.<split>.tsv`.

The full release has header rows; the 200-query sample that THUIR once committed has none, and puts the binary
qrels of all its splits in one `retrieval_qrels.tsv`. Both are read here. Ids stay strings: LeCaRD in this
layout has negative qids ("-5180").
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path

from rankers.data.base import Dataset, Document, Qrels
from rankers.data.qrels import binary, check_kind, is_header, read_graded_qrels, read_pair_qrels
from rankers.data.topics import read_topics
from rankers.errors import InputError, RankError
from rankers.io import iter_lines
from rankers.run import Query

COLLECTIONS = ("collection.tsv", "collection.tsv.gz")
SAMPLE_RETRIEVAL = "retrieval_qrels.tsv"
# T2Ranking's retrieval qrels are the graded pairs with these grades (its paper: "relevant" = 2 and 3).
RETRIEVAL_MIN_GRADE = 2

_QUERIES = re.compile(r"^queries\.(?P<split>[^.]+)\.tsv(\.gz)?$")
_GRADED = re.compile(r"^qrels\.(?P<split>[^.]+)\.tsv(\.gz)?$")
_RETRIEVAL = re.compile(r"^qrels\.retrieval\.(?P<split>[^.]+)\.tsv(\.gz)?$")


def _files(path: Path, pattern: re.Pattern[str]) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for p in sorted(path.iterdir()) if path.is_dir() else []:
        m = pattern.match(p.name)
        if m and p.is_file():
            out.setdefault(m.group("split"), p)
    return out


class T2RankingDataset(Dataset):
    layout = "t2ranking"
    preset = "t2ranking"

    def __init__(self, path: Path, name: str | None = None, collection: str | None = None):
        super().__init__(path, name)
        # `collection` picks another passage file of the same layout (LeCaRD ships `collection.full.tsv.gz`).
        self._collection = collection

    @staticmethod
    def detect(path: Path) -> bool:
        if not _files(path, _QUERIES):
            return False
        return bool(_files(path, _GRADED) or _files(path, _RETRIEVAL) or (path / SAMPLE_RETRIEVAL).is_file())

    def collection_path(self) -> Path | None:
        names = (self._collection,) if self._collection else COLLECTIONS
        for name in names:
            if (self.path / name).is_file():
                return self.path / name
        return None

    def documents(self) -> Iterator[Document]:
        path = self.collection_path()
        if path is None:
            wanted = self._collection or " or ".join(COLLECTIONS)
            raise RankError(
                f"{self.path}: the collection ({wanted}) is absent: this copy of {self.name} has queries and "
                "qrels only, so it cannot be indexed or searched"
            )
        for n, line in iter_lines(path):
            if not line:
                continue
            cols = line.split("\t", 1)
            if n == 1 and is_header(cols):
                continue
            if len(cols) != 2:
                raise InputError(path, n, "expected 2 tab-separated columns (pid, passage), got 1")
            pid = cols[0].strip()
            if not pid:
                raise InputError(path, n, "empty pid")
            yield Document(docid=pid, text=cols[1])

    def splits(self) -> list[str]:
        names = set(_files(self.path, _GRADED)) | set(_files(self.path, _RETRIEVAL))
        if (self.path / SAMPLE_RETRIEVAL).is_file():
            names |= set(_files(self.path, _QUERIES))
        return sorted(names)

    @property
    def default_split(self) -> str:
        # The full release calls its judged evaluation split `dev` (its `test` queries have no qrels).
        splits = self.splits()
        for s in ("dev", "test"):
            if s in splits:
                return s
        return super().default_split

    @cache  # noqa: B019 - a dataset object lives for one command
    def _queries(self, split: str) -> dict[str, Query]:
        path = _files(self.path, _QUERIES).get(split)
        if path is None:
            raise RankError(f"{self.path}: no queries.{split}.tsv for split {split}")
        return read_topics(path)

    @cache  # noqa: B019
    def _qrels(self, split: str, kind: str) -> Qrels:
        check_kind(kind)
        graded = _files(self.path, _GRADED).get(split)
        if kind == "graded":
            if graded is None:
                raise RankError(f"{self.path}: no graded qrels.{split}.tsv (only binary retrieval qrels)")
            return read_graded_qrels(graded)
        pairs_file = _files(self.path, _RETRIEVAL).get(split)
        if pairs_file is not None:
            return read_pair_qrels(pairs_file)
        if (self.path / SAMPLE_RETRIEVAL).is_file():
            # One file for every split: keep the pairs of this split's queries.
            mine = set(self._queries(split))
            pairs = read_pair_qrels(self.path / SAMPLE_RETRIEVAL)
            return {qid: docs for qid, docs in pairs.items() if qid in mine}
        assert graded is not None
        return binary(read_graded_qrels(graded), RETRIEVAL_MIN_GRADE)
