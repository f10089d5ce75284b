"""A scripted judge backend for the reranking algorithms: it reads the numbered passages of a RankGPT prompt
and answers with their order by relevance grade (the qrels). Only the algorithms are under test with it."""

from __future__ import annotations

import re
import time

from rankers.llm.base import Backend, BackendError, Completion, Message

_LINE = re.compile(r"^\[(\d+)\] (.*)$", re.M)
_ONLY = re.compile(r"List only the (\d+) most relevant")


class JudgeBackend(Backend):
    kind = "judge"
    max_concurrency = 4

    def __init__(self, grades: dict[str, int], context_length: int | None = None):
        super().__init__("qrels-judge")
        self.grades = grades  # passage text -> grade
        self._context = context_length
        self.calls = 0
        self.window_sizes: list[int] = []
        self.max_tokens: list[int | None] = []

    @property
    def context_length(self) -> int | None:
        return self._context

    def _chat(self, messages: list[Message], max_tokens, temperature, stop, seed) -> Completion:
        self.calls += 1
        # Passages are in the last user turn (single-turn prompts) or one per user turn (rank_llm's RankGPT).
        user = "\n".join(m["content"] for m in messages if m["role"] == "user")
        passages = [(int(n), text) for n, text in _LINE.findall(user)]
        self.window_sizes.append(len(passages))
        self.max_tokens.append(max_tokens)
        # Highest grade first; equal grades keep their order in the prompt (a stable judge).
        ranked = sorted(passages, key=lambda p: -self.grades.get(p[1], 0))
        only = _ONLY.search(user)
        if only:  # it follows an --answer-top instruction
            ranked = ranked[: int(only.group(1))]
        answer = " > ".join(f"[{n}]" for n, _ in ranked)
        return Completion(answer, self.count_chat_tokens(messages), len(ranked) * 3, 0.0)

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def truncate(self, text: str, n_tokens: int) -> str:
        return " ".join(text.split()[:n_tokens])


class FlakyBackend(Backend):
    """Answers like `inner` for `ok_calls` calls, then fails as a server that went down."""

    kind = "judge"

    def __init__(self, inner: Backend, ok_calls: int):
        super().__init__(inner.model)
        self.inner, self.ok_calls, self.calls = inner, ok_calls, 0

    def _chat(self, messages, max_tokens, temperature, stop, seed) -> Completion:
        if self.calls >= self.ok_calls:
            raise BackendError("judge: server went away")
        self.calls += 1
        time.sleep(0)
        return self.inner.chat(messages, max_tokens, temperature, stop, seed)

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def truncate(self, text: str, n_tokens: int) -> str:
        return self.inner.truncate(text, n_tokens)
