"""Event-aware query expansion: find the events behind a query, dated before it, and expand the query with them.

For each query: candidate events are retrieved from the event store by BM25; events dated after the query (and,
by default, on its day: dates are days, so a same-day item may postdate the question) are dropped and counted;
each remaining event is scored similarity × exp(−Δt/τ), where similarity is its BM25 score over the best
eligible one (never over a future event: that would leak through the normalization) and Δt is its age in days
at the query date. The top events then expand the query:
- `terms`: RM3 over the events — P(w|E) = Σ_e score_e · tf(w,e)/|e| (optionally × idf), its top terms
  interpolated with the query's own P(w|Q) by `weight` (of the original) — written to
  `fields["expansion"]["terms"]` as {word: weight}, which `rank retrieve` searches as a weighted Lucene query;
- `text`: the events' text appended to the query text (for dense encoders); the original stays in
  `fields["original_text"]`.
A query without a date gets no recency prior (Δt unknown: every dated event is a candidate, undecayed).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from rankers.errors import RankError
from rankers.events import EventStore
from rankers.run import Ranking

METHODS = ("terms", "text")


@dataclass(frozen=True)
class ExpandConfig:
    """Defaults tuned on realtimeqa's developer weeks (bench/events.py); other collections may want others."""

    method: str = "terms"
    top_events: int = 3
    tau: float | None = 14.0  # days; None or 0 = no decay
    window_days: int | None = None  # only events at most this many days old
    min_score: float = 0.0  # on similarity × decay, in [0, 1]
    weight: float = 0.3  # of the original query in `terms`
    fb_terms: int = 30
    idf: bool = False
    depth: int = 1000  # BM25 candidates fetched before the date filter
    as_of: str | None = None  # one date for every query
    date_field: str = "date"  # Query.date, or a key of Query.fields
    same_day: bool = False  # count events dated the query's own day as before it
    undated_events: bool = False  # use events without a date (no recency prior; cannot be shown to precede)

    def check(self) -> None:
        if self.method not in METHODS:
            raise RankError(f"--method {self.method}: choose from {', '.join(METHODS)}")
        if self.top_events < 1:
            raise RankError(f"--top-events {self.top_events}: must be at least 1")
        if self.tau is not None and self.tau < 0:
            raise RankError(f"--tau {self.tau}: must be positive (or 0 for no decay)")
        if self.window_days is not None and self.window_days < 0:
            raise RankError(f"--window-days {self.window_days}: must be 0 or more")
        if not 0.0 <= self.weight <= 1.0:
            raise RankError(f"--weight {self.weight}: must be between 0 and 1")
        if self.fb_terms < 1:
            raise RankError(f"--fb-terms {self.fb_terms}: must be at least 1")
        if self.depth < self.top_events:
            raise RankError(f"--depth {self.depth}: must be at least --top-events ({self.top_events})")


@dataclass
class ExpandStats:
    queries: int = 0
    expanded: int = 0
    without_events: int = 0
    undated_queries: int = 0
    future_events: int = 0  # event candidates dropped because dated after (or on) the query date
    queries_with_future: int = 0
    outside_window: int = 0
    undated_events: int = 0  # undated event candidates skipped (or used, with --undated-events)
    below_min_score: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class UsedEvent:
    row: int
    similarity: float
    age_days: int | None
    score: float


@dataclass
class Selection:
    events: list[UsedEvent] = field(default_factory=list)
    future: int = 0
    outside_window: int = 0
    undated: int = 0
    below_min_score: int = 0


def decay(age_days: float | None, tau: float | None) -> float:
    """exp(−Δt/τ): 1 for an event of the query's day, 1/e at τ days; 1 when Δt or τ is unknown/off."""
    if age_days is None or not tau:
        return 1.0
    return math.exp(-max(age_days, 0.0) / tau)


