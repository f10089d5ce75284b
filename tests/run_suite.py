"""Run each test file in its own pytest process and print one total line.

The suite loads a JVM (Lucene), torch, numba/LLVM and llama.cpp; several native runtimes living in one long
process for 250 tests is where crashes hide, and one crash would hide every later result. A process per file
keeps a crash to its file, names it, and still fails the run.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
COUNT = re.compile(r"(\d+) (passed|failed|skipped|errors?|xfailed|xpassed|deselected)")


def main(argv: list[str]) -> int:
    files = sorted(HERE.glob("test_*.py"))
    totals = {"passed": 0, "failed": 0, "skipped": 0}
    broken: list[str] = []
    for f in files:
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *argv, str(f)],
            capture_output=True,
            text=True,
            # No run on stdin: a command that would read a piped run must see none (CI may hand us a pipe).
            stdin=subprocess.DEVNULL,
        )
        sys.stdout.write(proc.stdout)
        sys.stderr.write(proc.stderr)
        tail = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
        for n, kind in COUNT.findall(tail):
            key = "failed" if kind.startswith("error") else kind
            if key in totals:
                totals[key] += int(n)
        if proc.returncode not in (0, 5):
            if not COUNT.search(tail) or proc.returncode < 0:
                totals["failed"] += 1  # a crash: the file counts as one failure
            broken.append(f"{f.name} (exit {proc.returncode})")
    print()
    if broken:
        print("files that failed or crashed: " + ", ".join(broken))
    print(f"{totals['passed']} passed, {totals['failed']} failed, {totals['skipped']} skipped")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
