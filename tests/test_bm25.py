"""BM25 through pyserini on real Lucene indexes: fidelity to the reference figures, index building (atomic,
guarded), the analyzer language kept with the index, RM3, weighted-term queries, and text hydration."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import DATA_DIR, shared

from rankers.bm25 import META, Bm25Searcher, Rm3, _adjust_ties, _hex_docid, build_index, read_meta
from rankers.data import load_dataset
from rankers.errors import InputError, RankError
from rankers.hydrate import dataset_texts, hydrate, hydrate_from
from rankers.run import Candidate, Query, Ranking, as_rankings

pytestmark = pytest.mark.slow
TOLERANCE = 0.002


def reference(dataset: str, metric: str, qrels: str | None = None) -> float:
    """A BM25 figure from ../shared/data/REFERENCE.md (its table names metrics in the last two columns)."""
    for line in (DATA_DIR / "REFERENCE.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 5 or cells[0] != dataset or not cells[2].startswith("BM25"):
            continue
        if qrels is not None and cells[1] != qrels:
            continue
        if metric == "ndcg@10" and re.fullmatch(r"[0-9.]+", cells[3]):
            return float(cells[3])
        m = re.search(rf"{re.escape(metric)} ([0-9.]+)", cells[4], re.I)
        if m:
            return float(m.group(1))
    raise AssertionError(f"no BM25 {metric} for {dataset} in REFERENCE.md")


def evaluate(dataset, rankings, metrics, kind="graded") -> dict[str, float]:
    from ranx import Qrels, Run, evaluate

    run = Run({r.qid: {c.docid: c.score for c in r.candidates} for r in rankings})
    return evaluate(Qrels(dataset.qrels(kind=kind)), run, metrics, make_comparable=True)


def mini_beir(src: Path, dest: Path, docs: int, broken_at: int | None = None) -> Path:
    """The first `docs` documents of a BEIR set with the test queries judged on them; optionally a malformed
    JSON line at document `broken_at`."""
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "qrels").mkdir(exist_ok=True)
    kept: set[str] = set()
    with (
        open(src / "corpus.jsonl", encoding="utf-8") as f,
        open(dest / "corpus.jsonl", "w", encoding="utf-8") as out,
    ):
        for i, line in enumerate(f):
            if i == docs:
                break
            if i == broken_at:
                out.write('{"_id": "broken", "text": \n')
            kept.add(json.loads(line)["_id"])
            out.write(line)
    rows = [r.split("\t") for r in (src / "qrels" / "test.tsv").read_text().splitlines()[1:]]
    rows = [r for r in rows if r[1] in kept]
    (dest / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join("\t".join(r) + "\n" for r in rows), encoding="utf-8"
    )
    qids = {r[0] for r in rows}
    with (
        open(src / "queries.jsonl", encoding="utf-8") as f,
        open(dest / "queries.jsonl", "w", encoding="utf-8") as out,
    ):
        out.writelines(line for line in f if json.loads(line)["_id"] in qids)
    return dest


@pytest.fixture(scope="session")
def scifact_index(tmp_path_factory) -> Path:
    index = tmp_path_factory.mktemp("bm25") / "scifact"
    build_index(shared("scifact"), index, language="en", threads=2)
    return index


@pytest.fixture(scope="session")
def scifact_searcher(scifact_index) -> Bm25Searcher:
    return Bm25Searcher(scifact_index, threads=2)


@pytest.fixture(scope="session")
def mini(tmp_path_factory) -> Path:
    return mini_beir(shared("scifact"), tmp_path_factory.mktemp("mini") / "mini", docs=400)


# ---------------------------------------------------------------- fidelity


def test_scifact_matches_reference(scifact_searcher):
    ds = load_dataset(shared("scifact"))
    got = evaluate(
        ds,
        scifact_searcher.search(as_rankings(ds.queries("test").values()), hits=1000),
        ["ndcg@10", "mrr@10", "recall@100"],
    )
    for metric, name in (("ndcg@10", "ndcg@10"), ("mrr@10", "MRR@10"), ("recall@100", "R@100")):
        assert got[metric] == pytest.approx(reference("scifact", name), abs=TOLERANCE), metric


def test_vaswani_matches_reference(tmp_path):
    ds = load_dataset(shared("vaswani"))
    build_index(ds, tmp_path / "idx", threads=2)
    with Bm25Searcher(tmp_path / "idx", threads=2) as s:
        got = evaluate(ds, s.search(as_rankings(ds.queries().values()), hits=1000), ["ndcg@10", "map"])
    assert got["ndcg@10"] == pytest.approx(reference("vaswani", "ndcg@10"), abs=TOLERANCE)
    assert got["map"] == pytest.approx(reference("vaswani", "MAP"), abs=TOLERANCE)


def pyserini_searcher(index: Path, language: str = "en"):
    """pyserini's own LuceneSearcher, the run `rank` must give bit for bit."""
    from pyserini.search.lucene import LuceneSearcher

    s = LuceneSearcher(str(index))
    s.set_bm25(0.9, 0.4)
    if language != "en":
        s.set_language(language)
    return s


