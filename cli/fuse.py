"""`rank fuse`: combine runs (e.g. BM25 and dense) into one, through ranx fusion."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.common import Output, OutputFormat, say

METHOD_HELP = "rrf | combsum | combmnz | combmax | wsum (or any other ranx fusion method name)."
NORM_HELP = "Score normalization before fusing: min-max | max | sum | zmuv | rank | borda | none (default: none for rrf, min-max otherwise)."

Method = Annotated[str, typer.Option("--method", "-m", help=METHOD_HELP)]
Norm = Annotated[str | None, typer.Option("--norm", help=NORM_HELP)]
Weights = Annotated[
    str | None,
    typer.Option("--weights", help="Comma-separated weights, one per run, for wsum (e.g. 0.3,0.7)."),
]
RrfK = Annotated[int | None, typer.Option("--rrf-k", help="RRF's k constant (ranx default 60).")]
OptimizeOn = Annotated[
    str | None,
    typer.Option(
        "--optimize-on",
        help="DATASET[:SPLIT] whose qrels tune the method's parameters (RRF k, wsum weights) with ranx.optimize_fusion.",
    ),
]
Metric = Annotated[str, typer.Option("--metric", help="Metric that --optimize-on maximizes (ranx name).")]
FuseHits = Annotated[int, typer.Option("--hits", "-k", help="Candidates kept per query after fusion.")]


def parse_weights(text: str | None) -> list[float] | None:
    from rankers.errors import RankError

    if text is None:
        return None
    try:
        return [float(w) for w in text.split(",")]
    except ValueError:
        raise RankError(f"--weights {text}: expected comma-separated numbers, e.g. 0.3,0.7") from None


def fuse_rankings(
    runs: list,
    method: str,
    norm: str | None,
    weights: str | None,
    rrf_k: int | None,
    optimize_on: str | None,
    metric: str,
    hits: int,
    names: list[str] | None = None,
):
    """`rank fuse`'s fusion: weights parsed here, the rest in rankers.fusion.fuse_runs."""
    from rankers.fusion import fuse_runs

    fused, report = fuse_runs(
        runs, method, norm, parse_weights(weights), rrf_k, optimize_on, metric, hits, names
    )
    if report.get("optimized_on"):
        say(f"fusion {method}: parameters {report['params']} (best {metric} on {optimize_on})")
    return fused


def fuse(
    runs: Annotated[list[Path], typer.Argument(help="Two or more run files (JSONL, TREC or MS MARCO).")],
    method: Method = "rrf",
    norm: Norm = None,
    weights: Weights = None,
    rrf_k: RrfK = None,
    optimize_on: OptimizeOn = None,
    metric: Metric = "ndcg@10",
    hits: FuseHits = 1000,
    output: Output = None,
    output_format: OutputFormat = None,
) -> None:
    """Fuse runs into one (reciprocal rank fusion by default).

    Example: rank fuse bm25.trec dense.trec --method rrf -o hybrid.trec
    """
    from cli.common import emit
    from rankers.errors import RankError
    from rankers.io import read_run

    if len(runs) < 2:
        raise RankError("rank fuse: give at least two runs")
    loaded = [list(read_run(p)) for p in runs]
    fused = fuse_rankings(
        loaded, method, norm, weights, rrf_k, optimize_on, metric, hits, [p.name for p in runs]
    )
    emit(fused, output, output_format, tag=f"fuse-{method}")
