"""The LLM flags `rank rerank` and `rank labels` share (the same names, help and defaults), and the backend they
open. Light imports only."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

WindowSize = Annotated[int, typer.Option("--window-size", help="Sliding: passages per call.")]
Stride = Annotated[int, typer.Option("--stride", help="Sliding: how far the window moves up each step.")]
MaxPassageTokens = Annotated[
    int | None,
    typer.Option(
        "--max-passage-tokens",
        help="Cut each passage to N tokens of the model (0: uncut; default: the template's cut, else 300).",
    ),
]
MaxPassageWords = Annotated[
    int | None,
    typer.Option(
        "--max-passage-words",
        help="Cut each passage to its first N whitespace-separated words, as rank_llm's max_length does.",
    ),
]
ReasoningBudget = Annotated[
    int,
    typer.Option(
        "--reasoning-budget",
        help="Listwise: answer tokens allowed beyond the ranking itself, for models that think first.",
    ),
]
Template = Annotated[
    str | None,
    typer.Option(
        "--template",
        help="Prompt template: a YAML file or a built-in: rank (default), rank_gpt and rank_zephyr "
        "(rank_llm's prompts, exactly), yes_no (pointwise).",
    ),
]
ContextLength = Annotated[
    int | None,
    typer.Option("--context-length", help="The model's context in tokens (default: what it says)."),
]
BaseUrl = Annotated[
    list[str] | None,
    typer.Option(
        "--base-url",
        metavar="URL[,URL...]",
        help="openai: server URL (default: $OPENAI_BASE_URL or local :8000/v1). Several endpoints of the same "
        "model: comma-separated or a repeated flag; calls go to the least busy, a failed call to another.",
    ),
]
ApiKey = Annotated[
    str | None,
    typer.Option("--api-key", help="openai: API key (default: $OPENAI_API_KEY); never printed or stored."),
]
Concurrency = Annotated[
    int | None,
    typer.Option(
        "--concurrency",
        help="openai: calls in flight per endpoint (default 4); a local model: queries in flight (default 1).",
    ),
]
QueryThreads = Annotated[
    int | None,
    typer.Option(
        "--threads",
        help="Queries in parallel (default: endpoints x --concurrency for openai:); a query's sliding-window "
        "calls are sequential, output stays in input order.",
    ),
]
Timeout = Annotated[float, typer.Option("--timeout", help="openai: seconds to wait for one answer.")]
Retries = Annotated[
    int, typer.Option("--retries", help="openai: further tries after a failure (with backoff).")
]
CacheDir = Annotated[
    Path | None,
    typer.Option("--cache-dir", help="Where LLM answers are kept (default: ~/.cache/rank/llm)."),
]
NoCache = Annotated[bool, typer.Option("--no-cache", help="Neither read nor keep LLM answers.")]
PassageIndex = Annotated[
    Path | None,
    typer.Option("--index", "-i", help="Lucene index whose stored texts fill in missing passages."),
]

# Flags of an openai: server only, refused with any other backend.
HTTP_FLAGS = ("base_url", "api_key", "timeout", "retries")


def open_backend(
    llm: str,
    *,
    cache_dir: Path | None,
    no_cache: bool,
    base_url: list[str] | str | None,
    api_key: str | None,
    timeout: float,
    retries: int,
    concurrency: int | None,
    context_length: int | None,
):
    """The backend of `--llm`, behind the answer cache unless --no-cache."""
    from rankers.errors import RankError
    from rankers.llm import get_backend

    if cache_dir is not None and no_cache:
        raise RankError("--cache-dir and --no-cache: give one or neither")
    for flag, value, least in (("--concurrency", concurrency or 1, 1), ("--retries", retries, 0)):
        if value < least:
            raise RankError(f"{flag} {value}: must be at least {least}")
    return get_backend(
        llm,
        cache=False if no_cache else (cache_dir or True),
        base_url=base_url,
        api_key=api_key,
        timeout=timeout,
        retries=retries,
        concurrency=concurrency or 4,
        context_length=context_length,
    )


def queries_in_flight(backend, threads: int | None, concurrency: int | None) -> int:
    """How many queries run at once: --threads, else every slot of an openai: backend's endpoints, else
    --concurrency (a local model)."""
    from rankers.errors import RankError

    if threads is not None and threads < 1:
        raise RankError(f"--threads {threads}: must be at least 1")
    if threads is not None:
        return threads
    return backend.max_concurrency if backend.kind == "openai" else concurrency or backend.max_concurrency


def http_flags_unused(llm: str) -> dict[str, str]:
    """The HTTP flags, refused (see cli.common.refuse_unused) unless the backend is an openai: server."""
    if llm.startswith("openai:"):
        return {}
    return dict.fromkeys(HTTP_FLAGS, f"only for an openai: server, not {llm.partition(':')[0]}:")
