"""Synthetic query generation: few-shot prompt per document, bad generations dropped, resumable.

Progress is appended to `<output>.partial`, one line per document, flushed after each batch; a restart with the
same settings skips the documents already there, so an interrupted run loses at most one batch (and the LLM
response cache usually makes even that free). The pairs file itself is written atomically at the end.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rankers.data.base import Document
from rankers.errors import RankError
from rankers.synth.examples import Example
from rankers.synth.pairs import Pair, write_pairs
from rankers.synth.prompt import Template, build_messages, clean, normalized, rejection

# After this many documents without a single usable query the run stops: the model or template is unfit,
# and spending the rest of the corpus on it would waste hours.
GIVE_UP_AFTER = 8


@dataclass
class SynthReport:
    documents: int = 0
    resumed: int = 0
    generated: int = 0
    kept: int = 0
    dropped: Counter = field(default_factory=Counter)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: int = 0
    wall_s: float = 0.0
    # Seconds the LLM took for these answers, counting cached ones at the time they first took.
    llm_s: float = 0.0

    def summary(self) -> str:
        drops = ", ".join(f"{k} {v}" for k, v in sorted(self.dropped.items())) or "none"
        return (
            f"{self.documents} documents ({self.resumed} resumed), {self.generated} generations, "
            f"{self.kept} pairs kept, dropped: {drops}"
        )


def select_documents(
    docs: Iterable[Document], first: int | None, sample: int | None, seed: int
) -> list[Document]:
    """The first N documents, or a seeded sample of N in a seeded random order.

    The sample takes the N documents with the smallest hash of (seed, docid): it is uniform, needs memory for
    N documents only, and a smaller sample is a subset of a larger one with the same seed, so a run cut down
    (or grown) after it started still finds its earlier answers in the LLM cache.
    """
    docs = (d for d in docs if d.contents.strip())
    if sample is None:
        return list(itertools.islice(docs, first)) if first is not None else list(docs)

    def key(item: tuple[int, Document]) -> bytes:
        return hashlib.sha256(f"{seed}:{item[1].docid}".encode()).digest()

    # In sample order, not corpus order: a run stopped after M documents has done exactly the sample of M.
    return [d for _, d in heapq.nsmallest(sample, enumerate(docs), key=key)]


def _fingerprint(llm: str, template: Template, examples: list[Example], settings: dict[str, Any]) -> str:
    blob = json.dumps(
        {
            "llm": llm,
            "template": [template.system, template.example, template.target, template.settings],
            "examples": [(e.query, e.document) for e in examples],
            **settings,
        },
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _load_partial(path: Path, fingerprint: str) -> dict[str, dict]:
    """Finished documents of an earlier run with the same settings; a torn last line is cut off."""
    if not path.exists():
        return {}
    done: dict[str, dict] = {}
    good_bytes = 0
    with open(path, "rb") as f:
        for i, raw in enumerate(f):
            try:
                obj = json.loads(raw)
            except ValueError:
                break
            if not raw.endswith(b"\n"):
                break
            if i == 0:
                if obj.get("fingerprint") != fingerprint:
                    return {}
            else:
                done[obj["docid"]] = obj
            good_bytes += len(raw)
    with open(path, "r+b") as f:
        f.truncate(good_bytes)
    return done


class _Journal:
    def __init__(self, path: Path, fingerprint: str, fresh: bool):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.f = open(path, "w" if fresh else "a", encoding="utf-8")
        if fresh:
            self.write([{"fingerprint": fingerprint}])

    def write(self, records: list[dict]) -> None:
        for r in records:
            self.f.write(json.dumps(r, ensure_ascii=False) + "\n")
        self.f.flush()
        os.fsync(self.f.fileno())

    def close(self) -> None:
        self.f.close()


def generate_for(
    doc: Document,
    examples: list[Example],
    backend: Any,
    template: Template,
    per_doc: int,
    temperature: float,
    seed: int,
    report: SynthReport,
) -> dict:
    """One document's record: its kept queries and the reasons the others were dropped."""
    messages = build_messages(template, [(e.query, e.document) for e in examples], doc.contents)
    example_queries = {normalized(e.query) for e in examples}
    stop = [template.target.split("{document}")[0].strip() or "\n\n", "\n\n"]
    kept: list[dict] = []
    dropped: Counter = Counter()
    raw_sample = ""
    seen: set[str] = set()
    for i in range(per_doc):
        c = backend.chat(
            messages,
            max_tokens=template.setting("max_tokens"),
            temperature=temperature,
            stop=stop,
            seed=seed + i,
        )
        report.prompt_tokens += c.prompt_tokens or 0
        report.completion_tokens += c.completion_tokens or 0
        report.cached += bool(c.cached)
        report.llm_s += c.wall_s or 0.0
        query = clean(c.text or "", template)
        why = rejection(query, doc.contents, template, example_queries)
        if why is None and normalized(query) in seen:
            why = "duplicate"
        if why:
            dropped[why] += 1
            raw_sample = raw_sample or (c.text or "")
        else:
            seen.add(normalized(query))
            kept.append({"i": i, "query": query})
    return {"docid": doc.docid, "queries": kept, "dropped": dict(dropped), "raw": raw_sample[:200]}