def pairs(candidates) -> list[tuple[str, float]]:
    return [(c.docid, c.score) for c in candidates]


def require_helpers(searcher: Bm25Searcher) -> None:
    """The bulk Java path must be the one under test wherever a JDK 21+ compiler exists (most machines of this
    kind have one under /usr/lib/jvm; Debian 12 packages none)."""
    from rankers.java import _javac

    if _javac() is not None:
        assert searcher._bulk is not None, "rankers/jvm was not built: no JDK 21+ javac found, or it failed"


def python_path(searcher: Bm25Searcher):
    """The same searcher without the Java helper: the path of machines with no JDK 21+ compiler."""
    import copy

    plain = copy.copy(searcher)
    plain._bulk = None
    return plain


def test_runs_are_pyserinis_bit_for_bit(scifact_index, scifact_searcher):
    """`rank` searches Lucene itself (docids from the sort values, Anserini's rounding and tie nudges: in its
    Java helper, or computed in Python without it); its run must still be LuceneSearcher's: the same docids in
    the same order, the same float scores, on either path. Half of these queries tie at the 1,000th hit."""
    require_helpers(scifact_searcher)
    queries = list(load_dataset(shared("scifact")).queries("test").values())[:100]
    theirs = pyserini_searcher(scifact_index).batch_search(
        [q.text for q in queries], [q.qid for q in queries], k=1000, threads=2
    )
    for searcher in (scifact_searcher, python_path(scifact_searcher)):
        ours = {r.qid: pairs(r.candidates) for r in searcher.search(as_rankings(queries), hits=1000)}
        assert ours == {qid: [(h.docid, float(h.score)) for h in hits] for qid, hits in theirs.items()}
    assert sum(map(len, ours.values())) > 90_000
    # Weighted terms: pyserini's boosted term query, searched by LuceneSearcher.search.
    terms = {"cancer": 1.5, "cells": 0.25, "insulin": 0.75}
    (got,) = scifact_searcher.search([weighted("w", terms)], hits=1000)
    query = scifact_searcher.weighted_query(terms)
    assert pairs(got.candidates) == [
        (h.docid, float(h.score)) for h in pyserini_searcher(scifact_index).search(query, k=1000)
    ]


def test_rm3_runs_are_pyserinis(scifact_index):
    queries = list(load_dataset(shared("scifact")).queries("test").values())[:8]
    with Bm25Searcher(scifact_index, rm3=Rm3(fb_terms=10, fb_docs=10, original_query_weight=0.5)) as s:
        ours = {r.qid: pairs(r.candidates) for r in s.search(as_rankings(queries), hits=200)}
    theirs = pyserini_searcher(scifact_index)
    theirs.set_rm3(10, 10, 0.5)
    found = theirs.batch_search([q.text for q in queries], [q.qid for q in queries], k=200, threads=2)
    assert ours == {qid: [(h.docid, float(h.score)) for h in hits] for qid, hits in found.items()}


def test_docids_come_back_from_lucenes_hex_sort_values():
    """The docid of a hit is read from BytesRef.toString() (hex bytes, no leading zeros): any UTF-8 id survives."""
    for docid in ["4983", "doc-1", "é文书", "a\nb\x05", ""]:
        h = "[" + " ".join(f"{b:x}" for b in docid.encode("utf-8")) + "]"
        assert _hex_docid(h) == docid


