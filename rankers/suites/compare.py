"""Several systems over one suite in one table: per task, each system's main metric with paired tests over the
task's queries (rankers.evaluate.compare: Holm-corrected across the system pairs); on the average, a paired test
over the suite's tasks (an MTEB task's subsets averaged first), Holm-corrected the same way.

A superscript letter beside a score names a system it is significantly better than after the correction.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from rankers.errors import RankError
from rankers.report import superscript
from rankers.suites.catalog import Suite
from rankers.suites.runner import DONE, read_record, record_qrels, task_metrics


def compare_systems(
    suite: Suite, names: list[str], out_root: Path, test: str = "student", max_p: float = 0.05
) -> dict[str, Any]:
    """The comparison as data: rows per task and an average row, each with scores, marks and the pair tests."""
    import numpy as np

    from rankers.evaluate import Metric, RunScores, compare, pair_tests, run_key
    from rankers.io import read_run

    if len(names) < 2:
        raise RankError("--system: give at least two systems to compare")
    if len(set(names)) != len(names):
        raise RankError(f"--system: a system is named twice ({', '.join(names)})")
    folders = {n: Path(out_root) / suite.slug / n for n in names}
    for n, f in folders.items():
        if not (f / "summary.json").is_file():
            raise RankError(f"--system {n}: no run of it over {suite.name} in {f} (rank suite run first)")
    keys = {n: run_key(i) for i, n in enumerate(names)}
    rows, skipped = [], []
    unit_scores: dict[str, dict[str, float]] = {}
    skipped_everywhere: set[str] = set()
    summaries = {n: json.loads((f / "summary.json").read_text(encoding="utf-8")) for n, f in folders.items()}
    for task in suite.tasks:
        records = {n: read_record(folders[n] / f"{task.name}.json") for n in names}
        if all(task.name in s.get("skipped", []) for s in summaries.values()):
            skipped_everywhere.add(task.name)
            skipped.append((task.name, "skipped by every system (nothing to search)"))
            continue
        not_done = [n for n, r in records.items() if r is None or r.get("status") != DONE]
        if not_done:
            skipped.append((task.name, f"not done by {', '.join(not_done)}"))
            continue
        limits = {r.get("limit_queries") for r in records.values()}
        if len(limits) > 1:
            skipped.append((task.name, "run on different query limits"))
            continue
        first = next(iter(records.values()))
        metric = next(m for m in task_metrics(task) if m.label == task.main)
        qrels = record_qrels(first)
        retrieval = record_qrels(first, "retrieval") if metric.qrels == "retrieval" else None
        runs = {n: list(read_run(folders[n] / r["run"])) for n, r in records.items()}
        c = compare(
            qrels, runs, (metric,), test=test, max_p=max_p, retrieval_qrels=retrieval, main=metric.label
        )
        scores = {r.name: r.means[metric.label] for r in c.runs}
        unit_scores[task.name] = scores
        rows.append({
            "task": task.name, "metric": metric.label, "queries": len(qrels) if retrieval is None else len(retrieval),
            "scores": scores, "beats": {n: c.beats(n, metric.label) for n in names},
            "pairs": [{"a": t.a, "b": t.b, "diff": t.diff, "p": _num(t.p), "p_holm": t.p_holm, "significant": t.significant}
                      for t in c.pairs],
        })  # fmt: skip
    if not rows:
        raise RankError(f"no task of {suite.name} is done by every one of {', '.join(names)}")
    groups, counted = [], 0
    for _, units in suite.average_groups():
        if all(u.name in skipped_everywhere for u in units):
            continue  # no system can run it here (no collection): not part of the average
        counted += 1
        if all(u.name in unit_scores for u in units):
            groups.append({n: math.fsum(unit_scores[u.name][n] for u in units) / len(units) for n in names})
    average: dict[str, Any] = {"over": len(groups), "of": counted}
    if groups:
        avg = Metric("average", "ndcg@10")
        runs_ = [RunScores(n, {"average": float(np.mean([g[n] for g in groups]))},
                           {"average": np.array([g[n] for g in groups])}, {}) for n in names]  # fmt: skip
        tests = pair_tests(runs_, (avg,), test, max_p) if len(groups) > 1 else []
        average |= {
            "scores": {r.name: r.means["average"] for r in runs_},
            "beats": {n: [t.b if t.a == n else t.a for t in tests if t.better == n] for n in names},
            "pairs": [{"a": t.a, "b": t.b, "diff": t.diff, "p": _num(t.p), "p_holm": t.p_holm, "significant": t.significant}
                      for t in tests],
        }  # fmt: skip
    return {"suite": suite.name, "systems": names, "keys": keys, "test": test, "max_p": max_p, "rows": rows,
            "average": average, "skipped": skipped}  # fmt: skip


def _num(p: float) -> float | None:
    # Two systems scoring alike on every item have no p-value (NaN: JSON has none); Holm counts it as 1.
    return None if math.isnan(p) else p


def to_markdown(c: dict[str, Any]) -> str:
    names, keys = c["systems"], c["keys"]
    head = "| task | metric | " + " | ".join(f"{n} ({keys[n]})" for n in names) + " |"
    lines = [head, "|---|---|" + "---:|" * len(names)]

    def cell(scores: dict[str, float], beats: dict[str, list[str]], n: str) -> str:
        marks = "".join(keys[b] for b in beats.get(n, []))
        return f"{scores[n]:.4f}" + superscript(marks)

    for r in c["rows"]:
        lines.append(
            f"| {r['task']} | {r['metric']} | "
            + " | ".join(cell(r["scores"], r["beats"], n) for n in names)
            + " |"
        )
    a = c["average"]
    if "scores" in a:
        label = f"**average** ({a['over']} of {a['of']})"
        lines.append(
            f"| {label} | main | " + " | ".join(cell(a["scores"], a["beats"], n) for n in names) + " |"
        )
    tests = {"student": "paired t-test", "fisher": "randomization test", "tukey": "Tukey HSD"}[c["test"]]
    legend = (
        f"\nSuperscript: significantly better than that system ({tests}, Holm-corrected over the system pairs, "
        f"p <= {c['max_p']}); per task over its queries, on the average over the tasks."
    )
    if c["skipped"]:
        legend += "\nLeft out: " + "; ".join(f"{t} ({why})" for t, why in c["skipped"])
    return "\n".join(lines) + "\n" + legend + "\n"
