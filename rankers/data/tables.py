"""Rows of a JSONL or parquet table, streamed, with id columns always read as text."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rankers.errors import InputError
from rankers.io import read_jsonl

_BATCH = 1024


def is_parquet(path: Path) -> bool:
    return path.suffix == ".parquet"


def iter_rows(
    path: Path, required: tuple[str, ...], optional: tuple[str, ...] = (), ids: tuple[str, ...] = ()
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(row number, row) for each row; for parquet, the `required` columns must exist and `ids` become strings.

    JSONL rows are returned whole (their fields are checked by the caller, which knows the line).
    """
    if not is_parquet(path):
        yield from read_jsonl(path)
        return
    import polars as pl

    try:
        lf = pl.scan_parquet(path)
        schema = lf.collect_schema()
    except Exception as e:  # polars raises several types for a file that is not parquet
        raise InputError(path, None, f"cannot read parquet: {_first_line(e)}") from None
    missing = [c for c in required if c not in schema]
    if missing:
        raise InputError(path, None, f"missing column(s) {', '.join(missing)}; columns: {', '.join(schema)}")
    wanted = [c for c in (*required, *optional) if c in schema]
    # An id stored as an integer must come out as "123", never 123 or "123.0".
    lf = lf.select([pl.col(c).cast(pl.String) if c in ids else pl.col(c) for c in wanted])
    n = 0
    try:
        for batch in lf.collect_batches(chunk_size=_BATCH, lazy=True):
            for row in batch.iter_rows(named=True):
                n += 1
                yield n, row
    except pl.exceptions.PolarsError as e:
        raise InputError(path, n + 1, f"cannot read parquet row: {_first_line(e)}") from None


def _first_line(e: Exception) -> str:
    """Polars explains its errors over several lines (the expression, a hint): the first says what is wrong."""
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
