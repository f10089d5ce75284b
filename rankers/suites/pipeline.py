"""Running a system's pipeline on one task: the indexes it needs (built once, then reused), its stages in order.

Indexes live under one root, a folder per dataset (`<name>-<hash of its path>`, so two folders called scifact
never share one) holding `bm25-<language>` and `dense-<model>-<hash of the encoding settings>`. An index whose
record is there is reused; a dense build interrupted half-way resumes from its checkpoints; a Lucene build is
all or nothing (rankers.bm25.build_index).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rankers.data.base import Dataset
from rankers.run import Ranking
from rankers.suites.catalog import Task
from rankers.suites.systems import Stage

Say = Callable[[str], None]


class Resources:
    """What outlives one task: LLM backends and rerank models, opened once per system run."""

    def __init__(self) -> None:
        self.rerankers: dict[str, Any] = {}
        self.backends: list[Any] = []

    def close(self) -> None:
        for b in self.backends:
            b.close()
        self.backends.clear()
        self.rerankers.clear()


class TaskContext:
    def __init__(
        self,
        task: Task,
        dataset: Dataset,
        index_root: Path,
        threads: int,
        resources: Resources,
        say: Say,
        device: str = "cpu",
    ):
        self.task, self.dataset, self.index_root = task, dataset, Path(index_root)
        self.threads, self.resources, self.say = threads, resources, say
        # The machine's, not the system's: where dense models run (cpu, cuda) changes no result worth a rerun.
        self.device = device
        self._searchers: dict[str, Any] = {}
        self.built: list[str] = []  # indexes built (not reused) for this task

    # ---- indexes

    def folder(self) -> Path:
        ds = self.dataset
        where = f"{ds.path.resolve()}#{getattr(ds, 'subset', None) or ''}"
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", ds.name).strip("_") or "dataset"
        return self.index_root / f"{name}-{hashlib.sha1(where.encode()).hexdigest()[:8]}"

    def bm25_index(self) -> Path:
        from rankers.bm25 import META, build_index

        path = self.folder() / f"bm25-{self.task.language}"
        if not (path / META).is_file():
            self.say(f"{self.task.name}: indexing for BM25 ({self.task.language}) into {path}")
            build_index(self.dataset, path, language=self.task.language, threads=self.threads, force=True)
            self.built.append(str(path))
        return path

    def dense_index(self, opts: dict[str, Any]) -> Path:
        from rankers.dense import MANIFEST, DenseConfig, build_index

        cfg = DenseConfig(
            model=opts["model"],
            batch_size=opts.get("batch_size", 32),
            max_length=opts.get("max_length"),
            query_prompt=opts.get("query_prompt"),
            doc_prompt=opts.get("doc_prompt"),
            chunk_tokens=opts.get("chunk_tokens"),
            chunk_overlap=opts.get("chunk_overlap", 0),
            device=self.device,
        )
        # What decides the vectors (not the batch size): another setting is another index.
        decides = ("model", "max_length", "query_prompt", "doc_prompt", "chunk_tokens", "chunk_overlap", "backend",
                   "precision")  # fmt: skip
        settings = json.dumps({k: getattr(cfg, k) for k in decides}, sort_keys=True)
        model = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(cfg.model).name)
        path = self.folder() / f"dense-{model}-{hashlib.sha1(settings.encode()).hexdigest()[:8]}"
        if not (path / MANIFEST).is_file():
            self.say(f"{self.task.name}: encoding with {cfg.model} into {path} (resumable)")
            build_index(self.dataset, path, cfg, say=self.say, show_progress=False)
            self.built.append(str(path))
        return path

    # ---- searchers, one per index and setting for the task

    def bm25(self, opts: dict[str, Any]) -> Any:
        from rankers.bm25 import Bm25Searcher, Rm3

        rm3 = None
        if opts.get("rm3"):
            rm3 = Rm3(
                opts.get("fb_terms", 10), opts.get("fb_docs", 10), opts.get("original_query_weight", 0.5)
            )
        k1, b = opts.get("k1", 0.9), opts.get("b", 0.4)
        key = f"bm25 {k1} {b} {rm3}"
        if key not in self._searchers:
            self._searchers[key] = Bm25Searcher(self.bm25_index(), k1=k1, b=b, rm3=rm3, threads=self.threads)
        return self._searchers[key]

    def dense(self, opts: dict[str, Any]) -> Any:
        from rankers.dense import DenseSearcher

        index = self.dense_index(opts)
        aggregate = opts.get("aggregate", "maxp")
        key = f"dense {index} {aggregate}"
        if key not in self._searchers:
            self._searchers[key] = DenseSearcher(
                index, device=self.device, batch_size=opts.get("batch_size", 32), aggregate=aggregate
            )
        return self._searchers[key]

    def texts(self) -> Callable[[list[str]], Any]:
        """Passage texts for rerankers: the BM25 index's stored texts when the task has one, else the corpus."""
        for s in self._searchers.values():
            if hasattr(s, "doc_texts"):
                return s.doc_texts
        from rankers.hydrate import dataset_texts

        return dataset_texts(self.dataset)

    def close(self) -> None:
        for s in self._searchers.values():
            close = getattr(s, "close", None)
            if close is not None:
                close()
        self._searchers.clear()


