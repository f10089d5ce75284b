"""The target of listwise fine-tuning and the weight of each of its tokens.

The target is the whole permutation as `rank rerank` parses it: `[3] > [1] > [2]` (ids are 1-based positions in
the prompt). The importance-aware loss of Liu et al. ("Sliding Windows Are Not the End", 8421BCD/fullrank) weighs
every token of the k-th ranked id by 1 + 1/log2(k + 1), so getting the head of the ranking right counts most,
and every separator token by `alpha` (1 in the paper's code). Which token is an id and which a separator is read
from the tokenizer's character offsets, so it holds for any tokenizer: the paper's code looks for one Mistral
token id instead. A token that straddles a separator and an id (` [` in most BPE vocabularies) belongs to the id.
The end-of-answer token weighs as the last id, as in the paper's code.
"""

from __future__ import annotations

import math
from typing import Any

from rankers.errors import RankError

LOSSES = ("importance", "lm")
SEPARATOR = " > "


def target_text(order: list[int]) -> str:
    """`[3] > [1] > [2]` for the 1-based ids in ranked order."""
    return SEPARATOR.join(f"[{i}]" for i in order)


def rank_weight(k: int) -> float:
    """The weight of the tokens of the k-th ranked id (k from 1): 2 for the first, 1.63 for the second, ..."""
    return 1.0 + 1.0 / math.log2(k + 1)


def target_tokens(
    tokenizer: Any, order: list[int], loss: str = "importance", alpha: float = 1.0
) -> tuple[list[int], list[float]]:
    """Token ids of the target (and the end-of-answer token) with the weight of each; `lm`: all weights 1."""
    if loss not in LOSSES:
        raise RankError(f"--loss {loss}: choose from {', '.join(LOSSES)}")
    if alpha < 0:
        raise RankError(f"--alpha {alpha}: must be 0 or more")
    if not getattr(tokenizer, "is_fast", False):
        raise RankError("the importance-aware loss reads token offsets: it needs a fast (Rust) tokenizer")
    text = target_text(order)
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids, offsets = list(enc["input_ids"]), list(enc["offset_mapping"])
    # The character span of each id, with the rank of the id.
    spans, pos = [], 0
    for k, i in enumerate(order, 1):
        width = len(f"[{i}]")
        spans.append((pos, pos + width, k))
        pos += width + len(SEPARATOR)
    weights = []
    for start, end in offsets:
        rank = next((k for a, b, k in spans if start < b and end > a), None)
        if loss == "lm":
            weights.append(1.0)
        elif rank is not None:
            weights.append(rank_weight(rank))
        else:
            weights.append(alpha)
    eos = tokenizer.eos_token_id
    if eos is not None:
        ids.append(eos)
        weights.append(1.0 if loss == "lm" else rank_weight(len(order)))
    return ids, weights
