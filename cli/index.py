"""`rank index`: sub-commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="Build BM25 (Lucene) and dense (FAISS) indexes.", no_args_is_help=True)
