"""Pointwise rerankers: each passage scored alone. LLM yes/no next-token scores, and cross-encoders."""

from __future__ import annotations

import time
from collections import Counter

from rankers.errors import RankError
from rankers.llm.base import Backend, logsumexp
from rankers.rerank.cost import Cost
from rankers.rerank.listwise import Outcome
from rankers.rerank.passages import prepare, require_texts, resolve_cut
from rankers.rerank.templates import PointwiseTemplate, pointwise_template
from rankers.run import Candidate, Ranking


def _apply_scores(r: Ranking, head: list[Candidate], tail: list[Candidate], scores: list[float]) -> None:
    """Head by score (stable); the candidates beyond --hits keep their order below all of them."""
    for c, s in zip(head, scores, strict=True):
        c.score = float(s)
    head.sort(key=lambda c: -c.score)
    floor = min((c.score for c in head), default=0.0)
    for i, c in enumerate(tail, 1):
        c.score = floor - i
    r.candidates = head + tail


class YesNoReranker:
    """Score = log-odds of "Yes" over "No" as the next token; the best of the small local LLMs measured here."""

    def __init__(
        self,
        backend: Backend,
        hits: int = 100,
        max_passage_tokens: int | None = None,
        template: PointwiseTemplate | None = None,
        max_passage_words: int | None = None,
    ):
        if hits < 1:
            raise RankError(f"--hits {hits}: must be at least 1")
        self.backend, self.hits = backend, hits
        self.cut = resolve_cut(max_passage_tokens, max_passage_words)
        self.template = template or pointwise_template()

    def rerank(self, r: Ranking) -> Outcome:
        t0 = time.perf_counter()
        head, tail = r.candidates[: self.hits], r.candidates[self.hits :]
        require_texts(r, self.hits)
        passages = prepare(self.backend, [c.text or "" for c in head], self.cut)
        cost = Cost()
        words = self.template.yes + self.template.no
        scores = []
        for p in passages:
            s = self.backend.token_scores(self.template.messages(r.query.text, p), words)
            cost.add_completion(s)
            yes = logsumexp(s.scores[w] for w in self.template.yes)
            no = logsumexp(s.scores[w] for w in self.template.no)
            scores.append(yes - no)
        _apply_scores(r, head, tail, scores)
        cost.wall_s = time.perf_counter() - t0
        r.meta["cost"] = cost.to_dict()
        return Outcome(r, cost, Counter())


class CrossEncoderReranker:
    """Any sentence-transformers CrossEncoder (a hub name, or a local folder); its raw scores become the scores."""

    def __init__(
        self, name_or_path: str, hits: int = 100, batch_size: int = 32, max_length: int | None = 512
    ):
        try:
            from sentence_transformers import CrossEncoder
        except ImportError as e:
            raise RankError(f"--cross-encoder: sentence-transformers is not installed ({e})") from None
        try:
            self.model = CrossEncoder(name_or_path, max_length=max_length)
        except (OSError, ValueError) as e:
            raise RankError(
                f"--cross-encoder {name_or_path}: cannot load ({str(e).splitlines()[0]})"
            ) from None
        self.hits, self.batch_size = hits, batch_size

    def rerank(self, r: Ranking) -> Outcome:
        t0 = time.perf_counter()
        head, tail = r.candidates[: self.hits], r.candidates[self.hits :]
        require_texts(r, self.hits)
        pairs = [(r.query.text, c.text or "") for c in head]
        scores = (
            self.model.predict(pairs, batch_size=self.batch_size, show_progress_bar=False) if pairs else []
        )
        _apply_scores(r, head, tail, [float(s) for s in scores])
        cost = Cost(wall_s=time.perf_counter() - t0)
        r.meta["cost"] = cost.to_dict()
        return Outcome(r, cost, Counter())
