"""Run one system over a suite: per task, the pipeline's run, its scores, a record; then the suite's summary.

    runs/suites/<suite>/<system>/<task>.trec     the run (TREC, tagged with the system's name)
    runs/suites/<suite>/<system>/<task>.json     its record: scores, queries, seconds, the system's fingerprint
    runs/suites/<suite>/<system>/summary.json    every task's main metric and status, and the average
    runs/suites/<suite>/<system>/summary.md      the same as a table

A task is done when its record says so for the same system fingerprint and query limit: a second run skips
it, so a killed run resumes at the task it was in (whose index build resumes or restarts on its own). A task
that fails is reported, recorded in the summary and retried by the next run; the other tasks go on. The
summary is rewritten after every task, so what is done is always on disk.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

from rankers.errors import RankError
from rankers.evaluate import PRESETS, Metric
from rankers.io import atomic_write, write_json
from rankers.run import Ranking
from rankers.suites.catalog import Suite, Task
from rankers.suites.pipeline import Resources, Say, TaskContext, check_runnable, run_pipeline
from rankers.suites.systems import System

DONE, FAILED, SKIPPED, PENDING = "done", "failed", "skipped", "pending"
CPUS = os.cpu_count() or 1


def default_out_root() -> Path:
    return Path("runs") / "suites"


def default_index_root() -> Path:
    from rankers.data.registry import datasets_root

    return datasets_root() / "indexes"


def out_dir(out_root: Path, suite: Suite, system: System) -> Path:
    return Path(out_root) / suite.slug / system.name


def task_metrics(task: Task) -> tuple[Metric, ...]:
    """The task's benchmark preset, plus its main metric and nDCG@10 when the preset lacks them."""
    metrics = list(PRESETS[task.preset].metrics)
    labels = {m.label for m in metrics}
    for label in (task.main, "ndcg@10"):
        if label not in labels:
            metrics.append(Metric(label, label))
            labels.add(label)
    return tuple(metrics)


def read_record(path: Path) -> dict[str, Any] | None:
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return obj if isinstance(obj, dict) else None


def record_qrels(record: dict[str, Any], kind: str = "graded") -> dict[str, dict[str, int]]:
    """The qrels a finished task was scored on: its split's, cut to the queries it ran (--limit-queries)."""
    from rankers.data import load_dataset

    ds = load_dataset(record["dataset"])
    keep = set(list(ds.queries(record["split"]))[: record.get("limit_queries")])
    return {q: d for q, d in ds.qrels(record["split"], kind).items() if q in keep}


def is_done(record: dict[str, Any] | None, system: System, limit: int | None, folder: Path) -> bool:
    return (
        record is not None
        and record.get("status") == DONE
        and record.get("fingerprint") == system.fingerprint
        and record.get("limit_queries") == limit
        and (folder / record.get("run", "")).is_file()
    )


