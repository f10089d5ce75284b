"""`rank train`: fine-tune retrievers on (query, document) pairs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.common import Dataset, say

app = typer.Typer(help="Fine-tune retrievers on (query, document) pairs.", no_args_is_help=True)


@app.command("dense")
def dense(
    pairs: Annotated[Path, typer.Option("--pairs", help="Training pairs (JSONL from `rank synth`).")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Model folder to write (replaced at the end).")
    ],
    model: Annotated[
        str, typer.Option("--model", help="Base sentence-transformers model: minilm, a folder or a name.")
    ] = "minilm",
    hard_negatives: Annotated[
        str | None, typer.Option("--hard-negatives", help="Mine one hard negative per pair: bm25 | dense.")
    ] = None,
    index: Annotated[Path | None, typer.Option("--index", help="Index to mine hard negatives from.")] = None,
    dataset: Dataset = None,
    depth: Annotated[
        int, typer.Option("--depth", help="Hard negatives are drawn from this many top hits.")
    ] = 20,
    epochs: Annotated[int, typer.Option("--epochs", help="Passes over the pairs.")] = 1,
    batch_size: Annotated[
        int, typer.Option("--batch-size", help="Pairs per step (the in-batch negatives).")
    ] = 32,
    lr: Annotated[
        float, typer.Option("--lr", help="Peak learning rate (linear warm-up over 10%, then decay).")
    ] = 2e-5,
    max_seq_length: Annotated[
        int | None,
        typer.Option("--max-seq-length", help="Token limit while training (default: the model's)."),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of batching, dropout and negative draws.")] = 0,
) -> None:
    """Fine-tune a bi-encoder with in-batch negatives (+ mined hard negatives); `rank index dense --model DIR` uses the result."""
    from rankers.errors import RankError
    from rankers.models import resolve_model
    from rankers.synth import check_docids, read_pairs
    from rankers.train import mine_negatives, train_dense

    rows = read_pairs(pairs, need_text=True)
    base = resolve_model(model)
    negatives = None
    if hard_negatives is not None:
        from rankers.synth.retrieval import open_index

        if hard_negatives not in ("bm25", "dense"):
            raise RankError(f"--hard-negatives {hard_negatives}: choose bm25 or dense")
        if index is None:
            raise RankError(f"--hard-negatives {hard_negatives}: give the --index to mine them from")
        ix = open_index(index, hard_negatives, dataset)
        check_docids(rows, ix.present(p.docid for p in rows).__contains__, f"index {index}", pairs)
        say(f"train: mining hard negatives for {len(rows)} pairs from {index} (top {depth})")
        negatives = mine_negatives(rows, ix.search, ix.texts, depth=depth, seed=seed)
        say(f"train: {len(negatives)} hard negatives")
    say(f"train: {len(rows)} pairs, base {model}, {epochs} epoch(s), batch {batch_size}, lr {lr}")
    report = train_dense(
        rows, base, output, negatives=negatives, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
        max_seq_length=max_seq_length, log=say,
    )  # fmt: skip
    say(f"train: {report.steps} steps in {report.wall_s:.0f} s; wrote {output}")