def eligibility(event_day: int | None, query_day: int | None, cfg: ExpandConfig) -> str:
    """'ok', 'future' (dated after the query, or on its day unless same_day), 'window' or 'undated'."""
    if event_day is None:
        return "ok" if cfg.undated_events or query_day is None else "undated"
    if query_day is None:
        return "ok"
    age = query_day - event_day
    if age < 0 or (age == 0 and not cfg.same_day):
        return "future"
    if cfg.window_days is not None and age > cfg.window_days:
        return "window"
    return "ok"


def select_events(
    candidates: list[tuple[int, float]], days: list[int | None], query_day: int | None, cfg: ExpandConfig
) -> Selection:
    """The top events among BM25 `candidates` (row, score) by similarity × decay, after the date filter."""
    sel = Selection()
    kept: list[tuple[int, float]] = []
    for row, sim in candidates:
        why = eligibility(days[row], query_day, cfg)
        if why == "ok":
            kept.append((row, sim))
        elif why == "future":
            sel.future += 1
        elif why == "window":
            sel.outside_window += 1
        else:
            sel.undated += 1
    if not kept:
        return sel
    best = max(s for _, s in kept)
    scored = []
    for row, sim in kept:
        age = query_day - days[row] if query_day is not None and days[row] is not None else None
        norm = sim / best if best > 0 else 0.0
        score = norm * decay(age, cfg.tau)
        if score < cfg.min_score:
            sel.below_min_score += 1
            continue
        scored.append(UsedEvent(row, norm, age, score))
    scored.sort(key=lambda e: -e.score)
    sel.events = scored[: cfg.top_events]
    return sel


def interpolate(
    query: dict[str, float], feedback: dict[str, float], weight: float, fb_terms: int
) -> dict[str, float]:
    """RM3's last step: weight·P(w|Q) + (1−weight)·P(w|R) over the query's terms and the top `fb_terms` of R."""
    top = dict(sorted(feedback.items(), key=lambda kv: (-kv[1], kv[0]))[:fb_terms])
    qn, fn = sum(query.values()), sum(top.values())
    out: dict[str, float] = {}
    for w, v in query.items():
        out[w] = out.get(w, 0.0) + weight * v / qn
    for w, v in top.items():
        out[w] = out.get(w, 0.0) + (1.0 - weight) * v / fn
    return dict(sorted(out.items(), key=lambda kv: (-kv[1], kv[0])))


