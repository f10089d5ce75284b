"""`rank index`: sub-commands."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated

import typer

from cli.common import Threads, say

app = typer.Typer(help="Build BM25 (Lucene) and dense (FAISS) indexes.", no_args_is_help=True)

CPUS = os.cpu_count() or 1


@contextlib.contextmanager
def progress(description: str, unit: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on stderr with a rate in `unit`/s; yields `advance(n)`."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
    )
    from rich.text import Text

    class Rate(ProgressColumn):
        def render(self, task) -> Text:
            speed = task.finished_speed or task.speed
            return Text(f"{speed:,.0f} {unit}/s" if speed else f"- {unit}/s", style="progress.data.speed")

    count = MofNCompleteColumn() if total is not None else TextColumn("{task.completed:,} " + unit)
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        count,
        Rate(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
    )
    task = bar.add_task(description, total=total)
    started = False

    def advance(n: int) -> None:
        # Started on the first item, so an error found before any work shows no empty bar above it.
        nonlocal started
        if not started:
            bar.start()
            bar.reset(task)
            started = True
        bar.advance(task, n)

    try:
        yield advance
    finally:
        if started:
            bar.stop()


@app.command("bm25")
def bm25(
    dataset: Annotated[
        str, typer.Option("--dataset", "-d", help="Dataset folder or registered name to index.")
    ],
    index: Annotated[Path, typer.Option("--index", "-i", help="Folder to write the Lucene index to.")],
    language: Annotated[
        str, typer.Option("--language", help="Analyzer language: en (Porter stemming), zh (CJK bigrams), ...")
    ] = "en",
    threads: Threads = CPUS,
    force: Annotated[bool, typer.Option("--force", help="Replace an index already at --index.")] = False,
) -> None:
    """Build a Lucene (BM25) index of every document of a dataset; the searcher reuses its --language."""
    from rankers.bm25 import build_index

    with progress("indexing", "docs") as advance:
        meta = build_index(dataset, index, language=language, threads=threads, force=force, progress=advance)
    skipped = f", {meta['skipped_empty']:,} empty documents skipped" if meta["skipped_empty"] else ""
    say(
        f"indexed {meta['documents']:,} documents of {meta['dataset_name']} ({meta['language']}) into {index} "
        f"in {meta['seconds']} s{skipped}"
    )


# ---- dense (issue 3): options here, the work in rankers.dense
@app.command("dense")
def dense(
    dataset: Annotated[
        str, typer.Option("--dataset", "-d", help="Dataset folder or registered name to index.")
    ],
    index: Annotated[Path, typer.Option("--index", "-i", help="Folder to write the FAISS index to.")],
    model: Annotated[
        str,
        typer.Option(
            "--model", "-m", help="sentence-transformers model: minilm, embeddinggemma, a path or a HF name."
        ),
    ],
    batch_size: Annotated[int, typer.Option("--batch-size", help="Texts per encoder batch.")] = 32,
    max_length: Annotated[
        int | None,
        typer.Option("--max-length", help="Tokens read per text (default: the model's own limit)."),
    ] = None,
    device: Annotated[str, typer.Option("--device", help="cpu | cuda | cuda:N.")] = "cpu",
    backend: Annotated[
        str, typer.Option("--backend", help="torch | onnx (ONNX Runtime; exported once, cached).")
    ] = "torch",
    precision: Annotated[
        str,
        typer.Option("--precision", help="fp32 | fp16 | bf16 (torch) | int8 (onnx, dynamic quantization)."),
    ] = "fp32",
    query_prompt: Annotated[
        str | None,
        typer.Option("--query-prompt", help="Text put before each query (default: the model's own)."),
    ] = None,
    doc_prompt: Annotated[
        str | None,
        typer.Option("--doc-prompt", help="Text put before each document (default: the model's own)."),
    ] = None,
    hnsw: Annotated[
        bool, typer.Option("--hnsw", help="Approximate HNSW index instead of exact inner product.")
    ] = False,
    hnsw_m: Annotated[int, typer.Option("--hnsw-m", help="HNSW links per node.")] = 32,
    chunk_tokens: Annotated[
        int | None,
        typer.Option(
            "--chunk-tokens", help="Split documents into windows of N model tokens (long documents)."
        ),
    ] = None,
    chunk_overlap: Annotated[
        int, typer.Option("--chunk-overlap", help="Tokens shared by consecutive windows.")
    ] = 0,
    checkpoint_every: Annotated[
        int,
        typer.Option(
            "--checkpoint-every", help="Texts per checkpoint shard (an interrupted run resumes there)."
        ),
    ] = 2048,
    engine: Annotated[
        str, typer.Option("--engine", help="local | ray (encode shards on a Ray cluster).")
    ] = "local",
    ray_address: Annotated[
        str | None, typer.Option("--ray-address", help="Ray cluster to join (default: start a local one).")
    ] = None,
    ray_workers: Annotated[
        int | None,
        typer.Option("--ray-workers", help="Encoder actors (default: one per CPU, or per GPU with cuda)."),
    ] = None,
    shard: Annotated[
        str | None,
        typer.Option(
            "--shard",
            help="i/n: encode only slice i of n (run n of them, then once without --shard to merge).",
        ),
    ] = None,
    threads: Annotated[
        int | None, typer.Option("--threads", help="Torch threads (default: all cores).")
    ] = None,
) -> None:
    """Encode every document of a dataset into a FAISS index (resumable: re-run the same command to continue)."""
    from rankers.data import load_dataset
    from rankers.dense import DenseConfig, build_index, parse_shard

    if threads:
        import torch

        torch.set_num_threads(threads)
    part = parse_shard(shard)
    cfg = DenseConfig(
        model=model,
        batch_size=batch_size,
        max_length=max_length,
        device=device,
        backend=backend,
        precision=precision,
        query_prompt=query_prompt,
        doc_prompt=doc_prompt,
        hnsw=hnsw,
        hnsw_m=hnsw_m,
        chunk_tokens=chunk_tokens,
        chunk_overlap=chunk_overlap,
        shard_size=checkpoint_every,
    )
    out = build_index(
        load_dataset(dataset), index, cfg, engine=engine, ray_address=ray_address, ray_workers=ray_workers,
        shard=part, say=say,
    )  # fmt: skip
    rate = out["texts_encoded"] / out["seconds"] if out["seconds"] else 0.0
    if part is not None:
        say(
            f"shard {out['shard']}: encoded {out['texts_encoded']:,} texts ({rate:,.1f} docs/s) into {out['partial']}; "
            "run the command again without --shard to assemble the index once every slice is done"
        )
        return
    rows = f" in {out['rows']:,} chunks" if out["rows"] != out["documents"] else ""
    say(
        f"indexed {out['documents']:,} documents{rows} with {model} ({out['dimension']}-d) into {index}: "
        f"{out['texts_encoded']:,} texts encoded in {out['seconds']} s ({rate:,.1f} docs/s)"
    )