def test_any_docid_and_exact_ties_come_back_as_pyserini_gives_them(tmp_path):
    """Docids of any characters (beyond the BMP, spaces, tabs, quotes, backslashes) and documents that tie
    exactly (the same text), cut by `hits` inside a run of ties: both paths against LuceneSearcher."""
    odd = [
        "é文书",
        "emoji-\U0001f600",
        "tab\tid",
        'quote"d',
        "back\\slash",
        "sp ace",
        "z",
        "a",
        "0",
        "10",
        "9",
    ]
    folder = tmp_path / "odd"
    (folder / "qrels").mkdir(parents=True)
    with open(folder / "corpus.jsonl", "w", encoding="utf-8") as f:
        for i, docid in enumerate(odd):
            text = "tied words here" if i % 2 else f"tied words and other words {i}"
            f.write(json.dumps({"_id": docid, "title": "", "text": text}) + "\n")
    (folder / "queries.jsonl").write_text(
        json.dumps({"_id": "q", "text": "tied words"}) + "\n", encoding="utf-8"
    )
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq\ta\t1\n", encoding="utf-8")
    build_index(load_dataset(folder), tmp_path / "idx", threads=1)
    theirs = pyserini_searcher(tmp_path / "idx")
    with Bm25Searcher(tmp_path / "idx", threads=2) as s:
        require_helpers(s)
        for hits in (3, 4, 7, 20):
            want = [(h.docid, float(h.score)) for h in theirs.search("tied words", k=hits)]
            # ties, nudged apart by Anserini by 1e-6 each
            assert any(a - b < 1e-5 for (_, a), (_, b) in zip(want, want[1:], strict=False))
            for searcher in (s, python_path(s)):
                (got,) = searcher.search([Ranking(Query("q", "tied words"))], hits=hits)
                assert pairs(got.candidates) == want, hits
        assert {c.docid for c in got.candidates} == set(odd)


def test_a_query_over_lucenes_clause_limit_is_named(scifact_searcher):
    """More distinct terms than a BooleanQuery holds (a document pasted as a query): one line naming the query,
    on either path, not a Java stack trace."""
    words = " ".join(f"w{i}x{chr(97 + i % 26)}" for i in range(1100))
    for searcher in (scifact_searcher, python_path(scifact_searcher)):
        rankings = [Ranking(Query("fine", "cancer cells")), Ranking(Query("long-one", words))]
        with pytest.raises(RankError, match=r"query long-one: more distinct terms than Lucene's limit"):
            list(searcher.search(rankings, hits=10))


def test_tie_adjustment_is_anserinis():
    """`_adjust_ties` against Anserini's ScoreTiesAdjusterReranker itself, on score lists made to be hard:
    halves at the fourth decimal (x.03125), runs of ties, gaps of about 1e-4 either side of single precision."""
    import random
    from array import array

    from jnius import autoclass

    from rankers.bm25 import start_lucene

    start_lucene()
    mapper = autoclass("com.fasterxml.jackson.databind.ObjectMapper")()
    scored_docs = autoclass("java.lang.Class").forName("io.anserini.search.ScoredDocs")
    adjuster = autoclass("io.anserini.rerank.lib.ScoreTiesAdjusterReranker")()
    rng = random.Random(7)
    for _ in range(300):
        base = rng.choice([0.0001, 1.0, 5.03125, 13.7, 250.0])
        steps = sorted((rng.choice([0, 0, 1, 2, 0.5, 0.99, 1.01, 37]) for _ in range(60)), reverse=True)
        scores = array("f", sorted((base + k * 1e-4 * rng.choice([1, 1, 2]) for k in steps), reverse=True))
        scores = scores.tolist()
        docs = mapper.readValue(
            json.dumps({"scores": scores, "lucene_documents": [None] * len(scores)}), scored_docs
        )
        adjuster.rerank(docs, None)
        assert _adjust_ties(scores) == list(docs.scores), scores


# ---------------------------------------------------------------- the index


def test_index_record_and_stored_text(scifact_index, scifact_searcher):
    ds = load_dataset(shared("scifact"))
    docs = {d.docid: d.contents for d in ds.documents()}
    meta = read_meta(scifact_index)
    assert meta["kind"] == "bm25" and meta["language"] == "en" and meta["fields"] == ["contents"]
    assert meta["documents"] == len(docs) == scifact_searcher.num_docs
    assert meta["dataset"] == str(shared("scifact").absolute())
    some = list(docs)[::997]
    assert scifact_searcher.doc_texts(some + ["no-such-doc"]) == {d: docs[d] for d in some}


