"""`rank data`: list the registered datasets, fetch or import one, describe a local one."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="List, fetch and import benchmark datasets.", no_args_is_help=True)


@app.command("list")
def list_datasets() -> None:
    """Registered datasets, where each is found locally (search path order), and where it comes from."""
    from rich.console import Console
    from rich.table import Table

    from rankers.data.registry import REGISTRY, find_local, search_path

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


@app.command("get")
def get(
    name: Annotated[str, typer.Argument(help="Registered dataset name (see `rank data list`).")],
    source: Annotated[
        Path | None,
        typer.Option(
            "--from", help="Import this local copy (the downloaded file, or a folder) instead of downloading."
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace the dataset folder if it exists.")] = False,
) -> None:
    """Download a dataset into the datasets root (resumable, checksum-checked), or import a local copy."""
    from cli.common import say
    from rankers.data.download import get_dataset
    from rankers.data.registry import load_dataset

    target = get_dataset(name, force=force, source=source)
    ds = load_dataset(target)
    say(f"{name}: {ds.layout} layout in {target} (splits: {', '.join(ds.splits()) or 'none'})")


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
