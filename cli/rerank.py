"""`rank rerank`: LLM listwise (sliding window / full ranking), LLM yes/no pointwise, or a cross-encoder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.common import Dataset, Output, OutputFormat, Split, emit, input_run, refuse_unused, say
from cli.llm_options import (
    HTTP_FLAGS,
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

MODES = ("sliding", "full", "pointwise")


def rerank(
    ctx: typer.Context,
    run: Annotated[
        Path | None, typer.Argument(help="Run to rerank (JSONL/TREC/MS MARCO); default: stdin.")
    ] = None,
    llm: Annotated[
        str | None,
        typer.Option("--llm", help="LLM backend: openai:MODEL | llamacpp:PATH_OR_NAME | hf:NAME."),
    ] = None,
    mode: Annotated[
        str, typer.Option("--mode", help="sliding | full | pointwise (yes/no next-token scores).")
    ] = "sliding",
    cross_encoder: Annotated[
        str | None,
        typer.Option(
            "--cross-encoder", help="A sentence-transformers CrossEncoder (name or folder) instead of an LLM."
        ),
    ] = None,
    hits: Annotated[
        int, typer.Option("--hits", "-k", help="Rerank the top k; the rest follow in their order.")
    ] = 100,
    window_size: WindowSize = 20,
    stride: Stride = 10,
    passes: Annotated[int, typer.Option("--passes", help="Sliding: bottom-to-top sweeps.")] = 1,
    max_passage_tokens: MaxPassageTokens = None,
    max_passage_words: MaxPassageWords = None,
    reasoning_budget: ReasoningBudget = 0,
    answer_top: Annotated[
        int | None,
        typer.Option(
            "--answer-top",
            help="Listwise: ask for the best K ids only (the rest keep their order); fewer tokens to decode.",
        ),
    ] = None,
    fallback_sliding: Annotated[
        bool,
        typer.Option(
            "--fallback-sliding", help="Full: slide instead when the prompt does not fit the context."
        ),
    ] = False,
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
    output: Output = None,
    output_format: OutputFormat = None,
) -> None:
    """Rerank a run. Cost (LLM calls, tokens, wall time) goes per query in meta.cost, in totals on stderr, and
    beside an --output file as <output>.cost.json."""
    from rankers.errors import RankError
    from rankers.hydrate import hydrate_from

    if (llm is None) == (cross_encoder is None):
        raise RankError("give one of --llm BACKEND:MODEL or --cross-encoder NAME_OR_PATH")
    if mode not in MODES:
        raise RankError(f"--mode {mode}: expected one of {', '.join(MODES)}")
    if hits < 1:
        raise RankError(f"--hits {hits}: must be at least 1")

    refuse_unused(ctx, _unused_flags(llm, mode, fallback_sliding))
    rankings = hydrate_from(input_run(run), dataset, split, index, depth=hits)
    backend = None
    if cross_encoder is not None:
        from rankers.rerank import CrossEncoderReranker

        reranker = CrossEncoderReranker(cross_encoder, hits=hits)
        config = {"cross_encoder": cross_encoder, "hits": hits}
        n_flight = 1
    else:
        from rankers.rerank import ListwiseReranker, YesNoReranker, listwise_template, pointwise_template

        backend = open_backend(
            llm, cache_dir=cache_dir, no_cache=no_cache, base_url=base_url, api_key=api_key, timeout=timeout,
            retries=retries, concurrency=concurrency, context_length=context_length,
        )  # fmt: skip
        if mode == "pointwise":
            tpl = pointwise_template(template) if template else None
            reranker = YesNoReranker(
                backend,
                hits=hits,
                max_passage_tokens=max_passage_tokens,
                template=tpl,
                max_passage_words=max_passage_words,
            )
        else:
            tpl = listwise_template(template) if template else None
            reranker = ListwiseReranker(
                backend,
                mode,
                hits,
                window_size,
                stride,
                passes,
                max_passage_tokens,
                fallback_sliding,
                template=tpl,
                answer_top=answer_top,
                max_passage_words=max_passage_words,
                reasoning_budget=reasoning_budget,
            )
        config = {
            "llm": llm,
            "model": backend.identity,
            "mode": mode,
            "hits": hits,
            "max_passage": reranker.cut.describe(),
            "template": reranker.template.name,
        } | ({"window_size": window_size, "stride": stride, "passes": passes} if mode == "sliding" else {})
        if answer_top is not None:
            config["answer_top"] = answer_top
        if reasoning_budget:
            config["reasoning_budget"] = reasoning_budget
        n_flight = queries_in_flight(backend, threads, concurrency)
    try:
        _run(rankings, reranker, n_flight, output, output_format, config, backend)
    finally:
        if backend is not None:
            backend.close()


_SLIDING = ("window_size", "stride", "passes")
_LISTWISE = ("answer_top", "reasoning_budget", "fallback_sliding")
_LLM = (
    "max_passage_tokens",
    "max_passage_words",
    "template",
    "context_length",
    "concurrency",
    "threads",
    "cache_dir",
    "no_cache",
)


def _unused_flags(llm: str | None, mode: str, fallback_sliding: bool) -> dict[str, str]:
    """The flags this combination of --llm/--cross-encoder and --mode cannot use, and why."""
    if llm is None:
        why = "an LLM option; --cross-encoder scores each passage with the cross-encoder"
        return dict.fromkeys(("mode", *_SLIDING, *_LISTWISE, *_LLM, *HTTP_FLAGS), why)
    out = http_flags_unused(llm)
    if mode == "pointwise":
        out |= dict.fromkeys((*_SLIDING, *_LISTWISE), "listwise only (--mode sliding or full), not pointwise")
    elif mode == "full" and not fallback_sliding:
        out |= dict.fromkeys(_SLIDING, "sliding window only; --mode full ranks all --hits in one call")
    elif mode == "sliding":
        out["fallback_sliding"] = "only with --mode full"
    return out


def _run(rankings, reranker, concurrency, output, output_format, config, backend=None) -> None:
    from rankers.io import write_json
    from rankers.rerank import Totals, rerank_run

    totals = Totals()
    emit(rerank_run(rankings, reranker, concurrency, totals), output, output_format, tag="rerank")
    # Several openai: endpoints: calls and errors per endpoint, and the calls moved to another after a failure.
    endpoints = backend.endpoint_stats() if backend is not None else {}
    if output is not None and str(output) != "-":
        side = {"config": config, "totals": totals.to_dict()}
        write_json(f"{output}.cost.json", side | ({"endpoints": endpoints} if endpoints else {}))
    say(f"rerank: {totals.summary()}")
    if len(endpoints.get("endpoints", ())) > 1 or endpoints.get("failovers"):
        per = ", ".join(f"{e['url']} {e['calls']} calls/{e['errors']} errors" for e in endpoints["endpoints"])
        say(f"rerank: endpoints: {per}; {endpoints['failovers']} calls moved to another endpoint")
    cut_short = totals.repairs.get("truncated", 0) + totals.repairs.get("unfinished_think", 0)
    if cut_short:
        say(
            f"rerank: warning: {cut_short} answers were cut at the answer budget before the ranking was complete "
            "(their windows kept the prior order for what was missing); a model that thinks first needs "
            "--reasoning-budget"
        )