def test_refuses_to_overwrite_without_force_and_never_replaces_a_non_index(mini, tmp_path):
    index = tmp_path / "idx"
    first = build_index(mini, index)
    with pytest.raises(RankError, match="--force"):
        build_index(mini, index)
    small = mini_beir(shared("scifact"), tmp_path / "small", docs=50)
    second = build_index(small, index, force=True)
    assert (first["documents"], second["documents"]) == (400, 50)
    assert read_meta(index)["documents"] == 50
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "thesis.tex").write_text("precious")
    with pytest.raises(RankError, match="not an index"):
        build_index(mini, tmp_path / "notes", force=True)
    assert (tmp_path / "notes" / "thesis.tex").read_text() == "precious"


def test_failed_build_leaves_the_good_index_intact(mini, tmp_path, monkeypatch):
    import rankers.bm25 as bm25

    index = tmp_path / "idx"
    build_index(mini, index)
    record = (index / META).read_text()
    broken = mini_beir(shared("scifact"), tmp_path / "broken", docs=400, broken_at=120)
    monkeypatch.setattr(bm25, "INDEX_BATCH", 25)  # Lucene has taken several batches when the bad line comes
    with pytest.raises(InputError, match=r"corpus.jsonl:121"):
        build_index(broken, index, force=True)
    assert (index / META).read_text() == record
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    with Bm25Searcher(index) as s:
        assert s.num_docs == 400
        (r,) = s.search([Ranking(Query("q", "cancer"))], hits=5)
        assert len(r.candidates) == 5


def test_bad_inputs_are_named(tmp_path, mini):
    empty = tmp_path / "empty"
    (empty / "qrels").mkdir(parents=True)
    (empty / "corpus.jsonl").write_text('{"_id": "1", "title": "", "text": "  "}\n')
    (empty / "queries.jsonl").write_text('{"_id": "q", "text": "x"}\n')
    with pytest.raises(RankError, match="no documents with text"):
        build_index(empty, tmp_path / "i1")
    assert not (tmp_path / "i1").exists()
    (empty / "corpus.jsonl").write_text('{"_id": "1", "text": "a b"}\n{"_id": "1", "text": "c"}\n')
    with pytest.raises(RankError, match="'1' appears twice"):
        build_index(empty, tmp_path / "i2")
    with pytest.raises(RankError, match="--language xx"):
        build_index(mini, tmp_path / "i3", language="xx")
    with pytest.raises(RankError, match="no such index"):
        Bm25Searcher(tmp_path / "absent")
    (tmp_path / "folder").mkdir()
    with pytest.raises(RankError, match="not an index"):
        Bm25Searcher(tmp_path / "folder")


# ---------------------------------------------------------------- Chinese: the language travels with the index


def lecard_slice(dest: Path, docs: int) -> Path:
    """The first `docs` passages of lecard-t2 in its own (T2Ranking) layout, with its queries."""
    import gzip

    src = shared("lecard-t2")
    dest.mkdir(parents=True)
    with gzip.open(src / "collection.tsv.gz", "rt", encoding="utf-8") as f:
        lines = [next(f) for _ in range(docs + 1)]
    (dest / "collection.tsv").write_text("".join(lines), encoding="utf-8")
    pids = {line.split("\t", 1)[0] for line in lines[1:]}
    qrels = [r for r in (src / "qrels.dev.tsv").read_text().splitlines() if r.split("\t")[2] in pids]
    (dest / "qrels.dev.tsv").write_text("".join(r + "\n" for r in qrels), encoding="utf-8")
    (dest / "queries.dev.tsv").write_text(
        (src / "queries.dev.tsv").read_text(encoding="utf-8"), encoding="utf-8"
    )
    return dest


def test_chinese_index_is_searched_with_its_recorded_language(tmp_path):
    ds = load_dataset(lecard_slice(tmp_path / "lecard", docs=300))
    meta = build_index(ds, tmp_path / "idx", language="zh", threads=2)
    assert meta["language"] == "zh" and meta["documents"] == 300
    doc = next(ds.documents())
    probe = [Ranking(Query("probe", doc.text[:60]))] + list(as_rankings(ds.queries().values()))[:5]
    with Bm25Searcher(tmp_path / "idx", threads=2) as s:
        assert s.language == "zh"
        found = list(s.search(probe, hits=10))
    assert found[0].candidates[0].docid == doc.docid
    assert all(len(r.candidates) == 10 for r in found)
    with pytest.raises(RankError, match="built with --language zh"):
        Bm25Searcher(tmp_path / "idx", language="en")
    # Ours is pyserini searched the right way; the same index searched with the default analyzer is not.
    from pyserini.search.lucene import LuceneSearcher

    ours = [c.docid for c in found[0].candidates]
    right, wrong = LuceneSearcher(str(tmp_path / "idx")), LuceneSearcher(str(tmp_path / "idx"))
    right.set_language("zh")
    assert [(h.docid, float(h.score)) for h in right.search(doc.text[:60], k=10)] == pairs(
        found[0].candidates
    )
    texts = [r.query.text for r in probe[1:]]
    theirs = right.batch_search(texts, [str(i) for i in range(len(texts))], k=10, threads=2)
    assert [pairs(r.candidates) for r in found[1:]] == [
        [(h.docid, float(h.score)) for h in theirs[str(i)]] for i in range(len(texts))
    ]
    assert [h.docid for h in wrong.search(doc.text[:60], k=10)] != ours


