"""BM25 over a Lucene index, through pyserini / Anserini: build an index from a dataset, search it.

The index holds one `contents` field (Document.contents: title + " " + text) with positions, document vectors
(RM3 needs them) and the raw JSON of each document (so later stages can fetch passage texts). Beside the Lucene
files, `rank-index.json` records how it was built; the searcher reads the analyzer language from it, because a
Chinese index searched with the English analyzer silently returns nothing.

pyserini's Python package is never imported (it drags torch in: seconds); its jar (Anserini, Lucene) is driven
directly through pyjnius, and the JVM is started in `rankers.java`.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import re
import shutil
import signal
import struct
import threading
import time
from array import array
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from rankers.data.base import Dataset
from rankers.errors import RankError
from rankers.io import UMASK, build_dir, check_target, swap_dir, write_json
from rankers.locks import building, opening, swapping
from rankers.run import Candidate, Ranking

META = "rank-index.json"
FIELDS = ["contents"]
# Anserini's analyzers by language code (io.anserini.analysis.AnalyzerMap) plus its default English one. Anserini
# falls back to English for a code it does not know, so we check the code ourselves.
LANGUAGES = tuple("en ar bn da de es fa fi fr hi hu id it ja ko nl no pl pt ru sv te th tr uk zh".split())
# Documents handed to Anserini per call: its thread pool is made and joined per call, so a call must carry
# enough work to keep every thread busy, and few enough that the progress bar moves.
INDEX_BATCH = 2000
# ... and a cap on the text per call: Ctrl-C is seen only between calls, so one call must not run long on
# long documents (legal cases run to 90,000 characters).
INDEX_BATCH_CHARS = 1_000_000
# Lucene's default limit on the clauses of one BooleanQuery.
MAX_CLAUSES = 1024


# ---------------------------------------------------------------- JVM


_quieted = False


def start_lucene(record: bool = True) -> None:
    """Start the JVM, and keep Java's console output off stdout, which carries the run in a pipe. `record`: see
    `rankers.java.start_jvm`."""
    global _quieted
    from rankers.java import start_jvm

    start_jvm(record=record)
    if _quieted:
        return
    if threading.current_thread() is threading.main_thread():
        # The JVM takes SIGINT over and exits on Ctrl-C without letting Python clean up (a half-built index
        # folder stays behind); give it back to Python, which raises KeyboardInterrupt.
        signal.signal(signal.SIGINT, signal.default_int_handler)
    from jnius import autoclass

    # Anserini's log4j console appender writes to System.out; it binds the stream when log4j starts, so this
    # must come before any pyserini class is loaded.
    system = autoclass("java.lang.System")
    system.setOut(system.err)
    with contextlib.suppress(Exception):
        autoclass("org.apache.logging.log4j.core.config.Configurator").setRootLevel(
            autoclass("org.apache.logging.log4j.Level").WARN
        )
    # Lucene's "running with Java 22 or later" notice, on every command, says nothing a user can act on.
    # java.util.logging holds loggers weakly: keep ours alive, or the level is forgotten.
    global _mmap_logger
    with contextlib.suppress(Exception):
        _mmap_logger = autoclass("java.util.logging.Logger").getLogger(
            "org.apache.lucene.store.MMapDirectory"
        )
        _mmap_logger.setLevel(autoclass("java.util.logging.Level").SEVERE)
    _quieted = True


_mmap_logger = None


# ---------------------------------------------------------------- index metadata


def read_meta(index_dir: str | Path) -> dict[str, Any]:
    """The build record of an index; an index built by pyserini itself (no record) is taken as English BM25."""
    p = Path(index_dir)
    if not p.exists():
        raise RankError(
            f"--index {p}: no such index (build one with `rank index bm25 --dataset D --index {p}`)"
        )
    if not p.is_dir():
        raise RankError(f"--index {p}: is a file, expected an index folder")
    meta_file = p / META
    if meta_file.is_file():
        try:
            meta = json.loads(meta_file.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise RankError(f"{meta_file}: unreadable index record ({e})") from None
        if not isinstance(meta, dict) or "kind" not in meta:
            raise RankError(f"{meta_file}: not an index record (no 'kind')")
        return meta
    if any(p.glob("segments_*")):
        return {"kind": "bm25", "language": None, "foreign": True}
    raise RankError(f"--index {p}: not an index (no {META} and no Lucene segments_* file)")


# ---------------------------------------------------------------- building


def build_index(
    dataset: Dataset | str | Path,
    index_dir: str | Path,
    language: str = "en",
    threads: int = 1,
    force: bool = False,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Index every document of `dataset` into `index_dir`; returns the record written to rank-index.json.

    The index is built in a temporary folder beside `index_dir` and renamed into place at the end, so a failure
    or Ctrl-C never leaves a half-built index where a good one was. `progress` is called with the number of
    documents added since the last call.
    """
    from rankers.data import load_dataset

    ds = dataset if isinstance(dataset, Dataset) else load_dataset(dataset)
    if language not in LANGUAGES:
        raise RankError(
            f"--language {language}: no Lucene analyzer for it (choose from {', '.join(LANGUAGES)})"
        )
    if threads < 1:
        raise RankError(f"--threads {threads}: must be at least 1")
    target = Path(index_dir).absolute()
    with building(target, "--index", "index"):
        return _build_locked(ds, target, language, threads, force, progress)


