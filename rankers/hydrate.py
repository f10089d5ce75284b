"""Fill in the texts a run lacks: query texts and candidate texts.

A TREC run read from a file or a pipe carries ids and scores only; a stage that reads text (an LLM reranker)
needs the query and the passages. `hydrate` fills what is missing, one chunk of rankings at a time so a pipe
keeps streaming, from a topics dict and from a `docids -> texts` lookup (the index's stored text, or the
dataset's corpus).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

from rankers.data.base import Dataset
from rankers.errors import RankError
from rankers.run import Query, Ranking

TextLookup = Callable[[list[str]], Mapping[str, str]]

# Rankings whose missing texts are looked up together: one index round trip (or corpus scan) per chunk.
CHUNK = 64


def hydrate(
    rankings: Iterable[Ranking],
    queries: Mapping[str, Query | str] | None = None,
    texts: TextLookup | None = None,
    depth: int | None = None,
    chunk: int = CHUNK,
) -> Iterator[Ranking]:
    """Rankings with empty query texts filled from `queries` and missing candidate texts from `texts`.

    Only the first `depth` candidates of each ranking get texts (a reranker reads the top of the list). A query
    with no text that `queries` does not know, or a docid that `texts` does not know, is an error: it names
    both ids, because a run and a collection that do not match are a mistake worth stopping for.
    """
    buf: list[Ranking] = []
    for r in rankings:
        if queries is not None:
            _fill_query(r, queries)
        buf.append(r)
        if len(buf) >= chunk:
            yield from _fill_texts(buf, texts, depth)
            buf = []
    if buf:
        yield from _fill_texts(buf, texts, depth)


def hydrate_from(
    rankings: Iterable[Ranking],
    dataset: str | Path | None = None,
    split: str | None = None,
    index: str | Path | None = None,
    depth: int | None = None,
) -> Iterable[Ranking]:
    """`hydrate` from named sources: query texts from the dataset's split, candidate texts from the BM25 index's
    stored texts when an index is given (one lookup per chunk, no corpus scan), else from the dataset's corpus.
    With neither, the rankings pass through as they are."""
    if dataset is None and index is None:
        return rankings
    queries = texts = None
    if dataset is not None:
        from rankers.data.registry import load_dataset

        ds = load_dataset(dataset)
        queries, texts = ds.queries(split), dataset_texts(ds)
    if index is not None:
        from rankers.bm25 import Bm25Searcher

        texts = Bm25Searcher(index).doc_texts
    return hydrate(rankings, queries=queries, texts=texts, depth=depth)


def fill_queries(
    rankings: Iterable[Ranking], queries: Mapping[str, Query | str], require_text: bool = True
) -> Iterator[Ranking]:
    """Rankings whose queries take what they lack (text, date, fields) from `queries`, by qid; what a ranking
    already has is kept. A query with no text that `queries` does not know either is an error unless
    `require_text` is False (a stage that reads only dates)."""
    for r in rankings:
        _fill_query(r, queries, require_text)
        yield r


def _fill_query(r: Ranking, queries: Mapping[str, Query | str], require_text: bool = True) -> None:
    known = queries.get(r.qid)
    if known is None:
        if require_text and not r.query.text:
            raise RankError(f"query {r.qid}: the run has no text for it and the topics do not have it either")
        return
    if isinstance(known, str):
        r.query.text = r.query.text or known
        return
    r.query.text = r.query.text or known.text
    if r.query.date is None:
        r.query.date = known.date
    for k, v in known.fields.items():
        r.query.fields.setdefault(k, v)


def _fill_texts(buf: list[Ranking], texts: TextLookup | None, depth: int | None) -> list[Ranking]:
    if texts is None:
        return buf
    missing = list(dict.fromkeys(c.docid for r in buf for c in r.candidates[:depth] if c.text is None))
    if not missing:
        return buf
    found = texts(missing)
    for r in buf:
        for c in r.candidates[:depth]:
            if c.text is None:
                text = found.get(c.docid)
                if text is None:
                    raise RankError(
                        f"query {r.qid}: document {c.docid} is not in the collection the texts come from"
                    )
                c.text = text
    return buf


def dataset_texts(dataset: Dataset) -> TextLookup:
    """A lookup over a dataset's corpus without an index: the corpus is read once, on first use, and kept."""
    cache: dict[str, str] = {}

    def lookup(docids: list[str]) -> Mapping[str, str]:
        if not cache:
            cache.update((d.docid, d.contents) for d in dataset.documents())
        return cache

    return lookup
