"""Read a permutation out of a model's answer like `[3] > [1] > [2]`, repairing what small models get wrong.

Every repair is counted by kind, so a report can say how often the model's answer was not a clean permutation.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field

REPAIRS = (
    "think",
    "unfinished_think",
    "truncated",
    "lookalike",
    "bare_numbers",
    "out_of_range",
    "duplicate",
    "missing",
    "empty",
)
_BRACKETED = re.compile(r"\[\s*(\d+)\s*\]")
_ANY_BRACKETED = re.compile(r"[\[［【〔]\s*(\d+)\s*[\]］】〕]")
_BARE = re.compile(r"(?<![\d.])(\d+)(?![\d.])")
# Brackets that models (and Chinese input methods) write for [ ].
_BRACKETS = str.maketrans({"［": "[", "］": "]", "【": "[", "】": "]", "〔": "[", "〕": "]"})


@dataclass(slots=True)
class Parsed:
    order: list[int]  # 0-based positions, a permutation of range(n)
    repairs: Counter = field(default_factory=Counter)


def normalize_digits(text: str) -> tuple[str, int]:
    """Map look-alike digits (full-width ０-９, Arabic-Indic, Devanagari, superscripts...) to ASCII; count them."""
    changed = 0
    out = []
    for ch in text:
        if not ch.isascii():
            d = unicodedata.digit(ch, None)
            if d is not None:
                out.append(str(d))
                changed += 1
                continue
        out.append(ch)
    return "".join(out), changed


def _number(digits: str) -> int:
    """An id as written; a run of digits too long to be one (int() refuses over 4,300 digits) is out of range."""
    return int(digits) if len(digits) <= 18 else -1


def parse_permutation(text: str, n: int, want: int | None = None) -> Parsed:
    """The order given by an answer over passages [1]..[n]; ids missing from it follow in their prior order.

    `want`: the model was asked for its best `want` only, so only a shorter answer than that counts as missing.
    """
    repairs: Counter = Counter()
    if "</think>" in text:
        text = text.rsplit("</think>", 1)[1]
        repairs["think"] += 1
    elif "<think>" in text:
        # The answer ran out while the model was still reasoning: the numbers in it are its musings, not a
        # ranking, so none is used (the prior order stands) and the case is counted.
        text = ""
        repairs["unfinished_think"] += 1
    text, mapped = normalize_digits(text.translate(_BRACKETS))
    if mapped:
        repairs["lookalike"] += mapped
    ids = [_number(m) for m in _BRACKETED.findall(text)]
    if not ids:
        ids = [_number(m) for m in _BARE.findall(text)]
        if ids:
            repairs["bare_numbers"] += 1
    order: list[int] = []
    seen: set[int] = set()
    for i in ids:
        if not 1 <= i <= n:
            repairs["out_of_range"] += 1
        elif i - 1 in seen:
            repairs["duplicate"] += 1
        else:
            seen.add(i - 1)
            order.append(i - 1)
    if not order:
        repairs["empty"] += 1
    missing = [i for i in range(n) if i not in seen]
    short = len(missing) if want is None else max(0, min(want, n) - len(order))
    if short:
        repairs["missing"] += short
    order.extend(missing)
    return Parsed(order, repairs)


def sanitize_passage(text: str) -> str:
    """Passage text fit for a numbered prompt: `[n]` inside it becomes `(n)` so it cannot pass for an id."""
    # \d matches every decimal digit (full-width too), so `［３］` is caught as well as `[3]`.
    return _ANY_BRACKETED.sub(r"(\1)", " ".join(text.split()))
