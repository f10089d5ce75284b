"""Dense retrieval: encode a corpus into a FAISS index (resumable, sharded), and search it.

An index folder holds `index.faiss` (inner product; exact by default, HNSW as an option), `docids.txt`
(one docid per line), `starts.npy` (first vector row of each document: chunked documents own several
consecutive rows) and `manifest.json` (model, dimension, normalization, prompts, max length, chunking).

Building goes through `<index>.partial/`: every `shard_size` texts are encoded into `shard-NNNNNN.npy`,
written atomically, so an interrupted build continues at the first missing shard with the same result.
Shards can be encoded by several processes (`shard=(i, n)`) or by Ray workers; a final pass adds the
shards one by one to a FAISS index in a temporary folder that is renamed over the old index only when
complete. Only one shard of texts is in memory at a time, and the vectors only once (inside FAISS).
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from rankers.chunking import AGGREGATIONS, aggregate, check_chunking, chunk_texts
from rankers.errors import RankError
from rankers.io import atomic_write, build_dir, swap_dir, write_json
from rankers.locks import opening, swapping
from rankers.run import Candidate, Ranking

FORMAT = "rank-dense-index"
VERSION = 1
MANIFEST, INDEX, DOCIDS, STARTS, STATE = (
    "manifest.json",
    "index.faiss",
    "docids.txt",
    "starts.npy",
    "build.json",
)


@dataclass
class DenseConfig:
    """Everything that decides the vectors; a partial build resumes only under the same config."""

    model: str
    batch_size: int = 32
    max_length: int | None = None
    device: str = "cpu"
    backend: str = "torch"
    precision: str = "fp32"
    query_prompt: str | None = None
    doc_prompt: str | None = None
    hnsw: bool = False
    hnsw_m: int = 32
    chunk_tokens: int | None = None
    chunk_overlap: int = 0
    shard_size: int = 2048
    extra: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------- the encoder


@dataclass
class Encoder:
    """A loaded model with the settings that make its vectors: prompts, normalization, length."""

    model: Any
    query_prompt: str
    doc_prompt: str
    normalize: bool
    dimension: int
    max_length: int
    batch_size: int

    def encode_docs(self, texts: list[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Vectors in the order of `texts`; encoded longest first so each batch pads little."""
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        step = self.batch_size * 8
        for a in range(0, len(order), step):
            idx = order[a : a + step]
            out[idx] = self._encode([texts[i] for i in idx], self.doc_prompt, query=False)
            if progress:
                progress(len(idx))
        return out

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, self.query_prompt, query=True)

    def _encode(self, texts: list[str], prompt: str, query: bool) -> np.ndarray:
        fn = self.model.encode_query if query else self.model.encode_document
        vecs = fn(
            texts,
            prompt=prompt,
            batch_size=self.batch_size,
            normalize_embeddings=self.normalize,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vecs, dtype=np.float32)

    def room(self) -> int:
        """Tokens of a document the model reads after special tokens and the document prompt."""
        tok = self.model.tokenizer
        special = len(tok("")["input_ids"])
        prompt = len(tok(self.doc_prompt, add_special_tokens=False)["input_ids"]) if self.doc_prompt else 0
        return self.max_length - special - prompt


def make_encoder(cfg: DenseConfig, model_path: str | None = None) -> Encoder:
    from transformers.utils import logging as hf_logging

    from rankers.models import load_encoder

    hf_logging.set_verbosity_error()  # "sequence longer than max length" per document: we count and warn once
    hf_logging.disable_progress_bar()  # "Loading weights" would clutter stderr, which carries our own progress
    model = load_encoder(model_path or cfg.model, cfg.device, cfg.backend, cfg.precision, cfg.max_length)
    sim = str(model.similarity_fn_name)
    if sim not in ("cosine", "dot"):
        raise RankError(
            f"--model {cfg.model}: similarity {sim!r} is not supported (cosine or dot product only)"
        )
    prompts = dict(model.prompts or {})
    doc_prompt = cfg.doc_prompt
    if doc_prompt is None:
        doc_prompt = next((prompts[k] for k in ("document", "passage", "corpus") if k in prompts), "")
    query_prompt = cfg.query_prompt if cfg.query_prompt is not None else prompts.get("query", "")
    dim = model.get_embedding_dimension()
    if not dim:
        raise RankError(f"--model {cfg.model}: the model does not report an embedding dimension")
    return Encoder(
        model=model,
        query_prompt=query_prompt,
        doc_prompt=doc_prompt,
        normalize=sim == "cosine",
        dimension=int(dim),
        max_length=int(model.max_seq_length),
        batch_size=cfg.batch_size,
    )


