"""`rank labels`: complete listwise labels (every candidate ordered) for full-ranking fine-tuning."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.common import Dataset, Split, input_run, refuse_unused, say
from cli.llm_options import (
    ApiKey,
    BaseUrl,
    CacheDir,
    Concurrency,
    ContextLength,
    MaxPassageTokens,
    MaxPassageWords,
    NoCache,
    PassageIndex,
    QueryThreads,
    ReasoningBudget,
    Retries,
    Stride,
    Template,
    Timeout,
    WindowSize,
    http_flags_unused,
    open_backend,
    queries_in_flight,
)

_LLM_FLAGS = ("window_size", "stride", "max_passage_tokens", "max_passage_words", "reasoning_budget", "template",
              "context_length", "base_url", "api_key", "concurrency", "threads", "timeout", "retries", "cache_dir",
              "no_cache", "index")  # fmt: skip


def labels(
    ctx: typer.Context,
    run: Annotated[
        Path | None,
        typer.Argument(help="The candidates in their initial order (a run file); default: stdin."),
    ] = None,
    teacher: Annotated[
        str | None,
        typer.Option(
            "--teacher", help="An LLM teacher, as --llm of rank rerank: openai:M | llamacpp:M | hf:M."
        ),
    ] = None,
    teacher_run: Annotated[
        Path | None,
        typer.Option(
            "--teacher-run", help="A run whose order is the teacher's (a cross-encoder's, a fusion's)."
        ),
    ] = None,
    qrels_first: Annotated[
        bool,
        typer.Option(
            "--qrels-first",
            help="Judged relevant documents of --dataset/--split first, by grade (ties: teacher).",
        ),
    ] = False,
    hits: Annotated[int, typer.Option("--hits", "-k", help="Label the top k candidates.")] = 100,
    window_size: WindowSize = 20,
    stride: Stride = 10,
    max_passage_tokens: MaxPassageTokens = None,
    max_passage_words: MaxPassageWords = None,
    reasoning_budget: ReasoningBudget = 0,
    template: Template = None,
    context_length: ContextLength = None,
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
    concurrency: Concurrency = None,
    threads: QueryThreads = None,
    timeout: Timeout = 600.0,
    retries: Retries = 3,
    cache_dir: CacheDir = None,
    no_cache: NoCache = False,
    dataset: Dataset = None,
    split: Split = None,
    index: PassageIndex = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Labels file (JSONL, written atomically); default stdout."),
    ] = None,
) -> None:
    """Complete listwise labels: every candidate of each query ordered, for full-ranking fine-tuning.

    Writes qid, initial_list, final_list (the format of the full-ranking paper's released data). An LLM teacher slides --window-size/--stride passes down the list until all of it is
    ordered (window 20, stride 10 over 100: 9 passes); its answers are cached (a rerun resumes) and its cost per
    query goes to <output>.cost.json."""
    from rankers.errors import RankError
    from rankers.hydrate import hydrate_from
    from rankers.io import STDIO, atomic_write, read_run, write_json
    from rankers.train.labels import label_line, llm_labels, run_labels

    if (teacher is None) == (teacher_run is None):
        raise RankError("give one teacher: --teacher BACKEND:MODEL or --teacher-run FILE")
    if hits < 1:
        raise RankError(f"--hits {hits}: must be at least 1")
    if qrels_first and dataset is None:
        raise RankError("--qrels-first: give the --dataset (and --split) whose qrels to put first")
    if teacher_run is not None:
        unused = dict.fromkeys(_LLM_FLAGS, "an option of the LLM teacher (--teacher), not --teacher-run")
        if not qrels_first:
            unused |= dict.fromkeys(
                ("dataset", "split"), "with --teacher-run, only --qrels-first reads a dataset"
            )
        refuse_unused(ctx, unused)
    else:
        refuse_unused(ctx, http_flags_unused(teacher))
    qrels = None
    if qrels_first:
        from rankers.data import load_dataset

        ds = load_dataset(dataset)
        qrels = ds.qrels(ds.check_split(split))

    rankings = input_run(run)
    totals = costs = config = None
    backend = None
    if teacher_run is not None:
        order = {r.qid: [c.docid for c in r.candidates] for r in read_run(teacher_run)}
        stream = run_labels(rankings, order, hits, qrels)
    else:
        from rankers.rerank import ListwiseReranker, Totals, listwise_template

        backend = open_backend(
            teacher, cache_dir=cache_dir, no_cache=no_cache, base_url=base_url, api_key=api_key, timeout=timeout,
            retries=retries, concurrency=concurrency, context_length=context_length,
        )  # fmt: skip
        reranker = ListwiseReranker(
            backend, "complete", hits, window_size, stride, template=listwise_template(template) if template else None,
            max_passage_tokens=max_passage_tokens, max_passage_words=max_passage_words,
            reasoning_budget=reasoning_budget,
        )  # fmt: skip
        totals, costs = Totals(), {}
        config = {"teacher": teacher, "model": backend.identity, "hits": hits, "window_size": window_size,
                  "stride": stride, "template": reranker.template.name, "max_passage": reranker.cut.describe(),
                  "qrels_first": qrels_first}  # fmt: skip
        rankings = hydrate_from(rankings, dataset, split, index, depth=hits)
        stream = llm_labels(
            rankings, reranker, hits, qrels, queries_in_flight(backend, threads, concurrency), totals, costs
        )
    try:
        n = 0
        if output is None or str(output) == STDIO:
            import sys

            for label in stream:
                sys.stdout.write(label_line(label))
                sys.stdout.flush()
                n += 1
        else:
            with atomic_write(output) as f:
                for label in stream:
                    f.write(label_line(label))
                    n += 1
    finally:
        if backend is not None:
            backend.close()
    if totals is not None:
        say(f"labels: {totals.summary()}")
        if output is not None and str(output) != STDIO:
            write_json(
                f"{output}.cost.json", {"config": config, "totals": totals.to_dict(), "per_query": costs}
            )
    elif output is not None:
        say(f"labels: wrote {n} queries to {output}")
