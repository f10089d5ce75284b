"""A system: the pipeline a shell pipe would chain (retrieve, fuse, rerank), written once as data.

    name: bm25+ce
    model_type: hybrid              # for MTEB's model meta: dense, sparse, hybrid, cross-encoder, ...
    pipeline:
      - retrieve: {bm25: true, hits: 100}            # rank retrieve --bm25 --hits 100
      - rerank: {cross-encoder: NAME, hits: 100}     # | rank rerank --cross-encoder NAME --hits 100

A stage's keys are the flags of its `rank` command, without the dashes (`rrf-k` or `rrf_k`). `retrieve` searches
each query (BM25, dense, or both fused as `--bm25 --dense --fusion` does); `fuse` fuses the runs of its own
sub-pipelines (`runs: [[stage, ...], [stage, ...]]`), as `rank fuse a.trec b.trec` fuses files; `rerank`
reorders the top `hits` with a cross-encoder or an LLM. Indexes are not named: the runner builds one per task
(or reuses it). A key a stage cannot use is refused, as `rank` refuses such a flag.

A system's fingerprint is a hash of its normalized pipeline: a finished task counts as done only for the same
fingerprint, and the MTEB results folder uses it as the system's revision.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from rankers.errors import RankError

MODEL_TYPES = ("dense", "sparse", "cross-encoder", "late-interaction", "hybrid", "router")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")

# Keys of each stage: name -> type. Booleans, numbers and strings as a YAML or JSON file writes them.
_RETRIEVE_BM25 = {"k1": float, "b": float, "rm3": bool, "fb_terms": int, "fb_docs": int,
                  "original_query_weight": float}  # fmt: skip
_RETRIEVE_DENSE = {"model": str, "chunk_tokens": int, "chunk_overlap": int, "max_length": int, "aggregate": str,
                   "batch_size": int, "query_prompt": str, "doc_prompt": str}  # fmt: skip
_RETRIEVE_FUSION = {"fusion": str, "fusion_norm": str, "fusion_weights": list, "rrf_k": int}
_RETRIEVE = {"bm25": bool, "dense": bool, "hits": int} | _RETRIEVE_BM25 | _RETRIEVE_DENSE | _RETRIEVE_FUSION
_FUSE = {"runs": list, "method": str, "norm": str, "weights": list, "rrf_k": int, "hits": int}
_RERANK_LLM = {"llm": str, "mode": str, "window_size": int, "stride": int, "passes": int,
               "max_passage_tokens": int, "max_passage_words": int, "answer_top": int, "template": str,
               "reasoning_budget": int, "fallback_sliding": bool, "context_length": int, "concurrency": int,
               "base_url": str, "timeout": float, "retries": int}  # fmt: skip
_RERANK = {"cross_encoder": str, "hits": int} | _RERANK_LLM
KEYS = {"retrieve": _RETRIEVE, "fuse": _FUSE, "rerank": _RERANK}


@dataclass(frozen=True)
class Stage:
    kind: str
    options: dict[str, Any]
    runs: tuple[tuple[Stage, ...], ...] = ()  # fuse: the pipelines whose runs it fuses

    def to_data(self) -> dict[str, Any]:
        opts = dict(self.options)
        if self.runs:
            opts["runs"] = [[s.to_data() for s in p] for p in self.runs]
        return {self.kind: opts}

    def walk(self):
        yield self
        for p in self.runs:
            for s in p:
                yield from s.walk()


@dataclass(frozen=True)
class System:
    name: str
    pipeline: tuple[Stage, ...]
    model_type: str = "hybrid"
    source: str = "built-in"
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def definition(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "model_type": self.model_type,
            "pipeline": [s.to_data() for s in self.pipeline],
        }

    @property
    def fingerprint(self) -> str:
        pipeline = json.dumps([s.to_data() for s in self.pipeline], sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(pipeline.encode()).hexdigest()[:12]

    def stages(self):
        for s in self.pipeline:
            yield from s.walk()


# ---------------------------------------------------------------- loading


def builtin_names() -> list[str]:
    folder = resources.files("rankers.suites") / "systems"
    return sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_system(spec: str | Path) -> System:
    """A built-in system by name (`bm25`, `bm25+minilm-rrf`), or a YAML/JSON file."""
    path = Path(spec)
    if str(spec) in builtin_names() and not path.exists():
        text = (resources.files("rankers.suites") / "systems" / f"{spec}.yaml").read_text(encoding="utf-8")
        return parse_system(text, f"built-in system {spec}", default_name=str(spec), source="built-in")
    if not path.is_file():
        raise RankError(
            f"--system {spec}: neither a built-in system ({', '.join(builtin_names())}) nor a YAML/JSON file"
        )
    return parse_system(path.read_text(encoding="utf-8"), str(path), default_name=path.stem, source=str(path))


def parse_system(text: str, where: str, default_name: str, source: str) -> System:
    import yaml

    try:
        obj = yaml.safe_load(text)  # JSON is YAML too
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise RankError(f"{where}{line}: not valid YAML or JSON ({getattr(e, 'problem', e)})") from None
    if not isinstance(obj, dict):
        raise RankError(f"{where}: expected a mapping with name, model_type and pipeline")
    unknown = sorted(set(obj) - {"name", "model_type", "pipeline", "description"})
    if unknown:
        raise RankError(
            f"{where}: unknown key {unknown[0]!r} (keys: name, model_type, description, pipeline)"
        )
    name = str(obj.get("name") or default_name)
    if not _NAME.match(name):
        raise RankError(
            f"{where}: name {name!r}: letters, digits and . _ + - only (it names files and a run tag)"
        )
    model_type = str(obj.get("model_type", "hybrid"))
    if model_type not in MODEL_TYPES:
        raise RankError(f"{where}: model_type {model_type!r}: choose from {', '.join(MODEL_TYPES)}")
    pipeline = _pipeline(obj.get("pipeline"), f"{where}: pipeline")
    if pipeline[0].kind == "rerank":
        raise RankError(
            f"{where}: pipeline[0]: a pipeline starts with retrieve or fuse (rerank needs candidates)"
        )
    return System(name, pipeline, model_type, source, str(obj.get("description") or ""))


def _pipeline(items: Any, where: str) -> tuple[Stage, ...]:
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list) or not items:
        raise RankError(f"{where}: expected a list of stages (retrieve, fuse, rerank)")
    return tuple(_stage(item, f"{where}[{i}]") for i, item in enumerate(items))


def _stage(item: Any, where: str) -> Stage:
    if not isinstance(item, dict) or len(item) != 1:
        raise RankError(f"{where}: a stage is one of retrieve: {{...}}, fuse: {{...}}, rerank: {{...}}")
    ((kind, raw),) = item.items()
    if kind not in KEYS:
        raise RankError(f"{where}: unknown stage {kind!r} (stages: {', '.join(KEYS)})")
    where = f"{where}.{kind}"
    raw = raw or {}
    if not isinstance(raw, dict):
        raise RankError(f"{where}: expected a mapping of options")
    opts: dict[str, Any] = {}
    for key, value in raw.items():
        k = str(key).replace("-", "_")
        if k == "api_key":
            raise RankError(f"{where}.{key}: keys stay out of files; set OPENAI_API_KEY")
        if k not in KEYS[kind]:
            raise RankError(f"{where}: unknown key {key!r} (keys: {', '.join(sorted(KEYS[kind]))})")
        want = KEYS[kind][k]
        if want is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, want) or (want is int and isinstance(value, bool)):
            raise RankError(f"{where}.{key}: expected {want.__name__}, got {value!r}")
        opts[k] = value
    runs: tuple[tuple[Stage, ...], ...] = ()
    if kind == "fuse":
        pipelines = opts.pop("runs", None)
        if not isinstance(pipelines, list) or len(pipelines) < 2:
            raise RankError(f"{where}.runs: fusion needs at least two pipelines")
        runs = tuple(_pipeline(p, f"{where}.runs[{i}]") for i, p in enumerate(pipelines))
        for i, p in enumerate(runs):
            if p[0].kind == "rerank":
                raise RankError(f"{where}.runs[{i}]: starts with rerank; a run starts with retrieve or fuse")
    _refuse_unused(kind, opts, where)
    return Stage(kind, opts, runs)


def _refuse_unused(kind: str, opts: dict[str, Any], where: str) -> None:
    """The rules `rank retrieve` and `rank rerank` apply to their flags, applied to a stage's keys."""
    if kind == "retrieve":
        bm25, dense = opts.get("bm25", False), opts.get("dense", False)
        if not (bm25 or dense):
            raise RankError(f"{where}: say what to search: bm25: true and/or dense: true")
        for keys, ok, why in ((_RETRIEVE_BM25, bm25, "a BM25 option; add bm25: true"),
                              (_RETRIEVE_DENSE, dense, "a dense option; add dense: true"),
                              (_RETRIEVE_FUSION, bm25 and dense, "fuses bm25 and dense: give both")):  # fmt: skip
            for k in keys:
                if k in opts and not ok:
                    raise RankError(f"{where}.{k}: {why}")
        if dense and "model" not in opts:
            raise RankError(f"{where}: dense: true needs a model (minilm, a folder, a Hugging Face name)")
        if "rm3" not in opts or not opts["rm3"]:
            for k in ("fb_terms", "fb_docs", "original_query_weight"):
                if k in opts:
                    raise RankError(f"{where}.{k}: an RM3 option; add rm3: true")
    elif kind == "rerank":
        if ("llm" in opts) == ("cross_encoder" in opts):
            raise RankError(f"{where}: give one of llm: BACKEND:MODEL or cross-encoder: NAME")
        if "cross_encoder" in opts:
            for k in _RERANK_LLM:
                if k in opts:
                    raise RankError(f"{where}.{k}: an LLM option; a cross-encoder scores each passage")
        elif opts.get("mode", "sliding") == "pointwise":
            for k in (
                "window_size",
                "stride",
                "passes",
                "answer_top",
                "reasoning_budget",
                "fallback_sliding",
            ):
                if k in opts:
                    raise RankError(f"{where}.{k}: listwise only (mode sliding or full), not pointwise")
    for k in ("hits", "rrf_k"):
        if k in opts and opts[k] < 1:
            raise RankError(f"{where}.{k}: must be at least 1")
