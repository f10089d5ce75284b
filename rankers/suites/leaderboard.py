"""The files each leaderboard takes, from a suite run that is done (runs/suites/<suite>/<system>/).

- `mteb`: a results folder in the MTEB results repository's layout (results/<model>/<revision>/<Task>.json and
  model_meta.json), every task scored by mteb's own code and saved by mteb's ResultCache (rankers.export.mteb);
  the model is `rank/<system>` and its revision the system's fingerprint. An MTEB task with several subsets or
  splits becomes one file holding them all. Tasks that are not MTEB tasks are listed and left out.
- `t2ranking`: T2Ranking's dev metrics as THUIR's evaluation script (src/msmarco_eval.py) computes them from a
  run file: MRR@10 over the ranked queries and recall@1/@50/@1000 pooled over all their relevant passages (not a
  mean of per-query recalls), on the retrieval qrels; beside them nDCG@10 and @20 on the graded qrels.
- `loco`: nDCG@10 per task in the order of the LoCoV1 table, and their average.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from rankers.errors import RankError
from rankers.io import atomic_write, read_run, write_json
from rankers.run import Ranking
from rankers.suites.catalog import Suite, Task
from rankers.suites.runner import DONE, read_record, record_qrels

FORMATS = ("mteb", "t2ranking", "loco")


def _done(suite: Suite, folder: Path) -> list[tuple[Task, dict[str, Any]]]:
    out = []
    for t in suite.tasks:
        r = read_record(folder / f"{t.name}.json")
        if r is not None and r.get("status") == DONE and (folder / r.get("run", "")).is_file():
            out.append((t, r))
    if not out:
        raise RankError(f"{folder}: no finished task (run `rank suite run {suite.name} --system ...` first)")
    return out


def _run(folder: Path, record: dict[str, Any]) -> list[Ranking]:
    return list(read_run(folder / record["run"]))


# ---------------------------------------------------------------- MTEB


def write_mteb(suite: Suite, folder: Path, output: Path, system_name: str, fingerprint: str, model_type: str):
    """Write the results folder; returns (files written, [(task, why it was left out)])."""
    from rankers.export import mteb as mx

    done = _done(suite, folder)
    left_out: list[tuple[str, str]] = []
    by_task: dict[str, list[tuple[Task, dict[str, Any]]]] = {}
    for t, r in done:
        if r.get("limit_queries"):
            left_out.append(
                (t.name, f"run with --limit-queries {r['limit_queries']}; MTEB needs every query")
            )
            continue
        by_task.setdefault(t.group or t.name, []).append((t, r))
    results, languages = [], set()
    for name, units in by_task.items():
        try:
            task = mx.mteb_task(name)
        except RankError:
            left_out.append((name, "not an MTEB task"))
            continue
        expected = len(task.hf_subsets) * len(task.metadata.eval_splits) if units[0][0].group else 1
        if units[0][0].group and len(units) < expected:
            left_out.append((name, f"{len(units)} of its {expected} subsets/splits are done"))
            continue
        scores: dict[str, dict[str, Any]] = {}
        try:
            for t, r in units:
                subset = t.mteb_subset or "default"
                split_scores = mx.split_scores(task, record_qrels(r), _run(folder, r), r["split"], subset)
                scores.setdefault(r["split"], {})[subset] = split_scores
        except RankError as e:
            left_out.append((name, str(e)))
            continue
        seconds = sum(float(r.get("seconds") or 0) for _, r in units)
        results.append(mx.results_of(task, scores, seconds))
        languages.update(task.metadata.eval_langs if isinstance(task.metadata.eval_langs, list) else
                         [c for codes in task.metadata.eval_langs.values() for c in codes])  # fmt: skip
    if not results:
        why = "; ".join(f"{n}: {w}" for n, w in left_out)
        raise RankError(f"no MTEB task among the finished runs of {suite.name} ({why})")
    meta = mx.model_meta(f"rank/{system_name}", fingerprint, model_type, sorted(languages))
    return mx.save(output, meta, results), left_out


# ---------------------------------------------------------------- T2Ranking


def thuir_metrics(retrieval_qrels: dict[str, dict[str, int]], rankings: list[Ranking]) -> dict[str, float]:
    """MRR@10 and recall@1/@50/@1000 as THUIR's msmarco_eval.compute_metrics computes them from a run file.

    The queries are those of the run (a query the run lacks counts nowhere); MRR@10 is summed over the ranked
    queries that have relevant passages and divided by the number of ranked queries; a recall is the relevant
    passages found in the top k of all ranked queries over all their relevant passages. Only the first 1,000 of
    a list are read.
    """
    ranked = [r for r in rankings if r.candidates]
    if not ranked:
        raise RankError("the run ranks no query")
    mrr, found, total = 0.0, {1: 0, 50: 0, 1000: 0}, 0
    judged = 0
    for r in ranked:
        relevant = {d for d, g in retrieval_qrels.get(r.qid, {}).items() if g > 0}
        if r.qid not in retrieval_qrels:
            continue
        judged += 1
        total += len(relevant)
        docids = [c.docid for c in r.candidates[:1000]]
        for i, d in enumerate(docids[:10]):
            if d in relevant:
                mrr += 1.0 / (i + 1)
                break
        for i, d in enumerate(docids):
            if d in relevant:
                for k in found:
                    found[k] += i < k
    if not judged:
        raise RankError("no query of the run is in the retrieval qrels: is this the dev set?")
    out = {"MRR@10": mrr / len(ranked)}
    for k, n in found.items():
        out[f"Recall@{k}"] = n / total if total else math.nan
    out["QueriesRanked"] = len(ranked)
    return out


def t2ranking_metrics(record: dict[str, Any], rankings: list[Ranking]) -> dict[str, float]:
    from rankers.evaluate import evaluate

    metrics = thuir_metrics(record_qrels(record, "retrieval"), rankings)
    graded = evaluate(record_qrels(record), rankings, "ndcg@10,ndcg@20")
    return metrics | {"nDCG@10": graded["ndcg@10"], "nDCG@20": graded["ndcg@20"]}


def write_t2ranking(suite: Suite, folder: Path, output: Path) -> tuple[list[Path], list[tuple[str, str]]]:
    rows, left_out = {}, []
    for t, r in _done(suite, folder):
        if t.preset != "t2ranking":
            left_out.append((t.name, "not in the T2Ranking layout"))
            continue
        rows[t.name] = {"split": r["split"], "limit_queries": r.get("limit_queries")} | t2ranking_metrics(
            r, _run(folder, r)
        )
    if not rows:
        raise RankError(f"no T2Ranking task among the finished runs of {suite.name}")
    write_json(output.with_suffix(".json"), rows)
    cols = ["MRR@10", "Recall@1", "Recall@50", "Recall@1000", "nDCG@10", "nDCG@20", "QueriesRanked"]
    lines = ["| task | split | " + " | ".join(cols) + " |", "|---|---|" + "---:|" * len(cols)]
    for name, m in rows.items():
        cells = [f"{m[c]:.4f}" if c != "QueriesRanked" else str(m[c]) for c in cols]
        lines.append(f"| {name} | {m['split']} | " + " | ".join(cells) + " |")
    note = ("MRR@10 and Recall@k as THUIR's src/msmarco_eval.py computes them (retrieval qrels; recall pooled over "
            "all relevant passages); nDCG on the graded qrels.")  # fmt: skip
    with atomic_write(output.with_suffix(".md")) as f:
        f.write("\n".join(lines) + f"\n\n{note}\n")
    return [output.with_suffix(".json"), output.with_suffix(".md")], left_out


# ---------------------------------------------------------------- LoCoV1


def write_loco(
    suite: Suite, folder: Path, output: Path, system_name: str
) -> tuple[list[Path], list[tuple[str, str]]]:
    from rankers.data.registry import LOCO_TASKS

    done = {t.name: r for t, r in _done(suite, folder) if t.preset == "loco"}
    names = [n for n in LOCO_TASKS if any(t.name == n for t in suite.tasks)]
    names += [t.name for t in suite.tasks if t.preset == "loco" and t.name not in names]
    if not names or not done:
        raise RankError(f"no LoCoV1 task among the finished runs of {suite.name}")
    scores = {n: done[n]["scores"]["ndcg@10"] if n in done else None for n in names}
    present = [v for v in scores.values() if v is not None]
    average = math.fsum(present) / len(present) if len(present) == len(names) else None
    limited = sorted({r.get("limit_queries") for r in done.values()} - {None})
    write_json(output.with_suffix(".json"), {"system": system_name, "ndcg@10": scores, "average": average,
                                             "limit_queries": limited[0] if limited else None})  # fmt: skip
    cells = [f"{v:.4f}" if v is not None else "—" for v in scores.values()]
    avg = f"{average:.4f}" if average is not None else f"— ({len(present)} of {len(names)})"
    lines = [
        "| system | " + " | ".join(names) + " | average |",
        "|---|" + "---:|" * (len(names) + 1),
        f"| {system_name} | " + " | ".join(cells) + f" | {avg} |",
    ]
    with atomic_write(output.with_suffix(".md")) as f:
        f.write("\n".join(lines) + "\n\nnDCG@10, tasks in the order of the LoCoV1 table.\n")
    left_out = [(n, "not run (or not finished)") for n in names if n not in done]
    return [output.with_suffix(".json"), output.with_suffix(".md")], left_out
