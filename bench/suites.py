"""A suite run against the single-dataset commands it replaces (`make bench-suites`): BM25 over every set of the
`local` suite (../shared/data), once as `rank suite run local --system bm25` and once as the commands a user
would type per set (`rank index bm25`, `rank retrieve --bm25`, `rank eval`), from nothing each time (fresh
indexes). Reports the wall time of each, their ratio (goal: the suite at most 1.1x the sum of the commands) and
that both give the same scores. Writes bench/results/suites.md.

With --rounds 2 the order is commands, suite, suite, commands, so a drift in the machine's load (it is shared)
weighs on both sides alike.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RANK = [sys.executable, "-m", "cli.main"]


def rank(*args: str, env: dict[str, str], log: list[str]) -> tuple[subprocess.CompletedProcess, float]:
    shown = "rank " + " ".join(args)
    print(f"$ {shown}", file=sys.stderr, flush=True)
    log.append(shown)
    t0 = time.perf_counter()
    p = subprocess.run(
        [*RANK, *args], cwd=ROOT, capture_output=True, text=True, stdin=subprocess.DEVNULL, env=env
    )
    seconds = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"bench: failed: {shown}\n{p.stderr}")
    return p, seconds


def singles(tasks, data_dir: Path, work: Path, threads: int, env, log) -> tuple[float, dict, dict]:
    """Each set by hand: index, retrieve, eval. Returns total seconds, seconds per set, main score per set."""
    shutil.rmtree(work, ignore_errors=True)
    per_set, scores = {}, {}
    for t in tasks:
        if t.note:  # no collection: there is no command to run
            continue
        ds, idx, run = str(data_dir / t.name), work / "idx" / t.name, work / "runs" / f"{t.name}.trec"
        _, a = rank("index", "bm25", "-d", ds, "-i", str(idx), "--language", t.language, "--threads", str(threads),
                    env=env, log=log)  # fmt: skip
        _, b = rank("retrieve", "-i", str(idx), "-d", ds, "--bm25", "-k", "1000", "--threads", str(threads),
                    "-o", str(run), env=env, log=log)  # fmt: skip
        p, c = rank("eval", "-d", ds, str(run), "-f", "json", env=env, log=log)
        per_set[t.name] = (a, b, c)
        scores[t.name] = json.loads(p.stdout)["runs"][0]["scores"][t.main]
    return sum(sum(v) for v in per_set.values()), per_set, scores


def suite(work: Path, threads: int, env, log) -> tuple[float, dict]:
    shutil.rmtree(work, ignore_errors=True)
    _, seconds = rank("suite", "run", "local", "--system", "bm25", "--out", str(work / "runs"), "--index-root",
                      str(work / "idx"), "--threads", str(threads), env=env, log=log)  # fmt: skip
    summary = json.loads((work / "runs" / "local" / "bm25" / "summary.json").read_text())
    return seconds, {t["task"]: t.get("score") for t in summary["tasks"] if t["status"] == "done"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=1, choices=(1, 2))
    ap.add_argument("--work", default="/tmp/rank-bench-suites")
    ap.add_argument("--results", default=str(ROOT / "bench" / "results" / "suites.md"))
    args = ap.parse_args()

    data_dir = Path(args.data_dir).resolve()
    env = {**os.environ, "RANK_DATA_PATH": str(data_dir), "HF_HUB_OFFLINE": "1"}
    os.environ["RANK_DATA_PATH"] = str(data_dir)
    from rankers.suites.catalog import get_suite

    tasks = get_suite("local").tasks
    work, log = Path(args.work), []
    order = ["singles", "suite"] if args.rounds == 1 else ["singles", "suite", "suite", "singles"]
    single_s, suite_s, per_set, single_scores, suite_scores = [], [], {}, {}, {}
    for side in order:
        if side == "singles":
            total, per_set, single_scores = singles(tasks, data_dir, work / "singles", args.threads, env, log)
            single_s.append(total)
        else:
            total, suite_scores = suite(work / "suite", args.threads, env, log)
            suite_s.append(total)
    ratio = sum(suite_s) / sum(single_s)

    lines = [
        "# A suite run vs the single-dataset commands (bench/suites.py, `make bench-suites`)",
        "",
        f"BM25 over the `local` suite ({data_dir}): {', '.join(t.name for t in tasks)}; threads {args.threads}; "
        f"fresh indexes each time; order {' -> '.join(order)}.",
        "",
        "| set | index s | retrieve s | eval s | main metric | commands | suite |",
        "|---|---:|---:|---:|---|---:|---:|",
    ]
    for t in tasks:
        if t.name not in per_set:
            lines.append(f"| {t.name} | | | | {t.main} | (no collection) | skipped |")
            continue
        a, b, c = per_set[t.name]
        same = "" if abs(single_scores[t.name] - suite_scores[t.name]) < 1e-9 else " (differs)"
        lines.append(f"| {t.name} | {a:.1f} | {b:.1f} | {c:.1f} | {t.main} | {single_scores[t.name]:.4f} | "
                     f"{suite_scores[t.name]:.4f}{same} |")  # fmt: skip
    rounds = " + ".join(f"{x:.1f}" for x in single_s)
    suites_ = " + ".join(f"{x:.1f}" for x in suite_s)
    lines += [
        "",
        f"- single commands, wall: {rounds} s; `rank suite run local --system bm25`, wall: {suites_} s",
        f"- **suite / sum of the single commands: {ratio:.3f}** (goal: at most 1.1)",
        "",
        "Commands (last round):",
        "",
        *(f"    {c}" for c in log[-(3 * len(per_set) + 1) :]),
        "",
    ]
    Path(args.results).parent.mkdir(parents=True, exist_ok=True)
    Path(args.results).write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
