"""The few (query, document) examples that show the LLM what the task's queries look like.

Promptagator's premise is that at most 8 examples suffice; more is refused so a run stays within the recipe.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from rankers.data.base import Dataset
from rankers.data.registry import split_spec
from rankers.errors import InputError, RankError
from rankers.io import read_jsonl

MAX_EXAMPLES = 8


@dataclass(slots=True)
class Example:
    query: str
    document: str
    docid: str | None = None


def _too_many(n: int, where: str) -> RankError:
    return RankError(
        f"{where}: {n} examples; Promptagator's recipe takes at most {MAX_EXAMPLES} (query, document) pairs "
        "- keep the ones most typical of the task"
    )


def load_examples(path: str | Path, dataset: Dataset | None) -> list[Example]:
    """Examples from JSONL rows `{"query", "docid"}` (text looked up in the dataset) or `{"query", "document"}`."""
    rows = list(read_jsonl(path))
    if len(rows) > MAX_EXAMPLES:
        raise _too_many(len(rows), f"--examples {path}")
    if not rows:
        raise RankError(f"--examples {path}: no examples in the file")
    wanted: dict[str, int] = {}
    for n, obj in rows:
        query = obj.get("query")
        if not isinstance(query, str) or not query.strip():
            raise InputError(
                path, n, 'no \'query\' text (expected {"query", "docid"} or {"query", "document"})'
            )
        text = obj.get("document", obj.get("text"))
        if text is not None:
            if not isinstance(text, str) or not text.strip():
                raise InputError(path, n, "'document' is empty")
        elif obj.get("docid") is None:
            raise InputError(path, n, "neither 'docid' nor 'document' given")
        elif dataset is None:
            raise InputError(path, n, f"docid {obj['docid']} given but no --dataset to look its text up in")
        else:
            wanted.setdefault(str(obj["docid"]), n)
    texts = dataset.document_texts(wanted) if wanted and dataset is not None else {}
    for docid, n in wanted.items():
        if docid not in texts:
            raise InputError(path, n, f"docid {docid} is not in the corpus of dataset {dataset.name}")
    out = []
    for _, obj in rows:
        text = obj.get("document", obj.get("text"))
        docid = None if obj.get("docid") is None else str(obj["docid"])
        out.append(Example(obj["query"].strip(), text if text is not None else texts[docid], docid))
    return out


def parse_source(spec: str) -> tuple[str, str]:
    """`DATASET:SPLIT` (the dataset part may itself be a path)."""
    name, split = split_spec(spec)
    if not name or not split:
        raise RankError(f"--examples-from {spec}: expected DATASET:SPLIT, e.g. scifact:train")
    return name, split


def examples_from_qrels(dataset: Dataset, split: str, k: int, seed: int) -> list[Example]:
    """k judged queries drawn at random (seeded) from a split, each with its most relevant document."""
    if k > MAX_EXAMPLES:
        raise _too_many(k, "--k")
    if k < 1:
        raise RankError("--k: must be at least 1")
    qrels = dataset.qrels(split)
    queries = dataset.queries(split)
    candidates = sorted(
        qid for qid, docs in qrels.items() if qid in queries and any(g > 0 for g in docs.values())
    )
    if len(candidates) < k:
        raise RankError(
            f"--examples-from {dataset.name}:{split}: only {len(candidates)} judged queries, asked for {k}"
        )
    rng = random.Random(seed)
    chosen: list[tuple[str, str]] = []
    used_docs: set[str] = set()
    for qid in rng.sample(candidates, len(candidates)):
        # The most relevant document, ties broken by docid so the draw depends on the seed only.
        best = sorted((d for d, g in qrels[qid].items() if g > 0), key=lambda d: (-qrels[qid][d], d))
        best = [d for d in best if d not in used_docs]
        if best:
            chosen.append((qid, best[0]))
            used_docs.add(best[0])
        if len(chosen) == k:
            break
    texts = dataset.document_texts(used_docs)
    missing = sorted(used_docs - texts.keys())
    if missing:
        raise RankError(
            f"--examples-from {dataset.name}:{split}: qrels name docid {missing[0]}, not in the corpus"
        )
    return [Example(queries[qid].text, texts[d], d) for qid, d in chosen]
