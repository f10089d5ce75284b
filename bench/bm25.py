"""BM25 benchmark: `rank` against pyserini used directly, in one script, on the same machine and threads.

Prints, and writes to bench/results/bm25.md:
  - retrieval queries/s of `rank` (Bm25Searcher.search + JSONL formatting) over LuceneSearcher.batch_search
    (goal >= 0.9);
  - indexing docs/s of `rank index` (build_index, reading the dataset itself) over pyserini's LuceneIndexer fed
    JSON strings already in memory (goal >= 0.9);
  - wall time of `rank --help` (goal <= 0.5 s), and wall time and peak RSS of `rank index bm25` and
    `rank retrieve` as processes;
  - fidelity: nDCG@10 etc. of `rank` beside pyserini directly (its own index, its own search) and beside
    ../shared/data/REFERENCE.md.

Usage: python bench/bm25.py [--datasets scifact vaswani lecard-t2] [--threads 2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rankers.bm25 import Bm25Searcher, build_index, start_lucene  # noqa: E402
from rankers.data import load_dataset  # noqa: E402
from rankers.io import atomic_write, format_ranking  # noqa: E402
from rankers.run import as_rankings  # noqa: E402

DATA = Path(os.environ.get("DATA_DIR", ROOT.parent / "shared" / "data"))
RANK = Path(sys.executable).parent / "rank"
LANGUAGE = {"lecard-t2": "zh"}
# Metrics per set: (ranx name, qrels kind, name in REFERENCE.md).
METRICS = {
    "scifact": [
        ("ndcg@10", "graded", "nDCG@10"),
        ("mrr@10", "graded", "MRR@10"),
        ("recall@100", "graded", "R@100"),
    ],
    "vaswani": [("ndcg@10", "graded", "nDCG@10"), ("map", "graded", "MAP"), ("mrr@10", "graded", "MRR@10")],
    "lecard-t2": [
        ("ndcg@10", "graded", "nDCG@10"),
        ("ndcg@30", "graded", "nDCG@30"),
        ("mrr@10", "retrieval", "MRR@10"),
        ("recall@100", "retrieval", "R@100"),
    ],
}
HITS = 1000


def reference(dataset: str, name: str, kind: str) -> float | None:
    """A BM25 figure from REFERENCE.md; for lecard-t2 the row is chosen by its qrels (graded or retrieval)."""
    ref = DATA / "REFERENCE.md"
    if not ref.is_file():
        return None
    for line in ref.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 5 or cells[0] != dataset or not cells[2].startswith("BM25"):
            continue
        if dataset == "lecard-t2" and ("retrieval" in cells[1]) != (kind == "retrieval"):
            continue
        if name == "nDCG@10" and re.fullmatch(r"[0-9.]+", cells[3]):
            return float(cells[3])
        m = re.search(rf"{re.escape(name)} ([0-9.]+)", cells[4])
        if m:
            return float(m.group(1))
    return None


# ---------------------------------------------------------------- pyserini directly (the baseline)


def raw_index(docs, folder: Path, language: str, threads: int) -> float:
    """Seconds for pyserini's LuceneIndexer to index JSON documents (a list in memory, or a generator that reads
    them as it goes), in batches of 2,000, with the index options `rank` uses."""
    from pyserini.index.lucene import LuceneIndexer

    args = ["-index", str(folder), "-language", language, "-storePositions", "-storeDocvectors", "-storeRaw"]
    start = time.perf_counter()
    indexer = LuceneIndexer(str(folder), args=args, threads=threads)
    batch: list[str] = []
    for doc in docs:
        batch.append(doc)
        if len(batch) == 2000:
            indexer.add_batch_raw(batch)
            batch = []
    if batch:
        indexer.add_batch_raw(batch)
    indexer.close()
    return time.perf_counter() - start


def read_docs(ds):
    """The documents as a pyserini user would feed them: read with the same dataset reader, serialized."""
    for d in ds.documents():
        yield json.dumps({"id": d.docid, "contents": d.contents}, ensure_ascii=False)


def raw_search(folder: Path, language: str, queries, threads: int) -> tuple[float, dict]:
    from pyserini.search.lucene import LuceneSearcher

    searcher = LuceneSearcher(str(folder))
    searcher.set_bm25(0.9, 0.4)
    if language != "en":
        searcher.set_language(language)
    texts, qids = [q.text for q in queries], [q.qid for q in queries]
    start = time.perf_counter()
    found = searcher.batch_search(texts, qids, k=HITS, threads=threads)
    # The least any user of the results does: read each hit's docid and score.
    run = {qid: {h.docid: h.score for h in hits} for qid, hits in found.items()}
    return time.perf_counter() - start, run


def rank_search(folder: Path, queries, threads: int) -> tuple[float, dict]:
    searcher = Bm25Searcher(folder, threads=threads)
    run: dict = {}
    size = 0
    start = time.perf_counter()
    for r in searcher.search(as_rankings(queries), hits=HITS):
        size += len(format_ranking(r, "jsonl"))  # what `rank retrieve` writes
        run[r.qid] = {c.docid: c.score for c in r.candidates}
    return time.perf_counter() - start, run


def evaluate(ds, run: dict, metrics) -> dict[str, float]:
    from ranx import Qrels, Run
    from ranx import evaluate as ranx_evaluate

    out = {}
    for metric, kind, _ in metrics:
        out[f"{metric}/{kind}"] = float(
            ranx_evaluate(Qrels(ds.qrels(kind=kind)), Run(run), metric, make_comparable=True)
        )
    return out


# ---------------------------------------------------------------- processes


def run_process(cmd: list[str]) -> tuple[float, float, float, int]:
    """(wall seconds, CPU seconds, peak RSS in MiB, exit status) of one command."""
    start = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - start
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)


def measure(name: str, threads: int, repeats: int, work: Path) -> tuple[tuple, list[tuple]]:
    """(speed row, fidelity rows) of one set: pyserini and `rank` each index it and search all its queries."""
    ds = load_dataset(DATA / name)
    language = LANGUAGE.get(name, "en")
    docs = [json.dumps({"id": d.docid, "contents": d.contents}, ensure_ascii=False) for d in ds.documents()]
    queries = list(ds.queries().values())
    print(f"[{name}] {len(docs):,} docs, {len(queries):,} queries", file=sys.stderr, flush=True)
    raw_dir, rank_dir = work / f"{name}.raw", work / f"{name}.rank"
    # Interleaved, best of `repeats`: a burst of load on this shared machine hits both sides, and the first
    # run (JIT warm-up) does not count.
    ti_raw, ti_read, ti_rank, t_raw, t_rank = [], [], [], [], []

    def index_rank() -> None:
        start = time.perf_counter()
        build_index(ds, rank_dir, language=language, threads=threads, force=True)
        ti_rank.append(time.perf_counter() - start)

    def index_pyserini() -> None:
        shutil.rmtree(raw_dir, ignore_errors=True)
        ti_read.append(raw_index(read_docs(ds), raw_dir, language, threads))
        shutil.rmtree(raw_dir, ignore_errors=True)
        ti_raw.append(raw_index(docs, raw_dir, language, threads))

    # The order flips every repeat: whichever runs right after another build pays for its garbage collection.
    for i in range(repeats):
        for step in (index_pyserini, index_rank) if i % 2 == 0 else (index_rank, index_pyserini):
            step()
    for i in range(repeats):
        for side in ("pyserini", "rank") if i % 2 == 0 else ("rank", "pyserini"):
            if side == "pyserini":
                t, raw_run = raw_search(raw_dir, language, queries, threads)
                t_raw.append(t)
            else:
                t, rank_run = rank_search(rank_dir, queries, threads)
                t_rank.append(t)
    shutil.rmtree(raw_dir)
    shutil.rmtree(rank_dir)
    speed = (name, len(docs), min(ti_raw), min(ti_read), min(ti_rank), len(queries), min(t_raw), min(t_rank))
    got_rank, got_raw = evaluate(ds, rank_run, METRICS[name]), evaluate(ds, raw_run, METRICS[name])
    rows = [
        (name, ref, kind, got_rank[f"{m}/{kind}"], got_raw[f"{m}/{kind}"], reference(name, ref, kind))
        for m, kind, ref in METRICS[name]
    ]
    return speed, rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="+", default=["scifact", "vaswani", "lecard-t2"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--repeats", type=int, default=4, help="timed runs on the first set (best kept); 1 elsewhere"
    )
    ap.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "bm25.md")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    load_start = os.getloadavg()
    first = args.datasets[0]
    work = Path(tempfile.mkdtemp(prefix="rank-bench-bm25-"))
    try:
        # The commands as processes come first: a child forked from a process that holds a JVM reports the
        # parent's memory as its own peak (Linux counts the pre-exec copy in ru_maxrss).
        helps = [run_process([str(RANK), "--help"]) for _ in range(7)]
        idx, threads = work / "cli-index", str(args.threads)
        cli_index = run_process(
            [
                str(RANK),
                "index",
                "bm25",
                "--dataset",
                str(DATA / first),
                "--index",
                str(idx),
                "--threads",
                threads,
                "--language",
                LANGUAGE.get(first, "en"),
            ]  # fmt: skip
        )
        cli_retrieve = run_process(
            [
                str(RANK),
                "retrieve",
                "--index",
                str(idx),
                "--dataset",
                str(DATA / first),
                "--hits",
                str(HITS),
                "--threads",
                threads,
                "--output",
                str(work / "run.jsonl"),
            ]  # fmt: skip
        )
        shutil.rmtree(idx, ignore_errors=True)
        start_lucene()
        speed, fidelity = [], []
        for name in args.datasets:
            row, rows = measure(name, args.threads, args.repeats if name == first else 1, work)
            speed.append(row)
            fidelity.extend(rows)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(args, load_start, helps, cli_index, cli_retrieve, speed, fidelity)


def report(args, load_start, helps, cli_index, cli_retrieve, speed, fidelity) -> None:
    out: list[str] = []
    say = out.append
    first = args.datasets[0]
    say("# BM25: `rank` vs pyserini directly\n")
    say(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()} with {os.cpu_count()} CPUs, "
        f"threads {args.threads}, pyserini {version('pyserini')}, {HITS} hits, k1 0.9 b 0.4. Load average "
        f"{load_start[0]:.1f} at start, {os.getloadavg()[0]:.1f} at end: the machine is shared, so absolute "
        "rates are noisy; each ratio compares runs made back to back.\n"
    )
    say("## Speed (ratio = rank / pyserini; goal >= 0.9)\n")
    say(
        "| set | docs | index docs/s pyserini (in memory / reading) | index docs/s rank | ratio (in memory / reading) "
        "| queries | q/s pyserini | q/s rank | ratio |"
    )
    say("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, n_docs, ti_raw, ti_read, ti_rank, n_q, ts_raw, ts_rank in speed:
        say(
            f"| {name} | {n_docs:,} | {n_docs / ti_raw:,.0f} / {n_docs / ti_read:,.0f} | {n_docs / ti_rank:,.0f} "
            f"| {ti_raw / ti_rank:.2f} / {ti_read / ti_rank:.2f} "
            f"| {n_q:,} | {n_q / ts_raw:,.1f} | {n_q / ts_rank:,.1f} | {ts_raw / ts_rank:.2f} |"
        )
    say(
        f"\nBest of {args.repeats} runs on {first}, in alternating order, one run on the others (JVM warm by then). "
        "Retrieval: `rank` is Bm25Searcher.search plus formatting each ranking as its JSONL line; pyserini is "
        "LuceneSearcher.batch_search over all queries at once plus reading each hit's docid and score. Indexing: "
        "`rank` reads and parses the dataset itself; pyserini's LuceneIndexer gets JSON strings already in memory "
        "(the goal's baseline) or reads them with the same dataset reader as it goes (what a pyserini user does).\n"
    )
    say("## Processes\n")
    say("| command | wall s | CPU s | peak RSS MiB | goal |")
    say("|---|---:|---:|---:|---|")
    wall, cpu = statistics.median(h[0] for h in helps), statistics.median(h[1] for h in helps)
    say(
        f"| `rank --help` (median of {len(helps)}) | {wall:.2f} | {cpu:.2f} | {helps[0][2]:,.0f} | <= 0.5 s |"
    )
    for label, (wall, cpu, rss, rc) in (
        (f"`rank index bm25 --dataset {first}`", cli_index),
        (f"`rank retrieve --dataset {first} --hits {HITS}`", cli_retrieve),
    ):
        say(f"| {label} (exit {rc}) | {wall:.1f} | {cpu:.1f} | {rss:,.0f} | |")
    say(
        "\nWall time includes Python imports (pyserini pulls torch in) and the JVM start; CPU s is user + system."
    )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    say(f"Peak RSS of this benchmark process (one JVM, every index above): {rss:,.0f} MiB.\n")
    say("## Fidelity (ranx 0.3.21, make_comparable)\n")
    say("| set | metric | qrels | rank | pyserini | REFERENCE.md | rank - pyserini |")
    say("|---|---|---|---:|---:|---:|---:|")
    for name, metric, kind, got, raw, ref in fidelity:
        ref_s = f"{ref:.4f}" if ref is not None else "—"
        say(f"| {name} | {metric} | {kind} | {got:.4f} | {raw:.4f} | {ref_s} | {got - raw:+.4f} |")
    text = "\n".join(out) + "\n"
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(args.output) as f:
        f.write(text)
    print(f"written to {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
