"""Evaluation: ranx metrics over rankings, paired significance tests with a Holm–Bonferroni correction,
the metric presets of each benchmark, and LLM cost beside quality. The renderers of a result are in
`rankers.report`.

ranx is imported lazily (seconds of import) and only after NUMBA_CACHE_DIR points at a user cache, so its
numba kernels compile once per machine rather than once per call. Qrels and runs reach ranx as numba typed
lists of arrays, not as `ranx.Qrels`/`ranx.Run`: those build numba typed dicts, whose code numba cannot cache
and recompiles on every call (tens of seconds on a busy machine).

The order of a ranking's candidates is its ranking (as in `rankers.io`): the evaluated list is what
`rank export` writes. Queries are those of the qrels; a judged query without a ranking scores 0, a ranked
query without qrels is left out, and both are counted in `Coverage`, never dropped silently.
"""

from __future__ import annotations

import json
import math
import os
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rankers.errors import RankError
from rankers.run import Ranking

Qrels = dict[str, dict[str, int]]
QRELS_KINDS = ("graded", "retrieval")
TESTS = ("student", "fisher", "tukey")
COST_KEYS = ("calls", "prompt_tokens", "completion_tokens", "wall_s")
EXAMPLES = 20  # qids listed per coverage problem in reports; the counts are always complete


# ---------------------------------------------------------------- metrics and presets


@dataclass(frozen=True, slots=True)
class Metric:
    """A ranx metric (`ndcg@10`, `mrr@10-l2`) evaluated on one kind of qrels, shown under `label`."""

    label: str
    name: str
    qrels: str = "graded"


@dataclass(frozen=True, slots=True)
class Preset:
    name: str
    metrics: tuple[Metric, ...]
    main: str
    note: str


def _m(name: str, qrels: str = "graded") -> Metric:
    return Metric(name, name, qrels)


PRESETS: dict[str, Preset] = {
    "mteb": Preset(
        "mteb",
        (_m("ndcg@10"), _m("map@100"), _m("mrr@10"), _m("recall@100")),
        "ndcg@10",
        "MTEB retrieval: main score nDCG@10",
    ),
    "loco": Preset("loco", (_m("ndcg@10"), _m("mrr@10")), "ndcg@10", "LoCoV1: nDCG@10"),
    # T2Ranking's retrieval figures count grades 2-3 as relevant: its retrieval qrels, not ranx's grade >= 1.
    "t2ranking": Preset(
        "t2ranking",
        (
            _m("mrr@10", "retrieval"),
            _m("recall@50", "retrieval"),
            _m("recall@1000", "retrieval"),
            _m("ndcg@10"),
            _m("ndcg@20"),
        ),
        "mrr@10",
        "T2Ranking: MRR@10, Recall@50/@1000 on the retrieval qrels (grades 2-3), nDCG on the graded qrels",
    ),
    "trec": Preset(
        "trec",
        (_m("map"), _m("ndcg@10"), _m("mrr@10"), _m("recall@100"), _m("recall@1000")),
        "map",
        "TREC: MAP",
    ),
    "default": Preset(
        "default",
        (_m("map"), _m("ndcg@10"), _m("mrr@10"), _m("recall@100"), _m("recall@1000")),
        "ndcg@10",
        "nDCG@10, MAP, MRR@10, recall",
    ),
}

_RANX_NAMES = "hits|hit_rate|precision|recall|f1|r-precision|mrr|map|dcg|dcg_burges|ndcg|ndcg_burges|bpref"
_METRIC = re.compile(rf"^(?:(?:{_RANX_NAMES})(?:@[1-9][0-9]*)?(?:-l[1-9][0-9]*)?|rbp[.@][0-9]+)$")