def _build_locked(
    ds: Dataset,
    target: Path,
    language: str,
    threads: int,
    force: bool,
    progress: Callable[[int], None] | None,
) -> dict[str, Any]:
    check_target(target, force, _is_index, "index")
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        tmp = build_dir(target)
    except OSError as e:
        raise RankError(f"--index {target}: cannot write beside it ({e.strerror or e})") from None
    # mkdtemp makes the folder private (0700); an index should be as readable as any folder the user makes.
    tmp.chmod(0o777 & ~UMASK)
    try:
        start = time.perf_counter()
        count, empty = _write_lucene(ds, tmp, language, threads, progress)
        meta = {
            "kind": "bm25",
            "language": language,
            "dataset": str(ds.path.absolute()),
            "dataset_name": ds.name,
            "layout": ds.layout,
            "documents": count,
            "skipped_empty": empty,
            "fields": FIELDS,
            "stored": ["raw", "positions", "docvectors"],
            "pyserini": version("pyserini"),
            "built": datetime.now(UTC).isoformat(timespec="seconds"),
            "seconds": round(time.perf_counter() - start, 2),
        }
        write_json(tmp / META, meta)
        with swapping(target):
            swap_dir(tmp, target)
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if type(e).__name__ == "JavaException" or isinstance(e, OSError):
            # A full disk (or an I/O error) under Lucene: one line, the old index (if any) untouched.
            text = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            first = (text.strip().splitlines() or [type(e).__name__])[0][:200]
            raise RankError(
                f"--index {target}: cannot write the index ({first}); the previous index, if any, is intact"
            ) from None
        raise
    return meta


def _is_index(folder: Path) -> bool:
    return (folder / META).is_file() or any(folder.glob("segments_*"))


def index_args(folder: Path, language: str, threads: int) -> list[str]:
    """Anserini's indexing flags for a `rank` index (SimpleIndexer's, and IndexCollection's but its input)."""
    return [
        "-index", str(folder), "-language", language, "-storePositions", "-storeDocvectors", "-storeRaw",
        "-input", "", "-collection", "JsonCollection", "-threads", str(threads),
    ]  # fmt: skip


