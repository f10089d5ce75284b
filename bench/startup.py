"""How long users wait for `rank --help` and every subcommand's `--help`: median wall time of N process starts,
this checkout against a base git ref (default: main) measured in the same script, runs interleaved so that
both see the same load.

Each start is `python -c "from cli.main import main; main()" ARGS` with PYTHONPATH on the checkout (the
installed `rank` script runs the same function; an editable install would point it at one checkout only).

    python bench/startup.py --runs 7 --base main        # -> bench/results/startup.md
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CODE = "import sys; sys.argv[0] = 'rank'; from cli.main import main; main()"


def commands(root: Path) -> list[list[str]]:
    """[--help], then [NAME, --help] for every command and [GROUP, NAME, --help] for every group's command."""
    code = (
        "import typer; from cli.main import build_app\n"
        "g = typer.main.get_command(build_app())\n"
        "for n, c in g.commands.items():\n"
        "    print(n)\n"
        "    for s in getattr(c, 'commands', {}):\n"
        "        print(n, s)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=root, env=env(root), capture_output=True, text=True,
                         check=True).stdout  # fmt: skip
    return [["--help"]] + [[*line.split(), "--help"] for line in out.splitlines()]


def env(root: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(root), "TERM": "dumb"}


def start(root: Path, args: list[str]) -> float:
    t = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", CODE, *args], cwd=root, env=env(root), stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)  # fmt: skip
    wall = time.perf_counter() - t
    if p.returncode != 0:
        raise SystemExit(f"rank {' '.join(args)} exited with {p.returncode} in {root}")
    return wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--base", default="main", help="Git ref to compare with ('' for none).")
    ap.add_argument("--all", action="store_true", help="Every group's subcommands too (slower).")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "startup.md")
    args = ap.parse_args()

    base = None
    if args.base:
        base = Path(tempfile.mkdtemp(prefix="rank-startup-base-"))
        subprocess.run(
            f"git -C {ROOT} archive {args.base} cli rankers | tar -x -C {base}", shell=True, check=True
        )
    try:
        cmds = commands(ROOT)
        if not args.all:
            cmds = [c for c in cmds if len(c) <= 2] + [c for c in cmds if len(c) == 3][:3]
        cmds = [c for c in cmds if base is None or _exists(base, c)]
        load = os.getloadavg()[0]
        rows = []
        for c in cmds:
            ours, theirs = [], []
            for _ in range(args.runs):  # interleaved: both see the same load
                ours.append(start(ROOT, c))
                if base is not None:
                    theirs.append(start(base, c))
            row = (
                " ".join(["rank", *c]),
                statistics.median(ours),
                statistics.median(theirs) if theirs else None,
            )
            rows.append(row)
            print(f"{row[0]:32s} {row[1]:.3f} s" + (f"  (base {row[2]:.3f} s)" if row[2] else ""), flush=True)
        load_end = os.getloadavg()[0]
    finally:
        if base is not None:
            shutil.rmtree(base, ignore_errors=True)

    bare = statistics.median(_bare() for _ in range(args.runs))
    lines = [
        "# Start-up: `rank --help` and each subcommand's `--help` (`make bench-startup`)",
        "",
        f"Median wall time of {args.runs} process starts each, this branch vs `{args.base}` interleaved (same "
        f"load); `python -c pass` takes {bare:.3f} s. 2-core machine shared with other jobs; 1-min load average "
        f"{load:.1f} at the start, {load_end:.1f} at the end. Goal: <= 0.3 s.",
        "",
        "| command | this branch (s) | " + (f"`{args.base}` (s) | ratio |" if base else ""),
        "|---|---:|" + ("---:|---:|" if base else ""),
    ]
    for name, ours, theirs in rows:
        extra = f" {theirs:.3f} | {theirs / ours:.1f}x |" if theirs else ""
        lines.append(f"| `{name}` | {ours:.3f} |{extra}")
    lines.append("")
    from rankers.io import atomic_write

    with atomic_write(args.out) as f:
        f.write("\n".join(lines))
    print(f"wrote {args.out}")


def _exists(base: Path, cmd: list[str]) -> bool:
    """Whether the base checkout has this command (new commands have no 'before')."""
    p = subprocess.run([sys.executable, "-c", CODE, *cmd], cwd=base, env=env(base), capture_output=True)
    return p.returncode == 0


def _bare() -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"])
    return time.perf_counter() - t


if __name__ == "__main__":
    main()
