"""Rerankers: LLM listwise (sliding window, full ranking), LLM pointwise yes/no, cross-encoders.

from rankers.llm import get_backend
from rankers.rerank import ListwiseReranker, rerank_run
llm = get_backend("openai:qwen", cache=True)
run = rerank_run(rankings, ListwiseReranker(llm, mode="full", hits=100))
"""

from rankers.rerank.algorithms import full, sliding, sliding_windows
from rankers.rerank.cost import Cost, Totals
from rankers.rerank.listwise import ListwiseReranker, Outcome
from rankers.rerank.parse import parse_permutation, sanitize_passage
from rankers.rerank.pointwise import CrossEncoderReranker, YesNoReranker
from rankers.rerank.stage import rerank_run
from rankers.rerank.templates import listwise_template, pointwise_template

__all__ = [
    "Cost",
    "CrossEncoderReranker",
    "ListwiseReranker",
    "Outcome",
    "Totals",
    "YesNoReranker",
    "full",
    "listwise_template",
    "parse_permutation",
    "pointwise_template",
    "rerank_run",
    "sanitize_passage",
    "sliding",
    "sliding_windows",
]