def _write_lucene(
    ds: Dataset, folder: Path, language: str, threads: int, progress: Callable[[int], None] | None
) -> tuple[int, int]:
    """(documents indexed, empty documents skipped)."""
    start_lucene(record=False)
    from jnius import autoclass

    # Anserini's SimpleIndexer, as pyserini's LuceneIndexer makes it (without importing pyserini).
    indexer = autoclass("io.anserini.index.SimpleIndexer")(index_args(folder, language, threads))
    count = empty = chars = 0
    seen: set[str] = set()
    batch: list[str] = []
    # One batch is indexed by Lucene (pyjnius lets go of the GIL meanwhile) while this thread reads and
    # serializes the next: reading never leaves Lucene's threads idle.
    worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lucene-indexer")
    pending: Future[int] | None = None

    def add(docs: list[str]) -> int:
        added = indexer.addRawDocuments(docs)
        if added != len(docs):
            if _disk_full(folder):
                # Anserini counts the documents Lucene could not write but not why: here, because the disk is full.
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            raise RankError(f"Lucene refused {len(docs) - added} of {len(docs)} documents of {ds.path}")
        return added

    def wait() -> None:
        nonlocal pending, count
        if pending is not None:
            added, pending = pending.result(), None
            count += added
            if progress is not None:
                progress(added)

    def flush() -> None:
        nonlocal pending, batch, chars
        wait()
        pending = worker.submit(add, batch)
        batch, chars = [], 0

    try:
        for doc in ds.documents():
            if doc.docid in seen:
                raise RankError(f"{ds.path}: document id {doc.docid!r} appears twice in the collection")
            seen.add(doc.docid)
            contents = doc.contents
            if not contents.strip():
                # Anserini's document generator rejects empty documents; they could never be retrieved anyway.
                empty += 1
                continue
            batch.append(json.dumps({"id": doc.docid, "contents": contents}, ensure_ascii=False))
            chars += len(contents)
            if len(batch) >= INDEX_BATCH or chars >= INDEX_BATCH_CHARS:
                flush()
        if batch:
            flush()
        wait()
        failed = False
    except BaseException:
        failed = True
        raise
    finally:
        # Lucene must not be closed under a batch still being added (after an error or Ctrl-C here).
        if pending is not None:
            with contextlib.suppress(Exception):
                pending.result()
        from jnius import detach

        worker.submit(detach).result()
        worker.shutdown()
        if failed:
            # After a failure (a full disk) Lucene may refuse to close; its complaint must not hide the cause.
            with contextlib.suppress(Exception):
                indexer.close()
        else:
            indexer.close()
    if count == 0:
        raise RankError(f"--dataset {ds.path}: the collection has no documents with text; nothing to index")
    return count, empty


def _disk_full(folder: Path) -> bool:
    """Is there no room for one more MiB beside the index being written?"""
    probe = folder / ".space-probe"
    try:
        with open(probe, "wb") as f:
            f.write(b"\0" * (1 << 20))
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        return e.errno in (errno.ENOSPC, errno.EDQUOT)
    finally:
        probe.unlink(missing_ok=True)
    return False


# ---------------------------------------------------------------- searching


@dataclass(frozen=True)
class Rm3:
    fb_terms: int = 10
    fb_docs: int = 10
    original_query_weight: float = 0.5


_BUILDING = threading.Lock()


