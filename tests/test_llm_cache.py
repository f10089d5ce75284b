"""The response cache and the concurrent helper (our own code; the model behind them is a scripted echo)."""

from __future__ import annotations

import threading
import time

import pytest

from rankers.llm import ChatRequest, ordered_map
from rankers.llm.base import Backend, Completion
from rankers.llm.cache import CachedBackend, ResponseCache


class Echo(Backend):
    kind = "echo"
    max_concurrency = 4

    def __init__(self, model: str = "echo-1"):
        super().__init__(model)
        self.calls = 0
        self.in_flight = self.peak = 0
        self._lock = threading.Lock()

    def _chat(self, messages, max_tokens, temperature, stop, seed) -> Completion:
        with self._lock:
            self.calls += 1
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        time.sleep(0.02)
        with self._lock:
            self.in_flight -= 1
        text = f"{messages[-1]['content']}|{max_tokens}|{temperature}|{seed}"
        return Completion(text, len(messages), 1, 0.02)

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def truncate(self, text: str, n_tokens: int) -> str:
        return " ".join(text.split()[:n_tokens])


def msg(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def test_key_covers_model_prompt_and_generation_parameters(tmp_path):
    inner = Echo()
    b = CachedBackend(inner, tmp_path)
    first = b.chat(msg("a"), max_tokens=5)
    assert not first.cached and inner.calls == 1
    again = b.chat(msg("a"), max_tokens=5)
    assert again.cached and again.text == first.text and again.prompt_tokens == first.prompt_tokens
    for other in (dict(max_tokens=6), dict(max_tokens=5, temperature=0.5), dict(max_tokens=5, seed=1)):
        assert not b.chat(msg("a"), **other).cached
    assert not b.chat(msg("b"), max_tokens=5).cached
    assert not CachedBackend(Echo("echo-2"), tmp_path).chat(msg("a"), max_tokens=5).cached
    assert inner.calls == 5


def test_cache_persists_across_processes_and_instances(tmp_path):
    CachedBackend(Echo(), tmp_path).chat(msg("x"))
    assert len(ResponseCache(tmp_path)) == 1
    inner = Echo()
    assert CachedBackend(inner, tmp_path).chat(msg("x")).cached and inner.calls == 0


def test_chat_many_keeps_order_and_runs_concurrently(tmp_path):
    inner = Echo()
    b = CachedBackend(inner, tmp_path)
    reqs = [ChatRequest(msg(f"q{i}"), max_tokens=3) for i in range(12)]
    out = list(b.chat_many(reqs, concurrency=4))
    assert [c.text.split("|")[0] for c in out] == [f"q{i}" for i in range(12)]
    assert 1 < inner.peak <= 4
    assert all(c.cached for c in b.chat_many(reqs))


def test_ordered_map_raises_in_turn_and_reads_ahead_boundedly():
    seen = []

    def items():
        for i in range(100):
            seen.append(i)
            yield i

    def f(i):
        if i == 5:
            raise ValueError("boom")
        return i * 2

    it = ordered_map(f, items(), concurrency=3)
    assert [next(it) for _ in range(5)] == [0, 2, 4, 6, 8]
    with pytest.raises(ValueError, match="boom"):
        next(it)
    assert len(seen) < 12  # it did not read the whole stream ahead


def test_a_bad_cache_dir_is_a_clear_error(tmp_path):
    from rankers.errors import RankError

    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(RankError, match="--cache-dir"):
        ResponseCache(blocker / "sub")
