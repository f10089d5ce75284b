"""BEIR / MTEB layout: `corpus.jsonl`, `queries.jsonl`, `qrels/<split>.tsv` (header `query-id corpus-id score`).

The MTEB hub's parquet variant is read too: `corpus` and `queries` as `corpus.parquet` or a folder of parquet
shards (`corpus/test-00000-of-00001.parquet`, or `data/corpus-*.parquet`), qrels as `qrels/<split>.parquet`,
`qrels/<split>-*.parquet` or `default/<split>-*.parquet`, with the same column names as the JSONL rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from pathlib import Path

from rankers.data.base import Dataset, Document, Qrels
from rankers.data.qrels import binary, check_kind
from rankers.data.tables import is_parquet, iter_rows
from rankers.errors import InputError
from rankers.io import iter_lines
from rankers.run import Query

_QRELS_DIRS = ("qrels", "default")
_QRELS_COLUMNS = ("query-id", "corpus-id", "score")


def _find(path: Path, stem: str) -> list[Path]:
    """The file(s) holding a table: JSONL first, else parquet (one file or sorted shards)."""
    for suffix in (".jsonl", ".jsonl.gz", ".parquet"):
        if (path / f"{stem}{suffix}").is_file():
            return [path / f"{stem}{suffix}"]
    if (path / stem).is_dir():
        shards = sorted((path / stem).glob("*.parquet"))
        if shards:
            return shards
    return sorted((path / "data").glob(f"{stem}-*.parquet")) if (path / "data").is_dir() else []


def _split_of(path: Path) -> str:
    """`test.tsv` -> test; `test-00000-of-00001.parquet` -> test."""
    name = path.name.removesuffix(".gz")
    name = name[: name.index(".")] if "." in name else name
    return name.split("-", 1)[0] if path.suffix == ".parquet" else name


def _date(obj: dict, path: Path, n: int) -> str | None:
    from rankers.dates import parse_date

    return parse_date(obj.get("date"), path, n)


def _row_id(obj: dict, path: Path, n: int) -> str:
    value = obj.get("_id")
    if value is None or value == "":
        raise InputError(path, n, "missing '_id'")
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InputError(path, n, f"'_id' must be a string or an integer, got {value!r:.40}")
    return str(value)


def _text(obj: dict, key: str, path: Path, n: int) -> str:
    value = obj.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InputError(path, n, f"'{key}' must be text, got {type(value).__name__}")
    return value


class BeirDataset(Dataset):
    layout = "beir"
    preset = "mteb"

    @staticmethod
    def detect(path: Path) -> bool:
        return bool(_find(path, "corpus")) and bool(_find(path, "queries"))

    def documents(self) -> Iterator[Document]:
        for path in _find(self.path, "corpus"):
            for n, obj in iter_rows(path, ("_id",), ("title", "text", "date"), ("_id",)):
                yield Document(
                    docid=_row_id(obj, path, n),
                    text=_text(obj, "text", path, n),
                    title=_text(obj, "title", path, n),
                    date=_date(obj, path, n),
                )

    @cache  # noqa: B019 - a dataset object lives for one command
    def _qrels_files(self) -> dict[str, list[Path]]:
        out: dict[str, list[Path]] = {}
        for folder in _QRELS_DIRS:
            d = self.path / folder
            if not d.is_dir():
                continue
            for p in sorted(d.iterdir()):
                if p.name.endswith((".tsv", ".parquet")):
                    out.setdefault(_split_of(p), []).append(p)
        return out

    def splits(self) -> list[str]:
        return sorted(self._qrels_files())

    @cache  # noqa: B019
    def _all_queries(self) -> dict[str, Query]:
        out: dict[str, Query] = {}
        for path in _find(self.path, "queries"):
            for n, obj in iter_rows(path, ("_id", "text"), ("date",), ("_id",)):
                qid = _row_id(obj, path, n)
                out[qid] = Query(qid=qid, text=_text(obj, "text", path, n), date=_date(obj, path, n))
        return out

    def _queries(self, split: str) -> dict[str, Query]:
        judged = self._qrels(split, "graded")
        return {qid: q for qid, q in self._all_queries().items() if qid in judged}

    @cache  # noqa: B019
    def _qrels(self, split: str, kind: str) -> Qrels:
        check_kind(kind)
        if kind == "retrieval":
            return binary(self._qrels(split, "graded"))
        out: Qrels = {}
        for path in self._qrels_files()[split]:
            rows = _parquet_qrels(path) if is_parquet(path) else _tsv_qrels(path)
            for n, qid, docid, grade in rows:
                if grade is None:
                    raise InputError(path, n, "score is not an integer")
                out.setdefault(qid, {})[docid] = grade
        return out


def _tsv_qrels(path: Path) -> Iterator[tuple[int, str, str, int | None]]:
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
        yield n, cols[0], cols[1], grade


def _parquet_qrels(path: Path) -> Iterator[tuple[int, str, str, int | None]]:
    for n, row in iter_rows(path, _QRELS_COLUMNS, (), ("query-id", "corpus-id")):
        score = row["score"]
        if isinstance(score, float) and score.is_integer():
            score = int(score)
        yield n, row["query-id"], row["corpus-id"], score if isinstance(score, int) else None
