"""The `rank` command line: a thin Typer front. Each command module parses flags and calls `rankers`.

Nothing heavy is imported here or at the top of the command modules (pyserini, torch, faiss, ranx):
`rank --help` must answer instantly.
"""

from __future__ import annotations

import os
import sys

import typer

from cli import data, evaluate, export, index, retrieve
from cli import events as events_cli
from cli import expand as expand_cli
from cli import fuse as fuse_cli
from cli import labels as labels_cli
from cli import recency as recency_cli
from cli import report as report_cli
from cli import rerank as rerank_cli
from cli import suite as suite_cli
from cli import synth as synth_cli
from cli import train as train_cli

app = typer.Typer(
    name="rank",
    help="Composable search-ranking stages: each reads a run and writes a run.\n\n"
    "Example: rank retrieve --index idx --dataset scifact --bm25 | rank eval --dataset scifact",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

app.add_typer(data.app, name="data")
app.add_typer(index.app, name="index")
app.command("retrieve")(retrieve.retrieve)
app.command("eval")(evaluate.evaluate)
app.command("report")(report_cli.report)
app.command("export")(export.export)
app.command("fuse")(fuse_cli.fuse)
app.command("rerank")(rerank_cli.rerank)
app.command("synth")(synth_cli.synth)
app.command("synth-filter")(synth_cli.synth_filter)
app.add_typer(train_cli.app, name="train")
app.command("labels")(labels_cli.labels)
app.add_typer(events_cli.app, name="events")
app.add_typer(suite_cli.app, name="suite")
app.command("expand")(expand_cli.expand)
app.command("recency")(recency_cli.recency)


def main() -> None:
    # OpenMP threads (torch, MKL) spin while they wait for each other by default; with any other process on the
    # cores a spinning thread holds a core its partner needs, and a LoRA step of SmolLM2 took 20 s instead of 3.6 s
    # (bench in the issue note). Sleeping waits cost little on a quiet machine. Set before torch is imported.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from rankers.errors import RankError

    try:
        app()
    except RankError as e:
        sys.stdout.flush()
        print(f"rank: error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("rank: interrupted", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly; stdout goes to /dev/null so the exit flush cannot fail.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)


if __name__ == "__main__":
    main()
