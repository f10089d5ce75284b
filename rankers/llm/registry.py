"""`get_backend("openai:MODEL" | "llamacpp:PATH_OR_NAME" | "hf:NAME")`: one string picks the backend and model."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rankers.errors import RankError
from rankers.llm.base import Backend

KINDS = ("openai", "llamacpp", "hf")


def parse_spec(spec: str) -> tuple[str, str]:
    kind, sep, model = spec.partition(":")
    if not sep or kind not in KINDS or not model:
        raise RankError(
            f"--llm {spec!r}: expected BACKEND:MODEL with BACKEND one of {', '.join(KINDS)} "
            "(e.g. openai:gpt-4o-mini, llamacpp:qwen2.5-coder-1.5b, hf:Qwen/Qwen2.5-1.5B-Instruct)"
        )
    return kind, model


def get_backend(
    spec: str,
    *,
    cache: bool | str | Path = False,
    base_url: str | Sequence[str] | None = None,
    api_key: str | None = None,
    timeout: float = 600.0,
    retries: int = 3,
    backoff: float = 1.0,
    concurrency: int = 4,
    context_length: int | None = None,
    **backend_options: Any,
) -> Backend:
    """A backend from its spec. `cache=True` keeps every answer under the default cache folder, a path there.

    HTTP options (base_url, api_key, timeout, retries, backoff, concurrency) apply to `openai:`; the key and
    URL also come from OPENAI_API_KEY / OPENAI_BASE_URL. Several base URLs (a list, or comma-separated) are
    endpoints of the same model: `concurrency` calls in flight on each, a failed call moved to another. `context_length` overrides what the model says.
    """
    kind, model = parse_spec(spec)
    backend: Backend
    if kind == "openai":
        from rankers.llm.openai_http import OpenAIBackend

        backend = OpenAIBackend(
            model,
            base_url=base_url,
            api_key=api_key,
            timeout=timeout,
            retries=retries,
            backoff=backoff,
            concurrency=concurrency,
            context_length=context_length,
        )
    elif kind == "llamacpp":
        from rankers.llm.llamacpp import LlamaCppBackend

        backend = LlamaCppBackend(model, context_length=context_length, **backend_options)
    else:
        from rankers.llm.hf import HFBackend

        backend = HFBackend(model, context_length=context_length, **backend_options)
    if cache:
        from rankers.llm.cache import CachedBackend, default_cache_dir

        backend = CachedBackend(backend, default_cache_dir() if cache is True else Path(cache))
    return backend
