"""The event store: reading time-stamped items (mixed date formats, undated, bad lines), building a real Lucene
store (atomic, guarded), the empty store, and `rank events build` end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import shared

from rankers.errors import InputError, RankError
from rankers.events import MANIFEST, EventStore, build_store, lead, read_events

RANK = [sys.executable, "-m", "cli.main"]
# rich wraps stderr at the terminal width; a wide one keeps each message on one line for the asserts.
ENV = {**os.environ, "COLUMNS": "400"}


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_lead_keeps_the_first_words_and_zero_keeps_all() -> None:
    assert lead("one  two\nthree four", 2) == "one two"
    assert lead("one two three", 0) == "one two three"


def test_mixed_date_formats_are_normalized(tmp_path: Path) -> None:
    src = write_jsonl(
        tmp_path / "ev.jsonl",
        [
            {"id": "a", "date": "2022-06-12", "title": "A", "text": "x"},
            {"id": "b", "date": "2022/06/13", "title": "B", "text": "x"},
            {"id": "c", "date": "June 14, 2022", "title": "C", "text": "x"},
            {"id": "d", "date": "2022-06-15T23:10:00Z", "title": "D", "text": "x"},
            {"id": "e", "date": "20220616", "title": "E", "text": "x"},
            {"_id": "f", "date": None, "title": "F", "text": "x"},
        ],
    )
    got = {e.id: e.date for e in read_events(src)}
    assert got == {
        "a": "2022-06-12",
        "b": "2022-06-13",
        "c": "2022-06-14",
        "d": "2022-06-15",
        "e": "2022-06-16",
        "f": None,
    }


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"id": "z", "date": "next tuesday", "text": "x"}, "cannot parse date 'next tuesday'"),
        ({"date": "2022-01-01", "text": "x"}, "missing event id"),
        ({"id": "a", "date": "2022-01-01", "text": "again"}, "event id 'a' appears twice"),
        ({"id": "z", "text": 5}, "must be strings"),
    ],
)
def test_bad_lines_are_rejected_with_file_and_line(tmp_path: Path, bad: dict, message: str) -> None:
    src = write_jsonl(tmp_path / "ev.jsonl", [{"id": "a", "date": "2022-01-01", "text": "ok"}, bad])
    with pytest.raises(InputError) as e:
        list(read_events(src))
    assert f"{src}:2:" in str(e.value)
    assert message in str(e.value)


def test_missing_source_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RankError, match="no such file or dataset folder"):
        list(read_events(tmp_path / "nope.jsonl"))


def test_empty_store_is_refused_before_indexing(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "ev.jsonl", [{"id": "a", "date": "2022-01-01", "title": "", "text": "  "}])
    with pytest.raises(RankError, match="no events with text"):
        build_store(src, tmp_path / "store")
    (tmp_path / "none.jsonl").write_text("", encoding="utf-8")
    with pytest.raises(RankError, match="empty event store"):
        build_store(tmp_path / "none.jsonl", tmp_path / "store")
    assert not (tmp_path / "store").exists()


@pytest.mark.slow
def test_build_counts_undated_and_empty_and_guards_the_target(tmp_path: Path) -> None:
    src = write_jsonl(
        tmp_path / "ev.jsonl",
        [
            {
                "id": "a",
                "date": "2022-06-12",
                "title": "Quake hits coast",
                "text": "A strong earthquake struck.",
            },
            {"id": "b", "date": None, "title": "Undated note", "text": "Something happened once."},
            {"id": "c", "date": "12.06.2022", "title": "", "text": ""},
            {"id": "d", "date": "2022-06-20", "title": "Flood", "text": "Rivers rose after storms."},
        ],
    )
    store_dir = tmp_path / "store"
    report = build_store(src, store_dir)
    assert (report.events, report.undated, report.empty) == (3, 1, 1)
    assert (report.date_min, report.date_max) == ("2022-06-12", "2022-06-20")
    manifest = json.loads((store_dir / MANIFEST).read_text())
    assert manifest["events"] == 3 and manifest["undated"] == 1
    store = EventStore(store_dir)
    assert len(store) == 3
    assert store.date(store.row["b"]) is None and store.date(store.row["d"]) == "2022-06-20"
    [hits] = store.search(["earthquake"], 10)
    assert [store.ids[row] for row, _ in hits] == ["a"]
    with pytest.raises(RankError, match="already there"):
        build_store(src, store_dir)
    build_store(src, store_dir, force=True, lead_words=1)
    assert EventStore(store_dir).texts[0] == "A"
    other = tmp_path / "other"
    other.mkdir()
    (other / "precious.txt").write_text("keep me")
    with pytest.raises(RankError, match="not an event store"):
        build_store(src, other, force=True)
    assert (other / "precious.txt").read_text() == "keep me"


def test_opening_a_folder_that_is_not_a_store_fails(tmp_path: Path) -> None:
    with pytest.raises(RankError, match="not an event store"):
        EventStore(tmp_path)


@pytest.mark.slow
def test_cli_build_reports_counts_and_bad_dates(tmp_path: Path) -> None:
    src = write_jsonl(
        tmp_path / "ev.jsonl",
        [
            {"id": "a", "date": "2022-06-12", "title": "Quake", "text": "A strong earthquake struck."},
            {"id": "b", "title": "Undated", "text": "Something happened."},
        ],
    )
    done = subprocess.run(
        [*RANK, "events", "build", "--source", str(src), "--index", str(tmp_path / "s")],
        capture_output=True,
        text=True,
        env=ENV,
    )
    assert done.returncode == 0, done.stderr
    assert "2 events" in done.stderr and "1 events have no date" in done.stderr
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"id": "a", "date": "2022-13-45", "text": "x"}])
    done = subprocess.run(
        [*RANK, "events", "build", "--source", str(bad), "--index", str(tmp_path / "t")],
        capture_output=True,
        text=True,
        env=ENV,
    )
    assert done.returncode == 2
    assert f"{bad}:1: cannot parse date '2022-13-45'" in done.stderr


@pytest.mark.slow
def test_a_dataset_folder_is_a_source(tmp_path: Path) -> None:
    """realtimeqa's corpus (BEIR layout with `date`) as the event stream: every article an event."""
    data = shared("realtimeqa")
    report = build_store(data, tmp_path / "rt", lead_words=20, threads=2)
    assert report.events == 2501 and report.undated == 0
    assert report.date_max == "2022-09-16"
    store = EventStore(tmp_path / "rt")
    assert max(len(t.split()) for t in store.texts) <= 20