def run_suite(
    suite: Suite,
    system: System,
    *,
    out_root: Path | None = None,
    index_root: Path | None = None,
    limit_queries: int | None = None,
    threads: int = CPUS,
    device: str = "cpu",
    say: Say = lambda m: None,
    whole: Suite | None = None,
) -> dict[str, Any]:
    """Run `system` on every task of `suite` (resuming), write the records and the summary; returns the summary.

    `whole`: the suite `suite` was narrowed from (--tasks, --languages); the summary covers all of it, with the
    records already on disk for the tasks not run now, so a narrowed run never hides the others' results."""
    if limit_queries is not None and limit_queries < 1:
        raise RankError(f"--limit-queries {limit_queries}: must be at least 1")
    if threads < 1:
        raise RankError(f"--threads {threads}: must be at least 1")
    if not suite.tasks:
        raise RankError(f"suite {suite.name}: no task to run")
    folder = out_dir(out_root or default_out_root(), suite, system)
    folder.mkdir(parents=True, exist_ok=True)
    index_root = index_root or default_index_root()
    whole = whole or suite
    records: dict[str, dict[str, Any]] = {}
    for task in whole.tasks:
        previous = read_record(folder / f"{task.name}.json")
        if task not in suite.tasks and is_done(previous, system, limit_queries, folder):
            assert previous is not None
            records[task.name] = previous
    resources = Resources()
    try:
        for i, task in enumerate(suite.tasks, 1):
            head = f"[{i}/{len(suite.tasks)}] {task.name}"
            previous = read_record(folder / f"{task.name}.json")
            if is_done(previous, system, limit_queries, folder):
                assert previous is not None
                records[task.name] = previous
                say(f"{head}: done before, {_score_text(previous)}")
                continue
            try:
                record = run_task(
                    task, system, folder, index_root, limit_queries, threads, resources, say, device
                )
            except Exception as e:  # noqa: BLE001 - one task's failure must not stop the others
                record = _failure(task, system, limit_queries, e)
                say(f"{head}: FAILED: {record['error']}")
            else:
                say(f"{head}: {_score_text(record)}")
            records[task.name] = record
            write_summary(folder, summarize(whole, system, records, limit_queries))
    finally:
        resources.close()
    summary = summarize(whole, system, records, limit_queries)
    write_summary(folder, summary)
    return summary


def run_task(
    task: Task,
    system: System,
    folder: Path,
    index_root: Path,
    limit: int | None,
    threads: int,
    resources: Resources,
    say: Say,
    device: str = "cpu",
) -> dict[str, Any]:
    from rankers.data import load_dataset
    from rankers.evaluate import score_run
    from rankers.io import write_run

    t0 = time.perf_counter()
    ds = load_dataset(task.dataset)
    split = ds.check_split(task.split)
    base = _base(task, system, limit) | {"dataset_path": str(ds.path), "split": split}
    why = check_runnable(ds)
    if why:
        return base | {"status": SKIPPED, "reason": why}
    queries = list(ds.queries(split).values())[:limit]
    ctx = TaskContext(task, ds, index_root, threads, resources, say, device)
    try:
        rankings = run_pipeline(system.pipeline, [Ranking(query=q) for q in queries], ctx)
    finally:
        ctx.close()
    write_run(rankings, folder / f"{task.name}.trec", "trec", tag=system.name)
    metrics = task_metrics(task)
    kept = {q.qid for q in queries}
    qrels = {q: d for q, d in ds.qrels(split).items() if q in kept}
    retrieval = None
    if any(m.qrels == "retrieval" for m in metrics):
        retrieval = {q: d for q, d in ds.qrels(split, "retrieval").items() if q in kept}
    scored = score_run(qrels, rankings, metrics, name=system.name, retrieval_qrels=retrieval)
    record = base | {
        "status": DONE,
        "queries": len(queries),
        "judged": scored.coverage[metrics[0].qrels].judged,
        "score": scored.means[task.main],
        "scores": scored.means,
        "coverage": {
            k: {"missing": len(c.missing), "empty": len(c.empty)} for k, c in scored.coverage.items()
        },
        "indexes_built": ctx.built,
        "seconds": round(time.perf_counter() - t0, 2),
        "run": f"{task.name}.trec",
    }
    write_json(folder / f"{task.name}.json", record)
    return record


def _base(task: Task, system: System, limit: int | None) -> dict[str, Any]:
    return {
        "task": task.name,
        "group": task.group,
        "dataset": task.dataset,
        "language": task.language,
        "main": task.main,
        "system": system.name,
        "fingerprint": system.fingerprint,
        "limit_queries": limit,
    }


def _failure(task: Task, system: System, limit: int | None, e: Exception) -> dict[str, Any]:
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    error = text if isinstance(e, RankError) else f"{type(e).__name__}: {text}".rstrip(": ")
    return _base(task, system, limit) | {"status": FAILED, "error": error}


def _score_text(record: dict[str, Any]) -> str:
    if record.get("status") == SKIPPED:
        return f"skipped ({record.get('reason')})"
    return (
        f"{record['main']} {record['score']:.4f} ({record.get('queries')} queries, {record.get('seconds')} s)"
    )


