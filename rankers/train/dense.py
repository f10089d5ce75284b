"""Bi-encoder fine-tuning on (query, document) pairs: in-batch negatives (MultipleNegativesRankingLoss), optionally
one mined hard negative per pair, on the CPU, seeded.

The model is written to a temporary folder beside the output and renamed into place only when training has
finished, so an interrupted run never leaves a half-written model where a good one was. After every epoch a
checkpoint (weights, optimizer, scheduler, RNG state) is kept; a restart with the same pairs and settings
continues from the last finished epoch and ends with the same model an uninterrupted run would give.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rankers.errors import RankError
from rankers.io import swap_dir
from rankers.run import Query, Ranking
from rankers.synth.pairs import Pair
from rankers.train.checkpoint import load_checkpoint, seed_all

Log = Callable[[str], None]


@dataclass
class TrainReport:
    pairs: int = 0
    hard_negatives: int = 0
    epochs: int = 0
    steps: int = 0
    resumed_from_epoch: int = 0
    losses: list[float] = field(default_factory=list)
    wall_s: float = 0.0
    output: str = ""

    def epoch_losses(self, steps_per_epoch: int) -> list[float]:
        n = max(steps_per_epoch, 1)
        chunks = [self.losses[i : i + n] for i in range(0, len(self.losses), n)]
        return [sum(c) / len(c) for c in chunks if c]


def mine_negatives(
    pairs: list[Pair],
    search: Callable[[Iterable[Ranking], int], Iterable[Ranking]],
    texts: Callable[[list[str]], dict[str, str]],
    depth: int = 20,
    seed: int = 0,
) -> dict[str, str]:
    """One hard negative text per pair: a document drawn (seeded) from the retriever's top `depth` that is not
    the pair's own document.

    Drawing from the whole top `depth` rather than taking the first hit softens the false-negative problem:
    the top BM25 hit for a synthetic query is often another relevant document, not a wrong one.
    """
    rng = random.Random(seed)
    positives: dict[str, set[str]] = {}
    for p in pairs:
        positives.setdefault(p.query, set()).add(p.docid)
    by_qid = {p.qid: p for p in pairs}
    chosen: dict[str, str] = {}
    for r in search((Ranking(Query(p.qid, p.query)) for p in pairs), depth):
        pool = [c.docid for c in r.candidates[:depth] if c.docid not in positives[by_qid[r.qid].query]]
        if pool:
            chosen[r.qid] = rng.choice(pool)
    found = texts(sorted(set(chosen.values())))
    return {qid: found[d] for qid, d in chosen.items() if found.get(d, "").strip()}


def _batches(keys: list[set[str]], size: int, rng: random.Random) -> list[list[int]]:
    """Shuffled batches in which no document appears twice: MultipleNegativesRankingLoss treats every other
    document in a batch as a negative, so a repeated document would be both the answer and a negative."""
    pending = list(range(len(keys)))
    rng.shuffle(pending)
    out: list[list[int]] = []
    while pending:
        batch, used, rest = [], set(), []
        for i in pending:
            if len(batch) < size and not (keys[i] & used):
                batch.append(i)
                used |= keys[i]
            else:
                rest.append(i)
        out.append(batch)
        pending = rest
    return [b for b in out if len(b) > 1] or out


def _fingerprint(pairs: list[Pair], negatives: dict[str, str] | None, settings: dict[str, Any]) -> str:
    h = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for p in pairs:
        h.update(json.dumps([p.query, p.docid, p.document, (negatives or {}).get(p.qid)]).encode())
    return h.hexdigest()[:16]


def _tokenize(model: Any, texts: list[str]) -> Any:
    return model.preprocess(texts) if hasattr(model, "preprocess") else model.tokenize(texts)


def train_dense(
    pairs: list[Pair],
    base: str,
    output: str | Path,
    *,
    negatives: dict[str, str] | None = None,
    epochs: int = 1,
    batch_size: int = 32,
    lr: float = 2e-5,
    warmup: float = 0.1,
    seed: int = 0,
    max_seq_length: int | None = None,
    log: Log | None = None,
) -> TrainReport:
    """Fine-tune the sentence-transformers model at `base` (a folder) and write it to `output`."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    if epochs < 1 or batch_size < 2 or lr <= 0:
        raise RankError(
            "--epochs must be >= 1, --batch-size >= 2 (in-batch negatives need company), --lr > 0"
        )
    missing = next((p for p in pairs if not (p.document or "").strip()), None)
    if missing is not None:
        raise RankError(f"pair {missing.qid} (line {missing.line}) has no document text to train on")
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    settings = {"base": base, "epochs": epochs, "batch": batch_size, "lr": lr, "warmup": warmup, "seed": seed,
                "max_seq_length": max_seq_length}  # fmt: skip
    fp = _fingerprint(pairs, negatives, settings)
    ckpt = output.with_name(f".{output.name}.ckpt")
    report = TrainReport(
        pairs=len(pairs), hard_negatives=len(negatives or {}), epochs=epochs, output=str(output)
    )
    say = log or (lambda _m: None)

    seed_all(seed)
    state = load_checkpoint(ckpt, fp)
    model = SentenceTransformer(str(ckpt / "model") if state else base, device="cpu")
    if max_seq_length:
        model.max_seq_length = max_seq_length
    loss_fn = MultipleNegativesRankingLoss(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)

    # Documents are told apart by text: a corpus may hold the same text under two docids.
    keys = [{p.document} | ({negatives[p.qid]} if negatives and p.qid in negatives else set()) for p in pairs]
    # The batches of every epoch are fixed by the seed alone, so a resumed run replays the same schedule.
    plan = [_batches(keys, batch_size, random.Random(seed * 1000 + e)) for e in range(epochs)]
    total = sum(len(b) for b in plan)
    warm = max(1, int(warmup * total))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: (s + 1) / warm if s < warm else max(0.0, (total - s) / max(1, total - warm))
    )
    start_epoch = 0
    if state:
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"])
        report.losses = state["losses"]
        start_epoch = report.resumed_from_epoch = state["epoch"] + 1
        say(f"train: resuming after epoch {start_epoch} of {epochs} from {ckpt}")

    started = time.perf_counter()
    model.train()
    for epoch in range(start_epoch, epochs):
        for step, batch in enumerate(plan[epoch], 1):
            columns = [[pairs[i].query for i in batch], [pairs[i].document for i in batch]]
            if negatives:
                # Pairs without a mined negative borrow none: the column must be full, so fall back to in-batch only.
                if all(pairs[i].qid in negatives for i in batch):
                    columns.append([negatives[pairs[i].qid] for i in batch])
            loss = loss_fn([_tokenize(model, c) for c in columns], None)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            report.losses.append(float(loss.item()))
            report.steps += 1
            if step % 10 == 0 or step == len(plan[epoch]):
                recent = report.losses[-min(10, step) :]
                say(
                    f"train: epoch {epoch + 1}/{epochs} step {step}/{len(plan[epoch])} "
                    f"loss {sum(recent) / len(recent):.4f} ({time.perf_counter() - started:.0f} s)"
                )
        _save_checkpoint(ckpt, model, optimizer, scheduler, epoch, report.losses, fp, torch)

    report.wall_s = time.perf_counter() - started
    tmp = output.with_name(f".{output.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    model.eval()
    model.save(str(tmp))
    per_epoch = [len(b) for b in plan]
    with open(tmp / "rank_training.json", "w", encoding="utf-8") as f:
        json.dump({"settings": settings, "pairs": len(pairs), "hard_negatives": report.hard_negatives,
                   "steps_per_epoch": per_epoch, "losses": report.losses, "wall_s": report.wall_s,
                   "resumed_from_epoch": report.resumed_from_epoch}, f, indent=1)  # fmt: skip
    swap_dir(tmp, output)
    shutil.rmtree(ckpt, ignore_errors=True)
    return report


def _save_checkpoint(
    ckpt: Path, model: Any, optimizer: Any, scheduler: Any, epoch: int, losses: list, fp: str, torch: Any
) -> None:
    tmp = ckpt.with_name(ckpt.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save(str(tmp / "model"))
    torch.save({"fingerprint": fp, "epoch": epoch, "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "torch_rng": torch.get_rng_state(), "losses": list(losses)},
               tmp / "state.pt")  # fmt: skip
    swap_dir(tmp, ckpt)
