"""The recency stage: filter or boost each ranking's documents by their own date relative to the query's date.

A stage over rankings, apart from event expansion, so it composes with any retriever:
- `before_query_date`: documents dated after the query date are dropped (the query's own day is kept: a document
  published that day can answer it);
- `tau`: every dated document's score is multiplied by exp(−Δt/τ), Δt its age in days at the query date (a document
  dated after the query, when not filtered, counts as age 0). The product needs positive scores (BM25); a ranking
  with a non-positive score is min-max normalized to (0, 1] first.
Undated documents are kept unfiltered and get the mean decay of the dated candidates of their ranking: no recency
prior either way. Undated queries pass through unchanged. Both are counted.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass

from rankers.errors import RankError
from rankers.run import Ranking


@dataclass
class RecencyStats:
    queries: int = 0
    undated_queries: int = 0
    dropped_after_query: int = 0
    undated_documents: int = 0
    unknown_documents: int = 0  # candidates whose docid the dataset does not have (treated as undated)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def document_days(dataset) -> dict[str, int | None]:
    """{docid: day ordinal or None} for every document of a dataset."""
    return {d.docid: _ordinal(d.date) for d in dataset.documents()}


def _ordinal(date: str | None) -> int | None:
    return dt.date.fromisoformat(date).toordinal() if date else None


class Recency:
    def __init__(
        self,
        days: Mapping[str, int | None],
        before_query_date: bool = False,
        tau: float | None = None,
        as_of: str | None = None,
        date_field: str = "date",
    ):
        if tau is not None and tau <= 0:
            raise RankError(f"--recency-tau {tau}: must be positive")
        if not before_query_date and tau is None:
            raise RankError("the recency stage needs --before-query-date, --recency-tau, or both")
        self.days, self.before, self.tau, self.date_field = days, before_query_date, tau, date_field
        self._as_of = self._parse(as_of, "--as-of") if as_of else None
        self.stats = RecencyStats()

    @staticmethod
    def _parse(value: object, where: str) -> int:
        from rankers.dates import to_date

        d = to_date(value)
        if d is None:
            raise RankError(f"{where}: cannot parse date {value!r} (use YYYY-MM-DD)")
        return d.toordinal()

    def query_day(self, r: Ranking) -> int | None:
        if self._as_of is not None:
            return self._as_of
        q = r.query
        value = q.date if self.date_field == "date" else q.fields.get(self.date_field)
        return None if value in (None, "") else self._parse(value, f"query {q.qid}: {self.date_field}")

    def __call__(self, rankings: Iterable[Ranking]) -> Iterator[Ranking]:
        for r in rankings:
            yield self.apply(r)

    def apply(self, r: Ranking) -> Ranking:
        st = self.stats
        st.queries += 1
        qday = self.query_day(r)
        if qday is None:
            st.undated_queries += 1
            return r
        dated: list[tuple[int, int]] = []  # (index, age)
        undated: list[int] = []
        keep = []
        for c in r.candidates:
            if c.docid not in self.days:
                st.unknown_documents += 1
            day = self.days.get(c.docid)
            if day is None:
                st.undated_documents += 1
                undated.append(len(keep))
            else:
                age = qday - day
                if age < 0 and self.before:
                    st.dropped_after_query += 1
                    continue
                dated.append((len(keep), max(age, 0)))
            keep.append(c)
        r.candidates = keep
        if self.tau is not None and keep:
            factors = [1.0] * len(keep)
            for i, age in dated:
                factors[i] = math.exp(-age / self.tau)
            neutral = sum(factors[i] for i, _ in dated) / len(dated) if dated else 1.0
            for i in undated:
                factors[i] = neutral
            scores = [c.score for c in keep]
            if min(scores) <= 0:
                lo, hi = min(scores), max(scores)
                # (0, 1]: the last candidate must keep a positive score, or its decay would do nothing.
                scores = [(s - lo) / (hi - lo) * 0.999 + 0.001 if hi > lo else 1.0 for s in scores]
            for c, s, f in zip(keep, scores, factors, strict=True):
                c.score = s * f
            r.sorted()
        r.meta["recency"] = {"before_query_date": self.before, "tau": self.tau}
        return r
