"""Hostile input, full disk, concurrency: how many inputs each reader was fuzzed with and what it did with them
(parsed, refused on one line, or anything else: a traceback), then bytes lost on a full disk and answers lost by
two processes writing one response cache. Writes the section "Hostile input, full disk, concurrency" of
bench/results/faults.md.

The fuzzing runs the properties of tests/test_fuzz_readers.py with more examples and a random seed (the tests run
a few derandomized ones). The disk scenarios need root (a tmpfs is mounted); they are skipped elsewhere.

Usage: python bench/faults_input.py [--examples 1000] [--out bench/results/faults.md]
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
HEADING = "## Hostile input, full disk, concurrency"
# What the same tests found in the code before issue 15's fixes (main at 556c06c, derandomized 60 examples).
BEFORE = (
    "Before the fixes (main at 556c06c), tests/test_fuzz_readers.py failed 12 of its 35 tests: tracebacks from "
    "a truncated gzip collection (`zlib.error`), a non-UTF-8 template (`UnicodeDecodeError`), a 5,000-digit "
    "number in an LLM answer (`ValueError` of int()), a 3,000-deep JSON line (`RecursionError`), a JSONL score "
    "beyond a float (`OverflowError`), dates as timestamps beyond year 9999 or NaN (`OverflowError`, "
    "`ValueError`), a YAML template with a 5,000-digit number, polars errors printed over several lines, and "
    "silent acceptances: a lone surrogate in a JSONL run (crashed later, at writing), ids with white space "
    "written as TREC (read back as other columns), non-string texts and list ids taken as text, NaN scores and "
    "docids twice in a JSONL run. A full disk under Lucene said `AlreadyClosedException`, a full run or cache "
    "disk gave an OSError traceback, and nothing kept two builds of one index apart (from reading the code, "
    "not reproduced: the second, without --force, replaced the first's index, or died on `ENOTEMPTY`)."
)

PROPERTIES = [
    "test_run_reader", "test_written_runs_read_back_the_same", "test_qrels_readers", "test_topics_reader",
    "test_beir_jsonl", "test_beir_parquet", "test_t2ranking", "test_loco", "test_trec_collection", "test_templates",
    "test_answer_parser",
]  # fmt: skip


def fuzz(examples: int) -> tuple[list[str], dict]:
    os.environ["FUZZ_EXAMPLES"] = str(examples)
    sys.path.insert(0, str(ROOT / "tests"))
    import test_fuzz_readers as t  # noqa: PLC0415 - reads FUZZ_EXAMPLES at import

    failures: list[str] = []
    seconds = {}
    for name in PROPERTIES:
        start = time.perf_counter()
        try:
            getattr(t, name)()
            if name == "test_written_runs_read_back_the_same":
                t.TALLY.setdefault(
                    "round trip write -> read (JSONL, TREC, MS MARCO, gz)", {"parsed": examples}
                )
        except Exception as e:  # a property that failed: the shrunk example's exception
            failures.append(f"{name}: {type(e).__name__}: {str(e).splitlines()[0][:160]}")
        seconds[name] = time.perf_counter() - start
    return failures, {"tally": t.TALLY, "seconds": seconds}


@contextlib.contextmanager
def tmpfs(size: str):
    with tempfile.TemporaryDirectory() as d:
        disk = Path(d) / "disk"
        disk.mkdir()
        if (
            os.geteuid() != 0
            or subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(disk)]).returncode
        ):
            yield None
            return
        try:
            yield disk
        finally:
            subprocess.run(["umount", "-l", str(disk)], check=False)


def full_disk(tries: int) -> dict:
    """Write a run and cache answers onto a full tmpfs, `tries` times each: how often the previous output changed,
    how many temporary files stayed behind, how many errors were not one RankError line."""
    from rankers.errors import RankError
    from rankers.io import write_run
    from rankers.llm.cache import ResponseCache
    from rankers.run import Candidate, Query, Ranking

    out = {"tries": 0, "changed": 0, "junk": 0, "not_rank_error": 0}
    with tmpfs("1m") as disk:
        if disk is None:
            return {}
        prev = disk / "run.trec"
        write_run([Ranking(Query("q", ""), [Candidate("d", 1.0)])], prev)
        good = prev.read_bytes()
        cache = ResponseCache(disk / "llm")
        cache.put("kept", {"text": "kept"})
        with open(disk / "filler", "wb") as f, contextlib.suppress(OSError):
            f.write(b"\0" * (1 << 20))
        rnd = random.Random(0)
        for i in range(tries):
            big = [
                Ranking(Query(f"q{q}", ""), [Candidate(f"d{d}", rnd.random()) for d in range(300)])
                for q in range(20)
            ]
            for attempt in (
                lambda big=big: write_run(big, prev),
                lambda i=i: cache.put(f"k{i}", {"text": "x" * 200_000}),
            ):
                out["tries"] += 1
                try:
                    attempt()
                except RankError as e:
                    out["not_rank_error"] += "\n" in str(e)
                except Exception:
                    out["not_rank_error"] += 1
        out["changed"] = int(prev.read_bytes() != good) + int(cache.get("kept") != {"text": "kept"})
        out["junk"] = len([p for p in disk.iterdir() if p.name not in ("run.trec", "filler", "llm")])
        cache.close()
    return out


def _writer(directory: str, worker: int, n: int) -> None:
    from rankers.llm.cache import ResponseCache

    cache = ResponseCache(directory)
    for i in range(n):
        cache.put(f"w{worker}-{i}", {"text": f"{worker}-{i}"})
    cache.close()


def shared_cache(n: int) -> dict:
    from rankers.llm.cache import ResponseCache

    with tempfile.TemporaryDirectory() as d:
        ctx = multiprocessing.get_context("spawn")
        start = time.perf_counter()
        procs = [ctx.Process(target=_writer, args=(d, w, n)) for w in (0, 1)]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        seconds = time.perf_counter() - start
        cache = ResponseCache(d)
        present = sum(cache.get(f"w{w}-{i}") == {"text": f"{w}-{i}"} for w in (0, 1) for i in range(n))
        cache.close()
    return {
        "written": 2 * n,
        "present": present,
        "crashed": sum(p.exitcode != 0 for p in procs),
        "seconds": seconds,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--examples", type=int, default=1000)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "faults.md"))
    args = ap.parse_args()
    start = time.perf_counter()
    failures, fz = fuzz(args.examples)
    disk = full_disk(10)
    cache = shared_cache(1000)
    lines = [
        HEADING,
        "",
        f"`make bench-faults-input` ({datetime.now(UTC):%Y-%m-%d}, {platform.machine()}, load average "
        f"{os.getloadavg()[0]:.1f} at the end, {time.perf_counter() - start:.0f} s). Each reader got hostile files: "
        "random bytes, format tokens (ids, numbers at the edges of int and float, tabs, JSON fragments, SGML tags, "
        "non-UTF-8, lone surrogate escapes, 5,000-digit numbers, 3,000-deep brackets) and random edits of valid "
        f"files; up to {args.examples} examples per property, random seed. A reader must parse or raise RankError on "
        "one line naming the file; anything else is a traceback.",
        "",
        "| reader | inputs | parsed | refused (one line) |",
        "|---|---:|---:|---:|",
    ]
    for reader, c in sorted(fz["tally"].items()):
        parsed, refused = c.get("parsed", 0), c.get("refused", 0)
        lines.append(f"| {reader} | {parsed + refused} | {parsed} | {refused} |")
    lines += [
        "",
        f"Properties that failed (a traceback or a wrong result): {len(failures)}"
        + (":" if failures else "."),
    ]
    lines += [f"- {f}" for f in failures]
    lines += ["", BEFORE]
    if disk:
        lines += [
            "",
            f"Full disk (a 1 MiB tmpfs, filled): {disk['tries']} writes of a run file and of LLM answers failed; "
            f"previous outputs changed: {disk['changed']}; temporary files left: {disk['junk']}; errors that were not "
            f"one RankError line: {disk['not_rank_error']}.",
        ]
    lines += [
        "",
        f"One response cache, two processes writing at once: {cache['written']} answers written, "
        f"{cache['present']} read back, {cache['written'] - cache['present']} lost, {cache['crashed']} crashed "
        f"({cache['seconds']:.1f} s).",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    out = Path(args.out)
    old = out.read_text() if out.exists() else "# Faults\n\n"
    if HEADING in old:
        head, _, rest = old.partition(HEADING)
        nxt = rest.find("\n## ")
        old = head + (rest[nxt + 1 :] if nxt >= 0 else "")
    from rankers.io import atomic_write

    with atomic_write(out) as f:
        f.write(old.rstrip("\n") + "\n\n" + text)


if __name__ == "__main__":
    main()
