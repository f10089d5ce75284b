"""`rank data`: list the registered datasets, fetch or import one, describe a local one."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="List, fetch and import benchmark datasets.", no_args_is_help=True)


Suite = Annotated[
    str | None,
    typer.Option(
        "--suite", help="A suite (see `rank suite list`): its tasks' datasets instead of the registry's."
    ),
]
Tasks = Annotated[
    str | None, typer.Option("--tasks", help="With --suite: only these tasks (comma-separated).")
]
Languages = Annotated[
    str | None,
    typer.Option("--languages", help="With --suite: only tasks in these languages (zh, eng, ...)."),
]


def _suite(name: str, tasks: str | None, languages: str | None):
    from cli.suite import _split
    from rankers.suites.catalog import get_suite, select

    return select(get_suite(name), _split(tasks), _split(languages))


@app.command("list")
def list_datasets(
    ctx: typer.Context, suite: Suite = None, tasks: Tasks = None, languages: Languages = None
) -> None:
    """Registered datasets, where each is found locally (search path order), and where it comes from; with
    --suite, what the suite's tasks need and what of it is here."""
    from rich.console import Console
    from rich.table import Table

    from cli.common import refuse_unused
    from rankers.data.registry import REGISTRY, find_local, search_path

    if suite is not None:
        return _list_suite(_suite(suite, tasks, languages))
    refuse_unused(ctx, dict.fromkeys(("tasks", "languages"), "only with --suite"))

    table = Table(title="datasets", title_justify="left")
    table.add_column("name", no_wrap=True)
    table.add_column("layout", no_wrap=True)
    table.add_column("local copy", overflow="fold")
    table.add_column("source", overflow="fold")
    for name in sorted(REGISTRY):
        entry = REGISTRY[name]
        local = find_local(name)
        table.add_row(name, entry.layout, str(local) if local else "[dim]not downloaded[/dim]", entry.source)
    console = Console()
    console.print(table)
    roots = " -> ".join(str(r) for r in search_path())
    console.print(f"[dim]search path: {roots}[/dim]")


def _list_suite(suite) -> None:
    from pathlib import Path

    from rich.console import Console
    from rich.table import Table

    from rankers.data.registry import find_local, lookup
    from rankers.errors import RankError

    table = Table(title=f"{suite.name}: {suite.title}", title_justify="left")
    for col in ("task", "dataset", "split", "lang", "metric", "local copy", "source"):
        table.add_column(col, overflow="fold", no_wrap=col in ("split", "lang"))
    missing = 0
    for t in suite.tasks:
        local = Path(t.dataset) if Path(t.dataset).is_dir() else find_local(t.dataset)
        if local is None:
            missing += 1
            try:
                entry = lookup(t.dataset)
            except RankError as e:
                entry, why = None, str(e)
            else:
                why = entry.unavailable if entry is not None else "not registered"
            here = (
                "[dim]not downloaded[/dim]"
                if entry is not None and entry.downloadable
                else f"[red]{why}[/red]"
            )
        else:
            here = str(local)
        note = f" ({t.note})" if t.note else ""
        table.add_row(t.name, t.dataset, t.split or "default", t.language, t.main, here, t.source + note)
    console = Console()
    console.print(table)
    if missing:
        console.print(f"[dim]{missing} not here: rank data get --suite {suite.slug}[/dim]")


@app.command("get")
def get(
    ctx: typer.Context,
    name: Annotated[
        str | None, typer.Argument(help="Registered dataset name (see `rank data list`), or mteb/<Task>.")
    ] = None,
    source: Annotated[
        Path | None,
        typer.Option(
            "--from", help="Import this local copy (the downloaded file, or a folder) instead of downloading."
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace the dataset folder if it exists.")] = False,
    suite: Suite = None,
    tasks: Tasks = None,
    languages: Languages = None,
) -> None:
    """Download a dataset into the datasets root (resumable, checksum-checked or pinned to a commit), or import a
    local copy; with --suite, every dataset the suite needs that is not here yet."""
    from cli.common import refuse_unused, say
    from rankers.data.download import get_dataset
    from rankers.data.registry import load_dataset
    from rankers.errors import RankError

    if suite is not None:
        if name is not None:
            raise RankError("--suite: fetches the suite's datasets; give no NAME with it")
        refuse_unused(ctx, {"source": "one dataset at a time (NAME --from PATH)"})
        return _get_suite(_suite(suite, tasks, languages), force)
    refuse_unused(ctx, dict.fromkeys(("tasks", "languages"), "only with --suite"))
    if name is None:
        raise RankError("give a dataset NAME (see `rank data list`) or --suite NAME")
    target = get_dataset(name, force=force, source=source)
    ds = load_dataset(target)
    say(f"{name}: {ds.layout} layout in {target} (splits: {', '.join(ds.splits()) or 'none'})")


def _get_suite(suite, force: bool) -> None:
    import sys
    from pathlib import Path

    from rankers.data.download import get_dataset
    from rankers.data.registry import find_local, lookup
    from rankers.errors import RankError

    failed = []
    for dataset in dict.fromkeys(t.dataset for t in suite.tasks):
        here = Path(dataset) if Path(dataset).is_dir() else find_local(dataset)
        if here is not None and not force:
            print(f"{dataset}: here ({here})", file=sys.stderr)
            continue
        try:
            entry = lookup(dataset)
            if entry is None or not entry.downloadable:
                raise RankError(f"{dataset}: {entry.unavailable if entry else 'not registered'}")
            target = get_dataset(entry.name, force=force)
        except RankError as e:
            failed.append(dataset)
            print(f"{dataset}: FAILED: {e}", file=sys.stderr)
        else:
            print(f"{dataset}: fetched into {target}", file=sys.stderr)
    if failed:
        print(f"rank data get: {len(failed)} not fetched: {', '.join(failed)}", file=sys.stderr)
        raise typer.Exit(1)


@app.command("info")
def info(
    dataset: Annotated[str, typer.Argument(help="Dataset folder or registered name.")],
    docs: Annotated[
        bool, typer.Option("--docs", help="Also count the documents (reads the whole collection).")
    ] = False,
) -> None:
    """Layout, metric preset, and per split: queries, judged queries, judged pairs."""
    from rich.console import Console
    from rich.table import Table

    from rankers.data.registry import load_dataset

    ds = load_dataset(dataset)
    console = Console()
    console.print(f"{ds.name}: {ds.layout} layout, preset {ds.preset}, at {ds.path}")
    table = Table(title_justify="left")
    for col in ("split", "queries", "judged queries", "pairs"):
        table.add_column(col, justify="right" if col != "split" else "left")
    for split in ds.splits():
        qrels = ds.qrels(split)
        table.add_row(split, str(len(ds.queries(split))), str(len(qrels)), str(sum(map(len, qrels.values()))))
    console.print(table)
    if docs:
        console.print(f"documents: {sum(1 for _ in ds.documents())}")
