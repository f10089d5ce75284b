"""The Promptagator prompt: a template file (data, not code), length units that work for English and Chinese,
the cleaning of a generation, and the checks that drop bad ones (empty, over-long, copied, echoed)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from rankers.errors import InputError, RankError

TEMPLATES = Path(__file__).parent / "templates"
SECTIONS = ("settings", "system", "example", "target")
INT_SETTINGS = ("example_doc_units", "example_query_units", "doc_units", "max_query_units", "max_tokens")

# A "unit" is a word in alphabetic scripts and one character in CJK scripts, so one length limit means about
# the same amount of text (and of tokens) in English and in Chinese.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_UNIT = re.compile(rf"[{_CJK}]|[^\s{_CJK}]+")
_CJK_CHAR = re.compile(rf"[{_CJK}]")


def units(text: str) -> list[str]:
    return _UNIT.findall(text)


def truncate(text: str, limit: int) -> str:
    """The text cut after `limit` units, keeping its original spacing."""
    for i, m in enumerate(_UNIT.finditer(text)):
        if i == limit:
            return text[: m.start()].rstrip()
    return text.strip()


def is_cjk(text: str) -> bool:
    chars = re.sub(r"\s", "", text)
    return bool(chars) and len(_CJK_CHAR.findall(chars)) / len(chars) > 0.3


@dataclass(slots=True)
class Template:
    path: str
    system: str
    example: str
    target: str
    settings: dict[str, object] = field(default_factory=dict)

    def setting(self, key: str) -> int:
        return int(self.settings[key])  # type: ignore[arg-type]

    @property
    def copy_overlap(self) -> float:
        """Share of a query's 4-unit shingles found in its document from which it counts as a copy."""
        return float(self.settings.get("copy_overlap", 0.8))  # type: ignore[arg-type]

    @property
    def answer_label(self) -> str:
        return str(self.settings.get("answer_label", ""))


def load_template(path: str | Path) -> Template:
    """Parse a template file: `[section]` headers, `#` comments, `key = value` settings."""
    p = Path(path)
    if not p.is_file():
        raise RankError(f"--template {p}: no such file")
    parts: dict[str, list[str]] = {}
    current = None
    settings: dict[str, object] = {}
    for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
        head = re.fullmatch(r"\[(\w+)\]\s*", line)
        if head:
            current = head.group(1)
            if current not in SECTIONS:
                raise InputError(p, n, f"unknown section [{current}] (expected {', '.join(SECTIONS)})")
            parts[current] = []
        elif current is None:
            if line.strip() and not line.startswith("#"):
                raise InputError(p, n, "text before the first [section]")
        elif current == "settings":
            if not line.strip() or line.startswith("#"):
                continue
            key, sep, value = line.partition("=")
            if not sep:
                raise InputError(p, n, "expected 'key = value' in [settings]")
            key, value = key.strip(), value.strip()
            if key in INT_SETTINGS:
                if not value.isdigit() or int(value) < 1:
                    raise InputError(p, n, f"{key} must be a positive integer, got {value!r}")
                settings[key] = int(value)
            elif key == "copy_overlap":
                try:
                    settings[key] = float(value)
                except ValueError:
                    settings[key] = -1.0
                if not 0 < settings[key] <= 1:  # type: ignore[operator]
                    raise InputError(p, n, f"copy_overlap must be a share in (0, 1], got {value!r}")
            else:
                settings[key] = value
        else:
            parts[current].append(line)
    missing = [s for s in SECTIONS if s not in parts] + [k for k in INT_SETTINGS if k not in settings]
    if missing:
        raise InputError(p, None, f"template lacks {', '.join(missing)}")
    text = {k: "\n".join(v).strip("\n") for k, v in parts.items()}
    for name, need in (("example", ("{document}", "{query}")), ("target", ("{document}",))):
        for placeholder in need:
            if placeholder not in text[name]:
                raise InputError(p, None, f"[{name}] lacks the placeholder {placeholder}")
    return Template(str(p), text["system"], text["example"], text["target"], settings)


def builtin_template(lang: str) -> Template:
    path = TEMPLATES / f"promptagator.{lang}.txt"
    if not path.exists():
        have = sorted(x.name.split(".")[1] for x in TEMPLATES.glob("promptagator.*.txt"))
        raise RankError(
            f"--lang {lang}: no built-in template (have: {', '.join(have)}); give --template FILE"
        )
    return load_template(path)


def _fill(block: str, **values: str) -> str:
    # str.format would choke on braces inside documents (code, formulas): replace the placeholders only.
    for key, value in values.items():
        block = block.replace("{" + key + "}", value)
    return block


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def build_messages(
    template: Template, examples: list[tuple[str, str]], document: str
) -> list[dict[str, str]]:
    """Chat messages: the system text, then one user turn with the (query, document) examples and the new document."""
    t = template
    shots = [
        _fill(
            t.example,
            document=truncate(_flat(d), t.setting("example_doc_units")),
            query=truncate(_flat(q), t.setting("example_query_units")),
        )
        for q, d in examples
    ]
    target = _fill(t.target, document=truncate(_flat(document), t.setting("doc_units")))
    return [
        {"role": "system", "content": t.system},
        {"role": "user", "content": "\n\n".join([*shots, target])},
    ]


def clean(text: str, template: Template) -> str:
    """The query in a model's answer: its first non-empty line, without a repeated label, quotes or markup."""
    label = template.answer_label.strip()
    for line in text.splitlines():
        line = line.strip().strip("*`").strip()
        if label and line.startswith(label):
            line = line[len(label) :].strip()
        elif label and line.lower().startswith(label.lower()):
            line = line[len(label) :].strip()
        line = line.strip("\"'“”「」`*").strip()
        if line:
            return line
    return ""


def _shingles(text: str, n: int = 4) -> set[tuple[str, ...]]:
    u = [x.lower() for x in units(text)]
    return {tuple(u[i : i + n]) for i in range(len(u) - n + 1)}


def rejection(query: str, document: str, template: Template, example_queries: set[str]) -> str | None:
    """Why a generated query is unusable, or None when it is fine.

    copy: most (`copy_overlap`) of its 4-unit shingles appear verbatim in the document: the model pasted a passage
    instead of asking something; a trained retriever would learn nothing but string matching from it.
    """
    if not query:
        return "empty"
    if len(units(query)) > template.setting("max_query_units"):
        return "too_long"
    if _flat(query).lower() in example_queries:
        return "echo"
    shingles = _shingles(query)
    if len(shingles) >= 3:
        doc = _shingles(document)
        if sum(s in doc for s in shingles) / len(shingles) >= template.copy_overlap:
            return "copy"
    return None


def normalized(query: str) -> str:
    return _flat(query).lower()