# ---------------------------------------------------------------- the summary


def summarize(
    suite: Suite, system: System, records: dict[str, dict[str, Any]], limit: int | None
) -> dict[str, Any]:
    rows = []
    for t in suite.tasks:
        r = records.get(t.name) or (_base(t, system, limit) | {"status": PENDING})
        row = {k: r.get(k) for k in ("task", "group", "dataset", "split", "language", "main", "status")}
        row["languages"] = list(t.languages)
        if r.get("status") == DONE:
            row |= {"score": r["score"], "ndcg@10": r["scores"].get("ndcg@10"), "queries": r["queries"],
                    "seconds": r.get("seconds")}  # fmt: skip
        for k in ("error", "reason"):
            if r.get(k):
                row[k] = r[k]
        rows.append(row)
    by_name = {row["task"]: row for row in rows}
    groups = []
    for name, units in suite.average_groups():
        unit_rows = [by_name[u.name] for u in units]
        done = all(u["status"] == DONE for u in unit_rows)
        g: dict[str, Any] = {
            "name": name,
            "tasks": [u.name for u in units],
            "status": DONE if done else "incomplete",
        }
        if done:
            g["score"] = _mean([u["score"] for u in unit_rows])
            g["ndcg@10"] = _mean([u["ndcg@10"] for u in unit_rows])
        if any(u["status"] == SKIPPED for u in unit_rows) and not any(u["status"] == DONE for u in unit_rows):
            g["status"] = SKIPPED
        groups.append(g)
    done_groups = [g for g in groups if g["status"] == DONE]
    counted = [g for g in groups if g["status"] != SKIPPED]
    average = {
        "main": _mean([g["score"] for g in done_groups]) if done_groups else None,
        "ndcg@10": _mean([g["ndcg@10"] for g in done_groups]) if done_groups else None,
        "over": len(done_groups),
        "of": len(counted),
        "complete": len(done_groups) == len(counted),
    }
    return {
        "suite": suite.name,
        "slug": suite.slug,
        "system": system.name,
        "fingerprint": system.fingerprint,
        "definition": system.definition,
        "limit_queries": limit,
        "tasks": rows,
        "groups": groups,
        "average": average,
        "failed": [r["task"] for r in rows if r["status"] == FAILED],
        "skipped": [r["task"] for r in rows if r["status"] == SKIPPED],
        "pending": [r["task"] for r in rows if r["status"] == PENDING],
    }


def _mean(xs: list[float]) -> float:
    return math.fsum(xs) / len(xs)


def write_summary(folder: Path, summary: dict[str, Any]) -> None:
    write_json(folder / "summary.json", summary)
    with atomic_write(folder / "summary.md") as f:
        f.write(summary_markdown(summary))


def summary_markdown(s: dict[str, Any]) -> str:
    limit = f", first {s['limit_queries']} queries per task" if s["limit_queries"] else ""
    lines = [f"# {s['suite']} / {s['system']} (fingerprint {s['fingerprint']}{limit})", "",
             "| task | metric | score | nDCG@10 | queries | status |", "|---|---|---:|---:|---:|---|"]  # fmt: skip
    for r in s["tasks"]:
        status = r["status"] + (
            f": {r.get('error') or r.get('reason')}" if r.get("error") or r.get("reason") else ""
        )
        lines.append(
            f"| {r['task']} | {r['main']} | {_f(r.get('score'))} | {_f(r.get('ndcg@10'))} | "
            f"{r.get('queries', '')} | {status.replace('|', '/')} |"
        )
    a = s["average"]
    over = f"{a['over']} of {a['of']}" + ("" if a["complete"] else ", incomplete")
    lines.append(f"| **average** ({over}) | main | {_f(a['main'])} | {_f(a['ndcg@10'])} | | |")
    return "\n".join(lines) + "\n"


def _f(x: float | None) -> str:
    return "" if x is None else f"{x:.4f}"
