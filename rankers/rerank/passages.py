"""Passage texts as a prompt shows them: `[n]` rewritten, whitespace folded, cut to N tokens of the model."""

from __future__ import annotations

from rankers.errors import RankError
from rankers.llm.base import Backend
from rankers.rerank.parse import sanitize_passage
from rankers.run import Ranking


def require_texts(r: Ranking, depth: int) -> None:
    if not r.query.text:
        raise RankError(
            f"query {r.qid}: the run has no query text; give --dataset (or run `rank retrieve` with texts)"
        )
    for c in r.candidates[:depth]:
        if c.text is None:
            raise RankError(
                f"query {r.qid}: document {c.docid} has no text in the run; give --dataset or --index to "
                "look the passages up"
            )


def prepare(backend: Backend, texts: list[str], max_tokens: int | None) -> list[str]:
    """Sanitized passages, each cut to at most `max_tokens` tokens of the backend's own tokenizer (None: uncut)."""
    out = [sanitize_passage(t) for t in texts]
    if max_tokens:
        out = [backend.truncate(t, max_tokens) for t in out]
    return out