# ---------------------------------------------------------------- stages


def run_pipeline(pipeline: tuple[Stage, ...], queries: list[Ranking], ctx: TaskContext) -> list[Ranking]:
    rankings = queries
    for stage in pipeline:
        rankings = STAGES[stage.kind](stage, rankings, ctx)
    return rankings


def _fresh(rankings: list[Ranking]) -> list[Ranking]:
    # Searchers fill the rankings they are given: each branch of a fusion gets its own.
    return [Ranking(query=r.query, candidates=list(r.candidates), meta=dict(r.meta)) for r in rankings]


def _retrieve(stage: Stage, rankings: list[Ranking], ctx: TaskContext) -> list[Ranking]:
    o = stage.options
    hits = o.get("hits", 1000)
    bm25, dense = o.get("bm25", False), o.get("dense", False)
    if bm25 and dense:
        from rankers.fusion import hybrid_search

        weights = [float(w) for w in o["fusion_weights"]] if "fusion_weights" in o else None
        return hybrid_search(
            _fresh(rankings), ctx.bm25(o), ctx.dense(o), hits, o.get("fusion", "rrf"), o.get("fusion_norm"),
            weights, o.get("rrf_k"),
        )  # fmt: skip
    searcher = ctx.bm25(o) if bm25 else ctx.dense(o)
    return list(searcher.search(_fresh(rankings), hits=hits))


def _fuse(stage: Stage, rankings: list[Ranking], ctx: TaskContext) -> list[Ranking]:
    from rankers.fusion import fuse_runs

    o = stage.options
    runs = [run_pipeline(p, _fresh(rankings), ctx) for p in stage.runs]
    weights = [float(w) for w in o["weights"]] if "weights" in o else None
    fused, _ = fuse_runs(
        runs, o.get("method", "rrf"), o.get("norm"), weights, o.get("rrf_k"), hits=o.get("hits", 1000)
    )
    return fused


def _rerank(stage: Stage, rankings: list[Ranking], ctx: TaskContext) -> list[Ranking]:
    from rankers.hydrate import hydrate
    from rankers.rerank import rerank_run

    o = stage.options
    hits = o.get("hits", 100)
    reranker, concurrency = _reranker(o, ctx.resources)
    texts = hydrate(rankings, texts=ctx.texts(), depth=hits)
    return list(rerank_run(texts, reranker, concurrency))


def _reranker(o: dict[str, Any], res: Resources) -> tuple[Any, int]:
    key = json.dumps(o, sort_keys=True)
    if key in res.rerankers:
        return res.rerankers[key]
    hits = o.get("hits", 100)
    if "cross_encoder" in o:
        from rankers.rerank import CrossEncoderReranker

        made = (CrossEncoderReranker(o["cross_encoder"], hits=hits), 1)
    else:
        from rankers.llm import get_backend
        from rankers.rerank import ListwiseReranker, YesNoReranker, listwise_template, pointwise_template

        http = {k: o[k] for k in ("base_url", "timeout", "retries") if k in o}
        backend = get_backend(
            o["llm"],
            cache=True,
            concurrency=o.get("concurrency", 4),
            context_length=o.get("context_length"),
            **http,
        )
        res.backends.append(backend)
        mode = o.get("mode", "sliding")
        cut = {
            "max_passage_tokens": o.get("max_passage_tokens"),
            "max_passage_words": o.get("max_passage_words"),
        }
        if mode == "pointwise":
            tpl = pointwise_template(o["template"]) if "template" in o else None
            reranker: Any = YesNoReranker(backend, hits=hits, template=tpl, **cut)
        else:
            tpl = listwise_template(o["template"]) if "template" in o else None
            reranker = ListwiseReranker(
                backend, mode, hits, o.get("window_size", 20), o.get("stride", 10), o.get("passes", 1),
                fallback_sliding=o.get("fallback_sliding", False), template=tpl, answer_top=o.get("answer_top"),
                reasoning_budget=o.get("reasoning_budget", 0), **cut,
            )  # fmt: skip
        made = (reranker, o.get("concurrency") or backend.max_concurrency)
    res.rerankers[key] = made
    return made


STAGES: dict[str, Callable[[Stage, list[Ranking], TaskContext], list[Ranking]]] = {
    "retrieve": _retrieve,
    "fuse": _fuse,
    "rerank": _rerank,
}


def check_runnable(dataset: Dataset) -> str:
    """Why no system can run on a dataset ("" when one can): a copy with queries and qrels but no documents."""
    collection = getattr(dataset, "collection_path", None)
    if collection is not None and collection() is None:
        return "no collection in this copy (queries and qrels only): nothing to search"
    return ""