class Bm25Searcher:
    """BM25 (optionally with RM3) over an index built by `build_index` (or by pyserini).

    The run is pyserini's LuceneSearcher's, bit for bit (docids and scores), but found faster, and without
    importing pyserini's Python package (it pulls torch in: seconds):

    - Plain BM25 (and weighted-term queries) takes the path of Anserini's SimpleSearcher step by step: its query
      generator, Lucene's IndexSearcher sorting by score then by the `id` doc value, Anserini's score rounding
      and tie nudging (`_adjust_ties`), but reads each hit's docid from the sort value instead of loading the
      whole stored document (SimpleSearcher does: 95% of its time at 1,000 hits). Each query's hits cross the
      Python/Java bridge as one JSON string (Jackson, in Anserini's jar), not as three calls per hit.
    - Where our Java helper is built (rankers/jvm/Bm25Batch.java; see rankers.java), the same steps run on its
      Java thread pool, Anserini's own tie adjuster included, a chunk of queries a call, and the hits come back
      in one string per chunk: Python then only reads them, and searches the next chunk meanwhile.
    - RM3, and indexes written by Lucene 8, go through SimpleSearcher.batch_search itself, in chunks.
    """

    def __init__(
        self,
        index_dir: str | Path,
        k1: float = 0.9,
        b: float = 0.4,
        rm3: Rm3 | None = None,
        threads: int = 1,
        language: str | None = None,
    ):
        self.index_dir = Path(index_dir)
        # Opened under the swap lock: a rebuild renaming its new index into place waits for this open, so a
        # search started during a rebuild reads the old index whole (its open files outlive the rename).
        with opening(self.index_dir):
            self._open(k1, b, rm3, threads, language)

    def _open(self, k1: float, b: float, rm3: Rm3 | None, threads: int, language: str | None) -> None:
        self.meta = read_meta(self.index_dir)
        if self.meta["kind"] != "bm25":
            raise RankError(f"--index {self.index_dir}: a {self.meta['kind']} index, not a BM25 (Lucene) one")
        recorded = self.meta.get("language")
        if language is not None and recorded is not None and language != recorded:
            raise RankError(
                f"--language {language}: the index {self.index_dir} was built with --language {recorded}; "
                "searching it with another analyzer finds nothing"
            )
        self.language = recorded or language or "en"
        if self.language not in LANGUAGES:
            raise RankError(f"{self.index_dir / META}: unknown language {self.language!r}")
        if threads < 1:
            raise RankError(f"--threads {threads}: must be at least 1")
        self.threads = threads
        self.rm3 = rm3
        start_lucene()
        from jnius import autoclass

        self._searcher = autoclass("io.anserini.search.SimpleSearcher")(str(self.index_dir))
        self._searcher.set_bm25(float(k1), float(b))
        # Only for other languages: set_language("en") swaps in a non-stemming analyzer, unlike the index's.
        if self.language != "en":
            self._searcher.set_language(self.language)
        if rm3 is not None:
            # As pyserini's set_rm3: RM3 reads the feedback documents' term vectors.
            if not self._searcher.reader.getTermVectors(0):
                raise RankError(f"--rm3: the index {self.index_dir} has no document vectors")
            self._searcher.set_rm3(
                None, int(rm3.fb_terms), int(rm3.fb_docs), float(rm3.original_query_weight), False, True
            )
        self._list = autoclass("java.util.ArrayList")
        self._json = _json_writer()
        # SimpleSearcher breaks score ties by docid only on Lucene 9+ indexes; on older ones it keeps Lucene's
        # order, which only SimpleSearcher itself reproduces.
        self._direct = rm3 is None and not self._searcher.backwardsCompatibilityLucene8
        self._bulk = None
        if self._direct:
            sort_field = autoclass("org.apache.lucene.search.SortField")
            index_searcher = autoclass("org.apache.lucene.search.IndexSearcher")(self._searcher.reader)
            index_searcher.setSimilarity(self._searcher.get_similarity())
            self._index_searcher = index_searcher
            self._sort = autoclass("org.apache.lucene.search.Sort")(
                sort_field.FIELD_SCORE,
                sort_field("id", autoclass("org.apache.lucene.search.SortField$Type").STRING_VAL),
            )
            self._generator = autoclass("io.anserini.search.query.BagOfWordsQueryGenerator")()
            from rankers.java import helpers_jar

            if helpers_jar() is not None:
                self._bulk = autoclass("rank.Bm25Batch")(
                    index_searcher, self._searcher.analyzer, self._sort, int(threads)
                )

    @property
    def num_docs(self) -> int:
        return int(self._searcher.get_total_num_docs())

    def search(
        self, rankings: Iterable[Ranking], hits: int = 1000, chunk: int | None = None
    ) -> Iterator[Ranking]:
        """A stage: each ranking's candidates become the top `hits` of its query, in input order.

        `threads` queries are searched at a time, and a few more wait in line (`chunk`, by default 16 per
        thread), so output streams while the rest are searched. A query with empty text gets an empty ranking,
        which is kept.
        """
        if hits < 1:
            raise RankError(f"--hits {hits}: must be at least 1")
        if self._direct and self._bulk is not None:
            yield from self._search_batches(rankings, hits, chunk or 16 * self.threads, self._bulk_chunk)
        elif self._direct:
            yield from self._search_direct(rankings, hits, chunk or 16 * self.threads)
        else:
            yield from self._search_batches(
                rankings, hits, chunk or max(32, 16 * self.threads), self._search_chunk
            )

    __call__ = search

    # ------------------------------------------------------------ plain BM25: Lucene directly

    def _search_direct(self, rankings: Iterable[Ranking], hits: int, window: int) -> Iterator[Ranking]:
        pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="lucene-search")
        pending: deque[tuple[Ranking, Future[list[Candidate]]]] = deque()
        try:
            for r in rankings:
                pending.append((r, pool.submit(self._one, r, hits)))
                while len(pending) > window or (pending and pending[0][1].done()):
                    done, found = pending.popleft()
                    done.candidates = found.result()
                    yield done
            while pending:
                done, found = pending.popleft()
                done.candidates = found.result()
                yield done
        finally:
            for _, found in pending:
                found.cancel()
            _close_pool(pool, self.threads)

    def _one(self, r: Ranking, hits: int) -> list[Candidate]:
        terms = _expansion_terms(r)
        if terms is not None:
            query = self.weighted_query(terms)
        elif r.query.text.strip():
            from jnius import JavaException

            try:
                query = self._generator.buildQuery(FIELDS[0], self._searcher.analyzer, r.query.text)
            except JavaException as e:
                raise _search_error(r.qid, f"{e.classname}: {e.innermessage}") from None
        else:
            return []
        if query is None:
            return []
        # What SimpleSearcher._search does, but for loading each hit's stored document.
        found = self._index_searcher.search(query, int(hits), self._sort, True)
        (rows,) = json.loads(self._json.writeValueAsString(found))
        docids = [_hex_docid(h) for ((_, h),) in rows]
        # Jackson writes a Java float with the fewest digits that read back to it: single precision gives it
        # back exactly.
        scores = _adjust_ties(array("f", [row[0][0] for row in rows]).tolist())
        return [Candidate(d, s) for d, s in zip(docids, scores, strict=True)]

    def _bulk_chunk(self, chunk: list[Ranking], hits: int) -> dict[int, list[Candidate]]:
        """Candidates by position in `chunk`, plain queries searched by Bm25Batch; runs in the worker thread."""
        out: dict[int, list[Candidate]] = {}
        plain: list[int] = []
        for i, r in enumerate(chunk):
            if _expansion_terms(r) is not None:
                out[i] = self._one(r, hits)
            elif r.query.text.strip():
                plain.append(i)
            else:
                out[i] = []
        if plain:
            from jnius import JavaException

            try:
                found = json.loads(self._bulk.search([chunk[i].query.text for i in plain], int(hits)))
            except JavaException as e:
                m = re.match(r"query (\d+): (.*)", str(e.innermessage or ""), re.S)
                if not m:
                    raise
                raise _search_error(chunk[plain[int(m.group(1))]].qid, m.group(2)) from None
            for i, (docids, scores) in zip(plain, found, strict=True):
                # Java's shortest float digits read back in single precision: the float itself.
                out[i] = [Candidate(d, s) for d, s in zip(docids, array("f", scores).tolist(), strict=True)]
        return out

    # ------------------------------------------------------------ chunks searched by a worker thread

    def _search_batches(
        self,
        rankings: Iterable[Ranking],
        hits: int,
        size: int,
        search_chunk: Callable[[list[Ranking], int], dict[int, list[Candidate]]],
    ) -> Iterator[Ranking]:
        worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lucene-search")
        pending: tuple[list[Ranking], Future[dict[int, list[Candidate]]]] | None = None
        try:
            buf: list[Ranking] = []
            for r in rankings:
                buf.append(r)
                if len(buf) >= size:
                    ready, pending = pending, (buf, worker.submit(search_chunk, buf, hits))
                    buf = []
                    if ready is not None:
                        yield from _finish(*ready)
            if buf:
                ready, pending = pending, (buf, worker.submit(search_chunk, buf, hits))
                if ready is not None:
                    yield from _finish(*ready)
            if pending is not None:
                ready, pending = pending, None
                yield from _finish(*ready)
        finally:
            if pending is not None:
                with contextlib.suppress(Exception):
                    pending[1].result()
            _close_pool(worker, 1)

    def _search_chunk(self, chunk: list[Ranking], hits: int) -> dict[int, list[Candidate]]:
        """Candidates by position in `chunk`, by SimpleSearcher.batch_search (RM3, Lucene 8 indexes); runs in the
        worker thread."""
        out: dict[int, list[Candidate]] = {}
        plain: list[int] = []
        for i, r in enumerate(chunk):
            terms = _expansion_terms(r)
            if terms is not None:
                out[i] = self._search_weighted(r.qid, terms, hits)
            elif r.query.text.strip():
                plain.append(i)
            else:
                out[i] = []
        if plain:
            with _BUILDING:  # see weighted_query: lists filled here and in doc_texts at once would mix
                texts, ids = self._list(), self._list()
                for i in plain:
                    texts.add(chunk[i].query.text)
                    # Positions as ids: a stream may repeat a qid, and batch_search answers by id.
                    ids.add(str(i))
            found = self._searcher.batch_search(texts, ids, int(hits), int(self.threads))
            for key, rows in json.loads(self._json.writeValueAsString(found)).items():
                out[int(key)] = _scored_docs(rows)
        return out

    def _search_weighted(self, qid: str, terms: dict[str, float], hits: int) -> list[Candidate]:
        if self.rm3 is not None:
            raise RankError(
                f"query {qid}: --rm3 cannot expand a query given as weighted terms (fields.expansion.terms); "
                "drop --rm3 or the term weights"
            )
        query = self.weighted_query(terms)
        if query is None:
            return []
        return [Candidate(h.docid, float(h.score)) for h in self._searcher.search(query, int(hits))]

    # ------------------------------------------------------------ queries, texts

    def weighted_query(self, terms: dict[str, float]):
        """A Lucene query summing boosted term queries; a term the analyzer drops (a stopword) is skipped.

        A term the analyzer splits ("covid-19") gives each of its tokens the term's weight; a token reached by
        several terms gets their weights summed. None when no term survives.
        """
        # pyjnius binds a method to its object on the shared method wrapper (per class, not per object): two
        # threads building queries at once can add each other's clauses. Built under a lock (it is quick).
        with _BUILDING:
            return self._weighted_query(terms)

    def _weighted_query(self, terms: dict[str, float]):
        from jnius import autoclass

        weights = self.analyze_terms(terms)
        if not weights:
            return None
        top = sorted(weights.items(), key=lambda kv: -kv[1])[:MAX_CLAUSES]
        # pyserini's querybuilder: get_boolean_query_builder, get_boost_query, JBooleanClauseOccur.should.
        utils = autoclass("io.anserini.search.query.QueryGeneratorUtils")
        term = autoclass("org.apache.lucene.index.Term")
        term_query = autoclass("org.apache.lucene.search.TermQuery")
        boost = autoclass("org.apache.lucene.search.BoostQuery")
        should = utils.getBooleanClauseShould()
        builder = utils.getBooleanQueryBuilder()
        for token, weight in top:
            builder.add(boost(term_query(term(FIELDS[0], token)), float(weight)), should)
        return builder.build()

    def analyze_terms(self, terms: dict[str, float]) -> dict[str, float]:
        from jnius import autoclass

        utils = autoclass("io.anserini.analysis.AnalyzerUtils")
        analyzer = self._searcher.analyzer
        weights: dict[str, float] = {}
        for term, weight in terms.items():
            if weight <= 0:
                continue
            for token in utils.analyze(analyzer, term).toArray():
                weights[token] = weights.get(token, 0.0) + weight
        return weights

    def doc_texts(self, docids: Iterable[str]) -> dict[str, str]:
        """The indexed text (`contents`) of each docid found in the index; absent docids are left out."""
        wanted = list(dict.fromkeys(docids))
        if not wanted:
            return {}
        with _BUILDING:  # see weighted_query
            ids = self._list()
            for docid in wanted:
                ids.add(docid)
        docs = self._searcher.batch_get_docs(ids, int(self.threads))
        with _BUILDING:
            return {e.getKey(): _contents(e.getValue()) for e in docs.entrySet().toArray()}

    def close(self) -> None:
        if self._bulk is not None:
            self._bulk.close()
        self._searcher.close()

    def __enter__(self) -> Bm25Searcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _search_error(qid: str, java_error: str) -> RankError:
    """A query Lucene refused, named; the one users meet is a query of more distinct terms than a BooleanQuery
    may hold (a whole document pasted as a query)."""
    if "TooManyClauses" in java_error:
        return RankError(
            f"query {qid}: more distinct terms than Lucene's limit of {MAX_CLAUSES} clauses in one query; "
            "shorten it"
        )
    return RankError(f"query {qid}: Lucene refused it ({java_error.splitlines()[0]})")