# ---------------------------------------------------------------- search behaviour


def test_rm3_changes_the_rankings(scifact_index, scifact_searcher):
    ds = load_dataset(shared("scifact"))
    queries = list(ds.queries("test").values())[:20]
    plain = list(scifact_searcher.search(as_rankings(queries), hits=100))
    with Bm25Searcher(scifact_index, rm3=Rm3(fb_terms=10, fb_docs=10, original_query_weight=0.5)) as rm3:
        expanded = list(rm3.search(as_rankings(queries), hits=100))
    assert [r.qid for r in expanded] == [q.qid for q in queries]
    changed = sum(
        [c.docid for c in a.candidates] != [c.docid for c in b.candidates]
        for a, b in zip(plain, expanded, strict=True)
    )
    assert changed >= 15
    assert all(len(r.candidates) == 100 for r in expanded)


def weighted(qid: str, terms: dict) -> Ranking:
    return Ranking(Query(qid, " ".join(terms), fields={"expansion": {"terms": terms}}))


def test_weighted_terms_are_a_boosted_term_query(scifact_searcher):
    s = scifact_searcher
    (text,) = s.search([Ranking(Query("t", "cancer cells"))], hits=50)
    (even,) = s.search([weighted("w", {"cancer": 1.0, "cells": 1.0})], hits=50)
    assert [c.docid for c in even.candidates] == [c.docid for c in text.candidates]
    assert [c.score for c in even.candidates] == pytest.approx([c.score for c in text.candidates], abs=2e-4)

    (one,) = s.search([Ranking(Query("t", "protein"))], hits=20)
    (doubled,) = s.search([weighted("w", {"protein": 2.0})], hits=20)
    assert [c.score for c in doubled.candidates] == pytest.approx(
        [2 * c.score for c in one.candidates], abs=2e-4
    )

    a, b = s.search(
        [weighted("a", {"cancer": 1.0, "insulin": 0.01}), weighted("b", {"cancer": 0.01, "insulin": 1.0})], 10
    )
    assert {c.docid for c in a.candidates}.isdisjoint({c.docid for c in b.candidates[:3]})

    # (Anserini rounds scores to 4 decimals, hence abs=2e-4.)
    # Stopwords are skipped, not searched: a query of stopwords only gets an empty ranking, which is kept.
    stop, keep = s.search(
        [weighted("s", {"the": 3.0, "of": 1.0}), weighted("k", {"the": 3.0, "insulin": 1.0})], 10
    )
    assert stop.qid == "s" and stop.candidates == []
    (insulin,) = s.search([Ranking(Query("i", "insulin"))], 10)
    assert [c.docid for c in keep.candidates] == [c.docid for c in insulin.candidates]

    with pytest.raises(RankError, match="not a number"):
        list(s.search([weighted("x", {"cancer": "high"})], 10))


def test_weighted_queries_searched_in_parallel_keep_their_own_terms(scifact_searcher):
    """Two threads building Lucene queries through pyjnius at once once swapped clauses between them."""
    pair = [weighted("a", {"cancer": 1.0, "insulin": 0.01}), weighted("b", {"cancer": 0.01, "insulin": 1.0})]
    first = [[c.docid for c in r.candidates] for r in scifact_searcher.search(pair, 10)]
    assert first[0] != first[1]
    for _ in range(40):
        assert [[c.docid for c in r.candidates] for r in scifact_searcher.search(pair, 10)] == first


def test_rm3_refuses_weighted_terms(scifact_index):
    with Bm25Searcher(scifact_index, rm3=Rm3()) as s, pytest.raises(RankError, match="--rm3 cannot"):
        list(s.search([weighted("x", {"cancer": 1.0})], 10))


