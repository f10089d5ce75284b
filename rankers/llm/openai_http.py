"""Any OpenAI-compatible chat-completions server: vLLM, SGLang, Ollama, llama.cpp's servers, OpenAI itself.

Plain HTTP from the standard library, one request per thread, so many queries can be in flight. Token
counting asks the server's tokenizer where it has one (llama-cpp-python's /extras/tokenize, vLLM's and
llama-server's /tokenize); elsewhere (OpenAI) it falls back to an estimate and says so once.
The API key goes into the Authorization header only: it is never part of a message, a log or a cache key.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from rankers.errors import RankError
from rankers.llm.base import Backend, BackendError, Completion, Message, TokenScores, cut_utf8
from rankers.llm.endpoints import EndpointPool

LOOPBACK = {"localhost", "127.0.0.1", "::1", "0.0.0.0"}
DEFAULT_BASE_URL = "http://127.0.0.1:8000/v1"
# Statuses worth another try: rate limits, overload, a server still loading its model.
RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


def public_url(url: str) -> str:
    """The URL without user:password@ and without a query string, fit to print."""
    p = urlsplit(url)
    host = p.hostname or ""
    if p.port:
        host = f"{host}:{p.port}"
    return urlunsplit((p.scheme, host, p.path, "", ""))


def split_urls(base_url: str | Sequence[str]) -> list[str]:
    """Endpoint URLs from a comma-separated string or a list of them (a repeated --base-url)."""
    parts = [base_url] if isinstance(base_url, str) else list(base_url)
    urls = [u.strip() for p in parts for u in p.split(",") if u.strip()]
    if not urls:
        raise RankError("--base-url: no URL given")
    return urls


def _root(base_url: str) -> str:
    """The server root: the base URL without its trailing /v1 (where the tokenize endpoints live)."""
    return base_url[: -len("/v1")] if base_url.endswith("/v1") else base_url


class OpenAIBackend(Backend):
    kind = "openai"

    def __init__(
        self,
        model: str,
        base_url: str | Sequence[str] | None = None,
        api_key: str | None = None,
        timeout: float = 600.0,
        retries: int = 3,
        backoff: float = 1.0,
        concurrency: int = 4,
        context_length: int | None = None,
        cooldown: float = 2.0,
    ):
        super().__init__(model)
        urls = split_urls(base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL)
        self._key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        for url in urls:
            p = urlsplit(url)
            if p.scheme not in ("http", "https") or not p.hostname:
                raise RankError(f"--base-url {public_url(url)}: expected http(s)://host[:port]/v1")
            if not self._key and p.hostname not in LOOPBACK:
                raise RankError(
                    f"--base-url {public_url(url)} is a remote endpoint and no API key was given "
                    "(set OPENAI_API_KEY or pass --api-key)"
                )
        # Every endpoint serves the same model; calls go to the least busy one, a failed call to another.
        self.pool = EndpointPool(
            [(u.rstrip("/"), public_url(u)) for u in urls], concurrency=max(1, concurrency), cooldown=cooldown
        )
        self.base_url = self.pool.endpoints[0].url
        self.timeout, self.retries, self.backoff = timeout, max(0, retries), backoff
        # Calls in flight over all endpoints: the per-endpoint limit times the endpoints.
        self.max_concurrency = self.pool.slots
        self._context_length = context_length
        self._context_probed = context_length is not None
        self._tokenizer: str | None = (
            None  # which tokenize endpoint answers: "extras" | "vllm" | "llamaserver" | "estimate"
        )
        self._lock = threading.Lock()

    def endpoint_stats(self) -> dict[str, Any]:
        """Calls and errors per endpoint and the failovers (calls moved to another endpoint after a failure)."""
        return self.pool.stats()

    # ---------------------------------------------------------------- HTTP

    def _request(
        self, path: str, body: dict[str, Any] | None, retries: int | None = None, root: bool = False
    ) -> dict[str, Any]:
        """POST (or GET without a body) `path` under an endpoint's base URL (or its root, without /v1).

        A failure moves the call to an endpoint it has not tried yet this round; when all have failed, it waits
        (backoff) and starts another round, `retries + 1` rounds in all (see rankers.llm.endpoints).
        """
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        data = json.dumps(body).encode("utf-8") if body is not None else None
        rounds = (self.retries if retries is None else retries) + 1
        tried: set[int] = set()
        done = 0
        reason, status, url = "", None, ""
        while True:
            e = self.pool.acquire(tried)
            url = f"{_root(e.url) if root else e.url}{path}"
            req = urllib.request.Request(url, data=data, headers=headers, method="POST" if data else "GET")
            t0 = time.perf_counter()
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    raw = resp.read()
            except urllib.error.HTTPError as err:
                detail = _error_detail(err)
                if err.code not in RETRY_STATUS:
                    self.pool.release(e, True, time.perf_counter() - t0)  # it answered: the endpoint is up
                    raise BackendError(
                        f"openai: {public_url(url)} answered HTTP {err.code}: {detail}", err.code
                    ) from None
                reason, status = f"HTTP {err.code}: {detail}".strip(), err.code
            except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as err:
                r = getattr(err, "reason", err)
                reason = "timed out" if isinstance(r, TimeoutError) or "timed out" in str(r) else str(r)
                status = None
            else:
                self.pool.release(e, True, time.perf_counter() - t0)
                try:
                    return json.loads(raw.decode("utf-8"))
                except (json.JSONDecodeError, UnicodeDecodeError):
                    raise BackendError(
                        f"openai: {public_url(url)} answered something that is not JSON"
                    ) from None
            tried.add(e._order)
            if len(tried) < len(self.pool):
                self.pool.release(e, False, failover=True)
                continue
            self.pool.release(e, False)
            done += 1
            if done >= rounds:
                break
            tried.clear()
            time.sleep(self.backoff * 2 ** (done - 1))
        tries = rounds * len(self.pool)
        n = f"{tries} tr{'y' if tries == 1 else 'ies'}"
        where = (
            public_url(url)
            if len(self.pool) == 1
            else f"{len(self.pool)} endpoints (last: {public_url(url)})"
        )
        if status is not None:
            raise BackendError(f"openai: {where} answered {reason} ({n})", status)
        raise BackendError(
            f"openai: {where} did not answer after {n} ({reason}); "
            "is the server running? Answers received so far are cached."
        )

    # ---------------------------------------------------------------- chat

    def _chat(
        self,
        messages: list[Message],
        max_tokens: int,
        temperature: float,
        stop: list[str] | None,
        seed: int | None,
    ) -> Completion:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": temperature,
        }
        if stop:
            body["stop"] = stop
        if seed is not None:
            body["seed"] = seed
        t0 = time.perf_counter()
        try:
            out = self._request("/chat/completions", body)
        except BackendError as e:
            raise _context_error(e) from None
        wall = time.perf_counter() - t0
        try:
            choice = out["choices"][0]
            text = choice["message"].get("content") or ""
            usage = out.get("usage") or {}
        except (KeyError, IndexError, TypeError, AttributeError):
            raise BackendError(
                f"openai: {public_url(self.base_url)} answered without choices[0].message"
            ) from None
        prompt_tokens = usage.get("prompt_tokens")
        completion_tokens = usage.get("completion_tokens")
        return Completion(
            text=text,
            prompt_tokens=int(prompt_tokens)
            if prompt_tokens is not None
            else self.count_chat_tokens(messages),
            completion_tokens=int(completion_tokens)
            if completion_tokens is not None
            else self.count_tokens(text),
            wall_s=wall,
            finish_reason=choice.get("finish_reason"),
        )

    def _token_scores(self, messages: list[Message], candidates: list[str]) -> TokenScores:
        """From the top log-probabilities of a one-token answer; a candidate not among them gets a floor below all."""
        body = {
            "model": self.model,
            "messages": messages,
            "max_tokens": 1,
            "temperature": 0.0,
            "logprobs": True,
            "top_logprobs": 20,
        }
        t0 = time.perf_counter()
        out = self._request("/chat/completions", body)
        wall = time.perf_counter() - t0
        try:
            top = out["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
            pairs = [(t["token"], float(t["logprob"])) for t in top]
        except (KeyError, IndexError, TypeError):
            raise BackendError(
                f"openai: {public_url(self.base_url)} gives no top_logprobs; pointwise scoring needs them"
            ) from None
        floor = min((lp for _, lp in pairs), default=0.0) - 1.0
        scores = {}
        for c in candidates:
            hits = [lp for tok, lp in pairs if tok.strip() == c.strip()]
            scores[c] = max(hits) if hits else floor
        prompt_tokens = (out.get("usage") or {}).get("prompt_tokens") or 0
        return TokenScores(scores=scores, prompt_tokens=int(prompt_tokens), wall_s=wall)

    # ---------------------------------------------------------------- context

    @property
    def context_length(self) -> int | None:
        if not self._context_probed:
            with self._lock:
                if not self._context_probed:
                    self._context_length = self._probe_context()
                    self._context_probed = True
        return self._context_length

    def _probe_context(self) -> int | None:
        try:
            models = self._request("/models", None, retries=0).get("data") or []
        except BackendError:
            return None
        for m in models:
            if m.get("id") not in (self.model, None) and len(models) > 1:
                continue
            for key in ("max_model_len", "context_length", "context_window", "n_ctx"):
                if isinstance(m.get(key), int):
                    return m[key]
            meta = m.get("meta") or {}
            for key in ("n_ctx", "n_ctx_train"):
                if isinstance(meta.get(key), int):
                    return meta[key]
        return None

    # ---------------------------------------------------------------- tokens

    def _tokenize(self, text: str) -> list[int] | None:
        """Token ids from the server's own tokenizer, or None where the server has none."""
        if self._tokenizer is None:
            with self._lock:
                if self._tokenizer is None:
                    self._tokenizer = self._find_tokenizer()
        if self._tokenizer == "estimate":
            return None
        return self._tokenize_with(self._tokenizer, text)

    def _tokenize_with(self, name: str, text: str, retries: int | None = None) -> list[int]:
        path, body = {
            "extras": ("/extras/tokenize", {"input": text, "model": self.model}),
            "vllm": ("/tokenize", {"model": self.model, "prompt": text, "add_special_tokens": False}),
            "llamaserver": ("/tokenize", {"content": text}),
        }[name]
        tokens = self._request(path, body, retries, root=True).get("tokens")
        if not isinstance(tokens, list):
            raise BackendError(f"openai: {path} answered without a token list", 200)
        return [t if isinstance(t, int) else t.get("id") for t in tokens]

    def _find_tokenizer(self) -> str:
        """Which tokenize endpoint this server has. A server that does not answer at all is an error, not a
        reason to estimate: the first call fails as a chat call would."""
        for name in ("extras", "vllm", "llamaserver"):
            try:
                # An empty answer means the server ignored our field names: another server's endpoint.
                if self._tokenize_with(name, "probe"):
                    return name
            except BackendError as e:
                if e.status is None:
                    raise
        print(
            f"rank: note: {self.pool.endpoints[0].public + ' has' if len(self.pool) == 1 else 'the endpoints have'} "
            "no tokenize endpoint; token counts are estimates "
            "(about 4 bytes per token)",
            file=sys.stderr,
        )
        return "estimate"

    def _detokenize(self, tokens: list[int]) -> str:
        if self._tokenizer == "extras":
            path, body, field = "/extras/detokenize", {"tokens": tokens, "model": self.model}, "text"
        elif self._tokenizer == "vllm":
            path, body, field = "/detokenize", {"model": self.model, "tokens": tokens}, "prompt"
        else:
            path, body, field = "/detokenize", {"tokens": tokens}, "content"
        return self._request(path, body, retries=0, root=True)[field]

    def count_tokens(self, text: str) -> int:
        if not text:
            return 0
        ids = self._tokenize(text)
        return len(ids) if ids is not None else math.ceil(len(text.encode("utf-8")) / 4)

    def truncate(self, text: str, n_tokens: int) -> str:
        ids = self._tokenize(text)
        if ids is None:
            return cut_utf8(text.encode("utf-8")[: 4 * n_tokens])
        if len(ids) <= n_tokens:
            return text
        # A cut inside a multi-byte character makes some servers fail to decode (llama-cpp-python answers
        # HTTP 500): step back a token at a time; a UTF-8 character spans at most 4 tokens of bytes.
        for k in range(n_tokens, max(n_tokens - 4, 0), -1):
            try:
                cut = self._detokenize(ids[:k])
            except BackendError as e:
                if e.status is None:
                    raise
                continue
            if text.startswith(cut) or k == n_tokens - 3:
                return cut
        return ""

    def count_chat_tokens(self, messages: Sequence[Message]) -> int:
        return super().count_chat_tokens(messages)


_CONTEXT = re.compile(r"context window of (\d+)|maximum context length is (\d+)")


def _context_error(e: BackendError) -> BackendError:
    """A server's "prompt too long" as a message that says what to do (servers word it their own way)."""
    m = _CONTEXT.search(str(e)) if e.status else None
    if m is None:
        return e
    n = m.group(1) or m.group(2)
    return BackendError(
        f"{e} -- the prompt does not fit the model's context of {n} tokens: lower --hits or "
        f"--max-passage-tokens, or pass --context-length {n} so that prompts are checked before they are sent",
        e.status,
    )


def _error_detail(e: urllib.error.HTTPError) -> str:
    """The server's own error message, short; servers put it in {"error": {"message"}} or {"detail"}."""
    try:
        body = json.loads(e.read().decode("utf-8", errors="replace"))
    except Exception:
        return e.reason if isinstance(e.reason, str) else ""
    err = body.get("error") if isinstance(body, dict) else None
    msg = (err.get("message") if isinstance(err, dict) else err) or (
        body.get("detail") if isinstance(body, dict) else ""
    )
    return str(msg)[:300]
