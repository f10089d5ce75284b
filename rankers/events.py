"""The event store: time-stamped items (news articles, headlines, event descriptions) made searchable by date.

A store is a folder with three things:
- `lucene/`: a BM25 index (built by `rankers.bm25.build_index`) of each event's title + lead, so candidate events
  for a query are found by real Lucene BM25 with the same analyzer as the document index;
- `events.parquet`: id, date, title, lead text of every event (the dates table: the expansion stage filters by
  date in Python, so an event dated after the query can never slip through a search-side filter);
- `events.json`: the manifest (source, counts, date range, language, lead length).

The store is built in a temporary folder and renamed into place, so a failed build never replaces a good store.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rankers.data.base import Dataset, Document, Qrels
from rankers.errors import InputError, RankError
from rankers.io import UMASK, build_dir, check_target, read_jsonl, swap_dir, write_json
from rankers.run import Query

MANIFEST = "events.json"
TABLE = "events.parquet"
LUCENE = "lucene"
# News leads carry the event (who, what, where, when); the rest of an article is background that drifts.
DEFAULT_LEAD_WORDS = 60


@dataclass(slots=True)
class Event:
    id: str
    date: str | None
    title: str
    text: str

    @property
    def contents(self) -> str:
        return f"{self.title} {self.text}" if self.title else self.text


@dataclass(slots=True)
class BuildReport:
    events: int
    undated: int
    empty: int
    date_min: str | None
    date_max: str | None


def lead(text: str, words: int) -> str:
    """The first `words` words of `text` (whitespace collapsed); 0 keeps the whole text."""
    parts = text.split()
    return " ".join(parts if words <= 0 else parts[:words])


# ---------------------------------------------------------------- reading sources


def read_events(source: str | Path, lead_words: int = DEFAULT_LEAD_WORDS) -> Iterator[Event]:
    """Events from a JSONL file (`id`, `date`, `title`, `text`) or a dataset folder (its corpus, with `date`).

    Dates in any form `rankers.dates` knows are normalized to YYYY-MM-DD; an unparseable one stops the read with
    file:line. A missing date is kept as None (an undated event).
    """
    path = Path(source)
    if path.is_dir():
        from rankers.data import load_dataset

        for d in load_dataset(path).documents():
            yield Event(d.docid, d.date, d.title.strip(), lead(d.text, lead_words))
        return
    if not path.exists():
        raise RankError(f"--source {source}: no such file or dataset folder")
    yield from _read_jsonl_events(path, lead_words)


def _read_jsonl_events(path: Path, lead_words: int) -> Iterator[Event]:
    from rankers.dates import parse_date

    seen: set[str] = set()
    for n, obj in read_jsonl(path):
        eid = obj.get("id", obj.get("_id"))
        if eid is None or str(eid).strip() == "":
            raise InputError(path, n, "missing event id ('id' or '_id')")
        eid = str(eid)
        if eid in seen:
            raise InputError(path, n, f"event id {eid!r} appears twice")
        seen.add(eid)
        title, text = obj.get("title") or "", obj.get("text") or ""
        if not isinstance(title, str) or not isinstance(text, str):
            raise InputError(path, n, "'title' and 'text' must be strings")
        yield Event(eid, parse_date(obj.get("date"), path, n), title.strip(), lead(text, lead_words))


class _EventCollection(Dataset):
    """Events seen as a collection, so that `rankers.bm25.build_index` indexes them like any corpus."""

    layout = "events"

    def __init__(self, events: list[Event], source: Path):
        super().__init__(source, name=f"events:{source.name}")
        self._events = events

    def documents(self) -> Iterator[Document]:
        for e in self._events:
            yield Document(docid=e.id, text=e.text, title=e.title, date=e.date)

    def splits(self) -> list[str]:
        return []

    def _queries(self, split: str) -> dict[str, Query]:
        return {}

    def _qrels(self, split: str, kind: str) -> Qrels:
        return {}


# ---------------------------------------------------------------- building


def build_store(
    source: str | Path,
    store_dir: str | Path,
    language: str = "en",
    lead_words: int = DEFAULT_LEAD_WORDS,
    threads: int = 1,
    force: bool = False,
) -> BuildReport:
    """Read every event of `source`, index it and write the dates table and manifest into `store_dir`."""
    import polars as pl

    from rankers.bm25 import build_index

    if lead_words < 0:
        raise RankError(f"--lead-words {lead_words}: must be 0 (whole text) or more")
    target = Path(store_dir).absolute()
    check_target(target, force, lambda folder: (folder / MANIFEST).is_file(), "event store")
    events, empty = [], 0
    for e in read_events(source, lead_words):
        if not e.contents.strip():
            empty += 1
            continue
        events.append(e)
    if not events:
        raise RankError(f"--source {source}: no events with text; an empty event store would expand nothing")
    dates = sorted(e.date for e in events if e.date is not None)
    report = BuildReport(
        len(events),
        len(events) - len(dates),
        empty,
        dates[0] if dates else None,
        dates[-1] if dates else None,
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = build_dir(target)
    try:
        build_index(_EventCollection(events, Path(source)), tmp / LUCENE, language=language, threads=threads)
        table = pl.DataFrame(
            {
                "id": [e.id for e in events],
                "date": [dt.date.fromisoformat(e.date) if e.date else None for e in events],
                "title": [e.title for e in events],
                "text": [e.text for e in events],
            },
            schema={"id": pl.String, "date": pl.Date, "title": pl.String, "text": pl.String},
        )
        table.write_parquet(tmp / TABLE)
        write_json(
            tmp / MANIFEST,
            {
                "kind": "events",
                "source": str(Path(source).absolute()),
                "language": language,
                "lead_words": lead_words,
                "events": report.events,
                "undated": report.undated,
                "skipped_empty": report.empty,
                "date_min": report.date_min,
                "date_max": report.date_max,
                "built": datetime.now(UTC).isoformat(timespec="seconds"),
            },
        )
        # mkdtemp and atomic writes make private files; a store should be as readable as any folder the user makes.
        for p in (tmp, tmp / MANIFEST, tmp / TABLE):
            p.chmod((0o777 if p.is_dir() else 0o666) & ~UMASK)
        swap_dir(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return report


# ---------------------------------------------------------------- reading a store

_WORD = re.compile(r"\w+(?:['’]\w+)?")


class EventStore:
    """An open store: BM25 search over events, their dates (as day ordinals), texts, and Lucene term statistics."""

    def __init__(self, store_dir: str | Path):
        import json

        import polars as pl

        self.path = Path(store_dir)
        manifest = self.path / MANIFEST
        if not manifest.is_file():
            raise RankError(
                f"--events {self.path}: not an event store (no {MANIFEST}; build one with `rank events build`)"
            )
        try:
            self.manifest: dict[str, Any] = json.loads(manifest.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise RankError(f"{manifest}: unreadable manifest ({e})") from None
        table = pl.read_parquet(self.path / TABLE)
        if table.height == 0:
            raise RankError(f"--events {self.path}: the event store is empty")
        self.ids: list[str] = table["id"].to_list()
        self.row = {eid: i for i, eid in enumerate(self.ids)}
        self.days: list[int | None] = [
            d.toordinal() if d is not None else None for d in table["date"].to_list()
        ]
        self.titles: list[str] = table["title"].to_list()
        self.texts: list[str] = table["text"].to_list()
        self._searcher = None
        self._reader = None
        self._stems: dict[str, tuple[str, ...]] = {}
        self._df: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.ids)

    def date(self, i: int) -> str | None:
        d = self.days[i]
        return dt.date.fromordinal(d).isoformat() if d is not None else None

    def contents(self, i: int) -> str:
        return f"{self.titles[i]} {self.texts[i]}" if self.titles[i] else self.texts[i]

    @property
    def searcher(self):
        if self._searcher is None:
            from rankers.bm25 import Bm25Searcher

            self._searcher = Bm25Searcher(self.path / LUCENE)
        return self._searcher

    def search(self, texts: list[str], depth: int) -> list[list[tuple[int, float]]]:
        """BM25 candidates (row, score) for each text, best first."""
        from rankers.run import Ranking

        probes = [Ranking(Query(qid=str(i), text=t)) for i, t in enumerate(texts)]
        out = []
        for r in self.searcher.search(probes, hits=depth, chunk=max(1, len(probes))):
            out.append([(self.row[c.docid], c.score) for c in r.candidates if c.docid in self.row])
        return out

    def stems(self, word: str) -> tuple[str, ...]:
        """The index tokens the store's analyzer makes of one word (empty for a stopword); cached."""
        got = self._stems.get(word)
        if got is None:
            got = tuple(self.searcher.analyze_terms({word: 1.0}))
            self._stems[word] = got
        return got

    def term_counts(self, text: str) -> dict[str, tuple[int, str]]:
        """{index token: (count, a surface word that analyzes to exactly that token)} for a text.

        The surface word is what goes into the expanded query: `rank retrieve` analyzes query terms again, and a
        stem fed back through a stemmer is not always itself (Porter is not idempotent); a word seen in the text
        that analyzes to the token is. The most frequent such word is kept (lower-cased), for readability too.
        """
        counts: dict[str, int] = {}
        surfaces: dict[str, dict[str, int]] = {}
        for word in _WORD.findall(text):
            w = word.lower()
            toks = self.stems(w)
            if len(toks) == 1:
                pairs = [(toks[0], w)]
            else:
                # A word the analyzer splits (CJK bigrams): each token stands for itself if it survives re-analysis.
                pairs = [(t, t) for t in toks if self.stems(t) == (t,)]
            for tok, surface in pairs:
                counts[tok] = counts.get(tok, 0) + 1
                s = surfaces.setdefault(tok, {})
                s[surface] = s.get(surface, 0) + 1
        return {
            tok: (c, max(surfaces[tok].items(), key=lambda kv: (kv[1], -len(kv[0])))[0])
            for tok, c in counts.items()
        }

    def df(self, token: str) -> int:
        """Document frequency of an index token among the events (Lucene's term statistics)."""
        got = self._df.get(token)
        if got is None:
            if self._reader is None:
                from rankers.bm25 import start_lucene

                start_lucene()
                from pyserini.index.lucene import LuceneIndexReader

                self._reader = LuceneIndexReader(str(self.path / LUCENE))
            got = int(self._reader.get_term_counts(token, analyzer=None)[0] or 0)
            self._df[token] = got
        return got
