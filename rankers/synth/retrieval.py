"""One view over a BM25 (Lucene) or dense index for the filter and the negative miner: search, membership, texts."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from rankers.errors import RankError
from rankers.run import Ranking


class IndexView:
    def __init__(self, path: Path, kind: str, searcher: Any, dataset: str | None):
        self.path, self.kind, self.searcher, self.dataset = path, kind, searcher, dataset

    def search(self, rankings: Iterable[Ranking], k: int) -> Iterator[Ranking]:
        return iter(self.searcher.search(rankings, k))

    def present(self, docids: Iterable[str]) -> set[str]:
        """Which of these docids the index holds."""
        wanted = set(docids)
        if self.kind == "dense":
            return wanted & set(self.searcher.docids)
        return set(self.searcher.doc_texts(sorted(wanted)))

    def texts(self, docids: list[str]) -> dict[str, str]:
        """Document texts: from the dataset when one is given, else from what the Lucene index stored."""
        if self.dataset is not None:
            from rankers.data.registry import load_dataset

            return load_dataset(self.dataset).document_texts(docids)
        if self.kind == "dense":
            raise RankError(
                f"--index {self.path}: a dense index keeps no texts; give --dataset for the negatives"
            )
        return self.searcher.doc_texts(docids)


def open_index(path: str | Path, kind: str, dataset: str | None = None) -> IndexView:
    p = Path(path)
    if not p.is_dir():
        raise RankError(f"--index {p}: no such index folder")
    if kind == "dense":
        from rankers.dense import DenseSearcher

        return IndexView(p, kind, DenseSearcher(p), dataset)
    from rankers.bm25 import Bm25Searcher

    return IndexView(p, "bm25", Bm25Searcher(p), dataset)