def parse_metrics(spec: str | Sequence[str | Metric], flag: str = "--metrics") -> tuple[Metric, ...]:
    """`ndcg@10,mrr@10:retrieval,map` -> Metrics; `:retrieval` picks the binary qrels (T2Ranking grades 2-3)."""
    items = [s.strip() for s in spec.split(",")] if isinstance(spec, str) else list(spec)
    out: list[Metric] = []
    for item in items:
        if isinstance(item, Metric):
            out.append(item)
            continue
        if not item:
            raise RankError(f"{flag}: empty metric name in {spec!r}")
        name, _, kind = item.partition(":")
        kind = kind or "graded"
        if kind not in QRELS_KINDS:
            raise RankError(f"{flag}: {item!r}: qrels kind {kind!r}, choose from {', '.join(QRELS_KINDS)}")
        if not _METRIC.match(name):
            raise RankError(
                f"{flag}: unknown metric {name!r} (ranx names: {_RANX_NAMES.replace('|', ', ')}, rbp.95; "
                "cut-off @k, relevance level -lN, qrels kind :retrieval)"
            )
        out.append(Metric(item, name, kind))
    labels = [m.label for m in out]
    if len(set(labels)) != len(labels):
        raise RankError(f"{flag}: a metric is listed twice in {spec!r}")
    if not out:
        raise RankError(f"{flag}: no metric given")
    return tuple(out)


def resolve_metrics(
    metrics: str | None, preset: str | None, fallback: str = "default"
) -> tuple[tuple[Metric, ...], str]:
    """Metrics and the main one, from --metrics, else --preset, else the dataset's preset (`fallback`)."""
    if metrics and preset:
        raise RankError("--metrics and --preset: give one of them, not both")
    if metrics:
        ms = parse_metrics(metrics)
        return ms, ms[0].label
    name = preset or fallback
    if name not in PRESETS:
        flag = "--preset" if preset else "dataset preset"
        raise RankError(f"{flag} {name!r}: choose from {', '.join(PRESETS)}")
    return PRESETS[name].metrics, PRESETS[name].main


# ---------------------------------------------------------------- ranx, with its compiled code cached


def numba_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rank" / "numba"


def use_numba_cache() -> str:
    """Point numba's on-disk cache at a user folder (unless the user chose one); returns the folder."""
    if not os.environ.get("NUMBA_CACHE_DIR"):
        os.environ["NUMBA_CACHE_DIR"] = str(numba_cache_dir())
    import numba

    # numba reads the variable when first imported; someone may have imported it before us.
    if not numba.config.CACHE_DIR:
        numba.config.CACHE_DIR = os.environ["NUMBA_CACHE_DIR"]
    warnings.filterwarnings("ignore", category=numba.NumbaWarning)
    return numba.config.CACHE_DIR


def _ranx():
    """ranx, imported once numba's compiled code is cached across calls (the first compile takes ~20 s)."""
    use_numba_cache()
    import ranx

    return ranx


def to_ranx_qrels(qrels: Qrels, name: str | None = None):
    """A `ranx.Qrels`, for ranx functions outside this module (slow to build: numba typed dicts)."""
    ranx = _ranx()
    return ranx.Qrels({q: dict(d) for q, d in qrels.items() if d}, name=name)


def to_ranx_run(rankings: Iterable[Ranking], name: str | None = None):
    """A `ranx.Run` whose scores follow the candidates' order (ranx sorts by score, we rank by position)."""
    ranx = _ranx()
    run: dict[str, dict[str, float]] = {}
    for r in rankings:
        docs = _dedup([c.docid for c in r.candidates])[0]
        if docs:
            run[r.qid] = {d: float(len(docs) - i) for i, d in enumerate(docs)}
    return ranx.Run(run, name=name)


def _dedup(docids: Sequence[str]) -> tuple[list[str], int]:
    seen: set[str] = set()
    out = [d for d in docids if not (d in seen or seen.add(d))]
    return out, len(docids) - len(out)


