"""Full-ranking fine-tuning on scifact (`make bench-fullrank`), every step a `rank` command.

BM25 top-20 candidates; complete labels on train-split queries (teacher: BM25's order with the judged documents
first, `rank labels --teacher-run --qrels-first`); students fine-tuned from the same labels with
`rank train listwise`: the full ranker with the importance-aware loss, the same with the plain LM loss, and a
sliding-window student (window 10, stride 5); each evaluated on test queries with `rank rerank` beside BM25 and
the base model zero-shot, with `rank eval` (nDCG@10, paired t-tests, Holm-corrected; cost per query from the
sidecars). Finished steps are skipped on a rerun. Writes bench/results/fullrank.md.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

FULL = ["--mode", "full"]
# name: (row label, `rank train listwise` flags, `rank rerank` flags)
STUDENTS = {
    "full-importance": ("student full (importance)", ["--window", "full", "--loss", "importance"], FULL),
    "full-lm": ("student full (lm loss)", ["--window", "full", "--loss", "lm"], FULL),
    # Every prompt in a random order: labels that mostly keep BM25's order teach a small model to copy it.
    "full-importance-shuffled": (
        "student full (importance, shuffled)",
        ["--window", "full", "--loss", "importance", "--shuffle", "1"],
        FULL,
    ),
    "sliding-w10": (
        "student sliding w10/s5",
        ["--window", "10", "--stride", "5", "--loss", "importance"],
        ["--mode", "sliding", "--window-size", "10", "--stride", "5"],
    ),
}


def first_queries(run: Path, n: int, out: Path) -> Path:
    """The first n queries of a TREC run (the query order of the dataset), as their own run file."""
    keep, rows = [], []
    for line in run.read_text().splitlines():
        q = line.split()[0]
        if q not in keep:
            if len(keep) == n:
                continue
            keep.append(q)
        rows.append(line)
    out.write_text("".join(f"{r}\n" for r in rows))
    return out


def subset_qrels(dataset: str, split: str, run: Path, out: Path) -> Path:
    from rankers.data import load_dataset

    qids = {line.split()[0] for line in run.read_text().splitlines()}
    qrels = load_dataset(dataset).qrels(split)
    out.write_text(
        "".join(f"{q} 0 {d} {g}\n" for q in sorted(qids) if q in qrels for d, g in qrels[q].items())
    )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default=str(ROOT.parent / "shared" / "data" / "scifact"))
    ap.add_argument("--model", default="smollm2", help="the student's base model (hf: name, folder or GGUF)")
    ap.add_argument("--train-queries", type=int, default=200)
    ap.add_argument("--test-queries", type=int, default=100)
    ap.add_argument("--hits", type=int, default=20)
    ap.add_argument("--passage-tokens", type=int, default=24)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--lora-r", type=int, default=16)
    ap.add_argument("--work", default="/tmp/rank-bench-fullrank")
    ap.add_argument("--results", default=str(ROOT / "bench" / "results" / "fullrank.md"))
    ap.add_argument("--report-only", action="store_true", help="write the report from the steps done so far")
    ap.add_argument("--students", nargs="+", choices=list(STUDENTS), default=list(STUDENTS))
    args = ap.parse_args()

    from commands import Commands

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    cmd = Commands()
    ds, k, cut = args.dataset, str(args.hits), str(args.passage_tokens)

    index = work / "bm25"
    built = (index / "rank-index.json").exists()
    cmd.rank("index", "bm25", "-d", ds, "-i", str(index), "--threads", "2", done=built)
    runs = {}
    for split, n in (("train", args.train_queries), ("test", args.test_queries)):
        full = work / f"bm25-{split}-all.trec"
        cmd.rank("retrieve", "-i", str(index), "-d", ds, "--split", split, "--bm25", "-k", k, "-o",
                 str(full), done=full.exists())  # fmt: skip
        runs[split] = first_queries(full, n, work / f"bm25-{split}.trec")
    qrels = subset_qrels(ds, "test", runs["test"], work / "qrels-test.txt")

    labels = work / "labels.jsonl"
    cmd.rank("labels", str(runs["train"]), "--teacher-run", str(runs["train"]), "--qrels-first", "-d", ds,
             "--split", "train", "--hits", k, "-o", str(labels), done=labels.exists())  # fmt: skip

    common = ["--labels", str(labels), "-d", ds, "--split", "train", "--model", args.model, "--max-passage-tokens",
              cut, "--epochs", str(args.epochs), "--lr", str(args.lr), "--batch-size", str(args.batch_size),
              "--lora-r", str(args.lora_r)]  # fmt: skip
    systems = {f"zero-shot {args.model} full": (f"hf:{args.model}", FULL)}
    for name in args.students:
        label, train, rerank = STUDENTS[name]
        out = work / f"student-{name}"
        done = (out / "config.json").exists()
        if done or not args.report_only:
            cmd.rank("train", "listwise", *common, *train, "-o", str(out), done=done)
        systems[label] = (f"hf:{out}", rerank)
    outputs, missing = {"BM25": runs["test"]}, []
    for name, (llm, mode) in systems.items():
        out = work / f"rerank-{re.sub(r'[^A-Za-z0-9.]+', '-', name).strip('-')}.jsonl"
        if args.report_only and not out.exists():
            missing.append(name)
            continue
        cmd.rank("rerank", str(runs["test"]), "--llm", llm, *mode, "--hits", k, "-d", ds, "--split", "test",
                 "--max-passage-tokens", cut, "--no-cache", "-o", str(out), done=out.exists())  # fmt: skip
        outputs[name] = out

    table = work / "eval.md"
    named = [f"{name}={path}" for name, path in outputs.items()]
    cmd.rank("eval", *named, "--qrels", str(qrels), "-m", "ndcg@10,mrr@10,recall@10", "-f", "markdown", "-o",
         str(table))  # fmt: skip
    write_report(args, work, outputs, table.read_text(), cmd, missing)


def write_report(args, work: Path, outputs: dict[str, Path], table: str, cmd, missing: list[str]) -> None:
    from commands import say

    rows = []
    for name, path in outputs.items():
        side = Path(f"{path}.cost.json")
        if side.exists():
            t = json.loads(side.read_text())["totals"]
            pq = t["per_query"]
            rows.append(f"| {name} | {pq['calls']:.2f} | {pq['prompt_tokens']:.0f} | {pq['completion_tokens']:.0f} | "
                        f"{pq['wall_s']:.2f} | {t.get('repairs') or {}} |")  # fmt: skip
    trained = []
    for name in args.students:
        meta = work / f"student-{name}" / "rank_training.json"
        if meta.exists():
            m = json.loads(meta.read_text())["report"]
            trained.append(f"| {name} | {m['samples']} | {m['steps']} | {m['prompt_tokens']:.0f} | "
                           f"{m['losses'][0]:.3f} -> {m['losses'][-1]:.3f} | {m['wall_s'] / 60:.1f} |")  # fmt: skip
    text = [
        "# Full-ranking fine-tuning on scifact (`make bench-fullrank`)",
        "",
        f"Student base model: {args.model}; BM25 top-{args.hits} candidates, passages cut to {args.passage_tokens} "
        f"tokens; labels on the first {args.train_queries} train queries (teacher: BM25 with the judged documents "
        f"first); {args.epochs} epochs, lr {args.lr}, batch {args.batch_size}, LoRA r={args.lora_r}; evaluation on "
        f"the first {args.test_queries} test queries. Paired t-tests, Holm-corrected over the pairs of each metric.",
        "",
        table.strip(),
        "",
        *(
            [f"Not finished when this report was written (`--report-only`): {', '.join(missing)}.", ""]
            if missing
            else []
        ),
        "## Cost per query (from the rerank sidecars; 2 CPU cores shared with other work)",
        "",
        "| system | calls | prompt tokens | completion tokens | wall s | repairs |",
        "|---|---:|---:|---:|---:|---|",
        *rows,
        "",
        "## Training",
        "",
        "| student | samples | steps | prompt tokens/sample | loss first -> last step | minutes |",
        "|---|---:|---:|---:|---|---:|",
        *trained,
        "",
        *cmd.markdown(),
    ]
    from rankers.io import atomic_write

    with atomic_write(args.results) as f:
        f.write("\n".join(text) + "\n")
    say(f"bench: wrote {args.results}")


if __name__ == "__main__":
    main()