def synthesize(
    documents: list[Document],
    examples: list[Example],
    backend: Any,
    template: Template,
    output: str | Path,
    *,
    llm: str,
    per_doc: int = 1,
    temperature: float = 0.7,
    seed: int = 0,
    batch_size: int = 8,
    progress: Callable[[str], None] | None = None,
) -> SynthReport:
    """Generate `per_doc` queries for every document and write the kept (query, document) pairs to `output`."""
    output = Path(output)
    partial = Path(f"{output}.partial")
    fp = _fingerprint(llm, template, examples, {"per_doc": per_doc, "temperature": temperature, "seed": seed})
    done = _load_partial(partial, fp)
    report = SynthReport(documents=len(documents))
    by_id = {d.docid: d for d in documents}
    report.resumed = sum(d in by_id for d in done)
    journal = _Journal(partial, fp, fresh=not done)
    start = time.perf_counter()
    todo = [d for d in documents if d.docid not in done]
    fresh_done = 0
    try:
        for b in range(0, len(todo), batch_size):
            batch = [
                generate_for(d, examples, backend, template, per_doc, temperature, seed, report)
                for d in todo[b : b + batch_size]
            ]
            journal.write(batch)
            for r in batch:
                done[r["docid"]] = r
            fresh_done += len(batch)
            _give_up_if_useless(done, by_id, llm)
            if progress:
                elapsed = time.perf_counter() - start
                rate = fresh_done / elapsed if elapsed > 0 else 0.0
                left = (len(todo) - fresh_done) / rate if rate else 0.0
                kept = sum(len(done[d]["queries"]) for d in by_id if d in done)
                progress(
                    f"synth: {report.resumed + fresh_done}/{len(documents)} documents, {kept} queries kept, "
                    f"{_rate(rate)}, about {left / 60:.0f} min left"
                )
    finally:
        journal.close()
    _give_up_if_useless(done, by_id, llm, final=True)
    pairs: list[Pair] = []
    report.dropped = Counter()
    for d in documents:
        rec = done[d.docid]
        report.dropped.update(rec["dropped"])
        for q in rec["queries"]:
            pairs.append(Pair(f"synth-{d.docid}-{q['i']}", q["query"], d.docid, d.contents, {"llm": llm}))
    report.kept = len(pairs)
    report.generated = sum(
        len(done[d.docid]["queries"]) + sum(done[d.docid]["dropped"].values()) for d in documents
    )
    write_pairs(output, pairs)
    partial.unlink(missing_ok=True)
    report.wall_s = time.perf_counter() - start
    return report


def _rate(docs_per_s: float) -> str:
    return f"{docs_per_s:.2f} docs/s" if docs_per_s >= 0.1 else f"{1 / max(docs_per_s, 1e-9):.0f} s/doc"


def _give_up_if_useless(
    done: dict[str, dict], by_id: dict[str, Document], llm: str, final: bool = False
) -> None:
    recs = [done[d] for d in by_id if d in done]
    if any(r["queries"] for r in recs) or not recs or (len(recs) < GIVE_UP_AFTER and not final):
        return
    reasons: Counter = Counter()
    for r in recs:
        reasons.update(r["dropped"])
    sample = next((r["raw"] for r in recs if r.get("raw")), "")
    raise RankError(
        f"--llm {llm}: nothing usable for the first {len(recs)} documents "
        f"(dropped: {', '.join(f'{k} {v}' for k, v in sorted(reasons.items()))}; "
        f"a raw answer: {sample[:80]!r}); try a larger model, --temperature or --template"
    )
