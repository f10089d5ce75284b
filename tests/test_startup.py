"""`rank --help` and every subcommand's `--help` stay import-light: a structural check (which modules a help
loads), not a timing; bench/startup.py measures the time."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The engines (seconds to import) and what only rich help or typer's value coercion would load.
HEAVY = ("torch", "pyserini", "numpy", "polars", "ranx", "transformers", "sentence_transformers", "faiss",
         "jnius", "llama_cpp", "onnxruntime", "ray", "altair", "pyarrow", "scipy", "pandas")  # fmt: skip
HELP_ONLY = ("rich", "pydantic", "markdown_it", "pygments")

# One process runs every help in turn (as `rank` would, by cli.main.main), and names, after each, the modules
# of the two lists that it loaded (what building the full app to list the commands loads counts for the first).
PROBE = """
import json, sys
first = set(sys.modules)
import typer
from cli.main import build_app, main
g = typer.main.get_command(build_app())
cmds = [["--help"], []]
for n, c in g.commands.items():
    cmds.append([n, "--help"])
    cmds += [[n, s, "--help"] for s in getattr(c, "commands", {})]
watch = json.loads(sys.argv[1])
found = {}
for c in cmds:
    sys.argv = ["rank", *c]
    try:
        main()
    except SystemExit:
        pass
    new = sorted(m for m in watch if m in sys.modules and m not in first)
    if new:
        found[" ".join(c)] = new
        first |= set(new)
print(json.dumps({"commands": len(cmds), "found": found}), file=sys.stderr)
"""


def test_no_help_imports_an_engine_or_rich():
    # The enumeration above builds the full app itself; the modules it loads (typer's) are not counted.
    p = subprocess.run([sys.executable, "-c", PROBE, json.dumps([*HEAVY, *HELP_ONLY])], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)  # fmt: skip
    assert p.returncode == 0, p.stderr[-2000:]
    out = json.loads(p.stderr.strip().splitlines()[-1])
    assert out["commands"] > 25  # every command and every group's subcommands were asked
    assert out["found"] == {}, f"--help imported {out['found']}"


def test_a_help_that_imports_an_engine_is_caught():
    """The probe itself can fail: numpy imported on the way to the first help shows up."""
    code = PROBE.replace("found = {}", "found = {}\nimport numpy")
    p = subprocess.run([sys.executable, "-c", code, json.dumps(["numpy"])], cwd=ROOT, capture_output=True,
                       text=True, timeout=300)  # fmt: skip
    assert json.loads(p.stderr.strip().splitlines()[-1])["found"] == {"--help": ["numpy"]}
