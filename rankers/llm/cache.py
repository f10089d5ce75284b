"""Every LLM answer on disk, so that a rerun makes no call and a killed run resumes where it stopped.

One SQLite file; each answer is committed as soon as it arrives (SQLite's journal makes that write atomic,
and several processes may share the file). The key is a hash of the backend's identity (kind, model), the
messages and the generation parameters; never of an API key or a URL.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rankers.errors import RankError
from rankers.llm.base import Backend, Completion, Message, TokenScores


def default_cache_dir() -> Path:
    if os.environ.get("RANK_CACHE_DIR"):
        return Path(os.environ["RANK_CACHE_DIR"]) / "llm"
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "rank" / "llm"


class ResponseCache:
    """A key -> JSON store in one SQLite file, safe to share between threads and processes."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self.path = self.directory / "responses.sqlite"
            self._db = sqlite3.connect(self.path, timeout=60, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
            )
        except (OSError, sqlite3.Error) as e:
            raise RankError(f"--cache-dir {directory}: cannot open the response cache ({e})") from None
        self._lock = threading.Lock()

    def get(self, key: str) -> dict[str, Any] | None:
        try:
            with self._lock:
                row = self._db.execute("SELECT value FROM responses WHERE key = ?", (key,)).fetchone()
            return json.loads(row[0]) if row else None
        except (sqlite3.Error, ValueError) as e:
            raise RankError(f"{self.path}: cannot read the response cache ({e})") from None

    def put(self, key: str, value: dict[str, Any]) -> None:
        try:
            with self._lock:
                self._db.execute(
                    "INSERT OR REPLACE INTO responses (key, value) VALUES (?, ?)",
                    # ASCII: a model's answer may hold a lone surrogate, which UTF-8 cannot store.
                    (key, json.dumps(value)),
                )
        except sqlite3.Error as e:
            # A full disk or a read-only folder: each answer is its own transaction, so those before are kept.
            raise RankError(
                f"{self.path}: cannot write the response cache ({e}); the answers cached so far are kept"
            ) from None

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()


def cache_key(kind: str, identity: dict[str, Any], payload: dict[str, Any]) -> str:
    blob = json.dumps({"kind": kind, "id": identity, **payload}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class CachedBackend(Backend):
    """Wraps any backend: answers come from the cache when present (marked `cached`), else from the model."""

    def __init__(self, inner: Backend, cache: ResponseCache | str | Path):
        super().__init__(inner.model)
        self.inner = inner
        self.cache = cache if isinstance(cache, ResponseCache) else ResponseCache(cache)
        self.kind = inner.kind
        self.max_concurrency = inner.max_concurrency

    @property
    def identity(self) -> dict[str, Any]:
        return self.inner.identity

    @property
    def context_length(self) -> int | None:
        return self.inner.context_length

    def _chat(
        self,
        messages: list[Message],
        max_tokens: int,
        temperature: float,
        stop: list[str] | None,
        seed: int | None,
    ) -> Completion:
        key = cache_key(
            "chat",
            self.identity,
            {
                "messages": messages,
                "max_tokens": max_tokens,
                "temperature": temperature,
                "stop": stop,
                "seed": seed,
            },
        )
        hit = self.cache.get(key)
        if hit is not None:
            c = Completion.from_dict(hit)
            c.cached = True
            return c
        c = self.inner.chat(messages, max_tokens, temperature, stop, seed)
        self.cache.put(key, c.to_dict() | {"cached": False})
        return c

    def _token_scores(self, messages: list[Message], candidates: list[str]) -> TokenScores:
        key = cache_key("token_scores", self.identity, {"messages": messages, "candidates": candidates})
        hit = self.cache.get(key)
        if hit is not None:
            s = TokenScores.from_dict(hit)
            s.cached = True
            return s
        s = self.inner.token_scores(messages, candidates)
        self.cache.put(key, s.to_dict() | {"cached": False})
        return s

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def truncate(self, text: str, n_tokens: int) -> str:
        return self.inner.truncate(text, n_tokens)

    def count_chat_tokens(self, messages: Sequence[Message]) -> int:
        return self.inner.count_chat_tokens(messages)

    def endpoint_stats(self) -> dict[str, Any]:
        return self.inner.endpoint_stats()

    def close(self) -> None:
        self.inner.close()
        self.cache.close()
