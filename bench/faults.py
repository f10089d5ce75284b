"""Kills and flaky servers (issue 15, parts 1-2): every long command killed with SIGKILL at seeded random moments and
rerun to completion, compared with an uninterrupted run; `rank rerank` behind a flaky proxy and across a restart
of the real llama.cpp server. Writes the section "Kills and flaky servers" of bench/results/faults.md (other
sections of that file are kept).

Usage: python bench/faults.py [--data-dir ../shared/data] [--kills 6] [--seed 0] [--only rerank,synth] [--work DIR]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rankers.faults import flaky, jobs  # noqa: E402
from rankers.faults.kill import leftovers, reference, trial  # noqa: E402
from rankers.io import atomic_write  # noqa: E402

HEADING = "## Kills and flaky servers"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--kills", type=int, default=6, help="kill trials per command")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--only",
        default="",
        help="comma-separated job names (bm25,dense,ray,sliding,full,synth,train,events,data,flaky)",
    )
    ap.add_argument("--work", type=Path, default=Path("/tmp/rank-bench-faults"))
    ap.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "faults.md")
    a = ap.parse_args()
    only = set(filter(None, a.only.split(",")))
    want = lambda key: not only or key in only  # noqa: E731
    inp = jobs.tiny_inputs(a.data_dir, a.work / "inputs")
    rng = random.Random(a.seed)
    rows, failures = [], []
    t_all = time.perf_counter()

    from rankers.llm.server import llama_server

    # One thread: on a shared, loaded machine llama.cpp's threads spin at each barrier waiting for a descheduled
    # peer; SmolLM2-135M decoded 4-13 tokens/s with 1 thread and 0.3-0.4 with 2 at load average 14.
    with (
        llama_server("smollm2", n_ctx=2048, threads=1, log=a.work / "server.log") as base,
        jobs.HubServer(inp.loco_docs, inp.loco_queries) as hub,
    ):
        todo = [
            ("bm25", lambda: jobs.bm25_job(inp)),
            ("dense", lambda: jobs.dense_job(inp)),
            ("ray", lambda: jobs.dense_job(inp, "ray")),
            ("sliding", lambda: jobs.rerank_job(inp, base, "sliding")),
            ("full", lambda: jobs.rerank_job(inp, base, "full")),
            ("synth", lambda: jobs.synth_job(inp)),
            ("train", lambda: jobs.train_job(inp)),
            ("events", lambda: jobs.events_job(inp)),
            ("data", lambda: jobs.data_get_job(hub.url)),
        ]
        refs = {}
        for key, make in todo:
            if not want(key) or (key == "ray" and "ray" not in only):  # Ray: only when named (slow to start)
                continue
            job = make()
            root = a.work / "kills"
            try:
                ref = reference(job, root, ROOT)
            except RuntimeError as e:
                rows.append((job.name, "-", 0, 0, 0, 0, "-", f"reference run failed: {str(e)[-200:]}"))
                continue
            refs[key] = ref
            outcomes = [trial(ref, root, ROOT, rng, kills=1 + (i % 2), n=i) for i in range(a.kills)]
            ok = sum(o.ok for o in outcomes)
            early = sum(not o.killed or o.output_after_kill for o in outcomes)
            reruns = [o.rerun_s for o in outcomes if o.rerun_s]
            ratio = f"{sum(reruns) / len(reruns) / ref.wall_s:.2f}" if reruns else "-"
            left = sorted({x for o in outcomes for x in leftovers(root / f"{job.name.replace(' ', '-')}-{outcomes.index(o)}")
                           if x != "log.txt"})  # fmt: skip
            rows.append((job.name, f"{ref.wall_s:.1f}", len(outcomes), ok, early, sum(o.polls for o in outcomes), ratio,
                         ", ".join(left[:3]) or "-"))  # fmt: skip
            for o in outcomes:
                for p in o.problems:
                    failures.append(f"{job.name} (kill at {o.kill_at_s:.2f} s): {p}")
            print(rows[-1], file=sys.stderr, flush=True)

        flaky_rows = []
        if want("flaky"):
            ref_out = a.work / "flaky" / "reference.jsonl"
            (a.work / "flaky").mkdir(parents=True, exist_ok=True)
            p = flaky.rerank(inp.run, base, ref_out, a.work / "flaky" / "cache-ref", cwd=ROOT)
            assert p.returncode == 0, p.stderr
            for s in range(3):
                flaky_rows.append(flaky.random_faults(inp.run, base, a.work / "flaky", ROOT, seed=a.seed + s))
            for kind in ("429", "500", "503", "timeout", "reset", "truncated", "nonjson", "absurd"):
                flaky_rows.append(
                    flaky.persistent_fault(inp.run, base, ref_out, a.work / "flaky", ROOT, kind)
                )
            for r in flaky_rows:
                print(r, file=sys.stderr, flush=True)
    if want("flaky"):
        for down in (1.0, 12.0):
            flaky_rows.append(
                flaky.server_restart(inp.run, "smollm2", ref_out, a.work / "flaky", ROOT, down, 2.0)
            )
            print(flaky_rows[-1], file=sys.stderr, flush=True)

    old = a.output.read_text() if a.output.exists() else "# Fault injection\n\n"
    kept, kept_header = _earlier_rows(old, {r[0] for r in rows}) if only else ([], "")
    load = os.getloadavg()
    lines = [HEADING, "",
             f"`make bench-faults` (bench/faults.py, seed {a.seed}); load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} "
             f"on {os.cpu_count()} CPUs; {time.perf_counter() - t_all:.0f} s in all.", "",
             "Each command on tiny inputs (200 scifact documents; a 1-query x 6-passage run for rerank; SmolLM2-135M "
             "through llama.cpp) is run once uninterrupted, then killed with SIGKILL (its whole process group) at "
             "moments drawn uniformly over that run's wall time (every other trial twice), then rerun to completion. "
             "While it runs, the output path is polled every 20 ms: whenever it exists it must already equal the "
             "uninterrupted output. After each kill the caches and checkpoints are opened and checked.", "",
             "| command | uninterrupted s | trials | same final output | kill came after the output was done | "
             "polls of an existing output | rerun / uninterrupted wall | left beside the output |",
             "|---|---:|---:|---:|---:|---:|---:|---|"]  # fmt: skip
    lines += ["| " + " | ".join(str(x) for x in r) + " |" for r in rows] + kept
    if kept:
        names = ", ".join(x.split("|")[1].strip() for x in kept)
        lines += [
            "",
            f"Rows for {names}: from an earlier run of this script (--only left them out), {kept_header}",
        ]
    lines += ["", "Problems found: " + (str(len(failures)) if failures else "none"), ""]
    lines += [f"- {f}" for f in failures[:30]]
    if flaky_rows:
        total = Counter()
        for r in flaky_rows:
            total.update(r.counts)
        lines += ["", "### A flaky LLM server", "",
                  "`rank rerank` (sliding, 6 passages, window 4, stride 2) through a proxy that injects faults into chat "
                  "completions (rankers/faults/proxy.py), then the same command against the real server with the "
                  "same cache. Faults served, by kind: "
                  + ", ".join(f"{k} {v}" for k, v in sorted(total.items())) + ".", "",
                  "| scenario | passed | faults served | outcome |", "|---|---|---|---|"]  # fmt: skip
        for r in flaky_rows:
            c = ", ".join(f"{k} {v}" for k, v in sorted(r.counts.items()))
            lines.append(
                f"| {r.scenario} | {'yes' if r.ok else 'NO'} | {c or '-'} | {r.detail.replace('|', '/')} |"
            )
    section = "\n".join(lines) + "\n"
    if HEADING in old:
        head, _, rest = old.partition(HEADING)
        nxt = rest.find("\n## ")
        old = head + (rest[nxt + 1 :] if nxt >= 0 else "")
    with atomic_write(a.output) as f:
        f.write(old.rstrip("\n") + "\n\n" + section)
    print(section)


def _earlier_rows(old: str, rerun: set[str]) -> tuple[list[str], str]:
    """The kill-table rows of the section already in the file for commands not rerun now, and its load line."""
    if HEADING not in old:
        return [], ""
    section = old.partition(HEADING)[2].split("\n## ")[0].split("\n### ")[0]
    rows = [x for x in section.splitlines() if x.startswith("| ") and not x.startswith(("| command", "|---"))]
    header = next((x for x in section.splitlines() if x.startswith("`make bench-faults`")), "")
    load = header[header.find("load average") :].split(";")[0] if "load average" in header else ""
    return [x for x in rows if x.split("|")[1].strip() not in rerun], load


if __name__ == "__main__":
    main()
