"""Kill a `rank` command with SIGKILL at a seeded random moment, rerun it to completion, and check the result.

A `Job` is one command on tiny inputs: its arguments (with `{work}` for a fresh folder per try), the output it
makes (a file or a folder), how two outputs compare (`same`) and how to check what it keeps between runs
(`intact`: caches, checkpoints, journals). `reference` runs it once uninterrupted; `trial` runs it again, kills it
(the whole process group, as a power cut would) at a moment drawn uniformly over the reference's wall time,
checks the caches, reruns it to completion and compares. All the while a thread polls the output path: it must
either not exist or be complete (equal to the reference), never half-written.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

Compare = Callable[[Path, Path], "str | None"]  # (reference, candidate) -> None when the same, else why not


@dataclass
class Job:
    name: str
    args: list[str]  # after `rank`; "{work}" is replaced by the try's folder
    output: str  # relative to the try's folder
    same: Compare
    intact: Callable[[Path], str | None] = lambda work: (
        None
    )  # caches/checkpoints after a kill; None when fine
    env: dict[str, str] = field(default_factory=dict)  # "{work}" is replaced here too
    setup: Callable[[Path], None] = lambda work: None
    timeout_s: float = 900.0
    prefix: list[str] = field(default_factory=list)  # before the command, as `taskset -c 0`


@dataclass
class Reference:
    job: Job
    work: Path
    wall_s: float

    @property
    def output(self) -> Path:
        return self.work / self.job.output


@dataclass
class Outcome:
    job: str
    kill_at_s: float
    killed: bool  # False: the command had finished before the moment drawn
    output_after_kill: bool  # the output was already complete when the kill came
    rerun_s: float
    problems: list[str]
    polls: int  # observations of an existing output path

    @property
    def ok(self) -> bool:
        return not self.problems


def _argv(job: Job, work: Path) -> tuple[list[str], dict[str, str]]:
    args = [a.replace("{work}", str(work)) for a in job.args]
    env = {**os.environ, **{k: v.replace("{work}", str(work)) for k, v in job.env.items()}}
    return [*job.prefix, sys.executable, "-m", "cli.main", *args], env


def _start(job: Job, work: Path, cwd: Path, log: Path) -> subprocess.Popen:
    argv, env = _argv(job, work)
    # A session of its own: the kill takes the command and anything it started (JVM threads, Ray workers).
    return subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=open(log, "ab"),
                            start_new_session=True)  # fmt: skip


class _Poller(threading.Thread):
    """Watches the output path: whenever it exists it must compare equal to the reference's output."""

    def __init__(self, path: Path, reference: Path, same: Compare, every_s: float = 0.02):
        super().__init__(daemon=True)
        self.path, self.reference, self.same, self.every_s = path, reference, same, every_s
        self.stop = threading.Event()
        self.polls = 0
        self.bad: list[str] = []
        self._seen_ok = False

    def run(self) -> None:
        while not self.stop.is_set():
            self.check()
            self.stop.wait(self.every_s)

    def check(self) -> None:
        if not self.path.exists() or self._seen_ok:
            return
        self.polls += 1
        try:
            why = self.same(self.reference, self.path)
        except Exception as e:  # a half-written file that cannot even be read
            why = f"unreadable: {type(e).__name__}: {e}"
        if why is None:
            self._seen_ok = True  # a complete output is only ever replaced whole
        elif self.path.exists() and len(self.bad) < 3:
            self.bad.append(f"partial output at {self.path.name}: {why}")