# ---------------------------------------------------------------- building


@dataclass
class Shard:
    number: int
    texts: list[str]


class Corpus:
    """Walks the documents once, cutting them into texts (chunks) and shards; keeps only docids and row starts."""

    def __init__(self, documents: Iterable[Any], encoder: Encoder, cfg: DenseConfig):
        self.documents, self.encoder, self.cfg = documents, encoder, cfg
        self.docids: list[str] = []
        self.starts: list[int] = [0]
        self.too_long = 0
        self._seen: set[str] = set()

    def shards(self) -> Iterator[Shard]:
        size, buf, number = self.cfg.shard_size, [], 0
        pending: list[Any] = []
        for doc in self.documents:
            pending.append(doc)
            if len(pending) >= 256:
                buf.extend(self._texts(pending))
                pending = []
                while len(buf) >= size:
                    yield Shard(number, buf[:size])
                    buf, number = buf[size:], number + 1
        buf.extend(self._texts(pending))
        while buf:
            yield Shard(number, buf[:size])
            buf, number = buf[size:], number + 1

    def _texts(self, docs: list[Any]) -> list[str]:
        if not docs:
            return []
        for d in docs:
            if "\n" in d.docid or "\r" in d.docid:
                raise RankError(f"docid {d.docid!r}: a docid may not contain a line break")
            if d.docid in self._seen:
                raise RankError(f"docid {d.docid!r} appears twice in the corpus")
            self._seen.add(d.docid)
            self.docids.append(d.docid)
        texts = [d.contents for d in docs]
        if self.cfg.chunk_tokens:
            parts = chunk_texts(
                texts, self.encoder.model.tokenizer, self.cfg.chunk_tokens, self.cfg.chunk_overlap
            )
            for p in parts:
                self.starts.append(self.starts[-1] + len(p))
            return [t for p in parts for t in p]
        self.starts.extend(range(self.starts[-1] + 1, self.starts[-1] + 1 + len(texts)))
        self._count_too_long(texts)
        return texts

    def _count_too_long(self, texts: list[str]) -> None:
        room = self.encoder.room()
        # A token covers at least one UTF-8 byte, so shorter texts cannot overflow: tokenize only the rest.
        long = [t for t in texts if len(t.encode()) > room]
        if long:
            ids = self.encoder.model.tokenizer(long, add_special_tokens=False, truncation=False)["input_ids"]
            self.too_long += sum(len(x) > room for x in ids)


def settings(cfg: DenseConfig, enc: Encoder, dataset: Any, model_path: str) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": VERSION,
        "model": cfg.model,
        "model_path": model_path,
        "dimension": enc.dimension,
        "normalized": enc.normalize,
        "similarity": "cosine" if enc.normalize else "dot",
        "query_prompt": enc.query_prompt,
        "doc_prompt": enc.doc_prompt,
        "max_length": enc.max_length,
        "chunking": {"tokens": cfg.chunk_tokens, "overlap": cfg.chunk_overlap} if cfg.chunk_tokens else None,
        "index": {"type": "hnsw", "m": cfg.hnsw_m} if cfg.hnsw else {"type": "flat"},
        "backend": cfg.backend,
        "precision": cfg.precision,
        "batch_size": cfg.batch_size,
        "shard_size": cfg.shard_size,
        "dataset": str(Path(dataset.path).resolve()),
    }


# Keys whose change would change the vectors or rows: a partial build resumes only when these agree.
_RESUME_KEYS = (
    "format model_path dimension normalized query_prompt doc_prompt max_length chunking backend precision "
    "shard_size dataset"
).split()


def check_target(index_dir: Path) -> None:
    """Refuse to overwrite a folder that is not a dense index (a typo could otherwise wipe a home folder)."""
    if index_dir.exists():
        if not index_dir.is_dir():
            raise RankError(f"--index {index_dir}: is a file, not an index folder")
        if any(index_dir.iterdir()) and not (index_dir / MANIFEST).exists():
            raise RankError(
                f"--index {index_dir}: exists and is not a rank dense index; choose another folder"
            )


def partial_dir(index_dir: Path) -> Path:
    return index_dir.with_name(index_dir.name + ".partial")


def _open_partial(work: Path, state: dict[str, Any], say: Callable[[str], None]) -> None:
    old = work / STATE
    if old.exists():
        try:
            prev = json.loads(old.read_text())
        except (OSError, ValueError):
            prev = {}
        if all(prev.get(k) == state.get(k) for k in _RESUME_KEYS):
            done = len(list(work.glob("shard-*.npy")))
            if done:
                say(f"resuming the build in {work}: {done} shard(s) already encoded")
            return
        say(f"{work} holds a build with other settings: starting over")
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    write_json(work / STATE, state)


