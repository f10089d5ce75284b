"""The listwise algorithms, proved with a judge that orders passages by the qrels."""

from __future__ import annotations

import random

import pytest
from rerank_judge import FlakyBackend, JudgeBackend

from rankers.errors import RankError
from rankers.llm.base import BackendError
from rankers.llm.cache import CachedBackend
from rankers.rerank import ListwiseReranker, Totals, listwise_template, rerank_run, sliding_windows
from rankers.rerank.listwise import answer_budget
from rankers.run import Candidate, Query, Ranking


def make_ranking(qid: str, n: int, seed: int) -> tuple[Ranking, dict[str, int]]:
    """n candidates in a shuffled first-stage order; every one has a distinct grade (a total true order)."""
    rng = random.Random(seed)
    docids = [f"{qid}-d{i}" for i in range(n)]
    grades = {f"passage of {d} about topic {qid}": n - i for i, d in enumerate(docids)}  # d0 best
    order = list(range(n))
    rng.shuffle(order)
    cands = [
        Candidate(docids[i], float(n - rank), f"passage of {docids[i]} about topic {qid}")
        for rank, i in enumerate(order)
    ]
    return Ranking(Query(qid, f"query {qid}"), cands), grades


def true_order(r: Ranking, grades: dict[str, int]) -> list[str]:
    return [c.docid for c in sorted(r.candidates, key=lambda c: -grades[c.text])]


def test_windows_slide_from_the_bottom():
    assert sliding_windows(100, 20, 10) == [(80 - 10 * i, 100 - 10 * i) for i in range(9)]
    assert sliding_windows(20, 20, 10) == [(0, 20)]
    assert sliding_windows(25, 20, 10) == [(5, 25), (0, 15)]
    assert sliding_windows(0, 20, 10) == []
    with pytest.raises(RankError, match="--stride"):
        sliding_windows(100, 10, 20)


def test_sliding_brings_the_true_top10_to_the_top_in_9_calls():
    r, grades = make_ranking("q1", 100, seed=1)
    truth = true_order(r, grades)
    assert [c.docid for c in r.candidates[:10]] != truth[:10]
    judge = JudgeBackend(grades)
    out = ListwiseReranker(judge, "sliding", hits=100, window=20, stride=10).rerank(r)
    assert judge.calls == 9 and judge.window_sizes == [20] * 9
    assert [c.docid for c in out.ranking.candidates[:10]] == truth[:10]
    assert sorted(c.docid for c in out.ranking.candidates) == sorted(truth)
    assert out.ranking.meta["cost"]["calls"] == 9
    assert out.ranking.meta["repairs"] == {}
    scores = [c.score for c in out.ranking.candidates]
    assert scores == sorted(scores, reverse=True) and len(set(scores)) == 100


def test_full_returns_the_judges_permutation_in_one_call():
    r, grades = make_ranking("q2", 100, seed=2)
    judge = JudgeBackend(grades)
    out = ListwiseReranker(judge, "full", hits=100).rerank(r)
    assert judge.calls == 1 and judge.window_sizes == [100]
    assert [c.docid for c in out.ranking.candidates] == true_order(r, grades)


def test_answer_top_asks_for_the_head_only_and_keeps_the_rest_in_order():
    r, grades = make_ranking("q2", 100, seed=2)
    before = [c.docid for c in r.candidates]
    judge = JudgeBackend(grades)
    out = ListwiseReranker(judge, "full", hits=100, answer_top=10).rerank(r)
    head = true_order(r, grades)[:10]
    assert judge.calls == 1 and judge.max_tokens == [answer_budget(10)]
    assert [c.docid for c in out.ranking.candidates[:10]] == head
    assert [c.docid for c in out.ranking.candidates[10:]] == [d for d in before if d not in head]
    assert "missing" not in out.repairs  # a short answer was asked for: nothing to repair


def test_answer_top_in_sliding_windows_still_lifts_the_true_top_10():
    r, grades = make_ranking("q5", 100, seed=5)
    judge = JudgeBackend(grades)
    out = ListwiseReranker(judge, "sliding", hits=100, window=20, stride=10, answer_top=10).rerank(r)
    assert judge.calls == 9 and set(judge.max_tokens) == {answer_budget(10)}
    assert [c.docid for c in out.ranking.candidates[:10]] == true_order(r, grades)[:10]


def test_answer_top_needs_a_template_that_can_ask_for_it(tmp_path):
    plain = tmp_path / "plain.yaml"
    plain.write_text("prefix: 'Q {query}\\n'\npassage: '[{rank}] {text}'\nsuffix: 'Rank them.'\n")
    with pytest.raises(RankError, match="suffix_top"):
        ListwiseReranker(JudgeBackend({}), "full", answer_top=5, template=listwise_template(plain))
    with pytest.raises(RankError, match="--answer-top 0"):
        ListwiseReranker(JudgeBackend({}), "full", answer_top=0)


