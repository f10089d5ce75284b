"""`rank data`: sub-commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="List, fetch and import benchmark datasets.", no_args_is_help=True)