def run_to_end(
    job: Job, work: Path, cwd: Path, reference: Path | None = None
) -> tuple[int, float, list[str]]:
    """Run `job` in `work` to completion: (exit status, wall seconds, problems the poller saw)."""
    work.mkdir(parents=True, exist_ok=True)
    poller = _Poller(work / job.output, reference, job.same) if reference is not None else None
    if poller:
        poller.start()
    t0 = time.perf_counter()
    proc = _start(job, work, cwd, work / "log.txt")
    try:
        rc = proc.wait(timeout=job.timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        rc = -9
    wall = time.perf_counter() - t0
    bad: list[str] = []
    if poller:
        poller.stop.set()
        poller.join()
        bad = poller.bad
    return rc, wall, bad


def reference(job: Job, root: Path, cwd: Path, warm_up: bool = True) -> Reference:
    """One uninterrupted run. With `warm_up`, a first run in another folder fills what a first run alone pays for
    (page cache, exported models), so that the moments drawn span a typical run, not a cold one."""
    wall = 0.0
    for name in ("warm-up", "reference") if warm_up else ("reference",):
        work = root / f"{job.name.replace(' ', '-')}-{name}"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        job.setup(work)
        rc, wall, _ = run_to_end(job, work, cwd)
        if rc != 0:
            raise RuntimeError(f"{job.name}: the uninterrupted run failed ({rc}): {_tail(work / 'log.txt')}")
    return Reference(job, work, wall)


def trial(ref: Reference, root: Path, cwd: Path, rng: random.Random, kills: int = 1, n: int = 0) -> Outcome:
    """`kills` SIGKILLs at moments drawn uniformly over the reference's wall time, then a run to the end."""
    job = ref.job
    work = root / f"{job.name.replace(' ', '-')}-{n}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    job.setup(work)
    out = work / job.output
    problems: list[str] = []
    polls = 0
    killed_any, done_early, first_at = False, False, 0.0
    for _ in range(kills):
        at = rng.uniform(0, ref.wall_s)
        first_at = first_at or at
        poller = _Poller(out, ref.output, job.same)
        poller.start()
        proc = _start(job, work, cwd, work / "log.txt")
        try:
            proc.wait(timeout=at)
            killed = False
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            killed = killed_any = True
        poller.stop.set()
        poller.join()
        poller.check()
        problems += poller.bad
        polls += poller.polls
        if not killed:
            if proc.returncode != 0:
                problems.append(f"exit {proc.returncode} before the kill: {_tail(work / 'log.txt')}")
            done_early = True
            break
        why = job.intact(work)
        if why:
            problems.append(f"after the kill at {at:.2f} s: {why}")
        if out.exists():
            done_early = (
                True  # killed after the output was in place (a side file, clean-up): nothing to rerun
            )
            break
    rerun_s = 0.0
    if not done_early:
        rc, rerun_s, bad = run_to_end(job, work, cwd, ref.output)
        problems += bad
        if rc != 0:
            problems.append(f"rerun exited {rc}: {_tail(work / 'log.txt')}")
    if out.exists():
        why = job.same(ref.output, out)
        if why:
            problems.append(f"final output differs: {why}")
    elif not problems:
        problems.append("no output after the rerun")
    return Outcome(job.name, first_at, killed_any, done_early and killed_any, rerun_s, problems, polls)


def _tail(log: Path, n: int = 300) -> str:
    try:
        text = log.read_text(errors="replace").strip()
    except OSError:
        return ""
    lines = [x for x in text.splitlines() if x.strip()]
    return (lines[-1] if lines else "")[-n:]


# ---------------------------------------------------------------- comparisons


def same_bytes(a: Path, b: Path) -> str | None:
    if a.read_bytes() == b.read_bytes():
        return None
    return f"{b.name}: bytes differ ({b.stat().st_size} vs {a.stat().st_size} bytes)"


def same_tree(ignore: Callable[[str], bool] = lambda rel: False) -> Compare:
    """Two folders with the same files and bytes, leaving out the relative paths `ignore` names."""

    def compare(a: Path, b: Path) -> str | None:
        if not b.is_dir():
            return f"{b.name} is not a folder"
        fa = {
            str(p.relative_to(a)) for p in a.rglob("*") if p.is_file() and not ignore(str(p.relative_to(a)))
        }
        fb = {
            str(p.relative_to(b)) for p in b.rglob("*") if p.is_file() and not ignore(str(p.relative_to(b)))
        }
        if fa != fb:
            return f"files differ: missing {sorted(fa - fb)[:3]}, extra {sorted(fb - fa)[:3]}"
        for rel in sorted(fa):
            if (a / rel).read_bytes() != (b / rel).read_bytes():
                return f"{rel}: bytes differ"
        return None

    return compare


def same_ranking(a: Path, b: Path) -> str | None:
    """The same queries with the same documents in the same order (scores and cost meta may differ)."""
    from rankers.io import read_run

    ra = {r.qid: [c.docid for c in r.candidates] for r in read_run(a)}
    rb = {r.qid: [c.docid for c in r.candidates] for r in read_run(b)}
    if ra.keys() != rb.keys():
        return f"queries differ ({len(rb)} vs {len(ra)})"
    diff = [q for q in ra if ra[q] != rb[q]]
    return f"{len(diff)} queries ranked differently (first: {diff[0]})" if diff else None


def close_arrays(a, b, what: str, atol: float = 1e-5) -> str | None:
    import numpy as np

    if a.shape != b.shape:
        return f"{what}: shape {b.shape} vs {a.shape}"
    if not np.allclose(a, b, atol=atol, rtol=0):
        return f"{what}: max difference {float(np.max(np.abs(a - b))):.2e} > {atol}"
    return None


def same_dense_index(a: Path, b: Path) -> str | None:
    import faiss

    for name in ("manifest.json", "index.faiss", "docids.txt"):
        if not (b / name).is_file():
            return f"no {name}"
    if (a / "docids.txt").read_text() != (b / "docids.txt").read_text():
        return "docids differ"
    ia, ib = faiss.read_index(str(a / "index.faiss")), faiss.read_index(str(b / "index.faiss"))
    return close_arrays(ia.reconstruct_n(0, ia.ntotal), ib.reconstruct_n(0, ib.ntotal), "vectors")


def same_model(a: Path, b: Path) -> str | None:
    """Two saved sentence-transformers folders with the same weights (within float tolerance)."""
    from safetensors.numpy import load_file

    wa = {k: v for f in sorted(a.rglob("*.safetensors")) for k, v in load_file(f).items()}
    if not (b / "rank_training.json").is_file():
        return "no rank_training.json"
    wb = {k: v for f in sorted(b.rglob("*.safetensors")) for k, v in load_file(f).items()}
    if wa.keys() != wb.keys():
        return "different tensors"
    for k in wa:
        why = close_arrays(wa[k], wb[k], k, atol=1e-4)
        if why:
            return why
    return None


def sqlite_intact(path: Path) -> str | None:
    """A SQLite file (the LLM answer cache) that opens, passes its integrity check, and holds JSON values."""
    import json
    import sqlite3

    if not path.exists():
        return None
    try:
        db = sqlite3.connect(path)
        try:
            (check,) = db.execute("PRAGMA integrity_check").fetchone()
            if check != "ok":
                return f"{path.name}: integrity check says {check}"
            for (value,) in db.execute("SELECT value FROM responses"):
                json.loads(value)
        finally:
            db.close()
    except (sqlite3.Error, ValueError) as e:
        return f"{path.name}: {e}"
    return None


def leftovers(folder: Path) -> list[str]:
    """Temporary files and folders (dot-names, .part, .partial, .tmp) left in `folder`."""
    return sorted(
        p.name
        for p in folder.iterdir()
        if p.name.startswith(".") or p.name.endswith((".part", ".partial", ".tmp"))
    )