def shard_path(work: Path, number: int) -> Path:
    return work / f"shard-{number:06d}.npy"


def shard_ok(path: Path, rows: int, dim: int) -> bool:
    try:
        arr = np.load(path, mmap_mode="r")
    except (OSError, ValueError):
        return False
    return arr.shape == (rows, dim) and arr.dtype == np.float32


def save_shard(path: Path, vectors: np.ndarray) -> None:
    with atomic_write(path, "wb") as f:
        np.save(f, vectors)


def parse_shard(spec: str | None) -> tuple[int, int] | None:
    if not spec:
        return None
    try:
        i, n = (int(x) for x in spec.split("/"))
    except ValueError:
        raise RankError(f"--shard {spec}: expected i/n, e.g. 0/4 for the first of four slices") from None
    if n < 1 or not 0 <= i < n:
        raise RankError(f"--shard {spec}: need 0 <= i < n")
    return i, n


def build_index(
    dataset: Any,
    index_dir: str | Path,
    cfg: DenseConfig,
    *,
    engine: str = "local",
    ray_address: str | None = None,
    ray_workers: int | None = None,
    shard: tuple[int, int] | None = None,
    say: Callable[[str], None] = lambda m: None,
    show_progress: bool = True,
    on_shard: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Encode `dataset`'s documents into a dense index at `index_dir`; returns the manifest (or, with `shard`,
    a summary of the shards written: run again without `shard` to assemble the index)."""
    from rankers.models import resolve_model

    index_dir = Path(index_dir)
    check_target(index_dir)
    model_path = resolve_model(cfg.model)
    # With Ray the driver's model only tokenizes (chunks, lengths): keep it off the GPUs the workers need.
    enc = make_encoder(replace(cfg, device="cpu") if engine == "ray" else cfg, model_path)
    check_chunking(cfg.chunk_tokens, cfg.chunk_overlap, enc.room())
    if cfg.shard_size < 1:
        raise RankError(f"--checkpoint-every {cfg.shard_size}: must be at least 1")
    state = settings(cfg, enc, dataset, model_path)
    work = partial_dir(index_dir)
    _open_partial(work, state, say)

    corpus = Corpus(dataset.documents(), enc, cfg)
    dim = enc.dimension
    texts_done = 0

    def todo() -> Iterator[Shard]:
        for s in corpus.shards():
            if shard is not None and s.number % shard[1] != shard[0]:
                continue
            if shard_ok(shard_path(work, s.number), len(s.texts), dim):
                continue
            yield s

    t0 = time.perf_counter()
    with _progress(show_progress) as bar:
        if engine == "ray":
            from rankers.distributed import ray_encode

            results = ray_encode(todo(), cfg, model_path, address=ray_address, workers=ray_workers, say=say)
        elif engine == "local":
            results = ((s.number, enc.encode_docs(s.texts, bar.advance)) for s in todo())
        else:
            raise RankError(f"--engine {engine}: choose local or ray")
        for number, vectors in results:
            save_shard(shard_path(work, number), vectors)
            texts_done += len(vectors)
            if engine == "ray":
                bar.advance(len(vectors))
            if on_shard:
                on_shard(number)
    elapsed = time.perf_counter() - t0
    if not corpus.docids:
        shutil.rmtree(work, ignore_errors=True)
        raise RankError(f"--dataset {dataset.path}: the corpus has no documents")
    if corpus.too_long:
        say(
            f"warning: {corpus.too_long} of {len(corpus.docids)} documents are longer than the {enc.room()} tokens "
            f"the model reads and were truncated; --chunk-tokens N indexes them whole"
        )
    summary = {"texts_encoded": texts_done, "seconds": round(elapsed, 2), "documents": len(corpus.docids)}
    if shard is not None:
        return {**summary, "shard": f"{shard[0]}/{shard[1]}", "partial": str(work)}
    starts = np.asarray(corpus.starts, dtype=np.int64)
    manifest = {**state, "documents": len(corpus.docids), "rows": int(starts[-1]), "created": time.time()}
    _assemble(work, index_dir, manifest, corpus.docids, starts, cfg)
    return {**manifest, **summary}


def _assemble(
    work: Path, index_dir: Path, manifest: dict, docids: list[str], starts: np.ndarray, cfg
) -> None:
    import faiss

    dim, rows = manifest["dimension"], int(starts[-1])
    n_shards = (rows + cfg.shard_size - 1) // cfg.shard_size
    missing = [
        i
        for i in range(n_shards)
        if not shard_ok(shard_path(work, i), min(cfg.shard_size, rows - i * cfg.shard_size), dim)
    ]
    if missing:
        raise RankError(
            f"{work}: shards {missing[:5]}{'...' if len(missing) > 5 else ''} are not encoded yet"
        )
    if cfg.hnsw:
        index = faiss.IndexHNSWFlat(dim, cfg.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 200
    else:
        index = faiss.IndexFlatIP(dim)
    for i in range(n_shards):
        index.add(np.load(shard_path(work, i)))
    tmp = build_dir(index_dir)
    try:
        faiss.write_index(index, str(tmp / INDEX))
        del index
        with open(tmp / DOCIDS, "w", encoding="utf-8") as f:
            f.writelines(d + "\n" for d in docids)
        np.save(tmp / STARTS, starts)
        write_json(tmp / MANIFEST, manifest)  # written last: its presence marks a complete index
        with swapping(index_dir):
            swap_dir(tmp, index_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(work, ignore_errors=True)


class _progress:
    """Texts encoded and docs/s on stderr (rich); silent when disabled."""

    def __init__(self, enabled: bool):
        self.enabled = enabled

    def __enter__(self) -> _progress:
        self.count, self.t0 = 0, time.perf_counter()
        if self.enabled:
            from rich.console import Console
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self.p = Progress(
                SpinnerColumn(),
                TextColumn("encoding: {task.completed:,.0f} texts, {task.fields[rate]} docs/s"),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=False,
            )
            self.p.start()
            self.task = self.p.add_task("encode", total=None, rate="-")
        return self

    def advance(self, n: int) -> None:
        self.count += n
        if self.enabled:
            rate = self.count / max(time.perf_counter() - self.t0, 1e-9)
            self.p.update(self.task, advance=n, rate=f"{rate:,.1f}")

    def __exit__(self, *exc: Any) -> None:
        if self.enabled:
            self.p.stop()


# ---------------------------------------------------------------- searching


def read_manifest(index_dir: str | Path) -> dict[str, Any]:
    d = Path(index_dir)
    if not d.is_dir():
        raise RankError(f"--index {d}: no such index folder")
    path = d / MANIFEST
    if not path.exists():
        hint = " (a Lucene index? search it with --bm25)" if any(d.glob("segments_*")) else ""
        raise RankError(f"--index {d}: not a dense index (no {MANIFEST}){hint}")
    try:
        m = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise RankError(f"{path}: corrupt manifest ({e})") from None
    if not isinstance(m, dict) or m.get("format") != FORMAT:
        raise RankError(f"{path}: not a rank dense index manifest")
    if m.get("version") != VERSION:
        raise RankError(
            f"{path}: index format version {m.get('version')}, this rank reads {VERSION}: rebuild it"
        )
    for f in (INDEX, DOCIDS, STARTS):
        if not (d / f).exists():
            raise RankError(f"--index {d}: {f} is missing (corrupt index; rebuild it)")
    return m


class DenseSearcher:
    """Searches a dense index with the model recorded in its manifest."""

    def __init__(
        self,
        index_dir: str | Path,
        model: str | None = None,
        device: str = "cpu",
        batch_size: int = 32,
        aggregate: str = "maxp",
        ef_search: int = 128,
        backend: str | None = None,
        precision: str | None = None,
    ):
        import faiss

        self.dir = Path(index_dir)
        # Read under the swap lock: a rebuild cannot swap the folder between two of these files.
        with opening(self.dir):
            self.manifest = m = read_manifest(self.dir)
            if aggregate not in AGGREGATIONS:
                raise RankError(f"--aggregate {aggregate}: choose from {', '.join(AGGREGATIONS)}")
            self.how = aggregate
            if model is not None:
                _check_same_model(model, m, self.dir)
            try:
                self.index = faiss.read_index(str(self.dir / INDEX))
            except RuntimeError as e:
                raise RankError(
                    f"{self.dir / INDEX}: cannot read the FAISS index: {str(e).splitlines()[0]}"
                ) from None
            self.docids = (self.dir / DOCIDS).read_text(encoding="utf-8").split("\n")[:-1]
            try:
                self.starts = np.load(self.dir / STARTS)
            except (OSError, ValueError) as e:
                raise RankError(f"{self.dir / STARTS}: unreadable ({e})") from None
        if not (
            len(self.docids) == m["documents"] == len(self.starts) - 1 and self.index.ntotal == m["rows"]
        ):
            raise RankError(
                f"--index {self.dir}: files disagree ({len(self.docids)} docids, {self.index.ntotal} vectors, "
                f"manifest {m['documents']} documents / {m['rows']} rows): rebuild the index"
            )
        if self.index.d != m["dimension"]:
            raise RankError(
                f"--index {self.dir}: FAISS dimension {self.index.d} != manifest {m['dimension']}"
            )
        if hasattr(self.index, "hnsw"):
            self.index.hnsw.efSearch = max(ef_search, 16)
        cfg = DenseConfig(
            model=m["model"],
            batch_size=batch_size,
            max_length=m["max_length"],
            device=device,
            backend=backend or m.get("backend", "torch"),
            precision=precision or m.get("precision", "fp32"),
            query_prompt=m["query_prompt"],
            doc_prompt=m["doc_prompt"],
        )
        path = m["model_path"] if Path(m["model_path"]).exists() else m["model"]
        self.encoder = make_encoder(cfg, path)
        if self.encoder.dimension != m["dimension"]:
            raise RankError(
                f"--index {self.dir}: the model gives {self.encoder.dimension}-d vectors, the index holds "
                f"{m['dimension']}-d: it was built with another model"
            )
        self.chunked = m.get("chunking") is not None

    def search(
        self, rankings: Iterable[Ranking], hits: int = 1000, query_batch: int = 64
    ) -> Iterator[Ranking]:
        """Rankings with their candidates replaced by the top `hits` documents, one query batch at a time."""
        batch: list[Ranking] = []
        for r in rankings:
            batch.append(r)
            if len(batch) == query_batch:
                yield from self._search(batch, hits)
                batch = []
        if batch:
            yield from self._search(batch, hits)

    def _search(self, batch: list[Ranking], hits: int) -> Iterator[Ranking]:
        q = self.encoder.encode_queries([r.query.text for r in batch])
        k = min(hits, len(self.docids))
        if not self.chunked:
            scores, ids = self.index.search(q, k)
        elif hasattr(self.index, "hnsw"):
            scores, ids = self._chunks_approx(q, k)
        else:
            scores, ids = self._chunks_exact(q, k)
        for r, s, i in zip(batch, scores, ids, strict=True):
            cands = [Candidate(self.docids[d], float(v)) for v, d in zip(s, i, strict=True) if d >= 0]
            yield Ranking(query=r.query, candidates=cands, meta=r.meta)

    def _chunks_exact(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        import faiss

        x = faiss.rev_swig_ptr(self.index.get_xb(), self.index.ntotal * self.index.d)
        x = np.asarray(x).reshape(self.index.ntotal, self.index.d)
        doc_scores = aggregate(q @ x.T, self.starts, self.how)
        return _topk(doc_scores, k)

    def _chunks_approx(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        # HNSW gives only the nearest chunks: aggregate over those (MaxP is exact when enough are fetched).
        fetch = min(self.index.ntotal, k * int(np.diff(self.starts).max()))
        cs, ci = self.index.search(q, fetch)
        row_doc = np.searchsorted(self.starts, np.maximum(ci, 0), side="right") - 1
        out_s = np.full((len(q), k), -np.inf, dtype=np.float32)
        out_i = np.full((len(q), k), -1, dtype=np.int64)
        for n in range(len(q)):
            per: dict[int, list[float]] = {}
            for s, row, d in zip(cs[n], ci[n], row_doc[n], strict=True):
                if row < 0 or (self.how == "first" and row != self.starts[d]):
                    continue
                per.setdefault(int(d), []).append(float(s))
            agg = {d: (np.mean(v) if self.how == "mean" else max(v)) for d, v in per.items()}
            best = sorted(agg.items(), key=lambda t: -t[1])[:k]
            for j, (d, s) in enumerate(best):
                out_s[n, j], out_i[n, j] = s, d
        return out_s, out_i


def _topk(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    if k < scores.shape[1]:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    else:
        part = np.tile(np.arange(scores.shape[1]), (scores.shape[0], 1))
    s = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-s, axis=1, kind="stable")
    return np.take_along_axis(s, order, axis=1), np.take_along_axis(part, order, axis=1)


def _check_same_model(model: str, m: dict[str, Any], index_dir: Path) -> None:
    from rankers.models import resolve_model

    if model == m["model"]:
        return
    try:
        path = resolve_model(model)
    except RankError:
        path = model
    if path != m["model_path"]:
        raise RankError(
            f"--model {model}: index {index_dir} was built with {m['model']} ({m['dimension']}-d); "
            "queries must be encoded by the same model (leave out --model to use it)"
        )


def config_dict(cfg: DenseConfig) -> dict[str, Any]:
    return asdict(cfg)
