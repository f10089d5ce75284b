"""Dates of queries, documents and events: parsed from the formats found in the wild, or rejected with file:line."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from rankers.errors import InputError

_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%d.%m.%Y", "%B %d, %Y", "%b %d, %Y", "%d %B %Y", "%d %b %Y")


def to_date(value: object) -> dt.date | None:
    """A `date` from ISO dates and datetimes, a few common written forms, or a Unix timestamp; None if unparseable."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return dt.datetime.fromtimestamp(value, dt.UTC).date()
        except (OverflowError, OSError, ValueError):  # beyond year 9999, NaN, infinite
            return None
    if not isinstance(value, str):
        return None  # a list or an object is no date
    s = value.strip()
    try:
        return dt.datetime.fromisoformat(s.replace("Z", "+00:00")).date()
    except ValueError:
        pass
    for fmt in _FORMATS:
        try:
            return dt.datetime.strptime(s, fmt).date()
        except ValueError:
            continue
    return None


def parse_date(value: object, path: str | Path, line: int | None) -> str | None:
    """ISO `YYYY-MM-DD` for any accepted form; None for a missing date; an error naming the line otherwise."""
    if value is None or value == "":
        return None
    d = to_date(value)
    if d is None:
        raise InputError(path, line, f"cannot parse date {value!r:.60} (use YYYY-MM-DD)")
    return d.isoformat()
