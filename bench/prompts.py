"""Our listwise prompt and parser against rank_llm's (`make bench-prompts`): the same BM25 top-k of scifact test
queries reranked in full mode by the same local LLM with `--template rank` (ours), `rank_gpt` and `rank_zephyr`
(rank_llm's prompts, exactly), every passage cut to the same number of tokens so only the wording differs; then
every answer the model gave (read back from the answer cache, no new call) is parsed again by rank_llm's own
parser, so the two parsers are compared on identical answers. Writes bench/results/prompts.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))
TEMPLATES = ("rank", "rank_gpt", "rank_zephyr")


def rank_llm_order(answer: str, n: int) -> list[int]:
    """rank_llm 0.25.7's receive_permutation on one answer: its own _clean_response, then dedup, range, append."""
    import rank_llm_reference as ref

    _, _, _, _, handler_cls, _ = ref._load()
    cleaned = handler_cls._clean_response(None, answer)
    order: list[int] = []
    for x in cleaned.split():
        i = int(x) - 1
        if 0 <= i < n and i not in order:
            order.append(i)
    return order + [i for i in range(n) if i not in order]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default=str(ROOT.parent / "shared" / "data" / "scifact"))
    ap.add_argument("--llm", default="llamacpp:qwen2.5-coder-1.5b")
    ap.add_argument("--queries", type=int, default=20)
    ap.add_argument("--hits", type=int, default=20)
    ap.add_argument("--passage-tokens", type=int, default=32)
    ap.add_argument("--work", default="/tmp/rank-bench-prompts")
    ap.add_argument("--results", default=str(ROOT / "bench" / "results" / "prompts.md"))
    args = ap.parse_args()

    from commands import Commands

    from rankers.data import load_dataset
    from rankers.evaluate import evaluate
    from rankers.io import read_run

    work, ds, cmd = Path(args.work), args.dataset, Commands()
    work.mkdir(parents=True, exist_ok=True)
    cache = work / "llm-cache"
    index = work / "bm25"
    built = (index / "rank-index.json").exists()
    cmd.rank("index", "bm25", "-d", ds, "-i", str(index), "--threads", "2", done=built)
    full = work / "bm25-all.jsonl"
    cmd.rank("retrieve", "-i", str(index), "-d", ds, "--bm25", "-k", str(args.hits), "--with-text",
         "-o", str(full), done=full.exists())  # fmt: skip
    run = work / "bm25.jsonl"
    run.write_text("".join(full.read_text().splitlines(keepends=True)[: args.queries]))
    qrels_all = load_dataset(ds).qrels("test")
    bm25 = list(read_run(run))
    qrels = {r.qid: qrels_all[r.qid] for r in bm25 if r.qid in qrels_all}

    rows = []
    for template in TEMPLATES:
        out = work / f"{template}.jsonl"
        cmd.rank("rerank", str(run), "--llm", args.llm, "--mode", "full", "--hits", str(args.hits), "--template",
             template, "--max-passage-tokens", str(args.passage_tokens), "--cache-dir", str(cache), "-o",
             str(out), done=out.exists())  # fmt: skip
        cost = json.loads(Path(f"{out}.cost.json").read_text())["totals"]
        ours, theirs = replay(args, template, run, cache)
        rows.append(
            f"| {template} | {evaluate(qrels, ours, 'ndcg@10')['ndcg@10']:.4f} | "
            f"{evaluate(qrels, theirs, 'ndcg@10')['ndcg@10']:.4f} | {cost['per_query']['prompt_tokens']:.0f} | "
            f"{cost['per_query']['completion_tokens']:.0f} | {cost['per_query']['wall_s']:.1f} | {cost['repairs']} |"
        )
    base = evaluate(qrels, bm25, "ndcg@10")["ndcg@10"]
    # The same runs through `rank eval`: paired t-tests between the templates, Holm-corrected.
    qrels_file = work / "qrels.txt"
    qrels_file.write_text("".join(f"{q} 0 {d} {g}\n" for q in sorted(qrels) for d, g in qrels[q].items()))
    table = work / "eval.md"
    named = [f"bm25={run}", *(f"{t}={work / f'{t}.jsonl'}" for t in TEMPLATES)]
    cmd.rank(
        "eval", *named, "--qrels", str(qrels_file), "-m", "ndcg@10,mrr@10", "-f", "markdown", "-o", str(table)
    )
    text = [
        "# Listwise prompts and parsers: ours against rank_llm's (`make bench-prompts`)",
        "",
        f"{len(bm25)} scifact test queries, BM25 top-{args.hits} (nDCG@10 {base:.4f}), `--mode full`, {args.llm}, "
        f"every passage cut to {args.passage_tokens} tokens of the model. The parser columns read the very same "
        "answers: ours (bracketed ids first, `</think>` and look-alike digits handled) and rank_llm 0.25.7's "
        "`_clean_response` + dedup + append.",
        "",
        "| template | nDCG@10, our parser | nDCG@10, rank_llm's parser | prompt tokens/q | completion tokens/q | "
        "wall s/q | repairs (ours) |",
        "|---|---:|---:|---:|---:|---:|---|",
        *rows,
        "",
        "The reranked runs (our parser) in `rank eval`, paired t-tests Holm-corrected over the pairs:",
        "",
        table.read_text().strip(),
        "",
        *cmd.markdown(),
    ]
    Path(args.results).write_text("\n".join(text) + "\n")
    print(f"bench: wrote {args.results}", file=sys.stderr)


def replay(args, template: str, run: Path, cache: Path):
    """The answers of one template again, from the cache (no new call), each read by both parsers."""
    from rankers.io import read_run
    from rankers.llm import get_backend
    from rankers.rerank import ListwiseReranker, listwise_template
    from rankers.rerank.parse import parse_permutation

    answers: dict[str, str] = {}
    backend = get_backend(args.llm, cache=cache)
    current, chat = [""], backend.chat

    def recording(messages, **kw):
        c = chat(messages, **kw)
        answers[current[0]] = c.text
        return c

    backend.chat = recording
    reranker = ListwiseReranker(backend, "full", args.hits, template=listwise_template(template),
                                max_passage_tokens=args.passage_tokens)  # fmt: skip
    ours, theirs = [], []
    for r in read_run(run):
        current[0] = r.qid
        cands = list(r.candidates[: args.hits])
        reranker.rerank(r)
        ours.append(_reordered(r, cands, parse_permutation(answers[r.qid], len(cands)).order))
        theirs.append(_reordered(r, cands, rank_llm_order(answers[r.qid], len(cands))))
    backend.close()
    return ours, theirs


def _reordered(r, cands, order):
    from rankers.run import Ranking

    return Ranking(r.query, [cands[i] for i in order])


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    main()