def _finish(chunk: list[Ranking], found: Future[dict[int, list[Candidate]]]) -> list[Ranking]:
    got = found.result()
    for i, r in enumerate(chunk):
        r.candidates = got[i]
    return chunk


def _close_pool(pool: ThreadPoolExecutor, n: int) -> None:
    """Detach each of the pool's threads from the JVM (pyjnius attached them; a thread that ends attached
    leaves its Java peer behind), then shut the pool down. Each task waits for the others, so each of the `n`
    threads runs exactly one."""
    from jnius import detach

    barrier = threading.Barrier(n)

    def leave() -> None:
        detach()
        barrier.wait(timeout=600)

    try:
        for f in [pool.submit(leave) for _ in range(n)]:
            f.result()
    finally:
        pool.shutdown(wait=True)


def _json_writer():
    """A Jackson writer for the hits Lucene and Anserini return, as compact JSON arrays:

    - Lucene's TopFieldDocs (sorted by score, then the `id` doc value) as `[[[score, "[hex bytes of the id]"]],
      ...]`: the sort values only;
    - Anserini's ScoredDoc as `["docid", lucene_docid, score]`, leaving its Lucene document out.
    """
    from jnius import autoclass

    def override(name: str):
        return mapper.configOverride(autoclass("java.lang.Class").forName(name))

    mapper = autoclass("com.fasterxml.jackson.databind.ObjectMapper")()
    shape = autoclass("com.fasterxml.jackson.annotation.JsonFormat$Shape")
    as_array = autoclass("com.fasterxml.jackson.annotation.JsonFormat$Value").forShape(shape.ARRAY)
    ignore = autoclass("com.fasterxml.jackson.annotation.JsonIgnoreProperties$Value").forIgnoredProperties
    for name, ignored in (
        ("org.apache.lucene.search.TopFieldDocs", ("fields", "totalHits")),
        ("org.apache.lucene.search.FieldDoc", ("doc", "score", "shardIndex")),
        ("io.anserini.search.ScoredDoc", ()),
    ):
        override(name).setFormat(as_array)
        if ignored:
            override(name).setIgnorals(ignore(*ignored))
    override("org.apache.lucene.document.Document").setIsIgnoredType(autoclass("java.lang.Boolean")(True))
    # A BytesRef (the docid sort value) as its toString(): its bytes in hex, within its offset and length.
    module = autoclass("com.fasterxml.jackson.databind.module.SimpleModule")()
    module.addSerializer(
        autoclass("java.lang.Class").forName("org.apache.lucene.util.BytesRef"),
        autoclass("com.fasterxml.jackson.databind.ser.std.ToStringSerializer").instance,
    )
    mapper.registerModule(module)
    mapper.configure(
        autoclass("com.fasterxml.jackson.databind.MapperFeature").SORT_PROPERTIES_ALPHABETICALLY, True
    )
    # Docids that are not ASCII cross the bridge as \u escapes, which json.loads reads back exactly.
    mapper.configure(autoclass("com.fasterxml.jackson.core.JsonGenerator$Feature").ESCAPE_NON_ASCII, True)
    return mapper