class _Ids:
    """Docids as exact float ids (ranx compares ids in float64 arrays; Python's hash() would round)."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}

    def __call__(self, docid: str) -> int:
        i = self.ids.get(docid)
        if i is None:
            i = self.ids[docid] = len(self.ids)
        return i


@dataclass
class _Judged:
    """One kind of qrels made ready for ranx: query order, rows sorted by grade (ranx's ideal DCG needs it)."""

    kind: str
    qids: list[str]
    arrays: Any
    no_relevant: list[str]


def _judged(qrels: Qrels, kind: str, ids: _Ids) -> _Judged:
    import numpy as np
    from numba.typed import List as TypedList

    qids = sorted(qrels)
    arrays = TypedList()
    for q in qids:
        rows = sorted(qrels[q].items(), key=lambda kv: -kv[1])
        arrays.append(np.array([[ids(d), g] for d, g in rows], dtype=np.float64).reshape(-1, 2))
    no_rel = [q for q in qids if not any(g >= 1 for g in qrels[q].values())]
    return _Judged(kind, qids, arrays, no_rel)


# ---------------------------------------------------------------- scoring one run


@dataclass
class Coverage:
    """How a run's queries meet the qrels; missing and empty rankings score 0, unjudged ones are left out."""

    judged: int
    ranked: int
    missing: list[str] = field(default_factory=list)
    empty: list[str] = field(default_factory=list)
    unjudged: list[str] = field(default_factory=list)
    no_relevant: list[str] = field(default_factory=list)
    duplicates: int = 0

    @property
    def complete(self) -> bool:
        return not (self.missing or self.empty or self.unjudged or self.no_relevant or self.duplicates)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "judged": self.judged,
            "ranked": self.ranked,
            "duplicates_dropped": self.duplicates,
        }
        for key in ("missing", "empty", "unjudged", "no_relevant"):
            qids = getattr(self, key)
            out[key] = len(qids)
            out[f"{key}_examples"] = qids[:EXAMPLES]
        return out


@dataclass
class Cost:
    """LLM cost of producing a run: totals and the number of queries they cover."""

    totals: dict[str, float]
    queries: int
    source: str

    def per_query(self) -> dict[str, float]:
        n = max(self.queries, 1)
        return {k: self.totals.get(k, 0.0) / n for k in COST_KEYS}


@dataclass
class RunScores:
    name: str
    means: dict[str, float]
    per_query: dict[str, Any]  # label -> numpy array over the qids of that metric's qrels kind
    coverage: dict[str, Coverage]  # by qrels kind
    cost: Cost | None = None
    # The qids behind each per-query array, by qrels kind (per-query figures need to know which is which).
    qids: dict[str, list[str]] = field(default_factory=dict)


def _as_rankings(run: Iterable[Ranking] | Mapping[str, Mapping[str, float]]) -> Iterable[Ranking]:
    if isinstance(run, Mapping):
        from rankers.run import Candidate, Query, trec_order

        return [
            Ranking(
                Query(str(q), ""),
                [Candidate(d, s) for d, s in trec_order((str(d), float(s)) for d, s in docs.items())],
            )
            for q, docs in run.items()
        ]
    return run


def _collect(rankings: Iterable[Ranking], name: str) -> tuple[dict[str, list[str]], int, Cost | None]:
    """Ranked docids by qid (duplicates dropped, first kept), the count dropped, the cost from meta."""
    ranked: dict[str, list[str]] = {}
    dropped = 0
    totals = dict.fromkeys(COST_KEYS, 0.0)
    with_cost = 0
    for r in rankings:
        if r.qid in ranked:
            raise RankError(f"run {name}: query {r.qid} appears twice")
        ranked[r.qid], n = _dedup([c.docid for c in r.candidates])
        dropped += n
        cost = r.meta.get("cost") if isinstance(r.meta, dict) else None
        if cost is not None:
            with_cost += 1
            for item in cost if isinstance(cost, list) else [cost]:
                _add_cost(totals, item, f"run {name}: query {r.qid}: meta.cost")
    cost_obj = Cost(totals, len(ranked), "meta") if with_cost else None
    return ranked, dropped, cost_obj


def _add_cost(totals: dict[str, float], item: Any, where: str) -> None:
    if not isinstance(item, Mapping):
        raise RankError(f"{where}: expected an object with {', '.join(COST_KEYS)}")
    for k in COST_KEYS:
        v = item.get(k, 0)
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise RankError(f"{where}: {k} must be a number, got {v!r}")
        totals[k] += float(v)


def read_cost_sidecar(run_path: str | Path, queries: int) -> Cost | None:
    """Totals from `<run file>.cost.json` (`calls`, `prompt_tokens`, `completion_tokens`, `wall_s`, `queries`)."""
    path = Path(f"{run_path}.cost.json")
    if not path.is_file():
        return None
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RankError(f"{path}: not valid JSON ({e})") from None
    # `rank rerank` writes {"config": ..., "totals": {...}}; reading its top level gave 0 calls, 0 tokens.
    if isinstance(obj, Mapping) and isinstance(obj.get("totals"), Mapping):
        obj = obj["totals"]
    totals = dict.fromkeys(COST_KEYS, 0.0)
    _add_cost(totals, obj, str(path))
    n = obj.get("queries", queries)
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise RankError(f"{path}: queries must be a non-negative integer, got {n!r}")
    return Cost(totals, n or queries, "sidecar")


