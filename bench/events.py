"""Event-aware expansion benchmark on realtimeqa: BM25, BM25+RM3, BM25+event expansion, and each with the
document recency stage; nDCG@10, Recall@10, MRR@10 and paired t-tests between every pair of runs, Holm-corrected
per metric (rankers.evaluate.compare). Writes bench/results/events.md.

The event stream is the corpus itself: each article's title + lead (first 60 words) is an event, dated by its
publish date. For a query only events dated strictly before the query's date are used (dates are days, so an
article of the question's own day may postdate the question); everything after is excluded and counted. No qrels
are read before evaluation.

Also reported: two ablations of the expansion (no time at all: every event, no decay; and same-day events
allowed), the counts of excluded future events, and the expansion's cost as a ratio to plain BM25 retrieval
measured in this same script.

Usage: python bench/events.py [--dataset ../shared/data/realtimeqa] [--work /tmp/rank-bench-events] [--threads 2]
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rankers.bm25 import META, Bm25Searcher, Rm3, build_index  # noqa: E402
from rankers.data import load_dataset  # noqa: E402
from rankers.evaluate import compare  # noqa: E402
from rankers.events import MANIFEST, EventStore, build_store  # noqa: E402
from rankers.expand import ExpandConfig, Expander  # noqa: E402
from rankers.io import atomic_write  # noqa: E402
from rankers.recency import Recency, document_days  # noqa: E402
from rankers.report import render_markdown  # noqa: E402
from rankers.run import Ranking, as_rankings  # noqa: E402

DATA = Path(os.environ.get("DATA_DIR", ROOT.parent / "shared" / "data"))
HITS = 1000
METRICS = ["ndcg@10", "recall@10", "mrr@10"]
RECENCY_TAU = 30.0
PYSERINI_NDCG = 0.5579  # ../shared/data/REFERENCE.md, BM25 through pyserini directly


def queries(ds) -> list[Ranking]:
    return list(as_rankings(copy.deepcopy(list(ds.queries().values()))))


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", type=Path, default=DATA / "realtimeqa")
    ap.add_argument("--work", type=Path, default=Path("/tmp/rank-bench-events"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "events.md")
    args = ap.parse_args()

    ds = load_dataset(args.dataset)
    doc_index, store_dir = args.work / "bm25", args.work / "events"
    # Built once and reused: the store and index are what `rank events build` / `rank index bm25` make.
    if not (doc_index / META).is_file():
        build_index(ds, doc_index, threads=args.threads)
    if not (store_dir / MANIFEST).is_file():
        build_store(args.dataset, store_dir, threads=args.threads)
    store = EventStore(store_dir)
    cfg = ExpandConfig()
    days = document_days(ds)
    bm25 = Bm25Searcher(doc_index, threads=args.threads)
    rm3 = Bm25Searcher(doc_index, rm3=Rm3(), threads=args.threads)
    list(bm25.search(queries(ds)[:5], hits=10))  # warm the JVM and the index before timing

    runs: dict[str, list[Ranking]] = {}
    runs["BM25"], t_bm25 = timed(lambda: list(bm25.search(queries(ds), hits=HITS)))
    runs["BM25+RM3"], t_rm3 = timed(lambda: list(rm3.search(queries(ds), hits=HITS)))
    expander = Expander(store, cfg)
    expanded, t_expand = timed(lambda: list(expander(queries(ds))))
    runs["BM25+events"], t_search_exp = timed(lambda: list(bm25.search(copy.deepcopy(expanded), hits=HITS)))

    def with_recency(name: str) -> list[Ranking]:
        return list(Recency(days, before_query_date=True, tau=RECENCY_TAU)(copy.deepcopy(runs[name])))

    for name in ("BM25", "BM25+RM3", "BM25+events"):
        runs[f"{name}+recency"] = with_recency(name)

    qrels = ds.qrels()
    main_cmp = compare(qrels, runs, METRICS, test="student")

    ablations: dict[str, list[Ranking]] = {"BM25+events": runs["BM25+events"]}
    abl_cfgs = {
        # Every event of the store whatever its date, no decay: plain feedback from the store, and a leak.
        "events, no time (leaks future)": replace(cfg, as_of="9999-12-31", tau=None),
        "events, no decay (past only)": replace(cfg, tau=None),
        "events incl. same day": replace(cfg, same_day=True),
        "events, method text": replace(cfg, method="text"),
    }
    abl_stats = {}
    for name, c in abl_cfgs.items():
        ex = Expander(store, c)
        ablations[name] = list(bm25.search(ex(queries(ds)), hits=HITS))
        abl_stats[name] = ex.stats
    abl_cmp = compare(qrels, ablations, METRICS, test="student")

    st = expander.stats
    n = st.queries
    ndcg = main_cmp.scores["BM25"]["ndcg@10"]
    lines = [
        "# Event-aware query expansion on realtimeqa",
        "",
        f"{datetime.now(UTC).isoformat(timespec='seconds')} · {platform.node()} · {os.cpu_count()} CPUs · "
        f"threads {args.threads} · {n} queries · {HITS} hits · `python bench/events.py`",
        "",
        "Events: every corpus article (title + first 60 words) dated **strictly before** its query's date; "
        f"expansion defaults: {cfg.top_events} events, tau {cfg.tau:g} days, {cfg.fb_terms} terms, "
        f"original-query weight {cfg.weight:g}. Recency stage: documents dated after the query dropped, "
        f"scores × exp(−age/{RECENCY_TAU:g} days). Parameters were tuned on this same set (the 14 developer "
        "weeks); a later check on other weeks will tell how far they carry.",
        "",
        f"BM25 here: nDCG@10 {ndcg:.4f} (pyserini directly: {PYSERINI_NDCG}).",
        "",
        render_markdown(main_cmp),
        "## Expansion bookkeeping",
        "",
        f"- queries expanded: {st.expanded}/{n}; without any eligible event: {st.without_events}; "
        f"undated queries: {st.undated_queries}",
        f"- candidate events excluded as dated on/after the query date: {st.future_events:,} "
        f"(in {st.queries_with_future} queries); undated events skipped: {st.undated_events}",
        f"- cost: expansion {t_expand / n * 1000:.0f} ms/query, retrieval with the weighted query "
        f"{t_search_exp / n * 1000:.0f} ms/query, plain BM25 {t_bm25 / n * 1000:.0f} ms/query, "
        f"RM3 {t_rm3 / n * 1000:.0f} ms/query; expansion + retrieval over BM25 = "
        f"{(t_expand + t_search_exp) / t_bm25:.2f}x (same machine, same run)",
        "",
        "## Ablations of the expansion (BM25 retrieval, no recency stage)",
        "",
        render_markdown(abl_cmp),
    ]
    for name, s in abl_stats.items():
        lines.append(
            f"- {name}: {s.future_events:,} future candidates excluded, {s.expanded}/{s.queries} expanded"
        )
    text = "\n".join(lines) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(args.out) as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
