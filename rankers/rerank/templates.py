"""Prompt templates are data: YAML files in templates/ (or a user's own file given with --template)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rankers.errors import RankError
from rankers.llm.base import Message

TEMPLATE_DIR = Path(__file__).parent / "templates"
_PLACEHOLDER = re.compile(r"\{(query|num|rank|text|top)\}")


def fill(pattern: str, **values: object) -> str:
    """Replace the known placeholders only: a query or passage may itself contain braces."""
    return _PLACEHOLDER.sub(
        lambda m: str(values[m.group(1)]) if m.group(1) in values else m.group(0), pattern
    )


STYLES = ("rank", "rank_llm")


@dataclass(slots=True)
class ListwiseTemplate:
    """A listwise prompt: single-turn (one user message) or multi-turn as rank_llm's RankGPT prompt.

    `prefix_assistant` makes the prefix its own user turn answered by that assistant text; `passage_assistant`
    makes every passage its own user turn answered by it (then the suffix is a last user turn). `style` says how
    query and passages are prepared: `rank` (whitespace folded, look-alike `[n]` escaped) or `rank_llm` (exactly
    as rank_llm 0.25.7: ftfy, cut by whitespace words, `[n]` -> `(n)` in query and passages).
    """

    name: str
    system: str
    prefix: str
    passage: str
    separator: str
    suffix: str
    suffix_top: str = ""  # the instruction when only the best {top} are asked for (--answer-top)
    prefix_assistant: str = ""
    passage_assistant: str = ""
    style: str = "rank"
    # The passage cut this prompt was published with, used when no --max-passage-* flag is given.
    max_passage_words: int | None = None
    max_passage_tokens: int | None = None

    def messages(self, query: str, passages: list[str], top: int | None = None) -> list[Message]:
        n = len(passages)
        if top is not None and top < n:
            if not self.suffix_top:
                raise RankError(f"--answer-top: the template {self.name!r} has no 'suffix_top' instruction")
            suffix = fill(self.suffix_top, query=query, num=n, top=top)
        else:
            suffix = fill(self.suffix, query=query, num=n)
        prefix = fill(self.prefix, query=query, num=n)
        out: list[Message] = [{"role": "system", "content": self.system}] if self.system else []
        if self.prefix_assistant and prefix:
            out += [
                {"role": "user", "content": prefix},
                {"role": "assistant", "content": fill(self.prefix_assistant, query=query, num=n)},
            ]
            prefix = ""
        if self.passage_assistant:
            for i, p in enumerate(passages, 1):
                out += [
                    {"role": "user", "content": fill(self.passage, rank=i, text=p)},
                    {"role": "assistant", "content": fill(self.passage_assistant, rank=i)},
                ]
            return out + ([{"role": "user", "content": suffix}] if suffix else [])
        body = self.separator.join(fill(self.passage, rank=i, text=p) for i, p in enumerate(passages, 1))
        return out + [{"role": "user", "content": prefix + body + suffix}]


@dataclass(slots=True)
class PointwiseTemplate:
    name: str
    system: str
    user: str
    yes: list[str] = field(default_factory=list)
    no: list[str] = field(default_factory=list)

    def messages(self, query: str, passage: str) -> list[Message]:
        out: list[Message] = [{"role": "system", "content": self.system}] if self.system else []
        return out + [{"role": "user", "content": fill(self.user, query=query, text=passage)}]


def _load(name_or_path: str | Path, default_dir: Path) -> tuple[Path, dict[str, Any]]:
    import yaml

    p = Path(name_or_path)
    if not p.is_file():
        p = default_dir / f"{name_or_path}.yaml"
    if not p.is_file():
        known = ", ".join(sorted(f.stem for f in default_dir.glob("*.yaml")))
        raise RankError(f"--template {name_or_path}: no such file or built-in template (built in: {known})")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, OSError) as e:
        raise RankError(f"{p}: cannot read the template ({type(e).__name__}: {str(e)[:80]})") from None
    except RecursionError:
        raise RankError(f"{p}: YAML nested too deeply") from None
    except (ValueError, OverflowError) as e:  # PyYAML's int() of a number of more than 4,300 digits
        raise RankError(f"{p}: not valid YAML ({str(e)[:80]})") from None
    except yaml.YAMLError as e:
        line = getattr(getattr(e, "problem_mark", None), "line", None)
        where = f"{p}:{line + 1}" if line is not None else str(p)
        raise RankError(f"{where}: not valid YAML") from None
    if not isinstance(data, dict):
        raise RankError(f"{p}: expected a YAML mapping")
    return p, data


def _fields(
    p: Path, data: dict[str, Any], required: tuple[str, ...], optional: dict[str, Any]
) -> dict[str, Any]:
    missing = [k for k in required if not isinstance(data.get(k), str)]
    if missing:
        raise RankError(f"{p}: missing text field(s) {', '.join(missing)}")
    unknown = sorted(map(str, set(data) - set(required) - set(optional) - {"name"}))
    if unknown:
        # A misspelt key would otherwise be ignored and the prompt silently differ from what was meant.
        raise RankError(
            f"{p}: unknown field(s) {', '.join(unknown)[:200]} (known: "
            f"{', '.join(['name', *required, *optional])})"
        )
    out = {k: data[k] for k in required} | {k: data.get(k, v) for k, v in optional.items()}
    out["name"] = str(data.get("name") or p.stem)
    return out


def listwise_template(name_or_path: str | Path = "rank") -> ListwiseTemplate:
    p, data = _load(name_or_path, TEMPLATE_DIR)
    optional = {
        "system": "",
        "separator": "\n",
        "suffix_top": "",
        "prefix_assistant": "",
        "passage_assistant": "",
        "style": "rank",
        "max_passage_words": None,
        "max_passage_tokens": None,
    }
    f = _fields(p, data, ("prefix", "passage", "suffix"), optional)
    if "{text}" not in f["passage"] or "{rank}" not in f["passage"]:
        raise RankError(f"{p}: 'passage' must contain {{rank}} and {{text}}")
    if f["style"] not in STYLES:
        raise RankError(f"{p}: style {f['style']!r}: choose from {', '.join(STYLES)}")
    for key in ("max_passage_words", "max_passage_tokens"):
        v = f[key]
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            raise RankError(f"{p}: {key} must be a positive integer, got {v!r}")
    for key in ("system", "separator", "suffix_top", "prefix_assistant", "passage_assistant"):
        if not isinstance(f[key], str):
            raise RankError(f"{p}: {key} must be text, got {f[key]!r}")
    return ListwiseTemplate(**f)


def pointwise_template(name_or_path: str | Path = "yes_no") -> PointwiseTemplate:
    p, data = _load(name_or_path, TEMPLATE_DIR)
    # `yes_words`, not `yes`: YAML 1.1 reads a bare yes/no key as a boolean.
    f = _fields(p, data, ("user",), {"system": "", "yes_words": [], "no_words": []})
    yes, no = f.pop("yes_words"), f.pop("no_words")
    if not (isinstance(yes, list) and yes and isinstance(no, list) and no):
        raise RankError(f"{p}: a pointwise template needs non-empty 'yes_words' and 'no_words' lists")
    f["yes"], f["no"] = [str(w) for w in yes], [str(w) for w in no]
    return PointwiseTemplate(**f)
