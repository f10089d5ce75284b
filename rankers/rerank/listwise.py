"""LLM listwise reranking (RankGPT): a window of numbered passages in, a permutation `[3] > [1] > ...` out.

`sliding` moves a window from the bottom of the list to the top; `full` puts all candidates in one prompt,
after checking that prompt and answer fit the model's context; `complete` repeats sliding passes until the whole
list is ordered (the teacher of `rank labels`).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

from rankers.errors import RankError
from rankers.llm.base import Backend
from rankers.rerank.algorithms import complete, complete_passes, full, sliding, sliding_windows
from rankers.rerank.cost import Cost
from rankers.rerank.parse import parse_permutation
from rankers.rerank.passages import prepare, prepare_query, require_texts, resolve_cut
from rankers.rerank.templates import ListwiseTemplate, listwise_template
from rankers.run import Ranking

MODES = ("sliding", "full", "complete")
# Answer budget per passage: `[100] > ` is up to 6 tokens where digits are split one per token (Qwen, Llama 3).
ANSWER_TOKENS_PER_ID = 7
ANSWER_TOKENS_EXTRA = 32


def answer_budget(n: int) -> int:
    return ANSWER_TOKENS_PER_ID * n + ANSWER_TOKENS_EXTRA


@dataclass
class Outcome:
    ranking: Ranking
    cost: Cost
    repairs: Counter
    fell_back: bool = False


class ListwiseReranker:
    def __init__(
        self,
        backend: Backend,
        mode: str = "sliding",
        hits: int = 100,
        window: int = 20,
        stride: int = 10,
        passes: int = 1,
        max_passage_tokens: int | None = None,
        fallback_sliding: bool = False,
        template: ListwiseTemplate | None = None,
        answer_top: int | None = None,
        max_passage_words: int | None = None,
        reasoning_budget: int = 0,
    ):
        """`max_passage_tokens` / `max_passage_words`: the passage cut (0: uncut; neither: the template's own,
        else 300 tokens). `reasoning_budget`: answer tokens allowed beyond the permutation's own, for models that
        think before they answer; an answer that still runs out is counted as `truncated`, never hidden."""
        if mode not in MODES:
            raise RankError(f"--mode {mode}: expected one of {', '.join(MODES)}")
        if hits < 1:
            raise RankError(f"--hits {hits}: must be at least 1")
        sliding_windows(hits, window, stride)  # checks the window flags before any call
        if mode == "complete":
            complete_passes(hits, window, stride)
        if passes < 1:
            raise RankError(f"--passes {passes}: must be at least 1")
        self.backend, self.mode, self.hits = backend, mode, hits
        self.window, self.stride, self.passes = window, stride, passes
        self.fallback_sliding = fallback_sliding
        self.template = template or listwise_template()
        self.cut = resolve_cut(max_passage_tokens, max_passage_words, self.template)
        if reasoning_budget < 0:
            raise RankError(f"--reasoning-budget {reasoning_budget}: must be 0 or more")
        self.reasoning_budget = reasoning_budget
        # Decoding costs far more per token than reading the prompt, and nDCG@10 needs only the head of the order.
        if answer_top is not None and answer_top < 1:
            raise RankError(f"--answer-top {answer_top}: must be at least 1")
        if answer_top is not None and not self.template.suffix_top:
            raise RankError(
                f"--answer-top: the template {self.template.name!r} has no 'suffix_top' instruction"
            )
        self.answer_top = answer_top

    def rerank(self, r: Ranking) -> Outcome:
        t0 = time.perf_counter()
        head, tail = r.candidates[: self.hits], r.candidates[self.hits :]
        require_texts(r, self.hits)
        style = self.template.style
        query = prepare_query(r.query.text, style)
        passages = prepare(self.backend, [c.text or "" for c in head], self.cut, style)
        cost, repairs = Cost(), Counter()

        def rank_window(idx: list[int]) -> list[int]:
            top = self._top(len(idx))
            messages = self.template.messages(query, [passages[i] for i in idx], top)
            c = self.backend.chat(messages, max_tokens=self._budget(top), temperature=0.0, seed=0)
            cost.add_completion(c)
            if c.finish_reason == "length":
                repairs["truncated"] += 1
            parsed = parse_permutation(c.text, len(idx), top)
            repairs.update(parsed.repairs)
            return [idx[p] for p in parsed.order]

        items = list(range(len(head)))
        fell_back = False
        if self.mode == "full" and not self._fits(r.qid, query, passages):
            fell_back = True
        if self.mode == "complete":
            order = complete(items, rank_window, self.window, self.stride)
        elif self.mode == "sliding" or fell_back:
            order = sliding(items, rank_window, self.window, self.stride, self.passes)
        else:
            order = full(items, rank_window)
        r.candidates = [head[i] for i in order] + tail
        r.rescore_by_rank()
        cost.wall_s = time.perf_counter() - t0
        r.meta["cost"] = cost.to_dict()
        r.meta["repairs"] = dict(sorted(repairs.items()))
        return Outcome(r, cost, repairs, fell_back)

    def _top(self, n: int) -> int:
        """How many ids the model is asked to write for a window of n."""
        return n if self.answer_top is None else min(self.answer_top, n)

    def _budget(self, top: int) -> int:
        return answer_budget(top) + self.reasoning_budget

    def _fits(self, qid: str, query: str, passages: list[str]) -> bool:
        """Whether one prompt of all passages plus its answer fits the context; if not and no fallback, say how many would."""
        ctx = self.backend.context_length
        if ctx is None or not passages:
            return True
        n = len(passages)
        prompt = self.backend.count_chat_tokens(self.template.messages(query, passages, self._top(n)))
        need = prompt + self._budget(self._top(n))
        if need <= ctx:
            return True
        if self.fallback_sliding:
            return False
        fit = self._how_many_fit(query, passages, ctx)
        raise RankError(
            f"--mode full: query {qid}: {n} passages need about {need} tokens ({prompt} prompt + "
            f"{self._budget(self._top(n))} answer) but the model's context is {ctx}; about {fit} would fit. "
            "Use --hits, a smaller --max-passage-tokens, a longer --context-length, or --fallback-sliding"
        )

    def _how_many_fit(self, query: str, passages: list[str], ctx: int) -> int:
        lo, hi = 0, len(passages)
        while lo < hi:  # the largest k whose prompt fits: token counts grow with k
            k = (lo + hi + 1) // 2
            prompt = self.backend.count_chat_tokens(self.template.messages(query, passages[:k], self._top(k)))
            if prompt + self._budget(self._top(k)) <= ctx:
                lo = k
            else:
                hi = k - 1
        return lo
