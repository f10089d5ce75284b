"""`rank rerank`: LLM listwise (sliding window / full ranking), LLM yes/no pointwise, or a cross-encoder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.common import Dataset, Output, OutputFormat, Split, emit, input_run, refuse_unused, say

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
    window_size: Annotated[int, typer.Option("--window-size", help="Sliding: passages per call.")] = 20,
    stride: Annotated[
        int, typer.Option("--stride", help="Sliding: how far the window moves up each step.")
    ] = 10,
    passes: Annotated[int, typer.Option("--passes", help="Sliding: bottom-to-top sweeps.")] = 1,
    max_passage_tokens: Annotated[
        int | None,
        typer.Option(
            "--max-passage-tokens",
            help="Cut each passage to N tokens of the model (0: uncut; default: the template's cut, else 300).",
        ),
    ] = None,
    max_passage_words: Annotated[
        int | None,
        typer.Option(
            "--max-passage-words",
            help="Cut each passage to its first N whitespace-separated words, as rank_llm's max_length does.",
        ),
    ] = None,
    reasoning_budget: Annotated[
        int,
        typer.Option(
            "--reasoning-budget",
            help="Listwise: answer tokens allowed beyond the ranking itself, for models that think first.",
        ),
    ] = 0,
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
    template: Annotated[
        str | None, typer.Option("--template", help="Prompt template: a built-in name or a YAML file.")
    ] = None,
    context_length: Annotated[
        int | None,
        typer.Option("--context-length", help="The model's context in tokens (default: what it says)."),
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option("--base-url", help="openai: server URL (default: $OPENAI_BASE_URL or local :8000/v1)."),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key", help="openai: API key (default: $OPENAI_API_KEY); never printed or stored."
        ),
    ] = None,
    concurrency: Annotated[
        int | None,
        typer.Option("--concurrency", help="Queries in flight (default: 4 for openai, 1 for local models)."),
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", help="openai: seconds to wait for one answer.")
    ] = 600.0,
    retries: Annotated[
        int, typer.Option("--retries", help="openai: further tries after a failure (with backoff).")
    ] = 3,
    cache_dir: Annotated[
        Path | None,
        typer.Option("--cache-dir", help="Where LLM answers are kept (default: ~/.cache/rank/llm)."),
    ] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Neither read nor keep LLM answers.")] = False,
    dataset: Dataset = None,
    split: Split = None,
    index: Annotated[
        Path | None,
        typer.Option("--index", "-i", help="Lucene index whose stored texts fill in missing passages."),
    ] = None,
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
    if cache_dir is not None and no_cache:
        raise RankError("--cache-dir and --no-cache: give one or neither")
    for flag, value, least in (
        ("--hits", hits, 1),
        ("--concurrency", concurrency or 1, 1),
        ("--retries", retries, 0),
    ):
        if value < least:
            raise RankError(f"{flag} {value}: must be at least {least}")

    refuse_unused(ctx, _unused_flags(llm, mode, fallback_sliding))
    rankings = hydrate_from(input_run(run), dataset, split, index, depth=hits)
    backend = None
    if cross_encoder is not None:
        from rankers.rerank import CrossEncoderReranker

        reranker = CrossEncoderReranker(cross_encoder, hits=hits)
        config = {"cross_encoder": cross_encoder, "hits": hits}
        n_flight = 1
    else:
        from rankers.llm import get_backend
        from rankers.rerank import ListwiseReranker, YesNoReranker, listwise_template, pointwise_template

        backend = get_backend(
            llm,
            cache=False if no_cache else (cache_dir or True),
            base_url=base_url,
            api_key=api_key,
            timeout=timeout,
            retries=retries,
            concurrency=concurrency or 4,
            context_length=context_length,
        )
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
        n_flight = concurrency or backend.max_concurrency
    try:
        _run(rankings, reranker, n_flight, output, output_format, config)
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
    "cache_dir",
    "no_cache",
)
_HTTP = ("base_url", "api_key", "timeout", "retries")


def _unused_flags(llm: str | None, mode: str, fallback_sliding: bool) -> dict[str, str]:
    """The flags this combination of --llm/--cross-encoder and --mode cannot use, and why."""
    if llm is None:
        why = "an LLM option; --cross-encoder scores each passage with the cross-encoder"
        return dict.fromkeys(("mode", *_SLIDING, *_LISTWISE, *_LLM, *_HTTP), why)
    out: dict[str, str] = {}
    if not llm.startswith("openai:"):
        out |= dict.fromkeys(_HTTP, f"only for an openai: server, not {llm.partition(':')[0]}:")
    if mode == "pointwise":
        out |= dict.fromkeys((*_SLIDING, *_LISTWISE), "listwise only (--mode sliding or full), not pointwise")
    elif mode == "full" and not fallback_sliding:
        out |= dict.fromkeys(_SLIDING, "sliding window only; --mode full ranks all --hits in one call")
    elif mode == "sliding":
        out["fallback_sliding"] = "only with --mode full"
    return out


def _run(rankings, reranker, concurrency, output, output_format, config) -> None:
    from rankers.io import write_json
    from rankers.rerank import Totals, rerank_run

    totals = Totals()
    n = emit(rerank_run(rankings, reranker, concurrency, totals), output, output_format, tag="rerank")
    if output is not None and str(output) != "-":
        write_json(f"{output}.cost.json", {"config": config, "totals": totals.to_dict()})
    say(f"rerank: {n} queries; {totals.summary()}")
    cut_short = totals.repairs.get("truncated", 0) + totals.repairs.get("unfinished_think", 0)
    if cut_short:
        say(
            f"rerank: warning: {cut_short} answers ran out of tokens before the ranking was complete (their "
            "windows kept the prior order for what was missing); a model that thinks first needs --reasoning-budget"
        )
