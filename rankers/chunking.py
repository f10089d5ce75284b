"""Split long documents into overlapping windows of the model's own tokens, and fold chunk scores per document.

Chunks are cut at token boundaries but returned as spans of the original text (via the tokenizer's offsets),
so the encoder sees the text as written (case, accents), not a detokenized approximation.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rankers.errors import RankError

AGGREGATIONS = ("maxp", "first", "mean")


def check_chunking(chunk_tokens: int | None, overlap: int, room: int) -> None:
    """`room`: tokens the model reads for one document once special tokens and the prompt are counted."""
    if chunk_tokens is None:
        if overlap:
            raise RankError("--chunk-overlap needs --chunk-tokens")
        return
    if chunk_tokens < 1:
        raise RankError(f"--chunk-tokens {chunk_tokens}: must be at least 1")
    if not 0 <= overlap < chunk_tokens:
        raise RankError(
            f"--chunk-overlap {overlap}: must be >= 0 and smaller than --chunk-tokens {chunk_tokens}"
        )
    if chunk_tokens > room:
        raise RankError(
            f"--chunk-tokens {chunk_tokens}: the model reads {room} tokens of a document "
            "(its max length less special tokens and the document prompt); use at most that"
        )


def chunk_texts(texts: list[str], tokenizer: Any, chunk_tokens: int, overlap: int) -> list[list[str]]:
    """Each text as a list of spans of at most `chunk_tokens` tokens, consecutive spans sharing `overlap` tokens."""
    enc = tokenizer(
        texts,
        add_special_tokens=False,
        return_offsets_mapping=True,
        return_attention_mask=False,
        truncation=False,
    )
    stride = chunk_tokens - overlap
    out: list[list[str]] = []
    for text, offsets in zip(texts, enc["offset_mapping"], strict=True):
        n = len(offsets)
        if n <= chunk_tokens:
            out.append([text])
            continue
        spans = []
        start = 0
        while True:
            end = min(start + chunk_tokens, n)
            spans.append(text[offsets[start][0] : offsets[end - 1][1]])
            if end == n:
                break
            start += stride
        out.append(spans)
    return out


def aggregate(scores: np.ndarray, starts: np.ndarray, how: str) -> np.ndarray:
    """Per-document scores from per-chunk scores (last axis); a document's chunks are the rows
    `starts[d] .. starts[d+1]-1` (rows are stored document by document)."""
    if how == "maxp":
        return np.maximum.reduceat(scores, starts[:-1], axis=-1)
    if how == "first":
        return scores[..., starts[:-1]]
    if how == "mean":
        return np.add.reduceat(scores, starts[:-1], axis=-1) / np.diff(starts)
    raise RankError(f"--aggregate {how}: choose from {', '.join(AGGREGATIONS)}")
