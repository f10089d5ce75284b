"""What every dataset reader gives: documents, queries per split, qrels per split."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from rankers.errors import RankError
from rankers.run import Query

Qrels = dict[str, dict[str, int]]


@dataclass(slots=True)
class Document:
    docid: str
    text: str
    title: str = ""
    date: str | None = None

    @property
    def contents(self) -> str:
        """The one field indexed by BM25 and encoded by dense models: title + " " + text (BEIR's convention)."""
        return f"{self.title} {self.text}" if self.title else self.text


class Dataset(ABC):
    """A collection on disk. Readers stream documents; queries and qrels are small and returned whole."""

    layout: str = "?"
    # Named metric preset of the benchmark (see rankers.evaluate.PRESETS).
    preset: str = "default"

    def __init__(self, path: Path, name: str | None = None):
        self.path = Path(path)
        self.name = name or self.path.name

    @abstractmethod
    def documents(self) -> Iterator[Document]: ...

    @abstractmethod
    def splits(self) -> list[str]: ...

    @abstractmethod
    def _queries(self, split: str) -> dict[str, Query]: ...

    @abstractmethod
    def _qrels(self, split: str, kind: str) -> Qrels: ...

    @property
    def default_split(self) -> str:
        splits = self.splits()
        for s in ("test", "dev", "validation", "qrels"):
            if s in splits:
                return s
        if not splits:
            raise RankError(f"{self.path}: no qrels found ({self.layout} layout)")
        return splits[0]

    def check_split(self, split: str | None) -> str:
        split = split or self.default_split
        if split not in self.splits():
            raise RankError(
                f"--split {split}: not in dataset {self.name} ({self.path}); splits there: {', '.join(self.splits()) or 'none'}"
            )
        return split

    def queries(self, split: str | None = None) -> dict[str, Query]:
        """Queries of a split, in file order."""
        return self._queries(self.check_split(split))

    def qrels(self, split: str | None = None, kind: str = "graded") -> Qrels:
        """Relevance judgements; `kind="retrieval"` gives the binary qrels where a benchmark has them (T2Ranking)."""
        return self._qrels(self.check_split(split), kind)

    def document_texts(self, docids: Iterable[str]) -> dict[str, str]:
        """Texts of some documents, by scanning the corpus (an index gives them faster when there is one)."""
        wanted = set(docids)
        out: dict[str, str] = {}
        for d in self.documents():
            if d.docid in wanted:
                out[d.docid] = d.contents
                if len(out) == len(wanted):
                    break
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"
