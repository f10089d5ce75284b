"""`rank synth` (Promptagator synthetic queries) and `rank synth-filter` (round-trip consistency)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.common import Dataset, say


def synth(
    output: Annotated[Path, typer.Option("--output", "-o", help="Pairs file to write (JSONL, atomically).")],
    llm: Annotated[
        str, typer.Option("--llm", help="LLM backend: openai:MODEL | llamacpp:PATH_OR_NAME | hf:NAME.")
    ],
    dataset: Dataset = None,
    examples: Annotated[
        Path | None,
        typer.Option(
            "--examples", help='At most 8 examples, JSONL: {"query", "docid"} or {"query", "document"}.'
        ),
    ] = None,
    examples_from: Annotated[
        str | None,
        typer.Option("--examples-from", help="Draw the examples from a split's qrels: DATASET:SPLIT."),
    ] = None,
    k: Annotated[int, typer.Option("--k", help="How many examples --examples-from draws (at most 8).")] = 8,
    docs: Annotated[int | None, typer.Option("--docs", help="Generate for the first N documents.")] = None,
    sample: Annotated[
        int | None, typer.Option("--sample", help="Generate for a random sample of N documents.")
    ] = None,
    seed: Annotated[
        int, typer.Option("--seed", help="Seed of the sample, the example draw and the LLM.")
    ] = 0,
    per_doc: Annotated[int, typer.Option("--per-doc", help="Queries generated per document.")] = 1,
    temperature: Annotated[float, typer.Option("--temperature", help="Sampling temperature.")] = 0.7,
    template: Annotated[
        Path | None, typer.Option("--template", help="Prompt template file (default: built-in, by --lang).")
    ] = None,
    lang: Annotated[str, typer.Option("--lang", help="auto | en | zh: which built-in template.")] = "auto",
    batch: Annotated[
        int, typer.Option("--batch", help="Documents per journal flush (resume granularity).")
    ] = 8,
) -> None:
    """Write synthetic (query, document) training pairs for a corpus with an LLM and at most 8 examples."""
    from rankers.data.registry import load_dataset
    from rankers.errors import RankError
    from rankers.synth import (
        builtin_template,
        examples_from_qrels,
        is_cjk,
        load_examples,
        load_template,
        select_documents,
        synthesize,
    )
    from rankers.synth.examples import parse_source

    if dataset is None:
        raise RankError("--dataset: which corpus to generate queries for")
    if (examples is None) == (examples_from is None):
        raise RankError(
            "give the task's examples with either --examples FILE or --examples-from DATASET:SPLIT"
        )
    if docs is not None and sample is not None:
        raise RankError("--docs and --sample: give one of them")
    for flag, value in (("--docs", docs), ("--sample", sample), ("--per-doc", per_doc), ("--batch", batch)):
        if value is not None and value < 1:
            raise RankError(f"{flag}: must be at least 1")
    if not 0.0 <= temperature <= 2.0:
        raise RankError("--temperature: must be between 0 and 2")
    ds = load_dataset(dataset)
    if examples is not None:
        shots = load_examples(examples, ds)
    else:
        name, split = parse_source(examples_from)
        src = ds if name == dataset else load_dataset(name)
        shots = examples_from_qrels(src, src.check_split(split), k, seed)
    if template is not None:
        tpl = load_template(template)
    else:
        if lang == "auto":
            lang = "zh" if is_cjk(" ".join(e.query + " " + e.document[:500] for e in shots)) else "en"
        tpl = builtin_template(lang)
    selected = select_documents(ds.documents(), docs, sample, seed)
    if not selected:
        raise RankError(f"--dataset {dataset}: no documents with text")
    backend = _backend(llm)
    say(
        f"synth: {len(selected)} documents of {ds.name}, {len(shots)} examples, template {Path(tpl.path).name}, {llm}"
    )
    report = synthesize(
        selected, shots, backend, tpl, output, llm=llm, per_doc=per_doc, temperature=temperature, seed=seed,
        batch_size=batch, progress=say,
    )  # fmt: skip
    say(f"synth: {report.summary()}; {report.wall_s:.0f} s; wrote {output}")


def _backend(spec: str):
    from rankers.llm import get_backend

    return get_backend(spec, cache=True)


def synth_filter(
    pairs: Annotated[Path, typer.Argument(help="Pairs file written by `rank synth`.")],
    index: Annotated[Path, typer.Option("--index", help="Index of the same corpus (Lucene or dense).")],
    bm25: Annotated[bool, typer.Option("--bm25", help="Filter with BM25 (a Lucene index).")] = False,
    dense: Annotated[
        bool,
        typer.Option(
            "--dense", help="Filter with a dense index (e.g. of a model trained on the noisy pairs)."
        ),
    ] = False,
    top_k: Annotated[
        int, typer.Option("--top-k", help="Keep a pair when its document is in the top k (1..20).")
    ] = 1,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Kept pairs (default: stdout).")
    ] = None,
) -> None:
    """Round-trip consistency: keep the pairs whose query retrieves its own document in the top k."""
    import sys

    from rankers.errors import RankError
    from rankers.synth import check_docids, read_pairs, roundtrip, write_pairs
    from rankers.synth.retrieval import open_index

    if bm25 == dense:
        raise RankError("give one of --bm25 or --dense")
    if not 1 <= top_k <= 20:
        raise RankError("--top-k: must be between 1 and 20")
    rows = read_pairs(pairs)
    ix = open_index(index, "bm25" if bm25 else "dense")
    check_docids(rows, ix.present(p.docid for p in rows).__contains__, f"index {index}", pairs)
    kept, report = roundtrip(rows, ix.search, top_k)
    if output is None:
        import json

        for p in kept:
            sys.stdout.write(json.dumps(p.to_dict(), ensure_ascii=False) + "\n")
    else:
        write_pairs(output, kept)
    say(f"synth-filter: {report.summary()}")
    if not kept:
        raise RankError(f"{pairs}: no pair survived the round trip at --top-k {top_k}")
