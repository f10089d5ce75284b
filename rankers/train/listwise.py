"""Listwise fine-tuning of a causal LM on complete rankings (`rank train listwise`).

Each sample is the prompt `rank rerank` builds (same template, same passage preparation, same chat template,
through the same `HFBackend`) and, as the answer, the whole permutation `[i] > [j] > ...` followed by the
end-of-answer token. `window=None` trains the full ranker (all of a query's candidates in one prompt); a window
size trains a sliding-window student on windows cut from the same complete order, so both learn from equal data.
The loss is the importance-aware one of `rankers.train.loss` (or plain language modelling, `loss="lm"`).

LoRA through peft by default (merged into the weights at the end), full fine-tuning optionally; accelerate
places the model (CPU, one GPU, or several with `accelerate launch`). Seeded: the order of samples in each epoch
depends on the seed alone, and after every epoch a checkpoint (trainable weights, optimizer, scheduler, RNG) is
kept beside the output, so a run killed and restarted with the same inputs ends with the same weights an
uninterrupted run gives. The result is written to a temporary folder and renamed into place: a plain Hugging
Face folder that `rank rerank --llm hf:DIR` loads and vLLM serves behind `openai:`.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rankers.errors import RankError
from rankers.io import swap_dir
from rankers.rerank.algorithms import sliding_windows
from rankers.rerank.passages import Cut, prepare, prepare_query
from rankers.rerank.templates import ListwiseTemplate, listwise_template
from rankers.train.checkpoint import load_checkpoint, seed_all
from rankers.train.labels import Label
from rankers.train.loss import LOSSES, target_text, target_tokens

Log = Callable[[str], None]


@dataclass(slots=True)
class Sample:
    qid: str
    query: str
    passages: list[str]  # in the order the prompt shows them
    target: list[int]  # 1-based prompt positions, best first


def build_samples(
    labels: Sequence[Label],
    queries: Mapping[str, str],
    texts: Mapping[str, str],
    window: int | None = None,
    stride: int = 10,
    shuffle: float = 0.0,
    seed: int = 0,
) -> list[Sample]:
    """One sample per query (`window=None`: the full ranker), or one per sliding window over its initial order
    with the window's candidates ordered as the complete label orders them (a sliding-window student).

    `shuffle`: the share of samples whose candidates the prompt shows in a random order (seeded by query and
    window), the target following them. Labels that mostly keep the initial order (a first stage that is often
    right) teach a small model to copy the order it is shown; shuffled prompts make it read the passages, as
    RankVicuna and RankZephyr train."""
    if not 0.0 <= shuffle <= 1.0:
        raise RankError(f"--shuffle: {shuffle} is not a share between 0 and 1")
    out: list[Sample] = []
    for label in labels:
        query = queries.get(label.qid)
        if not query:
            raise RankError(f"labels: query {label.qid} has no text in the dataset's split (wrong --split?)")
        missing = [d for d in label.initial if d not in texts]
        if missing:
            raise RankError(f"labels: query {label.qid}: document {missing[0]} is not in the collection")
        rank = {d: i for i, d in enumerate(label.final)}
        spans = (
            [(0, len(label.initial))]
            if window is None
            else sliding_windows(len(label.initial), window, stride)
        )
        for start, end in spans:
            docs = list(label.initial[start:end])
            rng = random.Random(f"{seed}|{label.qid}|{start}")
            if rng.random() < shuffle:
                rng.shuffle(docs)
            order = sorted(range(len(docs)), key=lambda i: rank[docs[i]])
            out.append(Sample(label.qid, query, [texts[d] for d in docs], [i + 1 for i in order]))
    return out


@dataclass
class ListwiseReport:
    samples: int = 0
    epochs: int = 0
    steps: int = 0
    resumed_from_epoch: int = 0
    prompt_tokens: float = 0.0  # mean per sample
    target_tokens: float = 0.0
    losses: list[float] = field(default_factory=list)
    wall_s: float = 0.0
    output: str = ""


@dataclass(slots=True)
class _Encoded:
    ids: list[int]
    prompt: int  # prompt length; the rest of `ids` is the target
    weights: list[float]


def train_listwise(
    samples: Sequence[Sample],
    base: str,
    output: str | Path,
    *,
    template: ListwiseTemplate | None = None,
    cut: Cut | None = None,
    loss: str = "importance",
    alpha: float = 1.0,
    epochs: int = 1,
    lr: float = 2e-4,
    batch_size: int = 8,
    warmup: float = 0.1,
    lora_r: int = 16,
    full_finetune: bool = False,
    seed: int = 0,
    device: str | None = None,
    log: Log | None = None,
) -> ListwiseReport:
    """Fine-tune the causal LM `base` (a folder, hub name, GGUF file or short GGUF name) and write it to `output`."""
    if loss not in LOSSES:
        raise RankError(f"--loss {loss}: choose from {', '.join(LOSSES)}")
    if epochs < 1 or batch_size < 1 or lr <= 0 or (not full_finetune and lora_r < 1):
        raise RankError("--epochs, --batch-size and --lora-r must be at least 1, --lr more than 0")
    if not samples:
        raise RankError("no training samples")
    import torch
    from accelerate import Accelerator

    from rankers.llm.hf import HFBackend

    say = log or (lambda _m: None)
    template = template or listwise_template()
    cut = cut or Cut(tokens=300)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    settings = {"base": base, "template": template.name, "cut": cut.describe(), "loss": loss, "alpha": alpha,
                "epochs": epochs, "lr": lr, "batch_size": batch_size, "warmup": warmup, "seed": seed,
                "lora_r": None if full_finetune else lora_r, "full_finetune": full_finetune}  # fmt: skip
    fingerprint = _fingerprint(samples, settings)
    ckpt = output.with_name(f".{output.name}.ckpt")
    report = ListwiseReport(samples=len(samples), epochs=epochs, output=str(output))

    seed_all(seed)
    accelerator = Accelerator(cpu=(device or ("cuda" if torch.cuda.is_available() else "cpu")) == "cpu")
    backend = HFBackend(base, device=str(accelerator.device))
    if accelerator.device.type == "cpu" and next(backend.lm.parameters()).dtype != torch.float32:
        backend.lm.to(torch.float32)  # half precision trains badly, and slowly, on a CPU
    tokenizer = backend.tokenizer
    encoded = [_encode(backend, template, cut, s, loss, alpha) for s in samples]
    report.prompt_tokens = sum(e.prompt for e in encoded) / len(encoded)
    report.target_tokens = sum(len(e.ids) - e.prompt for e in encoded) / len(encoded)
    say(
        f"train: {len(samples)} samples, {report.prompt_tokens:.0f} prompt + {report.target_tokens:.0f} answer "
        f"tokens on average; base {base}, {'full fine-tuning' if full_finetune else f'LoRA r={lora_r}'}, "
        f"loss {loss}"
    )

    model = backend.lm
    if not full_finetune:
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(
            model,
            LoraConfig(
                r=lora_r,
                lora_alpha=2 * lora_r,
                lora_dropout=0.05,
                target_modules="all-linear",
                task_type="CAUSAL_LM",
            ),  # fmt: skip
        )
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=lr, weight_decay=0.0)
    plan = [_epoch_plan(len(samples), batch_size, seed, e) for e in range(epochs)]
    total = sum(len(b) for b in plan)
    warm = max(1, int(warmup * total))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: (s + 1) / warm if s < warm else max(0.0, (total - s) / max(1, total - warm))
    )
    model, optimizer = accelerator.prepare(model, optimizer)

    start_epoch = 0
    state = load_checkpoint(ckpt, fingerprint)
    if state is not None:
        accelerator.unwrap_model(model).load_state_dict(state["trainable"], strict=False)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"])
        report.losses = list(state["losses"])
        start_epoch = report.resumed_from_epoch = state["epoch"] + 1
        report.steps = sum(len(b) for b in plan[:start_epoch])
        say(f"train: resuming after epoch {start_epoch} of {epochs} from {ckpt}")

    started = time.perf_counter()
    model.train()
    rank, world = accelerator.process_index, accelerator.num_processes
    for epoch in range(start_epoch, epochs):
        for step, batch in enumerate(plan[epoch], 1):
            mine = batch[rank::world]  # data parallel: each process takes its share of the batch
            total_loss = 0.0
            for i in mine:
                value = _sample_loss(model, encoded[i], loss, accelerator.device, torch) / len(batch)
                accelerator.backward(value)
                total_loss += float(value.detach())
            accelerator.clip_grad_norm_(trainable, 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            report.losses.append(total_loss * len(batch) / max(len(mine), 1))
            report.steps += 1
            if step % 5 == 0 or step == len(plan[epoch]):
                recent = report.losses[-min(5, step) :]
                say(
                    f"train: epoch {epoch + 1}/{epochs} step {step}/{len(plan[epoch])} "
                    f"loss {sum(recent) / len(recent):.4f} ({time.perf_counter() - started:.0f} s)"
                )
        if accelerator.is_main_process:
            _save_checkpoint(
                ckpt, accelerator.unwrap_model(model), optimizer, scheduler, epoch, report, fingerprint, torch
            )
        accelerator.wait_for_everyone()

    report.wall_s = time.perf_counter() - started
    if not accelerator.is_main_process:
        return report
    final = accelerator.unwrap_model(model)
    if not full_finetune:
        final = final.merge_and_unload()
    final.eval()
    tmp = output.with_name(f".{output.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    final.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    with open(tmp / "rank_training.json", "w", encoding="utf-8") as f:
        json.dump({"settings": settings, "report": asdict(report), "steps_per_epoch": [len(b) for b in plan],
                   "example_target": target_text(samples[0].target)}, f, indent=1)  # fmt: skip
    swap_dir(tmp, output)
    shutil.rmtree(ckpt, ignore_errors=True)
    return report


def _encode(
    backend: Any, template: ListwiseTemplate, cut: Cut, s: Sample, loss: str, alpha: float
) -> _Encoded:
    """The sample as `rank rerank --llm hf:` would prompt it, and its weighted answer tokens."""
    query = prepare_query(s.query, template.style)
    passages = prepare(backend, s.passages, cut, template.style)
    prompt = backend._prompt_ids(template.messages(query, passages))
    answer, weights = target_tokens(backend.tokenizer, s.target, loss, alpha)
    return _Encoded(prompt + answer, len(prompt), weights)


def _sample_loss(model: Any, e: _Encoded, loss: str, device: Any, torch: Any) -> Any:
    n = len(e.ids) - e.prompt
    ids = torch.tensor([e.ids], device=device)
    # Only the logits that predict the answer: the prompt's would cost a vocabulary-wide row per token.
    logits = model(input_ids=ids, logits_to_keep=n + 1).logits[0, :-1].float()
    target = ids[0, e.prompt :]
    nll = -torch.log_softmax(logits, dim=-1).gather(1, target[:, None])[:, 0]
    if loss == "lm":
        return nll.mean()
    # The paper's normalization: weighted token losses summed, divided by the number of answer tokens.
    return (nll * torch.tensor(e.weights, device=device)).sum() / n


def _epoch_plan(n: int, batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    order = list(range(n))
    random.Random(seed * 1000 + epoch).shuffle(order)
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


def _fingerprint(samples: Sequence[Sample], settings: dict[str, Any]) -> str:
    h = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for s in samples:
        h.update(json.dumps([s.qid, s.query, s.passages, s.target]).encode())
    return h.hexdigest()[:16]


def _save_checkpoint(
    ckpt: Path,
    model: Any,
    optimizer: Any,
    scheduler: Any,
    epoch: int,
    report: ListwiseReport,
    fp: str,
    torch: Any,
) -> None:
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    trainable = {k: v.detach().cpu().clone() for k, v in model.state_dict().items() if k in names}
    tmp = ckpt.with_name(ckpt.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    torch.save({"fingerprint": fp, "epoch": epoch, "trainable": trainable, "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "torch_rng": torch.get_rng_state(),
                "losses": list(report.losses)}, tmp / "state.pt")  # fmt: skip
    swap_dir(tmp, ckpt)
