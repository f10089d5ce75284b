"""`rank suite`: list the suites, run a system over one (resumable), compare systems, write leaderboard files."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="Whole benchmarks: MTEB/MMTEB, LoCoV1, T2Ranking, the local sets.", no_args_is_help=True
)

SuiteName = Annotated[
    str,
    typer.Argument(
        help="local, loco, t2ranking, or an MTEB benchmark (mteb-eng-v2, mteb-cmn-v1, mmteb, ...)."
    ),
]
Tasks = Annotated[
    str | None,
    typer.Option(
        "--tasks", help="Only these tasks (comma-separated; an MTEB task name takes all its subsets)."
    ),
]
Languages = Annotated[
    str | None,
    typer.Option("--languages", help="Only tasks in these languages (zh, en, cmn, eng-Latn, ...)."),
]
OutRoot = Annotated[
    Path, typer.Option("--out", help="Where runs go: <out>/<suite>/<system>/<task>.trec and summary.json.")
]
DEFAULT_OUT = Path("runs/suites")


def say(message: str) -> None:
    # One unwrapped line per task on stderr (grep-able); stdout carries the table.
    print(message, file=sys.stderr, flush=True)


def _split(values: str | None) -> list[str] | None:
    return [v.strip() for v in values.split(",") if v.strip()] if values else None


@app.command("list")
def list_suites(
    mteb: Annotated[
        bool, typer.Option("--mteb/--no-mteb", help="Also list mteb's benchmarks (imports mteb).")
    ] = True,
) -> None:
    """The suites: the built-in ones and every MTEB benchmark with retrieval tasks (from mteb's registry)."""
    from rich.console import Console
    from rich.table import Table

    from rankers.suites.catalog import builtin_suites
    from rankers.suites.systems import builtin_names

    table = Table(title="suites", title_justify="left")
    for col in ("suite", "tasks", "what"):
        table.add_column(col, overflow="fold")
    for s in builtin_suites():
        table.add_row(s.name, str(len(s.tasks)), s.title)
    if mteb:
        from rankers.suites.mteb_tasks import ALIASES, benchmark_suite

        aliases = {v: k for k, v in ALIASES.items()}
        from rankers.suites.mteb_tasks import benchmark_names

        for name in benchmark_names():
            s = benchmark_suite(name)
            groups = len(s.average_groups())
            also = f" (also: {aliases[name]})" if name in aliases else ""
            table.add_row(s.slug, f"{groups} ({len(s.tasks)} subsets/splits)" if groups != len(s.tasks) else str(groups),
                          f"{name}{also}")  # fmt: skip
    console = Console()
    console.print(table)
    console.print(f"[dim]systems built in: {', '.join(builtin_names())}; or --system FILE.yaml[/dim]")


@app.command("run")
def run(
    suite: SuiteName,
    system: Annotated[
        str,
        typer.Option("--system", "-s", help="A built-in system (bm25, bm25+minilm-rrf) or a YAML/JSON file."),
    ],
    tasks: Tasks = None,
    languages: Languages = None,
    limit_queries: Annotated[
        int | None,
        typer.Option("--limit-queries", help="Only the first N queries of each task (a quick look)."),
    ] = None,
    out: OutRoot = DEFAULT_OUT,
    index_root: Annotated[
        Path | None,
        typer.Option("--index-root", help="Where indexes are built and reused (default: datasets/indexes)."),
    ] = None,
    threads: Annotated[
        int | None, typer.Option("--threads", help="Worker threads (default: all cores).")
    ] = None,
    device: Annotated[str, typer.Option("--device", help="Dense models: cpu | cuda | cuda:N.")] = "cpu",
) -> None:
    """Run a system over a suite: per task, build or reuse the indexes, write <task>.trec and its scores, then
    summary.json. Tasks already done are skipped; a failing task is reported and the others go on (exit 1)."""
    from rankers.suites.catalog import get_suite, select
    from rankers.suites.runner import CPUS, out_dir, run_suite
    from rankers.suites.systems import load_system

    sys_ = load_system(system)
    whole = get_suite(suite)
    chosen = select(whole, _split(tasks), _split(languages))
    summary = run_suite(
        chosen, sys_, out_root=out, index_root=index_root, limit_queries=limit_queries, threads=threads or CPUS,
        device=device, say=say, whole=whole,
    )  # fmt: skip
    folder = out_dir(out, chosen, sys_)
    sys.stdout.write((folder / "summary.md").read_text(encoding="utf-8"))
    a = summary["average"]
    say(f"rank suite: wrote {folder}/summary.json ({a['over']} of {a['of']} tasks done)")
    failed = summary["failed"]  # only tasks run now: a failure is not kept on disk, the next run retries it
    if failed:
        say(f"rank suite: {len(failed)} failed: {', '.join(failed)} (run again to retry them)")
        raise typer.Exit(1)


@app.command("compare")
def compare(
    suite: SuiteName,
    systems: Annotated[
        list[str],
        typer.Option("--system", "-s", help="A system whose run is done (name or file); two or more."),
    ],
    tasks: Tasks = None,
    languages: Languages = None,
    out: OutRoot = DEFAULT_OUT,
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="markdown | json | html (one offline page with the chart).")
    ] = "markdown",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File to write (atomically).")] = None,
    test: Annotated[str, typer.Option("--test", help="Paired test: student | fisher | tukey.")] = "student",
    max_p: Annotated[
        float, typer.Option("--max-p", help="Significance level, after the Holm correction.")
    ] = 0.05,
) -> None:
    """Several systems' runs over a suite in one table: per task and on the average, with paired tests
    (Holm-corrected over the system pairs)."""
    import json

    from rankers.errors import RankError
    from rankers.io import atomic_write
    from rankers.suites.catalog import get_suite, select
    from rankers.suites.compare import compare_systems, to_markdown

    if fmt not in ("markdown", "json", "html"):
        raise RankError(f"--format {fmt}: choose markdown, json or html")
    if fmt == "html" and output is None:
        raise RankError("--format html: give the page's file with --output")
    if not 0 < max_p < 1:
        raise RankError(f"--max-p {max_p}: must be between 0 and 1")
    chosen = select(get_suite(suite), _split(tasks), _split(languages))
    names = [_system_name(s) for s in systems]
    c = compare_systems(chosen, names, out, test=test, max_p=max_p)
    if fmt == "html":
        from rankers.figures import suite_page

        text = suite_page(c)
    else:
        text = to_markdown(c) if fmt == "markdown" else json.dumps(c, ensure_ascii=False, indent=2) + "\n"
    if output is None:
        sys.stdout.write(text)
        return
    with atomic_write(output) as f:
        f.write(text)
    say(f"rank suite: wrote {output}")


