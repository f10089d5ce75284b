"""Reranking over many OpenAI-compatible endpoints: queries/s with 1, 2, 4 endpoints and 1..16 calls in flight
per endpoint, against the ideal figure a fixed answer delay allows.

The endpoints are local stand-ins for a remote API (tests/delay_server.py, in a process of their own): each
answers a chat call after --delay seconds with a valid permutation, however many calls it holds at once. A query
is a sliding window over --hits passages, so its calls run one after another; queries run in parallel
(--threads = endpoints x concurrency). Ideal queries/s = min(threads, endpoints x concurrency) /
(calls per query x delay). The last row puts a dead endpoint (nothing listening) beside live ones: its calls
fail over, and the run should lose next to nothing.

    python bench/rerank_scale.py --delay 0.2          # -> bench/results/rerank-scale.md
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def rankings(n: int, hits: int):
    from rankers.run import Candidate, Query, Ranking

    return [
        Ranking(Query(f"q{k}", f"query number {k}"),
                [Candidate(f"d{k}-{i}", 100.0 - i, f"passage {i} of query {k} " * 8) for i in range(hits)])
        for k in range(n)
    ]  # fmt: skip


def run(
    urls: list[str], concurrency: int, n_queries: int, args, ahead: int | None = None
) -> tuple[float, dict, int]:
    from rankers.llm import get_backend, ordered_map
    from rankers.rerank import ListwiseReranker

    backend = get_backend("openai:delay", base_url=urls, concurrency=concurrency, cache=False, backoff=0.05)
    reranker = ListwiseReranker(
        backend, "sliding", args.hits, args.window, args.stride, max_passage_tokens=64
    )
    # The tokenizer probe (our stand-ins have none: estimates) happens once, before the clock starts.
    backend.count_tokens("probe")
    t = time.perf_counter()
    # What rerank_run does (queries in parallel, output in input order), with the read-ahead as a parameter.
    outs = list(ordered_map(reranker.rerank, rankings(n_queries, args.hits), backend.max_concurrency, ahead))
    wall = time.perf_counter() - t
    stats = backend.endpoint_stats()
    backend.close()
    return len(outs) / wall, stats, sum(o.cost.calls for o in outs)


def queries(slots: int, per_query: int, args) -> int:
    """A whole number of rounds of `slots` queries (a last round half full would halve its throughput)."""
    return slots * max(2, round(args.seconds / (per_query * args.delay)))


def start_servers(n: int, delay: float, jitter: float) -> tuple[subprocess.Popen, list[str]]:
    servers = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "delay_server.py"), "--delay", str(delay), "--servers", str(n),
         "--jitter", str(jitter)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    return servers, [servers.stdout.readline().strip() for _ in range(n)]


def stop(servers: subprocess.Popen) -> None:
    servers.stdin.close()
    servers.wait(timeout=30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--delay", type=float, default=0.2, help="Seconds per answer.")
    ap.add_argument("--endpoints", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    ap.add_argument("--hits", type=int, default=20)
    ap.add_argument("--window", type=int, default=10)
    ap.add_argument("--stride", type=int, default=5)
    ap.add_argument(
        "--seconds", type=float, default=3.0, help="Ideal run length per cell (sets the queries)."
    )
    ap.add_argument(
        "--jitter",
        type=float,
        default=0.5,
        help="A last row on 2 endpoints whose delays vary uniformly by +- this fraction (0: none).",
    )
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "rerank-scale.md")
    args = ap.parse_args()

    from rankers.llm.server import free_port
    from rankers.rerank.algorithms import sliding_windows

    per_query = len(list(sliding_windows(args.hits, args.window, args.stride)))
    servers, urls = start_servers(max(args.endpoints), args.delay, 0.0)
    load = os.getloadavg()[0]
    rows = []
    try:
        for e in args.endpoints:
            for c in args.concurrency:
                ideal = e * c / (per_query * args.delay)
                n = queries(e * c, per_query, args)
                qps, stats, calls = run(urls[:e], c, n, args)
                rows.append((f"{e}", c, n, calls, qps, ideal, stats["failovers"]))
                print(f"endpoints {e} concurrency {c:2d}: {qps:6.1f} q/s of {ideal:6.1f} ideal "
                      f"({qps / ideal:.0%}), {calls} calls", flush=True)  # fmt: skip
        dead = f"http://127.0.0.1:{free_port()}/v1"
        live = urls[:1]
        c = 4
        ideal = len(live) * c / (per_query * args.delay)
        n = queries(len(live) * c, per_query, args)
        for label, us in (("1", live), ("1 + 1 dead", [dead, *live])):
            qps, stats, calls = run(us, c, n, args)
            # With a dead endpoint the threads are 2 x c, but only the live endpoint's c slots answer.
            rows.append((label, c, n, calls, qps, ideal, stats["failovers"]))
            print(f"endpoints {label} concurrency {c}: {qps:6.1f} q/s of {ideal:6.1f} ideal, "
                  f"{stats['failovers']} failovers", flush=True)  # fmt: skip
    finally:
        stop(servers)
    # Delays that vary (as a remote API's do): a slow query at the head of the output order must not idle the
    # other slots (rankers.llm.concurrent.ordered_map reads ahead twice the queries in flight).
    if args.jitter:
        servers, urls = start_servers(2, args.delay, args.jitter)
        try:
            c = 8
            ideal = 2 * c / (per_query * args.delay)
            n = 4 * queries(2 * c, per_query, args)
            for label, ahead in (("read-ahead 1x (before)", 2 * c), ("read-ahead 2x", None)):
                qps, stats, calls = run(urls, c, n, args, ahead)
                rows.append((f"2, delays +-{args.jitter:.0%}, {label}", c, n, calls, qps, ideal, 0))
                print(f"jitter {args.jitter} {label}: {qps:6.1f} q/s of {ideal:6.1f} ideal", flush=True)
        finally:
            stop(servers)

    lines = [
        "# Reranking over many endpoints (`make bench-rerank-scale`)",
        "",
        f"Stand-in endpoints answer each call after {args.delay * 1000:.0f} ms (tests/delay_server.py, own "
        f"process); sliding window, {args.hits} hits, window {args.window}, stride {args.stride}: {per_query} "
        "sequential calls per query; queries in parallel = endpoints x concurrency. Ideal = slots / "
        f"({per_query} x {args.delay} s). 2-core machine shared with other jobs, 1-min load average "
        f"{load:.1f} at the start.",
        "",
        "| endpoints | concurrency / endpoint | queries | calls | queries/s | ideal | of ideal | failovers |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, c, n, calls, qps, ideal, fo in rows:
        lines.append(
            f"| {label} | {c} | {n} | {calls} | {qps:.1f} | {ideal:.1f} | {qps / ideal:.0%} | {fo} |"
        )
    lines.append("")
    from rankers.io import atomic_write

    with atomic_write(args.out) as f:
        f.write("\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