def _hex_docid(h: str) -> str:
    """A docid from Lucene's BytesRef.toString(): its UTF-8 bytes in hex, `[31 30 a]` (no leading zero)."""
    try:
        return bytes.fromhex(h[1:-1]).decode("utf-8")
    except ValueError:
        return bytes(int(x, 16) for x in h[1:-1].split()).decode("utf-8")


def _scored_docs(rows: list[list[Any]]) -> list[Candidate]:
    """Anserini's ScoredDoc array as written by `_json_writer`; scores back to single precision, exactly."""
    scores = array("f", [row[2] for row in rows]).tolist()
    return [Candidate(row[0], s) for row, s in zip(rows, scores, strict=True)]


_E4 = array("f", [1e-4])[0]
_E6 = array("f", [1e-6])[0]
# A double gap d rounds to a single-precision float above 1e-4f exactly when d lies above the midpoint between
# 1e-4f and the next float (at the midpoint itself: when rounding half to even goes up).
_E4_MID = (
    _E4 + struct.unpack("<f", struct.pack("<I", struct.unpack("<I", struct.pack("<f", _E4))[0] + 1))[0]
) / 2
_E4_MID_UP = array("f", [_E4_MID])[0] > _E4


def _f32(x: float) -> float:
    return array("f", [x])[0]


