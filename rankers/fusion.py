"""Hybrid retrieval: fuse several runs into one through ranx (`ranx.fuse`, `ranx.optimize_fusion`).

Fusion needs every run whole (a document's fused score depends on all of them), so it is one of the few
stages that collects its input. Query texts, dates and fields are kept from the first run that has them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from rankers.errors import RankError
from rankers.run import Candidate, Ranking

# Our names (the usual ones in IR papers) -> ranx's names; anything else ranx knows passes through.
METHODS = {
    "rrf": "rrf",
    "combsum": "sum",
    "combmnz": "mnz",
    "combmax": "max",
    "combanz": "anz",
    "wsum": "wsum",
}
RANX_ONLY = (
    "isr log_isr logn_isr bordafuse w_bordafuse condorcet w_condorcet mixed posfuse probfuse segfuse "
    "slidefuse bayesfuse mapfuse rbc wmnz gmnz med min"
).split()
NORMS = ("min-max", "max", "sum", "zmuv", "rank", "borda", "none")
OPTIMIZABLE = {
    "rrf",
    "wsum",
    "wmnz",
    "gmnz",
    "logn_isr",
    "mixed",
    "probfuse",
    "rbc",
    "slidefuse",
    "w_bordafuse",
}
# Methods that work on ranks, where score normalization changes nothing.
RANK_BASED = {
    "rrf",
    "isr",
    "log_isr",
    "logn_isr",
    "bordafuse",
    "w_bordafuse",
    "condorcet",
    "w_condorcet",
    "rbc",
}


def ranx_method(method: str) -> str:
    if method in METHODS:
        return METHODS[method]
    if method in RANX_ONLY:
        return method
    raise RankError(f"--method {method}: choose from {', '.join([*METHODS, *RANX_ONLY])}")


def to_ranx(rankings: Iterable[Ranking], qids: list[str], name: str) -> Any:
    from ranx import Run

    by_q: dict[str, dict[str, float]] = {q: {} for q in qids}
    for r in rankings:
        if r.qid in by_q:
            by_q[r.qid] = {c.docid: float(c.score) for c in r.candidates}
    if not any(by_q.values()):
        raise RankError(f"{name}: no candidates to fuse")
    return Run(by_q, name=name)


def fuse(
    runs: list[list[Ranking]],
    method: str = "rrf",
    norm: str | None = None,
    weights: list[float] | None = None,
    params: dict[str, Any] | None = None,
    hits: int | None = 1000,
    names: list[str] | None = None,
    optimize_qrels: dict[str, dict[str, int]] | None = None,
    metric: str = "ndcg@10",
) -> tuple[list[Ranking], dict[str, Any]]:
    """The fused rankings (queries in first-seen order) and the parameters used (optimized ones included)."""
    import warnings

    import ranx
    from numba.core.errors import NumbaTypeSafetyWarning

    # ranx's RRF mixes signed and unsigned ints inside numba; harmless, but it would land in every pipe's stderr.
    warnings.filterwarnings("ignore", category=NumbaTypeSafetyWarning)

    if len(runs) < 2:
        raise RankError("fusion needs at least two runs")
    names = names or [f"run{i + 1}" for i in range(len(runs))]
    rmethod = ranx_method(method)
    if norm is None:
        norm = "none" if rmethod in RANK_BASED else "min-max"
    if norm not in NORMS:
        raise RankError(f"--norm {norm}: choose from {', '.join(NORMS)}")
    params = dict(params or {})
    if weights is not None:
        if len(weights) != len(runs):
            raise RankError(f"--weights: {len(weights)} weights for {len(runs)} runs")
        if rmethod not in ("wsum", "wmnz", "w_bordafuse", "w_condorcet", "mixed"):
            raise RankError(f"--weights: method {method} takes no weights (use wsum)")
        params["weights"] = list(weights)
    elif rmethod == "wsum" and optimize_qrels is None:
        params.setdefault("weights", [1.0] * len(runs))

    queries: dict[str, Ranking] = {}
    for run in runs:
        for r in run:
            q = queries.setdefault(r.qid, r)
            if not q.query.text and r.query.text:
                queries[r.qid] = r
    qids = list(queries)
    rx = [to_ranx(run, qids, n) for run, n in zip(runs, names, strict=True)]
    ranx_norm = None if norm == "none" else norm
    report: dict[str, Any] = {"method": method, "norm": norm}
    if optimize_qrels is not None:
        if rmethod not in OPTIMIZABLE:
            raise RankError(f"--optimize-on: {method} has no parameter to optimize (try rrf or wsum)")
        judged = [q for q in qids if q in optimize_qrels]
        if not judged:
            raise RankError("--optimize-on: none of the runs' queries has qrels in that split")
        qrels = ranx.Qrels({q: optimize_qrels[q] for q in judged})
        sub = [to_ranx(run, judged, n) for run, n in zip(runs, names, strict=True)]
        try:
            best = ranx.optimize_fusion(
                qrels, sub, norm=ranx_norm, method=rmethod, metric=metric, show_progress=False
            )
        except (AssertionError, ValueError, TypeError) as e:
            raise RankError(f"--optimize-on: ranx cannot optimize {method}: {e}") from None
        params.update(best if isinstance(best, dict) else {"weights": list(best)})
        report["optimized_on"] = {"metric": metric, "queries": len(judged)}
    try:
        fused = ranx.fuse(rx, norm=ranx_norm, method=rmethod, params=params)
    except (AssertionError, ValueError, TypeError) as e:
        raise RankError(f"fusion {method}: {e}") from None
    report["params"] = {k: (list(v) if isinstance(v, tuple) else v) for k, v in params.items()}
    out: list[Ranking] = []
    for qid in qids:
        docs = fused.run[qid] if qid in fused.run else {}
        cands = sorted((Candidate(str(d), float(s)) for d, s in docs.items()), key=lambda c: -c.score)
        base = queries[qid]
        out.append(
            Ranking(query=base.query, candidates=cands[:hits] if hits else cands, meta=dict(base.meta))
        )
    return out, report


def fuse_runs(
    runs: list[list[Ranking]],
    method: str = "rrf",
    norm: str | None = None,
    weights: list[float] | None = None,
    rrf_k: int | None = None,
    optimize_on: str | None = None,
    metric: str = "ndcg@10",
    hits: int | None = 1000,
    names: list[str] | None = None,
) -> tuple[list[Ranking], dict[str, Any]]:
    """`fuse` as the commands call it: RRF's k as a number, and the qrels to tune on named `DATASET[:SPLIT]`."""
    params = {"k": rrf_k} if rrf_k is not None else None
    qrels = _qrels_of(optimize_on) if optimize_on else None
    return fuse(runs, method, norm, weights, params, hits, names=names, optimize_qrels=qrels, metric=metric)


