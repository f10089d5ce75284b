"""Query and passage texts as a prompt shows them, prepared in one of two styles.

`rank`: whitespace folded, `[n]` (look-alike brackets and digits too) rewritten as `(n)` so it cannot pass for
an id, passages cut to N tokens of the model's own tokenizer or to N words.
`rank_llm`: exactly what rank_llm 0.25.7 does (`_convert_doc_to_prompt_content`, `_replace_number`): strip, ftfy,
cut to N whitespace-separated words, ASCII `[n]` -> `(n)`, in passages and in the query.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rankers.errors import RankError
from rankers.llm.base import Backend
from rankers.rerank.parse import sanitize_passage
from rankers.run import Ranking

_RANK_LLM_NUMBER = re.compile(r"\[(\d+)\]")


@dataclass(frozen=True, slots=True)
class Cut:
    """How long a passage may be: N tokens of the model, or N whitespace words (rank_llm's `max_length`)."""

    tokens: int | None = None
    words: int | None = None

    def __post_init__(self) -> None:
        if self.tokens is not None and self.words is not None:
            raise RankError("--max-passage-tokens and --max-passage-words: give one of them")

    def describe(self) -> str:
        if self.words:
            return f"{self.words} words"
        return f"{self.tokens} tokens" if self.tokens else "uncut"


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


def prepare_query(text: str, style: str = "rank") -> str:
    if style == "rank_llm":
        return _RANK_LLM_NUMBER.sub(r"(\1)", text)
    return sanitize_passage(text)


def prepare(backend: Backend, texts: list[str], cut: Cut | int | None, style: str = "rank") -> list[str]:
    """Passages fit for a numbered prompt, cut as `cut` says (an int: that many tokens; None: uncut)."""
    if not isinstance(cut, Cut):
        cut = Cut(tokens=cut)
    if style == "rank_llm":
        from ftfy import fix_text

        out = []
        for t in texts:
            # rank_llm: strip, ftfy, keep the first N words (whitespace folded even when uncut), then escape.
            text = " ".join(fix_text(t.strip()).split()[: cut.words])
            if cut.tokens:
                text = backend.truncate(text, cut.tokens)
            out.append(_RANK_LLM_NUMBER.sub(r"(\1)", text))
        return out
    out = [sanitize_passage(t) for t in texts]
    if cut.words:
        out = [" ".join(t.split(" ")[: cut.words]) for t in out]
    elif cut.tokens:
        out = [backend.truncate(t, cut.tokens) for t in out]
    return out


DEFAULT_TOKENS = 300


def resolve_cut(tokens: int | None, words: int | None, template: object = None) -> Cut:
    """The cut from the flags (0: uncut), else the one the template was published with, else 300 tokens."""
    for flag, v in (("--max-passage-tokens", tokens), ("--max-passage-words", words)):
        if v is not None and v < 0:
            raise RankError(f"{flag} {v}: must be 0 (uncut) or more")
    if tokens is not None and words is not None:
        raise RankError("--max-passage-tokens and --max-passage-words: give one of them")
    if tokens is not None:
        return Cut(tokens=tokens or None)
    if words is not None:
        return Cut(words=words or None)
    t_tokens = getattr(template, "max_passage_tokens", None)
    t_words = getattr(template, "max_passage_words", None)
    if t_tokens or t_words:
        return Cut(tokens=t_tokens, words=t_words)
    return Cut(tokens=DEFAULT_TOKENS)