def _system_name(spec: str) -> str:
    """A system's name: a file's (loaded), else the name itself (a built-in, or a run folder's)."""
    if Path(spec).is_file():
        from rankers.suites.systems import load_system

        return load_system(spec).name
    return spec


@app.command("export")
def export(
    suite: SuiteName,
    system: Annotated[
        str, typer.Option("--system", "-s", help="The system (built-in name or file) whose runs to export.")
    ],
    fmt: Annotated[str, typer.Option("--format", "-f", help="mteb | t2ranking | loco.")],
    tasks: Tasks = None,
    languages: Languages = None,
    out: OutRoot = DEFAULT_OUT,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="mteb: the results folder; t2ranking/loco: the file stem "
            "(default: <out>/<suite>/<system>/leaderboard/).",
        ),
    ] = None,
) -> None:
    """Leaderboard files from a finished suite run: an MTEB results folder (made and checked by mteb), T2Ranking's
    official dev metrics (THUIR's computation), or the LoCoV1 table (nDCG@10 per task and the average)."""
    from rankers.errors import RankError
    from rankers.suites import leaderboard as lb
    from rankers.suites.catalog import get_suite, select
    from rankers.suites.runner import out_dir
    from rankers.suites.systems import load_system

    if fmt not in lb.FORMATS:
        raise RankError(f"--format {fmt}: choose from {', '.join(lb.FORMATS)}")
    sys_ = load_system(system)
    chosen = select(get_suite(suite), _split(tasks), _split(languages))
    folder = out_dir(out, chosen, sys_)
    if not (folder / "summary.json").is_file():
        raise RankError(
            f"--system {sys_.name}: no run of it over {chosen.name} in {folder} (rank suite run first)"
        )
    target = output or folder / "leaderboard" / fmt
    if fmt == "mteb":
        written, left_out = lb.write_mteb(
            chosen, folder, target, sys_.name, sys_.fingerprint, sys_.model_type
        )
    elif fmt == "t2ranking":
        written, left_out = lb.write_t2ranking(chosen, folder, target)
    else:
        written, left_out = lb.write_loco(chosen, folder, target, sys_.name)
    for name, why in left_out:
        say(f"rank suite: left out {name}: {why}")
    for path in written:
        say(f"rank suite: wrote {path}")
    if fmt != "mteb":
        sys.stdout.write(Path(target).with_suffix(".md").read_text(encoding="utf-8"))
