"""`rank train`: fine-tune retrievers on (query, document) pairs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.common import Dataset, say

app = typer.Typer(
    help="Fine-tune retrievers on (query, document) pairs, or LLM rerankers on complete rankings.",
    no_args_is_help=True,
)


@app.command("dense")
def dense(
    pairs: Annotated[Path, typer.Option("--pairs", help="Training pairs (JSONL from `rank synth`).")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Model folder to write (replaced at the end).")
    ],
    model: Annotated[
        str, typer.Option("--model", help="Base sentence-transformers model: minilm, a folder or a name.")
    ] = "minilm",
    hard_negatives: Annotated[
        str | None, typer.Option("--hard-negatives", help="Mine one hard negative per pair: bm25 | dense.")
    ] = None,
    index: Annotated[Path | None, typer.Option("--index", help="Index to mine hard negatives from.")] = None,
    dataset: Dataset = None,
    depth: Annotated[
        int, typer.Option("--depth", help="Hard negatives are drawn from this many top hits.")
    ] = 20,
    epochs: Annotated[int, typer.Option("--epochs", help="Passes over the pairs.")] = 1,
    batch_size: Annotated[
        int, typer.Option("--batch-size", help="Pairs per step (the in-batch negatives).")
    ] = 32,
    lr: Annotated[
        float, typer.Option("--lr", help="Peak learning rate (linear warm-up over 10%, then decay).")
    ] = 2e-5,
    max_seq_length: Annotated[
        int | None,
        typer.Option("--max-seq-length", help="Token limit while training (default: the model's)."),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of batching, dropout and negative draws.")] = 0,
) -> None:
    """Fine-tune a bi-encoder with in-batch negatives (+ mined hard negatives); `rank index dense --model DIR` uses the result."""
    from rankers.errors import RankError
    from rankers.models import resolve_model
    from rankers.synth import check_docids, read_pairs
    from rankers.train import mine_negatives, train_dense

    rows = read_pairs(pairs, need_text=True)
    base = resolve_model(model)
    negatives = None
    if hard_negatives is not None:
        from rankers.synth.retrieval import open_index

        if hard_negatives not in ("bm25", "dense"):
            raise RankError(f"--hard-negatives {hard_negatives}: choose bm25 or dense")
        if index is None:
            raise RankError(f"--hard-negatives {hard_negatives}: give the --index to mine them from")
        ix = open_index(index, hard_negatives, dataset)
        check_docids(rows, ix.present(p.docid for p in rows).__contains__, f"index {index}", pairs)
        say(f"train: mining hard negatives for {len(rows)} pairs from {index} (top {depth})")
        negatives = mine_negatives(rows, ix.search, ix.texts, depth=depth, seed=seed)
        say(f"train: {len(negatives)} hard negatives")
    say(f"train: {len(rows)} pairs, base {model}, {epochs} epoch(s), batch {batch_size}, lr {lr}")
    report = train_dense(
        rows, base, output, negatives=negatives, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
        max_seq_length=max_seq_length, log=say,
    )  # fmt: skip
    say(f"train: {report.steps} steps in {report.wall_s:.0f} s; wrote {output}")


@app.command("listwise")
def listwise(
    labels: Annotated[
        Path, typer.Option("--labels", help="Complete rankings (JSONL: qid, initial_list, final_list).")
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Model folder to write (replaced at the end).")
    ],
    model: Annotated[
        str,
        typer.Option(
            "--model",
            help="Base causal LM: a Hugging Face folder or name, a GGUF file, or smollm2, qwen2.5-coder-0.5b.",
        ),
    ],
    dataset: Dataset = None,
    split: Annotated[
        str | None, typer.Option("--split", help="The split of the labels' queries (default: the dataset's).")
    ] = None,
    index: Annotated[
        Path | None, typer.Option("--index", "-i", help="Lucene index whose stored texts give the passages.")
    ] = None,
    window: Annotated[
        str,
        typer.Option(
            "--window", help="full: the full ranker; N: a sliding-window student on windows of N (--stride)."
        ),
    ] = "full",
    stride: Annotated[int, typer.Option("--stride", help="With --window N: how far windows move.")] = 10,
    loss: Annotated[
        str, typer.Option("--loss", help="importance (1 + 1/log2(k+1) per id token) | lm (plain).")
    ] = "importance",
    alpha: Annotated[
        float, typer.Option("--alpha", help="Importance loss: the weight of separator tokens.")
    ] = 1.0,
    template: Annotated[
        str | None, typer.Option("--template", help="The listwise prompt (as rank rerank --template).")
    ] = None,
    max_passage_tokens: Annotated[
        int | None,
        typer.Option("--max-passage-tokens", help="Cut each passage to N tokens (as rank rerank)."),
    ] = None,
    max_passage_words: Annotated[
        int | None, typer.Option("--max-passage-words", help="Cut each passage to N words (as rank rerank).")
    ] = None,
    epochs: Annotated[int, typer.Option("--epochs", help="Passes over the samples.")] = 1,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Samples per optimizer step.")] = 8,
    lr: Annotated[
        float, typer.Option("--lr", help="Peak learning rate (linear warm-up over 10%, then decay).")
    ] = 2e-4,
    lora_r: Annotated[int, typer.Option("--lora-r", help="LoRA rank (alpha = 2r, all linear layers).")] = 16,
    full_finetune: Annotated[
        bool, typer.Option("--full-finetune", help="Train every weight instead of a LoRA adapter.")
    ] = False,
    shuffle: Annotated[
        float,
        typer.Option(
            "--shuffle",
            help="Share of samples (0-1) whose candidates the prompt shows in a seeded random order, the target "
            "following: keeps a small model from learning to copy the initial order.",
        ),
    ] = 0.0,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the sample order, LoRA init and dropout.")] = 0,
    device: Annotated[
        str | None, typer.Option("--device", help="cpu | cuda (default: cuda if present).")
    ] = None,
) -> None:
    """Fine-tune a causal LM to write the complete ranking `[i] > [j] > ...` of the prompt `rank rerank` builds,
    with the importance-aware loss; the result (LoRA merged) is a Hugging Face folder for `rank rerank --llm hf:DIR`."""
    from rankers.data import load_dataset
    from rankers.errors import RankError
    from rankers.hydrate import dataset_texts
    from rankers.rerank import listwise_template
    from rankers.rerank.passages import resolve_cut
    from rankers.train.labels import read_labels
    from rankers.train.listwise import build_samples, train_listwise

    if dataset is None:
        raise RankError(
            "--dataset: the labels' query texts come from a dataset (and passages too, without --index)"
        )
    if window == "full":
        size = None
    elif window.isdigit() and int(window) >= 2:
        size = int(window)
    else:
        raise RankError(f"--window {window}: 'full' or a window size of at least 2")
    rows = read_labels(labels)
    ds = load_dataset(dataset)
    queries = {q: x.text for q, x in ds.queries(ds.check_split(split)).items()}
    docids = sorted({d for r in rows for d in r.initial})
    if index is not None:
        from rankers.bm25 import Bm25Searcher

        texts = Bm25Searcher(index).doc_texts(docids)
    else:
        texts = dataset_texts(ds)(docids)
    samples = build_samples(rows, queries, texts, size, stride, shuffle=shuffle, seed=seed)
    tpl = listwise_template(template) if template else listwise_template()
    cut = resolve_cut(max_passage_tokens, max_passage_words, tpl)
    report = train_listwise(
        samples, model, output, template=tpl, cut=cut, loss=loss, alpha=alpha, epochs=epochs, lr=lr,
        batch_size=batch_size, lora_r=lora_r, full_finetune=full_finetune, seed=seed, device=device, log=say,
    )  # fmt: skip
    say(f"train: {report.steps} steps in {report.wall_s:.0f} s; wrote {output}")
