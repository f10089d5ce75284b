"""A local GGUF model through llama-cpp-python (optional extra `llm`), one call at a time."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

from rankers.errors import RankError
from rankers.llm.base import Backend, BackendError, Completion, Message, TokenScores, cut_utf8

INSTALL_HINT = "pip install 'rank[llm]' (llama-cpp-python; it compiles, about 11 minutes on 2 cores)"


def import_llama_cpp():
    try:
        import llama_cpp
    except ImportError:
        raise RankError(f"llamacpp: llama-cpp-python is not installed: {INSTALL_HINT}") from None
    return llama_cpp


def usable_cpus() -> int:
    """The CPUs this process may run on (`taskset -c 0 rank ...` gives llama.cpp one thread), else all of them."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


class LlamaCppBackend(Backend):
    kind = "llamacpp"

    def __init__(self, model: str, context_length: int | None = None, threads: int | None = None):
        from rankers.llm.models import resolve_gguf

        path = resolve_gguf(model)
        super().__init__(model)
        self.path = Path(path)
        llama_cpp = import_llama_cpp()
        try:
            # n_ctx=0: the context the model was trained with.
            self.llm = llama_cpp.Llama(
                model_path=str(self.path),
                n_ctx=context_length or 0,
                n_threads=threads or usable_cpus(),
                n_threads_batch=threads or usable_cpus(),
                logits_all=False,
                verbose=False,
            )
        except (ValueError, RuntimeError) as e:
            raise RankError(f"llamacpp: cannot load {self.path}: {e}") from None
        self._lock = threading.Lock()
        self._formatter = None

    @property
    def identity(self) -> dict[str, Any]:
        # The file, not the name given: a short name and its path share one cache.
        return {"backend": self.kind, "model": self.path.name, "bytes": self.path.stat().st_size}

    @property
    def context_length(self) -> int:
        return int(self.llm.n_ctx())

    def _chat(
        self,
        messages: list[Message],
        max_tokens: int,
        temperature: float,
        stop: list[str] | None,
        seed: int | None,
    ) -> Completion:
        t0 = time.perf_counter()
        with self._lock:
            try:
                out = self.llm.create_chat_completion(
                    messages=messages,
                    max_tokens=max_tokens,
                    temperature=temperature,
                    stop=stop or [],
                    seed=seed,
                )
            except ValueError as e:  # llama-cpp-python reports a prompt longer than n_ctx this way
                raise BackendError(f"llamacpp: {e}") from None
        choice = out["choices"][0]
        usage = out.get("usage") or {}
        return Completion(
            text=choice["message"].get("content") or "",
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
            wall_s=time.perf_counter() - t0,
            finish_reason=choice.get("finish_reason"),
        )

    # ---------------------------------------------------------------- prompt tokens

    def _prompt_tokens(self, messages: list[Message]) -> list[int]:
        """The chat as the model sees it: its own template (from the GGUF), ready for the assistant's turn."""
        if self._formatter is None:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            template = self.llm.metadata.get("tokenizer.chat_template")
            if not template:
                raise BackendError(f"llamacpp: {self.path.name} has no chat template")
            model = self.llm._model
            eos, bos = self.llm.token_eos(), self.llm.token_bos()
            self._formatter = Jinja2ChatFormatter(
                template=template,
                eos_token=model.token_get_text(eos) if eos != -1 else "",
                bos_token=model.token_get_text(bos) if bos != -1 else "",
            )
        prompt = self._formatter(messages=messages).prompt
        return self.llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)

    def count_chat_tokens(self, messages) -> int:
        with self._lock:
            return len(self._prompt_tokens(list(messages)))

    def _token_scores(self, messages: list[Message], candidates: list[str]) -> TokenScores:
        import numpy as np

        t0 = time.perf_counter()
        with self._lock:
            tokens = self._prompt_tokens(messages)
            if len(tokens) >= self.context_length:
                raise BackendError(
                    f"llamacpp: prompt of {len(tokens)} tokens does not fit the context of {self.context_length}"
                )
            self.llm.reset()
            self.llm.eval(tokens)
            # With logits_all=False llama.cpp keeps only the last position's logits, in the context.
            logits = np.ctypeslib.as_array(self.llm._ctx.get_logits(), shape=(self.llm.n_vocab(),)).copy()
            ids = [self._first_token(c) for c in candidates]
        return TokenScores(
            scores={c: float(logits[i]) for c, i in zip(candidates, ids, strict=True)},
            prompt_tokens=len(tokens),
            wall_s=time.perf_counter() - t0,
        )

    def _first_token(self, text: str) -> int:
        ids = self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)
        if not ids:
            raise ValueError(f"token_scores: candidate {text!r} has no tokens")
        return ids[0]

    # ---------------------------------------------------------------- tokens

    def _tokens(self, text: str) -> list[int]:
        return self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)

    def count_tokens(self, text: str) -> int:
        with self._lock:
            return len(self._tokens(text)) if text else 0

    def truncate(self, text: str, n_tokens: int) -> str:
        with self._lock:
            ids = self._tokens(text)
            if len(ids) <= n_tokens:
                return text
            return cut_utf8(self.llm.detokenize(ids[:n_tokens]))

    def close(self) -> None:
        llm = getattr(self, "llm", None)
        if llm is not None:
            llm.close()
            self.llm = None