def _score(
    judged: Mapping[str, _Judged],
    ids: _Ids,
    run: Iterable[Ranking] | Mapping[str, Mapping[str, float]],
    metrics: Sequence[Metric],
    name: str,
) -> RunScores:
    import numpy as np
    from numba.typed import List as TypedList

    ranx = _ranx()
    ranked, dropped, cost = _collect(_as_rankings(run), name)
    means: dict[str, float] = {}
    per_query: dict[str, Any] = {}
    coverage: dict[str, Coverage] = {}
    qids: dict[str, list[str]] = {}
    for kind in dict.fromkeys(m.qrels for m in metrics):
        j = judged[kind]
        qids[kind] = list(j.qids)
        arrays = TypedList()
        for q in j.qids:
            docs = ranked.get(q, ())
            n = len(docs)
            arrays.append(
                np.array([[ids(d), n - i] for i, d in enumerate(docs)], dtype=np.float64).reshape(-1, 2)
            )
        wanted = set(j.qids)
        coverage[kind] = Coverage(
            judged=len(j.qids),
            ranked=len(ranked),
            missing=[q for q in j.qids if q not in ranked],
            empty=[q for q in j.qids if q in ranked and not ranked[q]],
            unjudged=[q for q in ranked if q not in wanted],
            no_relevant=list(j.no_relevant),
            duplicates=dropped,
        )
        mine = [m for m in metrics if m.qrels == kind]
        if not j.qids:
            raise RankError(f"the {kind} qrels hold no query: nothing to evaluate")
        names = [m.name for m in mine]
        # ranx returns a bare array for one metric, keyed wrongly for `-lN` names: always ask for two.
        scores = ranx.evaluate(j.arrays, arrays, names * 2 if len(names) == 1 else names, return_mean=False)
        for m in mine:
            per_query[m.label] = np.asarray(scores[m.name], dtype=np.float64)
            means[m.label] = float(per_query[m.label].mean())
    ordered = {m.label: means[m.label] for m in metrics}
    return RunScores(name, ordered, per_query, coverage, cost, qids)


def _prepare(qrels: Qrels, retrieval_qrels: Qrels | None, metrics: Sequence[Metric]) -> tuple[dict, _Ids]:
    ids = _Ids()
    by_kind = {"graded": qrels, "retrieval": retrieval_qrels if retrieval_qrels is not None else qrels}
    return {k: _judged(by_kind[k], k, ids) for k in dict.fromkeys(m.qrels for m in metrics)}, ids


def evaluate(
    qrels: Qrels,
    rankings_or_run: Iterable[Ranking] | Mapping[str, Mapping[str, float]],
    metrics: str | Sequence[str | Metric] | Preset = "default",
    retrieval_qrels: Qrels | None = None,
) -> dict[str, float]:
    """Mean score of each metric over the judged queries, e.g. `{"ndcg@10": 0.68}`.

    `metrics`: a preset name, a Preset, `"ndcg@10,mrr@10"` or a list; metrics marked `:retrieval` use
    `retrieval_qrels` (default: `qrels`). See `score_run` for per-query scores and coverage.
    """
    return score_run(qrels, rankings_or_run, metrics, retrieval_qrels=retrieval_qrels).means


def _metrics_of(metrics: str | Sequence[str | Metric] | Preset) -> tuple[Metric, ...]:
    if isinstance(metrics, Preset):
        return metrics.metrics
    if isinstance(metrics, str) and metrics in PRESETS:
        return PRESETS[metrics].metrics
    return parse_metrics(metrics, flag="metrics")


