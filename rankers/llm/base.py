"""What every LLM backend offers: chat completions, token counting and truncation, next-token scores.

The reranking algorithms and Promptagator-style generation are written against this interface only, so the
same code runs on an OpenAI-compatible server, a local GGUF (llama.cpp) or a Hugging Face causal LM.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from rankers.errors import RankError

Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": str}


class BackendError(RankError):
    """The model or server failed (down, timed out, refused the request); the message never holds a key."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status  # the HTTP status where a server answered with an error


@dataclass(slots=True)
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int
    wall_s: float
    cached: bool = False
    finish_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Completion:
        return cls(**{k: d[k] for k in cls.__slots__ if k in d})


@dataclass(slots=True)
class ChatRequest:
    """One call's arguments, for `chat_many`."""

    messages: list[Message]
    max_tokens: int = 256
    temperature: float = 0.0
    stop: list[str] | None = None
    seed: int | None = 0
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class TokenScores:
    """Next-token log-scores of some candidate strings (their first token), and what it cost."""

    scores: dict[str, float]
    prompt_tokens: int
    wall_s: float
    cached: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TokenScores:
        return cls(**{k: d[k] for k in cls.__slots__ if k in d})


class Backend(ABC):
    """A chat model. Subclasses implement `_chat`, the tokenizer methods and, where they can, `_token_scores`."""

    kind: str = "?"
    # How many calls may be in flight at once: HTTP servers batch them; a local model runs one at a time.
    max_concurrency: int = 1

    def __init__(self, model: str):
        self.model = model

    # ---------------------------------------------------------------- identity

    @property
    def identity(self) -> dict[str, Any]:
        """What makes two backends give the same answers: part of every cache key (never a key or URL secret)."""
        return {"backend": self.kind, "model": self.model}

    @property
    def context_length(self) -> int | None:
        """Tokens the model can attend to (prompt + answer); None where the server does not say."""
        return None

    # ---------------------------------------------------------------- generation

    def chat(
        self,
        messages: Sequence[Message],
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
        seed: int | None = 0,
    ) -> Completion:
        _check_messages(messages)
        return self._chat(list(messages), max_tokens, temperature, list(stop) if stop else None, seed)

    @abstractmethod
    def _chat(
        self,
        messages: list[Message],
        max_tokens: int,
        temperature: float,
        stop: list[str] | None,
        seed: int | None,
    ) -> Completion: ...

    def chat_many(
        self, requests: Iterable[ChatRequest], concurrency: int | None = None
    ) -> Iterator[Completion]:
        """Completions of many requests, in request order, up to `concurrency` in flight (default: the backend's)."""
        from rankers.llm.concurrent import ordered_map

        n = concurrency or self.max_concurrency
        yield from ordered_map(
            lambda r: self.chat(r.messages, r.max_tokens, r.temperature, r.stop, r.seed), requests, n
        )

    def token_scores(self, messages: Sequence[Message], candidates: Sequence[str]) -> TokenScores:
        """Log-scores of the first token of each candidate as the next token of the assistant's answer.

        Only differences between candidates are meaningful (logits, or log-probabilities where a server
        gives only those); used for pointwise yes/no relevance.
        """
        _check_messages(messages)
        if not candidates:
            raise ValueError("token_scores: no candidates")
        return self._token_scores(list(messages), list(candidates))

    def _token_scores(self, messages: list[Message], candidates: list[str]) -> TokenScores:
        raise BackendError(f"{self.kind}: next-token scores are not available from this backend")

    # ---------------------------------------------------------------- tokens

    @abstractmethod
    def count_tokens(self, text: str) -> int: ...

    @abstractmethod
    def truncate(self, text: str, n_tokens: int) -> str:
        """The longest prefix of `text` of at most `n_tokens` tokens, cut on a token (never inside a character)."""

    def count_chat_tokens(self, messages: Sequence[Message]) -> int:
        """Prompt tokens of a chat, template included (an estimate where the backend cannot apply the template)."""
        # Chat templates add a handful of tokens per message (role markers); 8 is a safe upper figure.
        return sum(self.count_tokens(m["content"]) + 8 for m in messages) + 4

    def endpoint_stats(self) -> dict[str, Any]:
        """Calls, errors and failovers per server endpoint, where the backend talks to servers (else empty)."""
        return {}

    def close(self) -> None:
        """Free the model or connection."""
        return None

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.model!r})"


def _check_messages(messages: Sequence[Message]) -> None:
    if not messages:
        raise ValueError("chat: no messages")
    for m in messages:
        if not isinstance(m, dict) or "role" not in m or "content" not in m:
            raise ValueError(f"chat: a message must be {{'role', 'content'}}, got {m!r}")


def logsumexp(xs: Iterable[float]) -> float:
    xs = [x for x in xs if x != -math.inf]
    if not xs:
        return -math.inf
    m = max(xs)
    return m + math.log(sum(math.exp(x - m) for x in xs))


def cut_utf8(data: bytes) -> str:
    """Decode bytes cut at a token boundary: a multi-byte character split by the cut is dropped, not mangled."""
    return data.decode("utf-8", errors="ignore")
