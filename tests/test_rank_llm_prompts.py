"""`--template rank_gpt` and `--template rank_zephyr` build rank_llm 0.25.7's messages byte for byte: checked
against the fixtures rank_llm wrote (tests/fixtures/rank_llm, made by tests/rank_llm_reference.py) and, where
rank_llm is installed (it is in `make test`'s venv), against rank_llm itself on the same windows. Also: the query
is escaped, --max-passage-words cuts as rank_llm does, and a thinking model's cut-off answer is counted."""

from __future__ import annotations

import json

import pytest
import rank_llm_reference as ref
from conftest import REQUIRE
from rerank_judge import JudgeBackend

from rankers.errors import RankError
from rankers.llm.base import Completion
from rankers.rerank import ListwiseReranker, listwise_template
from rankers.rerank.parse import parse_permutation
from rankers.run import Candidate, Query, Ranking


class Recorder(JudgeBackend):
    """Records every prompt; answers as the scripted judge does (the prompt builder is under test)."""

    def __init__(self):
        super().__init__({})
        self.prompts: list[list[dict]] = []

    def _chat(self, messages, *a):
        self.prompts.append(messages)
        return super()._chat(messages, *a)


def ours(template: str, query: str, passages: list[str], max_words: int) -> list[dict[str, str]]:
    r = Ranking(Query("q", query), [Candidate(str(i), 0.0, t) for i, t in enumerate(passages)])
    backend = Recorder()
    tpl = listwise_template(template)
    ListwiseReranker(backend, "full", hits=len(passages), template=tpl, max_passage_words=max_words).rerank(r)
    (messages,) = backend.prompts
    return messages


def fixture(template: str) -> dict:
    return json.loads((ref.FIXTURES / f"{template}.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("template", sorted(ref.TEMPLATES))
def test_messages_equal_rank_llm_fixtures(template):
    data = fixture(template)
    assert data["rank_llm"] == ref.VERSION
    for case in data["cases"]:
        got = ours(template, case["query"], case["passages"], case["max_words"])
        assert got == case["messages"], f"{template}: {case['query']!r}"


@pytest.mark.parametrize("template", sorted(ref.TEMPLATES))
def test_messages_equal_rank_llm_itself(template):
    """The fixtures are what rank_llm builds today, and so are our messages on fresh windows."""
    if not ref.available():
        if REQUIRE:
            pytest.fail(f"rank-llm=={ref.VERSION} (with dacite) is not installed: `make venv` installs it")
        pytest.skip("rank-llm is not installed")
    for case in fixture(template)["cases"]:
        assert ref.prompts(template, case["query"], case["passages"], case["max_words"]) == case["messages"]
    # Windows cut differently from the fixtures': other sizes, other word limits.
    passages = [c for case in ref.cases() for c in case["passages"]]
    for n, words in ((3, 5), (12, 300), (20, 1)):
        window = passages[-n:]
        query = f"query [{n}] about  {words} words"
        assert ours(template, query, window, words) == ref.prompts(template, query, window, words)


def test_default_cut_is_the_templates_own():
    """rank_llm's templates cut at 300 words unless a flag says otherwise; ours at 300 model tokens."""
    assert listwise_template("rank_gpt").max_passage_words == 300
    assert listwise_template("rank_zephyr").max_passage_words == 300
    long = " ".join(f"w{i}" for i in range(400))
    backend = Recorder()
    r = Ranking(Query("q", "q"), [Candidate("a", 1.0, long), Candidate("b", 0.5, "short")])
    ListwiseReranker(backend, "full", hits=2, template=listwise_template("rank_gpt")).rerank(r)
    first = next(m["content"] for m in backend.prompts[0] if m["content"].startswith("[1] "))
    assert first == "[1] " + " ".join(f"w{i}" for i in range(300))
    with pytest.raises(RankError, match="give one of them"):
        ListwiseReranker(backend, "full", max_passage_tokens=10, max_passage_words=10)


def test_our_default_prompt_escapes_ids_in_the_query():
    backend = Recorder()
    r = Ranking(Query("q", "is [2] better than ［3］?"), [Candidate("a", 1.0, "x"), Candidate("b", 0.5, "y")])
    ListwiseReranker(backend, "full", hits=2).rerank(r)
    user = backend.prompts[0][-1]["content"]
    assert "[2]" not in user.replace("[2] y", "").replace("[1] > [2]", "")
    assert "is (2) better than (3)?" in user


def test_a_thinking_answer_cut_off_is_counted_not_parsed():
    """Numbers inside an unfinished <think> are not a ranking: the prior order stands and the case is counted."""
    parsed = parse_permutation("<think>passage [3] looks better than [1], but", 3)
    assert parsed.order == [0, 1, 2]
    assert parsed.repairs["unfinished_think"] == 1

    class Thinker(JudgeBackend):
        def _chat(self, messages, max_tokens, *a):
            self.max_tokens.append(max_tokens)
            return Completion("<think>[2] seems", 10, max_tokens, 0.0, finish_reason="length")

    backend = Thinker({})
    r = Ranking(Query("q", "q"), [Candidate(d, 1.0 - i / 10, d) for i, d in enumerate("abc")])
    out = ListwiseReranker(backend, "full", hits=3, reasoning_budget=500).rerank(r)
    assert [c.docid for c in out.ranking.candidates] == ["a", "b", "c"]
    assert out.repairs["truncated"] == 1 and out.repairs["unfinished_think"] == 1
    # The budget is the permutation's own plus the reasoning allowance.
    assert backend.max_tokens == [7 * 3 + 32 + 500]
