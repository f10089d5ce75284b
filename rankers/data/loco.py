"""LoCoV1 layout (hazyresearch/LoCoV1-Queries and -Documents): long-document retrieval.

`documents.{jsonl,parquet}` rows `pid, passage, dataset`; `queries.{jsonl,parquet}` rows
`qid, query, answer_pids, dataset`. Every pid in `answer_pids` is relevant with score 1 (LoCo's own loader).
LoCoV1 mixes twelve sub-collections in one table; `subset` keeps the rows whose `dataset` equals it
(`load_dataset("DIR#qmsum")`). There is one split, `test`.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from rankers.data.base import Dataset, Document, Qrels
from rankers.data.qrels import check_kind
from rankers.data.tables import iter_rows
from rankers.errors import InputError, RankError
from rankers.run import Query

SPLIT = "test"
_IDS = ("pid", "qid", "dataset")


def _find(path: Path, stem: str) -> Path | None:
    for suffix in (".jsonl", ".jsonl.gz", ".parquet"):
        if (path / f"{stem}{suffix}").is_file():
            return path / f"{stem}{suffix}"
    return None


class LocoDataset(Dataset):
    layout = "loco"
    preset = "loco"

    def __init__(self, path: Path, name: str | None = None, subset: str | None = None):
        super().__init__(path, name)
        self.subset = subset
        if subset:
            self.name = f"{self.name}#{subset}"

    @staticmethod
    def detect(path: Path) -> bool:
        return _find(path, "documents") is not None and _find(path, "queries") is not None

    def _table(self, stem: str) -> Path:
        path = _find(self.path, stem)
        if path is None:
            raise RankError(f"{self.path}: no {stem}.jsonl or {stem}.parquet (LoCoV1 layout)")
        return path

    def _keep(self, row: dict[str, Any], path: Path, n: int) -> bool:
        if not self.subset:
            return True
        if "dataset" not in row:
            raise InputError(path, n, f"no 'dataset' field to filter on (subset {self.subset!r})")
        return row["dataset"] == self.subset

    def documents(self) -> Iterator[Document]:
        path = self._table("documents")
        for n, row in iter_rows(path, ("pid", "passage"), ("dataset",), _IDS):
            if not self._keep(row, path, n):
                continue
            pid, passage = row.get("pid"), row.get("passage")
            if pid is None or pid == "":
                raise InputError(path, n, "missing 'pid'")
            if isinstance(pid, bool) or not isinstance(pid, str | int):
                raise InputError(path, n, f"'pid' must be a string or an integer, got {pid!r:.40}")
            if not isinstance(passage, str):
                raise InputError(path, n, "missing 'passage' text")
            yield Document(docid=str(pid), text=passage)

    def splits(self) -> list[str]:
        return [SPLIT]

    @cache  # noqa: B019 - a dataset object lives for one command
    def _rows(self) -> tuple[dict[str, Query], Qrels]:
        path = self._table("queries")
        queries: dict[str, Query] = {}
        qrels: Qrels = {}
        for n, row in iter_rows(path, ("qid", "query", "answer_pids"), ("dataset",), _IDS):
            if not self._keep(row, path, n):
                continue
            qid, text, answers = row.get("qid"), row.get("query"), row.get("answer_pids")
            if qid is None or qid == "":
                raise InputError(path, n, "missing 'qid'")
            if isinstance(qid, bool) or not isinstance(qid, str | int):
                raise InputError(path, n, f"'qid' must be a string or an integer, got {qid!r:.40}")
            qid = str(qid)
            if not isinstance(text, str):
                raise InputError(path, n, "missing 'query' text")
            if (
                not isinstance(answers, list)
                or not answers
                or not all(isinstance(a, str | int) and not isinstance(a, bool) for a in answers)
            ):
                raise InputError(path, n, "'answer_pids' must be a non-empty list of pids")
            if qid in queries:
                raise InputError(path, n, f"qid {qid!r} appears twice")
            queries[qid] = Query(qid=qid, text=text)
            qrels[qid] = {str(pid): 1 for pid in answers}
        if self.subset and not queries:
            raise RankError(f"{path}: no rows with dataset = {self.subset!r}")
        return queries, qrels

    def _queries(self, split: str) -> dict[str, Query]:
        return self._rows()[0]

    def _qrels(self, split: str, kind: str) -> Qrels:
        check_kind(kind)  # every LoCoV1 judgement is binary: both kinds are the same
        return self._rows()[1]
