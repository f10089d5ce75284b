"""Running `rank` commands from a benchmark: each is shown as a user would type it, kept for the report's
"Commands" section, and timed. The bench scripts stay thin callers of these commands."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class Commands:
    def __init__(self) -> None:
        self.log: list[str] = []

    def rank(
        self, *args: str, capture: bool = False, done: bool = False
    ) -> tuple[float, subprocess.CompletedProcess | None]:
        """Run `rank ARGS` in the project (stdin closed: no run is piped); stop the benchmark if it fails.
        `done`: its output is already there from an earlier run: listed in the report all the same, not rerun."""
        shown = "rank " + shlex.join(args)
        self.log.append(shown)
        if done:
            say(f"$ {shown}  (done before)")
            return 0.0, None
        say(f"$ {shown}")
        t = time.perf_counter()
        p = subprocess.run(
            [sys.executable, "-m", "cli.main", *args], cwd=ROOT, stdin=subprocess.DEVNULL, text=True,
            capture_output=capture, env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )  # fmt: skip
        if p.returncode != 0:
            sys.exit(f"bench: failed ({p.returncode}): {shown}\n{p.stderr or ''}")
        return time.perf_counter() - t, p

    def markdown(self) -> list[str]:
        return ["## Commands", "", "```sh", *self.log, "```"]
