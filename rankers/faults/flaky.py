"""`rank rerank` against a flaky server (`proxy.FlakyProxy`) and a real server that dies and comes back.

Every scenario runs the command as a user would (a subprocess) and checks three things: a run that ends well
writes a complete ranking (each query a permutation of its input); a run that must stop does so with one line
(`rank: error: ...`, exit 2, no traceback) and writes no ranking; a rerun against a healthy server completes
and asks the server only for what the cache does not hold.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from rankers.faults.kill import same_ranking
from rankers.faults.proxy import FAULTS, FlakyProxy


@dataclass
class Result:
    scenario: str
    ok: bool
    detail: str
    counts: dict[str, int] = field(default_factory=dict)


def rerank(
    run: Path, base_url: str, out: Path, cache: Path, *extra: str, cwd: Path
) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "cli.main", "rerank", str(run), "--llm", "openai:local", "--base-url", base_url,
            "--hits", "6", "--window-size", "4", "--stride", "2", "--max-passage-tokens", "24",
            "--cache-dir", str(cache), "--concurrency", "1", *extra, "-o", str(out)]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    return subprocess.run(argv, capture_output=True, text=True, cwd=cwd, env=env, timeout=900)


def _permutations(run: Path, out: Path) -> str | None:
    from rankers.io import read_run

    want = {r.qid: sorted(c.docid for c in r.candidates) for r in read_run(run)}
    got = {r.qid: sorted(c.docid for c in r.candidates) for r in read_run(out)}
    if want != got:
        return "the output is not a permutation of the input"
    return None


def _one_line(p: subprocess.CompletedProcess) -> str | None:
    lines = [x for x in p.stderr.splitlines() if x.startswith("rank: error:")]
    if p.returncode != 2 or "Traceback" in p.stderr or len(lines) != 1:
        return f"exit {p.returncode}, stderr: {p.stderr.strip()[-300:]!r}"
    return None


def _totals(out: Path) -> dict:
    return json.loads(Path(f"{out}.cost.json").read_text())["totals"]


def random_faults(run: Path, upstream: str, work: Path, cwd: Path, seed: int, rate: float = 0.4) -> Result:
    """Faults of every kind but `timeout` at `rate`; generous retries: the run must end with a complete ranking,
    and a rerun against the real server must take every answer from the cache and give the same ranking.
    (No timeouts here: a client timeout short enough to be cheap would also cut off the real server's answers
    on a slow machine; `persistent_fault(kind="timeout")` covers them.)"""
    out, cache = work / f"random-{seed}.jsonl", work / f"cache-random-{seed}"
    kinds = tuple(k for k in FAULTS if k != "timeout")
    with FlakyProxy(upstream, rate=rate, faults=kinds, seed=seed) as proxy:
        p = rerank(run, proxy.base_url, out, cache, "--retries", "5", cwd=cwd)
        counts = dict(proxy.counts)
    if p.returncode != 0:
        # Six faults in a row can happen: then it must be one line, and the rerun below finishes the work.
        why = _one_line(p)
        if why:
            return Result(f"random faults (seed {seed})", False, why, counts)
    else:
        why = _permutations(run, out)
        if why:
            return Result(f"random faults (seed {seed})", False, why, counts)
    again = work / f"random-{seed}-again.jsonl"
    q = rerank(run, upstream, again, cache, cwd=cwd)
    if q.returncode != 0:
        return Result(f"random faults (seed {seed})", False, f"rerun: {q.stderr.strip()[-300:]}", counts)
    t = _totals(again)
    detail = f"run exit {p.returncode}; rerun: {t['cached_calls']} cached, {t['calls']} new calls"
    ok = p.returncode != 0 or (t["calls"] == 0 and same_ranking(out, again) is None)
    return Result(f"random faults (seed {seed})", ok, detail, counts)


def persistent_fault(
    run: Path, upstream: str, ref: Path, work: Path, cwd: Path, kind: str, good: int = 1
) -> Result:
    """`good` answers pass, then `kind` on every try: the run must stop with one line and write nothing; the rerun
    against the real server must reuse the `good` cached answers and end with the reference ranking.
    For `timeout` no answer passes (a client timeout short enough to be cheap would cut off the real server's).
    `kind` may name several faults joined by `+` ("503+truncated"): they are served in turn, with retries enough
    for each to come at least once."""
    out, cache = work / f"persistent-{kind}.jsonl", work / f"cache-{kind}"
    kinds = kind.split("+")
    good, timeout = (0, "1") if "timeout" in kinds else (good, "300")
    retries = str(max(1, len(kinds) - 1))
    with FlakyProxy(upstream, script=["ok"] * good + kinds * 20, hang_s=2.5) as proxy:
        p = rerank(run, proxy.base_url, out, cache, "--retries", retries, "--timeout", timeout, cwd=cwd)
        counts, passed = dict(proxy.counts), proxy.forwarded_ok
    problems = []
    if kind == "absurd":
        # A nonsense answer is an answer: kept, repaired (the window keeps its order), counted in meta.repairs.
        if p.returncode != 0:
            problems.append(f"exit {p.returncode}: {p.stderr.strip()[-200:]}")
        elif why := _permutations(run, out):
            problems.append(why)
    else:
        if why := _one_line(p):
            problems.append(why)
        if out.exists():
            problems.append("a ranking was written from a failed call")
        again = work / f"persistent-{kind}-again.jsonl"
        q = rerank(run, upstream, again, cache, cwd=cwd)
        if q.returncode != 0:
            problems.append(f"rerun: {q.stderr.strip()[-200:]}")
        else:
            t = _totals(again)
            if t["cached_calls"] != passed:
                problems.append(f"rerun reused {t['cached_calls']} cached answers, {passed} had arrived")
            if why := same_ranking(ref, again):
                problems.append(f"rerun differs from the reference: {why}")
    line = next((x for x in p.stderr.splitlines() if x.startswith("rank: error:")), "(completed)")
    return Result(f"persistent {kind}", not problems, "; ".join(problems) or line[:160], counts)


def server_restart(
    run: Path, model: str, ref: Path, work: Path, cwd: Path, down_s: float, at_s: float
) -> Result:
    """The real llama.cpp server is stopped `at_s` seconds into the run and started again `down_s` later on the
    same port. Within the retries' reach the run completes with the reference ranking; beyond it, it stops with
    one line and a rerun finishes from the cache."""
    from rankers.llm.server import free_port, llama_server

    port = free_port()
    base = f"http://127.0.0.1:{port}/v1"
    out, cache = work / f"restart-{down_s:g}.jsonl", work / f"cache-restart-{down_s:g}"
    stack = contextlib.ExitStack()
    stack.enter_context(llama_server(model, n_ctx=2048, threads=1, port=port, log=work / "server.log"))
    box: dict = {}

    def go() -> None:
        box["p"] = rerank(run, base, out, cache, "--retries", "3", cwd=cwd)

    t = threading.Thread(target=go)
    t.start()
    time.sleep(at_s)
    stack.close()  # stop the server mid-run
    time.sleep(down_s)
    with llama_server(model, n_ctx=2048, threads=1, port=port, log=work / "server.log"):
        t.join()
        p = box["p"]
        problems = []
        if p.returncode == 0:
            if why := same_ranking(ref, out):
                problems.append(why)
            detail = "completed across the restart"
        else:
            if why := _one_line(p):
                problems.append(why)
            if out.exists():
                problems.append("a ranking was written from a failed call")
            again = work / f"restart-{down_s:g}-again.jsonl"
            q = rerank(run, base, again, cache, cwd=cwd)
            if q.returncode != 0 or same_ranking(ref, again):
                problems.append(f"rerun: exit {q.returncode} {q.stderr.strip()[-200:]}")
            detail = f"stopped with one line, rerun reused {_totals(again)['cached_calls'] if q.returncode == 0 else 0}"
    name = f"server stopped at {at_s:g} s for {down_s:g} s"
    return Result(name, not problems, "; ".join(problems) or detail)
