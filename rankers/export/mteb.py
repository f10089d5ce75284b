"""MTEB result files, made by mteb itself: a run is scored by mteb's own retrieval scoring (pytrec_eval, its MRR,
its nAUC, the task's k values and id rules), wrapped in mteb's `TaskResult`, and saved by mteb's `ResultCache`
in the layout of the MTEB results repository: `results/<model>/<revision>/<Task>.json` beside a
`model_meta.json`. What mteb can load from that folder is what the leaderboard reads.

mteb is imported here only (seconds of import): `rank --help` and every other command stay fast.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from rankers.errors import RankError
from rankers.run import Ranking, strictly_decreasing

Qrels = dict[str, dict[str, int]]
DEFAULT_REVISION = "no_revision_available"  # what mteb itself uses for a model without a revision
MODEL_TYPES = ("dense", "sparse", "cross-encoder", "late-interaction", "hybrid", "router")


def _mteb():
    os.environ.setdefault(
        "HF_HUB_OFFLINE", "1"
    )  # task metadata ships in the package; never reach for the hub
    try:
        import mteb
    except ImportError as e:
        raise RankError(f"MTEB result files need the mteb package (pip install 'rank[mteb]'): {e}") from None
    return mteb


def mteb_task(name: str):
    """An MTEB retrieval task by its name (`SciFact`), any case, or by its hub dataset (`mteb/scifact`, `scifact`)."""
    mteb = _mteb()
    try:
        return mteb.get_task(name)
    except Exception:
        pass
    want = name.lower().removeprefix("mteb/")
    found = [
        t
        for t in mteb.get_tasks(task_types=["Retrieval"])
        if t.metadata.name.lower() == want
        or str(t.metadata.dataset.get("path", "")).lower().split("/")[-1] == want
    ]
    names = sorted({t.metadata.name for t in found})
    if len(names) == 1:
        return found[0]
    if not names:
        raise RankError(f"--task {name}: not an MTEB retrieval task (e.g. SciFact, NFCorpus, T2Retrieval)")
    raise RankError(f"--task {name}: several MTEB tasks match ({', '.join(names)}); name one")


def _as_results(rankings: Iterable[Ranking]) -> dict[str, dict[str, float]]:
    """qid -> docid -> score, with scores that keep each list's order under pytrec_eval's float32 tie-break."""
    out: dict[str, dict[str, float]] = {}
    for r in rankings:
        if r.qid in out:
            raise RankError(f"query {r.qid} appears twice in the run")
        scores = strictly_decreasing([c.score for c in r.candidates])
        out[r.qid] = {}
        for c, s in zip(r.candidates, scores, strict=True):
            out[r.qid].setdefault(c.docid, s)
    return out


def task_result(
    task: Any,
    qrels: Qrels,
    rankings: Iterable[Ranking],
    split: str,
    hf_subset: str = "default",
    seconds: float | None = None,
):
    """An `mteb.TaskResult` for one split (and subset) of `task`, scored the way `task.evaluate` scores a model.

    Every judged query must have a ranking: mteb averages over the queries its retriever returned, which is all
    of them, so a run with gaps would get a number MTEB never gives.
    """
    scores = split_scores(task, qrels, rankings, split, hf_subset)
    return results_of(task, {split: {hf_subset: scores}}, seconds)


def results_of(task: Any, scores: dict[str, dict[str, dict[str, Any]]], seconds: float | None = None):
    """An `mteb.TaskResult` from the scores of each split and subset (`split_scores`): one task, whole."""
    _mteb()
    from mteb import TaskResult

    return TaskResult.from_task_results(task, scores, evaluation_time=seconds or 0.0)


def split_scores(
    task: Any, qrels: Qrels, rankings: Iterable[Ranking], split: str, hf_subset: str = "default"
) -> dict[str, Any]:
    """mteb's score dict of one split and subset of `task` (main_score included), from a complete run."""
    _mteb()
    from mteb._evaluators.retrieval_metrics import calculate_retrieval_scores, make_score_dict

    if split not in task.metadata.eval_splits:
        raise RankError(
            f"--split {split}: MTEB's {task.metadata.name} is evaluated on {', '.join(task.metadata.eval_splits)}"
        )
    if hf_subset not in task.hf_subsets and not (task.is_aggregate and hf_subset == "default"):
        raise RankError(
            f"--hf-subset {hf_subset}: {task.metadata.name} has subsets {', '.join(task.hf_subsets)}"
        )
    results = _as_results(rankings)
    judged = {q: d for q, d in qrels.items() if d}
    missing = [q for q in judged if not results.get(q)]
    if missing:
        raise RankError(
            f"{len(missing)} of {len(judged)} judged queries have no ranking (e.g. {', '.join(missing[:3])}): "
            "an MTEB result needs a complete run"
        )
    results = {q: results[q] for q in judged}
    if getattr(task, "ignore_identical_ids", False):
        for q, docs in results.items():
            docs.pop(q, None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ev = calculate_retrieval_scores(
            results, judged, list(task.k_values), getattr(task, "skip_first_result", False)
        )
    scores = make_score_dict(
        ndcg=ev.ndcg,
        _map=ev.map,
        recall=ev.recall,
        precision=ev.precision,
        mrr=ev.mrr,
        naucs=ev.naucs,
        naucs_mrr=ev.naucs_mrr,
        hit_rate=ev.hit_rate,
        task_scores={},
    )
    scores["main_score"] = scores[task.metadata.main_score]
    return scores


def to_json(result: Any) -> str:
    """A TaskResult as mteb writes it to disk (`TaskResult.to_disk`: scores rounded to 6 places, date stamp)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "result.json"
        result.to_disk(path)
        return path.read_text(encoding="utf-8") + "\n"


def model_meta(
    name: str,
    revision: str | None = None,
    model_type: str = "dense",
    languages: Sequence[str] | None = None,
    reference: str | None = None,
):
    """The `mteb.ModelMeta` of a system that has no entry in mteb's model registry (a BM25 run, a pipeline)."""
    _mteb()
    from mteb.models import ModelMeta

    if model_type not in MODEL_TYPES:
        raise RankError(f"--model-type {model_type}: choose from {', '.join(MODEL_TYPES)}")
    if not name or "/" not in name:
        raise RankError(f"--model {name!r}: MTEB names a model as ORGANISATION/NAME (e.g. rank/bm25)")
    return ModelMeta(
        loader=None,
        name=name,
        revision=revision or DEFAULT_REVISION,
        release_date=None,
        languages=list(languages) if languages else None,
        n_parameters=None,
        memory_usage_mb=None,
        max_tokens=None,
        embed_dim=None,
        license=None,
        open_weights=None,
        public_training_code=None,
        public_training_data=None,
        framework=[],
        reference=reference,
        similarity_fn_name=None,
        use_instructions=None,
        training_datasets=None,
        model_type=[model_type],
    )


def save(results_dir: str | Path, meta: Any, results: Sequence[Any]) -> list[Path]:
    """Save task results with mteb's own writer, then move each file into `results_dir` atomically.

    The layout is the results repository's (`results/<model>/<revision>/...`); results of other tasks or models
    already in the folder stay, a task's file is replaced whole.
    """
    _mteb()
    from mteb import ResultCache

    root = Path(results_dir)
    root.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with tempfile.TemporaryDirectory(prefix=".mteb-", dir=root) as tmp:
        staged = Path(tmp)
        cache = ResultCache(staged)
        for r in results:
            # mteb merges run_settings.jsonl with what is there: let it see the one already in the folder.
            settings = cache.get_task_result_path(r.task_name, meta).parent / "run_settings.jsonl"
            existing = root / settings.relative_to(staged)
            if existing.is_file() and not settings.exists():
                settings.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(existing, settings)
            cache.save_to_cache(r, meta)
        for src in sorted(p for p in staged.rglob("*") if p.is_file()):
            dest = root / src.relative_to(staged)
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dest)
            written.append(dest)
    return written


def load(results_dir: str | Path, models: Sequence[str] | None = None, tasks: Sequence[str] | None = None):
    """What mteb loads from a results folder (`mteb.BenchmarkResults`), validated against the tasks' metadata."""
    _mteb()
    from mteb import ResultCache

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ResultCache(results_dir).load_results(
            models=models,
            tasks=tasks,
            include_remote=False,
            require_model_meta=True,
            validate_and_filter=True,
        )