def score_run(
    qrels: Qrels,
    rankings_or_run: Iterable[Ranking] | Mapping[str, Mapping[str, float]],
    metrics: str | Sequence[str | Metric] | Preset = "default",
    name: str = "run",
    retrieval_qrels: Qrels | None = None,
) -> RunScores:
    ms = _metrics_of(metrics)
    judged, ids = _prepare(qrels, retrieval_qrels, ms)
    return _score(judged, ids, rankings_or_run, ms, name)


# ---------------------------------------------------------------- comparing runs


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values, in the input order (NaN, from identical samples, counts as 1).

    The i-th smallest p is multiplied by (m - i + 1), and the results are made non-decreasing in that order
    and capped at 1: a hypothesis is rejected at level α exactly when its adjusted p is <= α.
    """
    ps = [1.0 if (p is None or math.isnan(p)) else float(p) for p in pvalues]
    m = len(ps)
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(sorted(range(m), key=lambda i: ps[i])):
        running = max(running, min(1.0, (m - rank) * ps[i]))
        adjusted[i] = running
    return adjusted


@dataclass(frozen=True, slots=True)
class PairTest:
    a: str
    b: str
    metric: str
    diff: float  # mean of a minus mean of b
    p: float
    p_holm: float
    significant: bool  # after the correction

    @property
    def better(self) -> str | None:
        return (self.a if self.diff > 0 else self.b) if self.significant and self.diff != 0 else None


@dataclass
class Comparison:
    runs: list[RunScores]
    metrics: tuple[Metric, ...]
    main: str
    test: str = "student"
    max_p: float = 0.05
    pairs: list[PairTest] = field(default_factory=list)
    dataset: str | None = None
    split: str | None = None
    seconds: float = 0.0

    @property
    def names(self) -> list[str]:
        return [r.name for r in self.runs]

    @property
    def correction(self) -> str:
        return "tukey-hsd" if self.test == "tukey" else "holm"

    @property
    def scores(self) -> dict[str, dict[str, float]]:
        return {r.name: dict(r.means) for r in self.runs}

    @property
    def pvalues(self) -> dict[tuple[str, str], dict[str, float]]:
        out: dict[tuple[str, str], dict[str, float]] = {}
        for t in self.pairs:
            out.setdefault((t.a, t.b), {})[t.metric] = t.p
        return out

    @property
    def adjusted(self) -> dict[tuple[str, str], dict[str, float]]:
        out: dict[tuple[str, str], dict[str, float]] = {}
        for t in self.pairs:
            out.setdefault((t.a, t.b), {})[t.metric] = t.p_holm
        return out

    @property
    def significance(self) -> dict[tuple[str, str], dict[str, bool]]:
        out: dict[tuple[str, str], dict[str, bool]] = {}
        for t in self.pairs:
            out.setdefault((t.a, t.b), {})[t.metric] = t.significant
        return out

    def beats(self, name: str, metric: str) -> list[str]:
        """The runs that `name` is significantly better than on `metric`, after the correction."""
        return [t.b if t.a == name else t.a for t in self.pairs if t.metric == metric and t.better == name]

    def key(self, name: str) -> str:
        return run_key(self.names.index(name))

    def has_cost(self) -> bool:
        return any(r.cost is not None for r in self.runs)


def run_key(i: int) -> str:
    """a, b, c, ... for the significance marks (no q: it has no Unicode superscript)."""
    letters = "abcdefghijklmnoprstuvwxyz"
    return letters[i] if i < len(letters) else f"{letters[i % len(letters)]}{i // len(letters)}"


def compare(
    qrels: Qrels,
    runs: Mapping[str, Iterable[Ranking] | Mapping[str, Mapping[str, float]]],
    metrics: str | Sequence[str | Metric] | Preset = "default",
    test: str = "student",
    max_p: float = 0.05,
    retrieval_qrels: Qrels | None = None,
    main: str | None = None,
    costs: Mapping[str, Cost | None] | None = None,
) -> Comparison:
    """Score every run and test every pair of runs on every metric with ranx's paired test.

    The p-values of one metric form one family: they are Holm-corrected across the run pairs, and a
    difference is significant when the adjusted p is <= max_p. Tukey's HSD already controls the
    family-wise error over the pairs, so its p-values are used as they are.
    """
    if test not in TESTS:
        raise RankError(f"--test {test!r}: choose from {', '.join(TESTS)}")
    if not 0 < max_p < 1:
        raise RankError(f"--max-p {max_p}: must be between 0 and 1")
    ms = _metrics_of(metrics)
    if not runs:
        raise RankError("no run to evaluate")
    judged, ids = _prepare(qrels, retrieval_qrels, ms)
    scored = []
    for name, run in runs.items():
        s = _score(judged, ids, run, ms, name)
        if costs and costs.get(name) is not None and s.cost is None:
            s.cost = costs[name]
        scored.append(s)
    if main is None:
        preset = (
            metrics
            if isinstance(metrics, Preset)
            else PRESETS.get(metrics)
            if isinstance(metrics, str)
            else None
        )
        main = preset.main if preset else ms[0].label
    if main not in {m.label for m in ms}:
        raise RankError(f"main metric {main!r} is not among the metrics evaluated")
    comparison = Comparison(scored, ms, main, test, max_p)
    if len(scored) > 1:
        comparison.pairs = _pair_tests(scored, ms, test, max_p)
    return comparison


def pair_tests(
    runs: list[RunScores], metrics: Sequence[Metric], test: str = "student", max_p: float = 0.05
) -> list[PairTest]:
    """Every pair of runs tested on paired per-item scores (`RunScores.per_query`: queries, or the tasks of a
    suite), Holm-corrected per metric across the pairs as `compare` does."""
    if test not in TESTS:
        raise RankError(f"--test {test!r}: choose from {', '.join(TESTS)}")
    return _pair_tests(runs, metrics, test, max_p)


def _pair_tests(runs: list[RunScores], metrics: Sequence[Metric], test: str, max_p: float) -> list[PairTest]:
    _ranx()
    from ranx.statistical_tests import compute_statistical_significance

    names = [r.name for r in runs]
    if len(set(names)) != len(names):
        raise RankError(f"two runs have the same name: {', '.join(names)}")
    per_query = {r.name: {m.label: r.per_query[m.label] for m in metrics} for r in runs}
    with warnings.catch_warnings():
        # scipy warns (and returns NaN) when two runs score identically on every query.
        warnings.simplefilter("ignore", RuntimeWarning)
        found = compute_statistical_significance(
            names, per_query, stat_test=test, max_p=max_p, random_seed=42
        )
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1 :]]
    out: list[PairTest] = []
    for m in metrics:
        raw = [float(found[frozenset((a, b))][m.label]["p_value"]) for a, b in pairs]
        adjusted = [1.0 if math.isnan(p) else p for p in raw] if test == "tukey" else holm(raw)
        for (a, b), p, ph in zip(pairs, raw, adjusted, strict=True):
            diff = runs[names.index(a)].means[m.label] - runs[names.index(b)].means[m.label]
            out.append(PairTest(a, b, m.label, diff, p, ph, ph <= max_p))
    return out


# ---------------------------------------------------------------- qrels files


def read_qrels_file(path: str | Path) -> Qrels:
    """A qrels file by its columns: TREC `qid 0 docid grade`, BEIR `query-id corpus-id score`, or `qid docid`."""
    from rankers.data.qrels import is_header, read_graded_qrels, read_pair_qrels
    from rankers.errors import InputError
    from rankers.io import iter_lines

    path = Path(path)
    if not path.is_file():
        raise RankError(f"--qrels {path}: no such file")
    width = None
    for n, line in iter_lines(path):
        cols = line.split()
        if cols and not (n == 1 and is_header(cols)):
            width = len(cols)
            break
    if width == 4:
        return read_graded_qrels(path)
    if width == 2:
        return read_pair_qrels(path)
    if width != 3:
        raise RankError(
            f"--qrels {path}: expected 4 columns (qid 0 docid grade), 3 (qid docid grade) or 2 (qid docid)"
        )
    out: Qrels = {}
    for n, line in iter_lines(path):
        cols = line.split()
        if not cols or (n == 1 and is_header(cols)):
            continue
        if len(cols) != 3:
            raise InputError(
                path, n, f"expected 3 columns (qid docid grade) like the first line, got {len(cols)}"
            )
        try:
            out.setdefault(cols[0], {})[cols[1]] = int(cols[2])
        except ValueError:
            raise InputError(path, n, f"grade {cols[2]!r} is not an integer") from None
    return out
