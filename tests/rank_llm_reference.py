"""rank_llm 0.25.7's own prompt builders, loaded without the rest of rank_llm.

rank_llm's package `__init__` files import vLLM, OpenAI, Gemini and LiT5 (which does not load under transformers
5); the prompt builders need none of them. So the three packages on the way are registered as bare namespaces
over their real folders and only the builders' own modules (and `rank_llm.data`, ftfy, dacite) are executed.
Also run as a script: `python tests/rank_llm_reference.py` rewrites the fixtures in tests/fixtures/rank_llm.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import sys
import types
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "rank_llm"
TEMPLATES = {"rank_gpt": "rank_gpt_template.yaml", "rank_zephyr": "rank_zephyr_template.yaml"}
VERSION = "0.25.7"


def available() -> bool:
    try:
        from importlib.metadata import version

        return version("rank-llm") == VERSION and importlib.util.find_spec("dacite") is not None
    except Exception:
        return False


@functools.cache
def _load():
    root = Path(importlib.util.find_spec("rank_llm").origin).parent
    for name, folder in (
        ("rank_llm", root),
        ("rank_llm.rerank", root / "rerank"),
        ("rank_llm.rerank.listwise", root / "rerank" / "listwise"),
    ):
        m = types.ModuleType(name)
        m.__path__ = [str(folder)]
        sys.modules[name] = m
    from rank_llm.data import Candidate, Query, Result
    from rank_llm.rerank.listwise.multiturn_listwise_inference_handler import (
        MultiTurnListwiseInferenceHandler,
    )
    from rank_llm.rerank.listwise.singleturn_listwise_inference_handler import (
        SingleTurnListwiseInferenceHandler,
    )

    return (
        root,
        Candidate,
        Query,
        Result,
        MultiTurnListwiseInferenceHandler,
        SingleTurnListwiseInferenceHandler,
    )


def prompts(template: str, query: str, passages: list[str], max_words: float = 300) -> list[dict[str, str]]:
    """The messages rank_llm builds for one window of `passages` (documents with a `text` field only)."""
    import yaml

    root, Candidate, Query, Result, Multi, Single = _load()
    spec = yaml.safe_load((root / "rerank" / "prompt_templates" / TEMPLATES[template]).read_text())
    handler = (Multi if spec["method"] == "multiturn_listwise" else Single)(spec)
    result = Result(
        query=Query(text=query, qid="q"),
        candidates=[Candidate(docid=str(i), score=0.0, doc={"text": t}) for i, t in enumerate(passages)],
    )
    return handler.generate_prompt(result, rank_start=0, rank_end=len(passages), max_length=max_words)


def cases() -> list[dict]:
    """Windows worth checking: real scifact passages, long ones (the word cut), ids and mojibake inside."""
    import os

    data = Path(os.environ.get("DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))
    docs = []
    with open(data / "scifact" / "corpus.jsonl", encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            docs.append(f"{d['title']} {d['text']}")
            if len(docs) == 40:
                break
    odd = [
        "  see [2] and [10] in the   table\n\nbelow  ",
        "Itâ€™s a cafÃ© test with mojibake",  # ftfy repairs this
        "ｆｕｌｌ width ［３］ brackets and a tab\there",
        " ".join(f"w{i}" for i in range(450)),  # longer than 300 words
        "",
    ]
    return [
        {"query": "What is [1] the best?", "passages": docs[:1]},
        {"query": "0-dimensional biomaterials show inductive properties.", "passages": docs[:5] + odd},
        {"query": "vitamin D deficiency  [3]", "passages": docs[5:25]},
        {"query": "a full ranking of 20", "passages": docs[25:40] + odd, "max_words": 60},
    ]


def write_fixtures() -> None:
    FIXTURES.mkdir(parents=True, exist_ok=True)
    for template in TEMPLATES:
        out = []
        for case in cases():
            words = case.get("max_words", 300)
            out.append(
                case
                | {"max_words": words, "messages": prompts(template, case["query"], case["passages"], words)}
            )
        path = FIXTURES / f"{template}.json"
        path.write_text(json.dumps({"rank_llm": VERSION, "cases": out}, ensure_ascii=False, indent=1) + "\n")
        print(f"wrote {path}")


if __name__ == "__main__":
    write_fixtures()
