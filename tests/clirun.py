"""`rank` run as users run it: a fresh process (`python -m cli.main`), offline, this checkout's code first.

stdin is /dev/null unless `stdin` is given, so a test never hands the command pytest's own stdin (the pipe rule
would read a piped stdin as the input run).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONPATH": str(ROOT)}


def rank(
    *args: str,
    stdin: str | bytes | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path = ROOT,
    timeout: float = 1200,
    **kw,
) -> subprocess.CompletedProcess:
    """Run `rank ARGS`; `env` is added to (and wins over) this process's environment and OFFLINE."""
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        input=stdin,
        stdin=subprocess.DEVNULL if stdin is None else None,
        capture_output=True,
        text=not isinstance(stdin, bytes),
        env=os.environ | OFFLINE | dict(env or {}),
        cwd=cwd,
        timeout=timeout,
        **kw,
    )