def test_hits_leave_the_tail_in_its_order():
    r, grades = make_ranking("q3", 30, seed=3)
    tail = [c.docid for c in r.candidates[10:]]
    out = ListwiseReranker(JudgeBackend(grades), "full", hits=10).rerank(r)
    assert [c.docid for c in out.ranking.candidates[10:]] == tail


def test_full_mode_checks_the_context_and_says_how_many_fit():
    r, grades = make_ranking("q4", 100, seed=4)
    judge = JudgeBackend(grades, context_length=1500)
    with pytest.raises(RankError, match=r"100 passages need about \d+ tokens .* about (\d+) would fit") as e:
        ListwiseReranker(judge, "full", hits=100).rerank(r)
    assert judge.calls == 0
    fit = int(e.value.args[0].split("about ")[-1].split(" would fit")[0])
    assert 0 < fit < 100
    # the figure is right: that many fit, one more does not
    ok = ListwiseReranker(judge, "full", hits=fit).rerank(make_ranking("q4", 100, seed=4)[0])
    assert judge.calls == 1 and ok.ranking.meta["cost"]["calls"] == 1
    with pytest.raises(RankError):
        ListwiseReranker(judge, "full", hits=fit + 1).rerank(make_ranking("q4", 100, seed=4)[0])


def test_full_falls_back_to_sliding_only_when_asked():
    r, grades = make_ranking("q5", 100, seed=5)
    judge = JudgeBackend(grades, context_length=1500)
    out = ListwiseReranker(judge, "full", hits=100, fallback_sliding=True).rerank(r)
    assert out.fell_back and judge.calls == 9
    assert [c.docid for c in out.ranking.candidates[:10]] == true_order(r, grades)[:10]


def test_passes_repeat_the_sweep():
    r, grades = make_ranking("q6", 100, seed=6)
    judge = JudgeBackend(grades)
    out = ListwiseReranker(judge, "sliding", hits=100, window=20, stride=10, passes=3).rerank(r)
    assert judge.calls == 27
    assert [c.docid for c in out.ranking.candidates[:30]] == true_order(r, grades)[:30]


def test_passages_are_cut_and_sanitized_before_the_prompt():
    r = Ranking(Query("q", "q"), [Candidate("a", 1.0, "see [2] and ［３］ " + "word " * 50)])
    seen = []

    class Spy(JudgeBackend):
        def _chat(self, messages, *a):
            seen.append(messages[-1]["content"])
            return super()._chat(messages, *a)

    ListwiseReranker(Spy({}), "full", hits=5, max_passage_tokens=6).rerank(r)
    line = next(ln for ln in seen[0].splitlines() if ln.startswith("[1]"))
    assert line == "[1] see (2) and (３) word word"  # 6 tokens of the judge's tokenizer


def test_cache_rerun_makes_no_call_and_a_killed_run_resumes(tmp_path):
    rankings = [make_ranking(f"q{i}", 100, seed=i) for i in range(3)]
    judge = JudgeBackend({k: v for _, g in rankings for k, v in g.items()})
    # a server that dies after 13 calls: the first query (9 calls) finishes, the second does not
    flaky = CachedBackend(FlakyBackend(judge, ok_calls=13), tmp_path)
    with pytest.raises(BackendError):
        list(rerank_run([r for r, _ in _copy(rankings)], ListwiseReranker(flaky, "sliding")))
    assert judge.calls == 13
    judge.calls = 0
    totals = Totals()
    first = list(
        rerank_run(
            [r for r, _ in _copy(rankings)],
            ListwiseReranker(CachedBackend(judge, tmp_path), "sliding"),
            totals=totals,
        )
    )
    assert judge.calls == 27 - 13  # nothing recomputed
    assert totals.cost.calls == 14 and totals.cost.cached_calls == 13
    judge.calls = 0
    totals = Totals()
    again = list(
        rerank_run(
            [r for r, _ in _copy(rankings)],
            ListwiseReranker(CachedBackend(judge, tmp_path), "sliding"),
            3,
            totals,
        )
    )
    assert judge.calls == 0 and totals.cost.calls == 0 and totals.cost.cached_calls == 27
    assert all(r.meta["cost"]["calls"] == 0 for r in again)
    assert [[c.docid for c in r.candidates] for r in again] == [
        [c.docid for c in r.candidates] for r in first
    ]


def test_concurrency_keeps_the_input_order():
    rankings = [make_ranking(f"q{i}", 40, seed=i) for i in range(8)]
    judge = JudgeBackend({k: v for _, g in rankings for k, v in g.items()})
    out = list(
        rerank_run([r for r, _ in rankings], ListwiseReranker(judge, "sliding", hits=40), concurrency=4)
    )
    assert [r.qid for r in out] == [f"q{i}" for i in range(8)]
    for r, (_, g) in zip(out, rankings, strict=True):
        assert [c.docid for c in r.candidates[:10]] == true_order(r, g)[:10]


def _copy(rankings):
    return [(Ranking.from_dict(r.to_dict()), g) for r, g in rankings]