def _adjust_ties(scores: list[float]) -> list[float]:
    """Anserini's ScoreTiesAdjusterReranker on single-precision scores, computed as Java computes it.

    Each score is rounded to 4 decimals (`(float) (Math.round(s * 1e4d) / 1e4d)`); then a score within 1e-4f of
    the one before it (after that one's own nudge) is nudged down by 1e-6f times its place in the run of ties.
    Java's float arithmetic rounds each operation to single precision; so does this, operation by operation
    (an operation on two floats done in double precision and rounded to single gives the same float).
    """
    scaled = [s * 1e4 for s in scores]
    # Java's Math.round: the nearest long, ties toward positive infinity (a - floor(a) is exact).
    out = array(
        "f",
        [(f + 1 if a - f >= 0.5 else f) / 1e4 for a, f in zip(scaled, map(math.floor, scaled), strict=True)],
    ).tolist()
    dup = 0
    prev = 0.0
    for i, s in enumerate(out):
        if i:
            # prev - s is exact in double here (two nearby floats); its single-precision rounding is compared
            # with 1e-4f through the midpoint, without rounding it.
            gap = prev - s
            if gap > _E4_MID or (gap == _E4_MID and _E4_MID_UP):
                dup = 0
            else:
                dup += 1
                s = _f32(s - _f32(_E6 * dup))
                out[i] = s
        prev = s
    return out


def _contents(doc: Any) -> str:
    """The text of a stored Lucene document: `contents` of its raw JSON, else the raw text, else `contents`."""
    raw = doc.get("raw")
    if raw:
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError:
            return raw
        if isinstance(obj, dict) and isinstance(obj.get("contents"), str):
            return obj["contents"]
        return raw
    return doc.get("contents") or ""


def _expansion_terms(r: Ranking) -> dict[str, float] | None:
    """`query.fields["expansion"]["terms"]` as {term: weight}, or None when the query has none."""
    expansion = r.query.fields.get("expansion")
    if not isinstance(expansion, dict) or "terms" not in expansion:
        return None
    terms = expansion["terms"]
    if not isinstance(terms, dict):
        raise RankError(f"query {r.qid}: fields.expansion.terms must map each term to a weight")
    out: dict[str, float] = {}
    for term, weight in terms.items():
        if isinstance(weight, bool) or not isinstance(weight, int | float):
            raise RankError(f"query {r.qid}: weight of expansion term {term!r} is not a number ({weight!r})")
        out[str(term)] = float(weight)
    return out
