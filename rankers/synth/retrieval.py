"""One view over a BM25 (Lucene) or dense index for the filter and the negative miner: search, membership, texts."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from rankers.errors import RankError
from rankers.run import Ranking


class IndexView:
    def __init__(self, path: Path, kind: str, searcher: Any, dataset: str | None):
        self.path, self.kind, self.searcher, self.dataset = path, kind, searcher, dataset
        self._docids: set[str] | None = None
        self._lucene: Any = None

    def search(self, rankings: Iterable[Ranking], k: int) -> Iterator[Ranking]:
        return iter(self.searcher.search(rankings, k))

    def contains(self, docid: str) -> bool:
        if self.kind == "dense":
            if self._docids is None:
                self._docids = set(self.searcher.docids)
            return docid in self._docids
        return self._lucene_doc(docid) is not None

    def texts(self, docids: list[str]) -> dict[str, str]:
        """Document texts: from the dataset when one is given, else from what the Lucene index stored."""
        if self.dataset is not None:
            from rankers.data.registry import load_dataset

            return load_dataset(self.dataset).document_texts(docids)
        if self.kind == "dense":
            raise RankError(
                f"--index {self.path}: a dense index keeps no texts; give --dataset for the negatives"
            )
        out = {}
        for d in docids:
            doc = self._lucene_doc(d)
            text = _stored_text(doc) if doc is not None else None
            if text is None:
                raise RankError(
                    f"--index {self.path}: stores no document text; give --dataset for the negatives"
                )
            out[d] = text
        return out

    def _lucene_doc(self, docid: str) -> Any:
        if self._lucene is None:
            from rankers.java import start_jvm

            start_jvm()
            from pyserini.search.lucene import LuceneSearcher

            self._lucene = LuceneSearcher(str(self.path))
        return self._lucene.doc(docid)


def _stored_text(doc: Any) -> str | None:
    contents = doc.contents()
    if contents:
        return contents
    raw = doc.raw()
    if not raw:
        return None
    try:
        obj = json.loads(raw)
    except ValueError:
        return raw
    return obj.get("contents") or " ".join(x for x in (obj.get("title"), obj.get("text")) if x) or None


def open_index(path: str | Path, kind: str, dataset: str | None = None) -> IndexView:
    p = Path(path)
    if not p.is_dir():
        raise RankError(f"--index {p}: no such index folder")
    if kind == "dense":
        from rankers.dense import DenseSearcher

        return IndexView(p, kind, DenseSearcher(p), dataset)
    from rankers.bm25 import Bm25Searcher

    return IndexView(p, "bm25", Bm25Searcher(p), dataset)
