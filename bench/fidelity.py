"""Fidelity to the reference tools (`make bench-fidelity`): `rank eval` against trec_eval (pytrec_eval) on the TREC
files rank writes (BM25, BM25+RM3, their RRF and CombSUM fusions) and on a foreign run with real ties (BM25's
scores rounded to one decimal), on scifact test; and the rank_gpt / rank_zephyr templates against the messages
rank_llm 0.25.7 builds. Every run is made by a `rank` command. Writes bench/results/fidelity.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the rank_llm reference loader the tests use
sys.path.insert(0, str(ROOT / "bench"))
METRICS = (("ndcg@10", "ndcg_cut_10"), ("map@100", "map_cut_100"), ("recall@100", "recall_100"))


def trec_eval_means(qrels: dict, path: Path) -> dict[str, float]:
    import pytrec_eval

    run: dict[str, dict[str, float]] = {}
    for line in path.read_text().splitlines():
        q, _, d, _, s, _ = line.split()
        run.setdefault(q, {})[d] = float(s)
    per_q = pytrec_eval.RelevanceEvaluator(qrels, {m for _, m in METRICS}).evaluate(run)
    # Over every judged query, missing ones at 0, as rank eval counts them (trec_eval -c).
    return {m: sum(per_q.get(q, {}).get(m, 0.0) for q in qrels) / len(qrels) for _, m in METRICS}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default=str(ROOT.parent / "shared" / "data" / "scifact"))
    ap.add_argument("--work", default="/tmp/rank-bench-fidelity")
    ap.add_argument("--results", default=str(ROOT / "bench" / "results" / "fidelity.md"))
    args = ap.parse_args()

    from commands import Commands

    from rankers.data import load_dataset

    work, ds, cmd = Path(args.work), args.dataset, Commands()
    work.mkdir(parents=True, exist_ok=True)
    index = work / "bm25"
    built = (index / "rank-index.json").exists()
    cmd.rank("index", "bm25", "-d", ds, "-i", str(index), "--threads", "2", done=built)
    runs = {"bm25": work / "bm25.trec", "bm25+rm3": work / "rm3.trec"}
    for name, extra in (("bm25", []), ("bm25+rm3", ["--rm3"])):
        cmd.rank("retrieve", "-i", str(index), "-d", ds, "--bm25", "-k", "1000", *extra, "-o",
                 str(runs[name]), done=runs[name].exists())  # fmt: skip
    for method in ("rrf", "combsum"):
        runs[f"{method}(bm25, bm25+rm3)"] = out = work / f"{method}.trec"
        cmd.rank("fuse", str(runs["bm25"]), str(runs["bm25+rm3"]), "--method", method, "-o", str(out))
    rounded = work / "bm25-rounded.trec"
    rounded.write_text("".join(f"{q} Q0 {d} {r} {float(s):.1f} rounded\n" for q, _, d, r, s, _ in
                               (x.split() for x in runs["bm25"].read_text().splitlines())))  # fmt: skip
    runs["bm25, scores rounded (foreign, tied)"] = rounded

    qrels = load_dataset(ds).qrels("test")
    rows = []
    for name, path in runs.items():
        _, p = cmd.rank(
            "eval", "-d", ds, str(path), "-m", ",".join(m for m, _ in METRICS), "-f", "json", capture=True
        )
        ours = json.loads(p.stdout)["runs"][0]["scores"]
        theirs = trec_eval_means(qrels, path)
        diff = max(abs(ours[a] - theirs[b]) for a, b in METRICS)
        cells = " | ".join(f"{ours[a]:.4f} / {theirs[b]:.4f}" for a, b in METRICS)
        rows.append(f"| {name} | {cells} | {diff:.1e} |")

    prompts = prompt_rows()
    text = [
        "# Fidelity to the reference tools (`make bench-fidelity`)",
        "",
        "scifact test (300 queries), runs of 1,000 hits written by `rank`; `rank eval` (ranx) / trec_eval "
        "(pytrec_eval-terrier 0.5.11, the same code as trec_eval 9), means over the judged queries.",
        "",
        "| run | nDCG@10 rank / trec_eval | MAP@100 | R@100 | largest difference |",
        "|---|---|---|---|---:|",
        *rows,
        "",
        "Before this change, RRF(BM25, BM25+RM3) scored nDCG@10 0.6760 in `rank eval` and 0.6594 in trec_eval:",
        "scores nudged by a relative 1e-9 tied again in trec_eval's single precision and were reordered by docid.",
        "",
        "## Prompts: `--template rank_gpt` / `rank_zephyr` against rank_llm 0.25.7",
        "",
        "| template | windows compared | passages | messages equal byte for byte |",
        "|---|---:|---:|---|",
        *prompts,
        "",
        *cmd.markdown(),
    ]
    Path(args.results).write_text("\n".join(text) + "\n")
    print(f"bench: wrote {args.results}", file=sys.stderr)


def prompt_rows() -> list[str]:
    import rank_llm_reference as ref
    from test_rank_llm_prompts import ours

    if not ref.available():
        return ["| (rank-llm 0.25.7 is not installed: `make venv` installs it) | | | |"]
    out = []
    for template in sorted(ref.TEMPLATES):
        windows = passages = equal = 0
        for case in ref.cases():
            for words in (300, 60, 5):
                for n in (1, 5, len(case["passages"])):
                    window = case["passages"][:n]
                    windows += 1
                    passages += len(window)
                    equal += ours(template, case["query"], window, words) == ref.prompts(
                        template, case["query"], window, words
                    )
        out.append(f"| {template} | {windows} | {passages} | {equal} of {windows} |")
    return out


if __name__ == "__main__":
    main()