class Expander:
    """The expansion stage over one event store."""

    def __init__(self, store: EventStore, cfg: ExpandConfig, show: Callable[[str], None] | None = None):
        cfg.check()
        self.store, self.cfg, self.show = store, cfg, show
        self.stats = ExpandStats()
        self._as_of = _day(cfg.as_of, "--as-of") if cfg.as_of else None

    def __call__(self, rankings: Iterable[Ranking], chunk: int = 64) -> Iterator[Ranking]:
        buf: list[Ranking] = []
        for r in rankings:
            buf.append(r)
            if len(buf) >= chunk:
                yield from self._chunk(buf)
                buf = []
        if buf:
            yield from self._chunk(buf)

    def query_day(self, r: Ranking) -> int | None:
        if self._as_of is not None:
            return self._as_of
        q = r.query
        value = q.date if self.cfg.date_field == "date" else q.fields.get(self.cfg.date_field)
        if value is None or value == "":
            return None
        return _day(value, f"query {q.qid}: {self.cfg.date_field}")

    def _chunk(self, rankings: list[Ranking]) -> list[Ranking]:
        texts = [_original(r) for r in rankings]
        found = self.store.search(texts, self.cfg.depth)
        for r, text, cands in zip(rankings, texts, found, strict=True):
            self._expand_one(r, text, cands)
        return rankings

    def _expand_one(self, r: Ranking, text: str, candidates: list[tuple[int, float]]) -> None:
        st, cfg, store = self.stats, self.cfg, self.store
        st.queries += 1
        day = self.query_day(r)
        if day is None:
            st.undated_queries += 1
        sel = select_events(candidates, store.days, day, cfg)
        st.future_events += sel.future
        st.queries_with_future += sel.future > 0
        st.outside_window += sel.outside_window
        st.undated_events += sel.undated
        st.below_min_score += sel.below_min_score
        q = r.query
        q.text = text
        q.fields.pop("original_text", None)
        expansion: dict[str, Any] = {
            "method": cfg.method,
            "events": [
                {"id": store.ids[e.row], "date": store.date(e.row), "score": round(e.score, 6)}
                for e in sel.events
            ],
            "excluded_future": sel.future,
        }
        if day is None:
            expansion["undated_query"] = True
        if not sel.events:
            st.without_events += 1
        elif cfg.method == "terms":
            terms = self.terms(text, sel.events)
            if terms:
                expansion["terms"] = terms
                expansion["weight"] = cfg.weight
        else:
            q.fields["original_text"] = text
            q.text = " ".join([text, *(store.contents(e.row) for e in sel.events)])
        st.expanded += bool(sel.events)
        q.fields["expansion"] = expansion
        if self.show is not None:
            self.show(self.explain(r, day, sel))

    def terms(self, text: str, events: list[UsedEvent]) -> dict[str, float]:
        """The weighted query: the query's own words and the events' salient words (RM3, optionally × idf)."""
        store, cfg = self.store, self.cfg
        query: dict[str, float] = {}
        surface: dict[str, str] = {}
        for tok, (count, word) in store.term_counts(text).items():
            query[tok] = float(count)
            surface[tok] = word
        if not query:
            return {}
        total = sum(e.score for e in events)
        feedback: dict[str, float] = {}
        n = len(store)
        for e in events:
            counts = store.term_counts(store.contents(e.row))
            length = sum(c for c, _ in counts.values())
            if not length:
                continue
            for tok, (count, word) in counts.items():
                if tok.isdigit():
                    # Bare numbers (years, counts) in news leads match everything dated alike; RM3 drops them too.
                    continue
                feedback[tok] = feedback.get(tok, 0.0) + (e.score / total) * count / length
                surface.setdefault(tok, word)
        if cfg.idf:
            feedback = {t: v * math.log(1 + n / max(store.df(t), 1)) for t, v in feedback.items()}
        if not feedback:
            return {surface[t]: v for t, v in interpolate(query, {}, 1.0, 1).items()}
        weighted = interpolate(query, feedback, cfg.weight, cfg.fb_terms)
        return {surface[t]: round(v, 6) for t, v in weighted.items()}

    def explain(self, r: Ranking, day: int | None, sel: Selection) -> str:
        store, q = self.store, r.query
        when = dt.date.fromordinal(day).isoformat() if day is not None else "undated (no recency prior)"
        lines = [f"[{q.qid}] {q.fields.get('original_text', q.text)!r} @ {when}"]
        lines.append(
            f"  events: {len(sel.events)} used; excluded {sel.future} future, {sel.outside_window} outside window, "
            f"{sel.undated} undated, {sel.below_min_score} below --min-score"
        )
        for e in sel.events:
            age = f"{e.age_days}d before" if e.age_days is not None else "undated"
            lines.append(
                f"  {e.score:.3f} = sim {e.similarity:.3f} × decay {e.score / e.similarity if e.similarity else 0:.3f}"
                f" ({age}) {store.ids[e.row]}: {store.titles[e.row][:90]!r}"
            )
        terms = q.fields["expansion"].get("terms")
        if terms:
            lines.append("  terms: " + ", ".join(f"{t} {w:.3f}" for t, w in list(terms.items())[:20]))
        elif "original_text" in q.fields:
            lines.append(f"  text: +{len(q.text) - len(q.fields['original_text'])} characters of event text")
        return "\n".join(lines)


def _original(r: Ranking) -> str:
    """The query's own text: expanding an expanded query starts again from the original, never compounds."""
    original = r.query.fields.get("original_text")
    return original if isinstance(original, str) else r.query.text


def _day(value: object, where: str) -> int:
    from rankers.dates import to_date

    d = to_date(value)
    if d is None:
        raise RankError(f"{where}: cannot parse date {value!r} (use YYYY-MM-DD)")
    return d.toordinal()
