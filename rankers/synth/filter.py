"""Round-trip consistency (Promptagator, after Alberti et al. 2019): keep a synthetic pair only when a retriever,
given the generated query, finds the document the query was generated from in its top k."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from rankers.run import Query, Ranking
from rankers.synth.pairs import Pair

Searcher = Callable[[Iterable[Ranking], int], Iterable[Ranking]]


@dataclass
class FilterReport:
    pairs: int = 0
    kept: int = 0
    top_k: int = 1
    # Rank of the source document per pair (0 = not in the top k).
    ranks: Counter = field(default_factory=Counter)

    def summary(self) -> str:
        share = self.kept / self.pairs if self.pairs else 0.0
        at1 = self.ranks.get(1, 0)
        return (
            f"{self.kept} of {self.pairs} pairs kept ({share:.1%}) with the source document in the top {self.top_k}; "
            f"at rank 1: {at1}"
        )


def roundtrip(pairs: list[Pair], search: Searcher, top_k: int) -> tuple[list[Pair], FilterReport]:
    """The pairs whose source document is among the first `top_k` hits for their query, in input order."""
    report = FilterReport(pairs=len(pairs), top_k=top_k)
    by_qid = {p.qid: p for p in pairs}
    found: dict[str, int] = {}
    for r in search((Ranking(Query(p.qid, p.query)) for p in pairs), top_k):
        want = by_qid[r.qid].docid
        for rank, c in enumerate(r.candidates[:top_k], 1):
            if c.docid == want:
                found[r.qid] = rank
                break
    kept = [p for p in pairs if p.qid in found]
    for p in pairs:
        report.ranks[found.get(p.qid, 0)] += 1
    report.kept = len(kept)
    return kept, report