def test_empty_and_repeated_queries_keep_their_place(scifact_searcher):
    stream = [Ranking(Query("a", "insulin")), Ranking(Query("e", "  ")), Ranking(Query("a", "cancer"))]
    out = list(scifact_searcher.search(stream, hits=5, chunk=2))
    assert [r.qid for r in out] == ["a", "e", "a"]
    assert out[1].candidates == []
    assert [c.docid for c in out[0].candidates] != [c.docid for c in out[2].candidates]


# ---------------------------------------------------------------- hydration


def test_hydrate_fills_query_and_candidate_texts(scifact_searcher):
    ds = load_dataset(shared("scifact"))
    queries = ds.queries("test")
    searched = list(scifact_searcher.search(as_rankings(list(queries.values())[:3]), hits=8))
    # What a TREC run read from a pipe looks like: ids and scores only.
    bare = [Ranking(Query(r.qid, ""), [Candidate(c.docid, c.score) for c in r.candidates]) for r in searched]
    full = list(hydrate(bare, queries=queries, texts=scifact_searcher.doc_texts, depth=5))
    corpus = dataset_texts(ds)(["x"])
    for r in full:
        assert r.query.text == queries[r.qid].text
        assert [c.text for c in r.candidates[:5]] == [corpus[c.docid] for c in r.candidates[:5]]
        assert all(c.text is None for c in r.candidates[5:])
    with pytest.raises(RankError, match="document nope"):
        list(hydrate([Ranking(Query("1", "q"), [Candidate("nope", 1.0)])], texts=scifact_searcher.doc_texts))
    with pytest.raises(RankError, match="query zzz"):
        list(hydrate([Ranking(Query("zzz", ""))], queries=queries))


def test_hydrate_from_a_dataset_or_an_index(scifact_index):
    ds = load_dataset(shared("scifact"))
    queries = ds.queries("test")
    corpus = dataset_texts(ds)(["x"])
    docids = list(corpus)[:3]

    def bare():
        return [Ranking(Query(q, ""), [Candidate(d, 1.0) for d in docids]) for q in list(queries)[:2]]

    untouched = bare()
    assert hydrate_from(untouched) is untouched
    for r in hydrate_from(bare(), shared("scifact"), "test", depth=2):
        assert r.query.text == queries[r.qid].text
        assert [c.text for c in r.candidates] == [corpus[d] for d in docids[:2]] + [None]
    # An index gives candidate texts only: the query texts need the dataset.
    for r in hydrate_from(bare(), index=scifact_index):
        assert r.query.text == "" and [c.text for c in r.candidates] == [corpus[d] for d in docids]


# ---------------------------------------------------------------- the JVM's class-data archive


def test_first_search_makes_the_class_data_archive_and_runs_stay_the_same(scifact_index, tmp_path):
    """The first process records its classes; a detached `java -Xshare:dump` makes the archive after it ends;
    the next process maps it. Both runs are the same bytes, and stdout carries the run only."""
    import os
    import subprocess
    import sys
    import time

    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "RANK_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": str(root)}
    env.pop("RANK_JAVA_CDS", None)
    cmd = [
        sys.executable,
        "-m",
        "cli.main",
        "retrieve",
        "-i",
        str(scifact_index),
        "-d",
        str(shared("scifact")),
    ]
    cmd += ["--bm25", "-k", "3", "--output-format", "trec"]

    def run() -> str:
        p = subprocess.run(cmd, env=env, cwd=root, capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, p.stderr
        return p.stdout

    first = run()
    folder = tmp_path / "cache" / "jvm"
    deadline = time.time() + 240
    while not list(folder.glob("*.jsa")) or list(folder.glob("*.building")):
        assert time.time() < deadline, sorted(p.name for p in folder.iterdir())
        time.sleep(1)
    assert not list(folder.glob("*.classlist")) and not list(folder.glob("*.part"))
    from rankers.java import _javac

    if _javac() is not None:  # compiled by the first run, and on the classpath of both
        assert len(list(folder.glob("rank-helpers-*.jar"))) == 1
    assert run() == first
    # The pure-Python path, as where no JDK 21+ compiler is found (and no archive for its other classpath).
    env.update(RANK_JAVA_HELPERS="0", RANK_JAVA_CDS="0")
    assert run() == first
    lines = first.splitlines()
    assert len(lines) == 900 and all(len(line.split()) == 6 for line in lines)