def _qrels_of(spec: str) -> dict[str, dict[str, int]]:
    from rankers.data.registry import load_dataset, split_spec

    name, split = split_spec(spec)
    return load_dataset(name).qrels(split)


# Wraps one searcher's stream of rankings as it is drawn (the CLI puts a progress bar there).
Track = Callable[[str, Iterable[Ranking]], Iterable[Ranking]]


def hybrid_search(
    queries: Iterable[Ranking],
    lexical: Any,
    dense: Any,
    hits: int,
    method: str = "rrf",
    norm: str | None = None,
    weights: list[float] | None = None,
    rrf_k: int | None = None,
    track: Track | None = None,
) -> list[Ranking]:
    """Every query searched by `lexical` (BM25) and then by `dense`, `hits` each, and the two runs fused.

    The runs are named bm25 and dense, in that order (weights go BM25 first). `track(stage, stream)` sees each
    searcher's stream as it is read, stage "bm25" then "dense".
    """
    queries = list(queries)
    track = track or (lambda _stage, stream: stream)
    runs = [
        list(track(name, s.search(queries, hits=hits))) for name, s in (("bm25", lexical), ("dense", dense))
    ]
    fused, _ = fuse_runs(runs, method, norm, weights, rrf_k, hits=hits, names=["bm25", "dense"])
    return fused
