"""Complete listwise labels: every candidate of a query put in order, what full-ranking fine-tuning learns from.

A sliding-window pass fixes only the head of a list. The teacher of Liu et al. ("Sliding Windows Are Not the End")
slides window 20 / stride 10 over the top 100 (fixing ranks 1-10), then over the remaining 90 (11-20), and so on
until the list is ordered: `ListwiseReranker(mode="complete")`, with the same prompts, cache and cost accounting
as `rank rerank`. The teacher can also be any run (a cross-encoder's, a fusion's): candidates it lacks follow in
their initial order. Optionally the judged documents go first, by grade.

The file is the paper's released format (`liuwenhan/msmarco_full_ranking_list`): one JSON object per query with
`qid`, `initial_list` and `final_list` (docids), so that file trains here too.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from rankers.errors import InputError, RankError
from rankers.io import read_jsonl
from rankers.rerank.cost import Totals
from rankers.run import Ranking


@dataclass(slots=True)
class Label:
    qid: str
    initial: list[str]  # the candidates in the order the student sees them
    final: list[str]  # the same candidates in the teacher's order

    def to_dict(self) -> dict:
        return {"qid": self.qid, "initial_list": self.initial, "final_list": self.final}

    def target(self) -> list[int]:
        """The final order as 1-based positions in the initial list: what the model writes, `[3] > [1] > ...`."""
        pos = {d: i for i, d in enumerate(self.initial, 1)}
        return [pos[d] for d in self.final]


def in_teacher_order(initial: list[str], teacher: list[str]) -> list[str]:
    """The initial candidates in the teacher run's order; those the teacher lacks follow in their initial order."""
    pos = {d: i for i, d in enumerate(teacher)}
    known = sorted((d for d in initial if d in pos), key=pos.__getitem__)
    return known + [d for d in initial if d not in pos]


def judged_first(order: list[str], grades: Mapping[str, int]) -> list[str]:
    """Relevant documents (grade >= 1) first, by grade, ties in `order`; the rest after them, in `order`.
    A document judged 0 is judged not relevant: it stays where the teacher put it."""
    relevant = sorted((d for d in order if grades.get(d, 0) >= 1), key=lambda d: -grades[d])
    return relevant + [d for d in order if grades.get(d, 0) < 1]


def run_labels(
    rankings: Iterable[Ranking],
    teacher: Mapping[str, list[str]],
    hits: int,
    qrels: Mapping[str, Mapping[str, int]] | None = None,
) -> Iterator[Label]:
    """Labels from a teacher run (qid -> its docids in order). A query the teacher does not rank is an error:
    its label would silently be the initial order."""
    for r in rankings:
        initial = _initial(r, hits)
        if r.qid not in teacher:
            raise RankError(f"--teacher-run: query {r.qid} has no ranking in the teacher run")
        final = in_teacher_order(initial, teacher[r.qid])
        yield Label(r.qid, initial, _judged(final, qrels, r.qid))


def llm_labels(
    rankings: Iterable[Ranking],
    reranker,
    hits: int,
    qrels: Mapping[str, Mapping[str, int]] | None = None,
    concurrency: int = 1,
    totals: Totals | None = None,
    costs: dict[str, dict] | None = None,
) -> Iterator[Label]:
    """Labels from an LLM teacher: `reranker` is a `ListwiseReranker(mode="complete", hits=hits)`; each query's
    cost goes into `costs` (qid -> cost) and the sums into `totals`."""
    from rankers.rerank.stage import rerank_run

    initial: dict[str, list[str]] = {}

    def remember(stream: Iterable[Ranking]) -> Iterator[Ranking]:
        for r in stream:
            initial[r.qid] = _initial(r, hits)
            yield r

    for r in rerank_run(remember(rankings), reranker, concurrency, totals):
        first = initial.pop(r.qid)
        final = [c.docid for c in r.candidates[: len(first)]]
        if costs is not None:
            costs[r.qid] = r.meta.get("cost", {})
        yield Label(r.qid, first, _judged(final, qrels, r.qid))


def _initial(r: Ranking, hits: int) -> list[str]:
    docs = [c.docid for c in r.candidates[:hits]]
    if len(set(docs)) != len(docs):
        raise RankError(f"query {r.qid}: a docid appears twice among its candidates")
    return docs


def _judged(final: list[str], qrels: Mapping[str, Mapping[str, int]] | None, qid: str) -> list[str]:
    if qrels is None:
        return final
    return judged_first(final, qrels.get(qid, {}))


def read_labels(path: str | Path) -> list[Label]:
    """Labels from JSONL (`qid`, `initial_list`, `final_list`), each checked: the final list is a permutation of
    the initial one, with no docid twice."""
    out: list[Label] = []
    seen: set[str] = set()
    for n, row in read_jsonl(path):
        try:
            qid, initial, final = str(row["qid"]), row["initial_list"], row["final_list"]
        except KeyError as e:
            raise InputError(
                path, n, f"missing field {e.args[0]!r} (expected qid, initial_list, final_list)"
            ) from None
        if not (isinstance(initial, list) and isinstance(final, list)) or not initial:
            raise InputError(path, n, "initial_list and final_list must be non-empty lists of docids")
        initial, final = [str(d) for d in initial], [str(d) for d in final]
        if len(set(initial)) != len(initial):
            raise InputError(path, n, f"query {qid}: a docid appears twice in initial_list")
        if sorted(initial) != sorted(final):
            raise InputError(path, n, f"query {qid}: final_list is not a permutation of initial_list")
        if qid in seen:
            raise InputError(path, n, f"query {qid} appears twice")
        seen.add(qid)
        out.append(Label(qid, initial, final))
    if not out:
        raise RankError(f"{path}: no labels in the file")
    return out


def label_line(label: Label) -> str:
    return json.dumps(label.to_dict(), ensure_ascii=False) + "\n"
