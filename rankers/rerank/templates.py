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


@dataclass(slots=True)
class ListwiseTemplate:
    name: str
    system: str
    prefix: str
    passage: str
    separator: str
    suffix: str
    suffix_top: str = ""  # the instruction when only the best {top} are asked for (--answer-top)

    def messages(self, query: str, passages: list[str], top: int | None = None) -> list[Message]:
        n = len(passages)
        body = self.separator.join(fill(self.passage, rank=i, text=p) for i, p in enumerate(passages, 1))
        if top is not None and top < n:
            if not self.suffix_top:
                raise RankError(f"--answer-top: the template {self.name!r} has no 'suffix_top' instruction")
            suffix = fill(self.suffix_top, query=query, num=n, top=top)
        else:
            suffix = fill(self.suffix, query=query, num=n)
        user = fill(self.prefix, query=query, num=n) + body + suffix
        out: list[Message] = [{"role": "system", "content": self.system}] if self.system else []
        return out + [{"role": "user", "content": user}]


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
    out = {k: data[k] for k in required} | {k: data.get(k, v) for k, v in optional.items()}
    out["name"] = str(data.get("name") or p.stem)
    return out


def listwise_template(name_or_path: str | Path = "rankgpt") -> ListwiseTemplate:
    p, data = _load(name_or_path, TEMPLATE_DIR)
    f = _fields(p, data, ("prefix", "passage", "suffix"), {"system": "", "separator": "\n", "suffix_top": ""})
    if "{text}" not in f["passage"] or "{rank}" not in f["passage"]:
        raise RankError(f"{p}: 'passage' must contain {{rank}} and {{text}}")
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
