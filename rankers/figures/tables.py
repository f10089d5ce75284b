"""The numbers behind each figure of `rank report`, as plain rows (no chart code here).

Every number comes from `rankers.evaluate`: per-query scores and cost from the same `Comparison` that
`rank eval` renders, depth curves from `score_run` (the same ranx code, at more cut-offs), so a figure can
never disagree with the metrics table beside it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rankers import evaluate as ev
from rankers.errors import RankError
from rankers.run import Ranking

# Equal scores reached through different rankings can differ in the last bits of a float sum: below this a
# per-query difference counts as a tie.
TIE = 1e-9
# Cut-offs of the depth curves (each run also gets its own depth as the last point).
CUTOFFS = (1, 2, 3, 5, 10, 20, 30, 50, 100, 200, 300, 500, 1000, 2000, 5000, 10000)
COST_AXES = {
    "calls": "LLM calls per query",
    "prompt_tokens": "prompt tokens per query",
    "wall_s": "wall time per query (s)",
}


def metric_of(c: ev.Comparison, label: str, flag: str) -> ev.Metric:
    for m in c.metrics:
        if m.label == label:
            return m
    raise RankError(
        f"{flag} {label!r}: not among the metrics evaluated ({', '.join(m.label for m in c.metrics)})"
    )


def run_of(c: ev.Comparison, name: str, flag: str) -> ev.RunScores:
    for r in c.runs:
        if r.name == name:
            return r
    raise RankError(f"{flag} {name!r}: not among the runs ({', '.join(c.names)})")


# ---------------------------------------------------------------- per-query differences against a baseline


@dataclass(frozen=True, slots=True)
class Outcomes:
    """How a run does against the baseline, query by query: better, equal (within TIE), worse."""

    wins: int
    ties: int
    losses: int

    def to_dict(self) -> dict[str, int]:
        return {"wins": self.wins, "ties": self.ties, "losses": self.losses}


def per_query(
    c: ev.Comparison, baseline: str, metric: str, texts: Mapping[str, str] | None = None
) -> tuple[list[dict[str, Any]], dict[str, Outcomes]]:
    """One row per (run, judged query) for every run but the baseline: its score minus the baseline's.

    Rows are sorted by difference, largest gain first (ties broken by qid), and numbered by `position`
    within their run, so a bar chart of them is the sorted win/loss picture. Returns the rows and the
    counts of wins, ties and losses per run.
    """
    m = metric_of(c, metric, "--metric")
    base = run_of(c, baseline, "--baseline")
    qids = base.qids[m.qrels]
    texts = texts or {}
    rows: list[dict[str, Any]] = []
    outcomes: dict[str, Outcomes] = {}
    for r in c.runs:
        if r.name == baseline:
            continue
        if r.qids[m.qrels] != qids:  # every run is scored over the same qrels; a mismatch is a bug here
            raise RankError(f"runs {baseline} and {r.name} were scored on different queries")
        b, s = base.per_query[m.label], r.per_query[m.label]
        diffs = [float(s[i] - b[i]) for i in range(len(qids))]
        order = sorted(range(len(qids)), key=lambda i: (-diffs[i], qids[i]))
        wins = ties = losses = 0
        for pos, i in enumerate(order, 1):
            d = diffs[i]
            outcome = "win" if d > TIE else "loss" if d < -TIE else "tie"
            wins, ties, losses = (
                wins + (outcome == "win"),
                ties + (outcome == "tie"),
                losses + (outcome == "loss"),
            )
            rows.append(
                {
                    "run": r.name,
                    "position": pos,
                    "qid": qids[i],
                    "query": texts.get(qids[i], ""),
                    "baseline": float(b[i]),
                    "score": float(s[i]),
                    "diff": d,
                    "outcome": outcome,
                }
            )
        outcomes[r.name] = Outcomes(wins, ties, losses)
    return rows, outcomes


# ---------------------------------------------------------------- quality against depth


def cutoffs(depth: int) -> list[int]:
    """The cut-offs of a run ranked to `depth`: the usual ones below it, then the depth itself."""
    return [k for k in CUTOFFS if k < depth] + ([depth] if depth > 0 else [])


def depth_curves(
    c: ev.Comparison,
    runs: Mapping[str, Sequence[Ranking]],
    qrels: ev.Qrels,
    retrieval_qrels: ev.Qrels | None = None,
) -> list[dict[str, Any]]:
    """nDCG@k and recall@k of each run for k up to its depth (the longest ranking it holds).

    nDCG is judged on the graded qrels; recall on the qrels the comparison's own recall metrics use (the
    binary retrieval qrels for T2Ranking), so the curve passes through the table's recall@k.
    """
    recall_kind = next((m.qrels for m in c.metrics if m.name.startswith("recall")), "graded")
    rows: list[dict[str, Any]] = []
    for name in c.names:
        rankings = runs[name]
        ks = cutoffs(max((len(r.candidates) for r in rankings), default=0))
        if not ks:
            continue
        metrics = [ev.Metric(f"ndcg@{k}", f"ndcg@{k}") for k in ks]
        metrics += [ev.Metric(f"recall@{k}", f"recall@{k}", recall_kind) for k in ks]
        scored = ev.score_run(qrels, rankings, metrics, name=name, retrieval_qrels=retrieval_qrels)
        for measure, prefix in (("nDCG@k", "ndcg"), ("Recall@k", "recall")):
            rows += [
                {"run": name, "measure": measure, "k": k, "value": scored.means[f"{prefix}@{k}"]} for k in ks
            ]
    return rows


# ---------------------------------------------------------------- cost against quality


def quality_metric(c: ev.Comparison) -> str:
    """nDCG@10 when the comparison has it (the rerankers' usual yardstick), else its main metric."""
    return "ndcg@10" if any(m.label == "ndcg@10" for m in c.metrics) else c.main


def cost_points(c: ev.Comparison, metric: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Per-query cost (calls, prompt tokens, wall time) against quality, one row per (run with cost, axis);
    and, for runs that carry no cost (first stages), their quality alone, drawn as reference lines."""
    metric_of(c, metric, "--metric")
    points: list[dict[str, Any]] = []
    refs: list[dict[str, Any]] = []
    for r in c.runs:
        quality = r.means[metric]
        if r.cost is None:
            refs += [{"run": r.name, "axis": label, "quality": quality} for label in COST_AXES.values()]
            continue
        pq = r.cost.per_query()
        points += [
            {"run": r.name, "axis": label, "cost": pq[k], "quality": quality, "source": r.cost.source}
            for k, label in COST_AXES.items()
        ]
    return points, refs


# ---------------------------------------------------------------- suites: tasks by systems


@dataclass
class SuiteTable:
    """Scores of systems on the tasks of a suite: `scores[task][system]`, all in one `metric`.

    Averages are over every task; a system missing a task has no average (an average over fewer tasks would
    not compare), and its missing cells stay empty.
    """

    scores: Mapping[str, Mapping[str, float]]
    metric: str = "nDCG@10"

    def __post_init__(self) -> None:
        if not self.scores or not any(self.scores.values()):
            raise RankError("suite table: no score")
        for task, row in self.scores.items():
            for system, v in row.items():
                if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                    raise RankError(
                        f"suite table: {task} / {system}: score must be a finite number, got {v!r}"
                    )

    @property
    def tasks(self) -> list[str]:
        return list(self.scores)

    @property
    def systems(self) -> list[str]:
        return list(dict.fromkeys(s for row in self.scores.values() for s in row))

    def averages(self) -> dict[str, float | None]:
        out: dict[str, float | None] = {}
        for s in self.systems:
            vals = [row[s] for row in self.scores.values() if s in row]
            out[s] = sum(vals) / len(vals) if len(vals) == len(self.scores) else None
        return out

    def rows(self, average: str = "Average") -> list[dict[str, Any]]:
        if average in self.scores:
            raise RankError(f"suite table: a task is named {average!r}, the name of the averages row")
        out = [
            {"task": t, "system": s, "score": float(v), "average": False}
            for t, row in self.scores.items()
            for s, v in row.items()
        ]
        out += [
            {"task": average, "system": s, "score": v, "average": True}
            for s, v in self.averages().items()
            if v is not None
        ]
        return out
