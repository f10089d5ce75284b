"""Dense indexing and search with the real all-MiniLM-L6-v2 on slices of scifact (max length cut to keep it quick)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import shared

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from clirun import rank

from rankers.chunking import aggregate, chunk_texts  # noqa: E402
from rankers.data.registry import load_dataset  # noqa: E402
from rankers.dense import DenseConfig, DenseSearcher, build_index, partial_dir  # noqa: E402
from rankers.errors import RankError  # noqa: E402
from rankers.run import Query, as_rankings  # noqa: E402

N_DOCS = 24
SHARD = 8
FAST = {"model": "minilm", "max_length": 48, "shard_size": SHARD, "batch_size": 8}


def make_beir(folder: Path, docs: list[dict], queries: list[dict], qrels: list[tuple[str, str]]) -> Path:
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    (folder / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    (folder / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    rows = "".join(f"{q}\t{d}\t1\n" for q, d in qrels)
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + rows)
    return folder


@pytest.fixture(scope="session")
def docs() -> list[dict]:
    path = shared("scifact") / "corpus.jsonl"
    with open(path) as f:
        return [json.loads(next(f)) for _ in range(N_DOCS)]


@pytest.fixture(scope="session")
def small(tmp_path_factory, docs) -> Path:
    queries = [{"_id": f"q{i}", "text": d["title"]} for i, d in enumerate(docs[:6])]
    qrels = [(f"q{i}", d["_id"]) for i, d in enumerate(docs[:6])]
    return make_beir(tmp_path_factory.mktemp("small"), docs, queries, qrels)


@pytest.fixture(scope="session")
def built(tmp_path_factory, small) -> Path:
    index = tmp_path_factory.mktemp("idx") / "dense"
    build_index(load_dataset(small), index, DenseConfig(**FAST), show_progress=False)
    return index


@pytest.fixture(scope="session")
def model():
    from sentence_transformers import SentenceTransformer

    from rankers.models import resolve_model

    m = SentenceTransformer(resolve_model("minilm"), device="cpu")
    m.max_seq_length = 48
    return m


def vectors(index: Path) -> np.ndarray:
    import faiss

    ix = faiss.read_index(str(index / "index.faiss"))
    return ix.reconstruct_n(0, ix.ntotal)


def test_index_holds_the_vectors_sentence_transformers_gives(built, docs, model):
    m = json.loads((built / "manifest.json").read_text())
    assert m["dimension"] == 384 and m["normalized"] and m["max_length"] == 48
    assert m["documents"] == m["rows"] == N_DOCS and m["chunking"] is None
    assert (built / "docids.txt").read_text().split("\n")[:-1] == [d["_id"] for d in docs]
    texts = [f"{d['title']} {d['text']}" if d["title"] else d["text"] for d in docs]
    raw = model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    assert np.allclose(vectors(built), raw, atol=1e-5)
    assert not partial_dir(built).exists()


def test_search_finds_each_document_by_its_title(built, docs):
    searcher = DenseSearcher(built)
    queries = [Query(f"q{i}", d["title"]) for i, d in enumerate(docs[:6])]
    results = list(searcher.search(as_rankings(queries), hits=5))
    assert [r.qid for r in results] == [q.qid for q in queries]
    top = [r.candidates[0].docid for r in results]
    assert sum(t == d["_id"] for t, d in zip(top, docs[:6], strict=True)) >= 5
    for r in results:
        scores = [c.score for c in r.candidates]
        assert len(scores) == 5 and scores == sorted(scores, reverse=True)


def test_interrupted_build_resumes_to_the_same_index(tmp_path, small, built):
    index = tmp_path / "dense"

    def stop(number: int) -> None:
        if number == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_index(load_dataset(small), index, DenseConfig(**FAST), show_progress=False, on_shard=stop)
    assert not index.exists()
    assert len(list(partial_dir(index).glob("shard-*.npy"))) == 2
    notes: list[str] = []
    out = build_index(load_dataset(small), index, DenseConfig(**FAST), show_progress=False, say=notes.append)
    assert out["texts_encoded"] == N_DOCS - 2 * SHARD
    assert any("resuming" in n for n in notes)
    assert np.allclose(vectors(index), vectors(built), atol=1e-6)
    assert not partial_dir(index).exists()


def test_failed_rebuild_leaves_the_good_index_alone(tmp_path, small, built):
    index = tmp_path / "dense"
    shutil.copytree(built, index)
    before = (index / "index.faiss").read_bytes()

    def stop(number: int) -> None:
        raise KeyboardInterrupt

    cfg = DenseConfig(**{**FAST, "shard_size": 5})
    with pytest.raises(KeyboardInterrupt):
        build_index(load_dataset(small), index, cfg, show_progress=False, on_shard=stop)
    assert (index / "index.faiss").read_bytes() == before
    DenseSearcher(index)  # still a valid index


def test_shards_by_hand_then_merge(tmp_path, small, built):
    index = tmp_path / "dense"
    ds = load_dataset(small)
    a = build_index(ds, index, DenseConfig(**FAST), shard=(0, 2), show_progress=False)
    b = build_index(ds, index, DenseConfig(**FAST), shard=(1, 2), show_progress=False)
    assert a["texts_encoded"] + b["texts_encoded"] == N_DOCS and not index.exists()
    merged = build_index(ds, index, DenseConfig(**FAST), show_progress=False)
    assert merged["texts_encoded"] == 0
    assert np.allclose(vectors(index), vectors(built), atol=1e-6)


def test_chunks_are_token_windows_of_the_original_text(model):
    text = "Alpha beta gamma. " * 40 + "The END of it, with CAPS."
    (parts,) = chunk_texts([text], model.tokenizer, 20, 5)
    tok = model.tokenizer
    lengths = [len(tok(p, add_special_tokens=False)["input_ids"]) for p in parts]
    assert len(parts) > 5 and max(lengths) <= 20
    assert all(p in text for p in parts)  # spans of the text as written, not detokenized
    assert parts[0] == text[: len(parts[0])] and text.endswith(parts[-1])
    # consecutive windows share the overlap: the last 5 tokens of one open the next
    ids = [tok(p, add_special_tokens=False)["input_ids"] for p in parts[:3]]
    assert ids[0][-5:] == ids[1][:5] and ids[1][-5:] == ids[2][:5]
    assert chunk_texts(["short text"], tok, 20, 5) == [["short text"]]


def test_aggregation_of_chunk_scores():
    scores = np.array([[0.1, 0.9, 0.3, 0.5, 0.2, 0.4]], dtype=np.float32)
    starts = np.array([0, 3, 4, 6])
    assert np.allclose(aggregate(scores, starts, "maxp"), [[0.9, 0.5, 0.4]])
    assert np.allclose(aggregate(scores, starts, "first"), [[0.1, 0.5, 0.2]])
    assert np.allclose(aggregate(scores, starts, "mean"), [[1.3 / 3, 0.5, 0.3]])


def test_chunked_index_scores_documents_by_their_chunks(tmp_path, small, model):
    index = tmp_path / "chunked"
    cfg = DenseConfig(**{**FAST, "chunk_tokens": 40, "chunk_overlap": 8})
    m = build_index(load_dataset(small), index, cfg, show_progress=False)
    starts = np.load(index / "starts.npy")
    assert m["rows"] > m["documents"] == N_DOCS and starts[-1] == m["rows"] and len(starts) == N_DOCS + 1
    x = vectors(index)
    query = "cancer cells and tumour growth"
    q = model.encode([query], normalize_embeddings=True)[0]
    per_chunk = x @ q
    for how, fold in (("maxp", np.max), ("first", lambda a: a[0]), ("mean", np.mean)):
        want = np.array([fold(per_chunk[starts[d] : starts[d + 1]]) for d in range(N_DOCS)])
        (r,) = DenseSearcher(index, aggregate=how).search(as_rankings([Query("q", query)]), hits=N_DOCS)
        got = {c.docid: c.score for c in r.candidates}
        docids = (index / "docids.txt").read_text().split("\n")[:-1]
        assert np.allclose([got[d] for d in docids], want, atol=1e-5), how
        assert r.candidates[0].docid == docids[int(np.argmax(want))]


def test_long_documents_without_chunking_are_counted_once(tmp_path, docs, model):
    ds = make_beir(tmp_path / "ds", docs[:10], [{"_id": "q", "text": "x"}], [("q", docs[0]["_id"])])
    notes: list[str] = []
    build_index(load_dataset(ds), tmp_path / "ix", DenseConfig(**FAST), show_progress=False, say=notes.append)
    warnings = [n for n in notes if "longer than" in n]
    texts = [f"{d['title']} {d['text']}" for d in docs[:10]]
    want = sum(len(model.tokenizer(t, add_special_tokens=False)["input_ids"]) > 46 for t in texts)
    assert len(warnings) == 1 and warnings[0].startswith(f"warning: {want} of 10 documents")


# ---------------------------------------------------------------- bad input


def test_missing_model_path(tmp_path, small):
    with pytest.raises(RankError, match="no such model folder"):
        build_index(load_dataset(small), tmp_path / "ix", DenseConfig(model=str(tmp_path / "nope")))


def test_plain_transformers_model_is_refused(tmp_path, small):
    from rankers.models import resolve_model

    src = Path(resolve_model("minilm"))
    plain = tmp_path / "plain"
    plain.mkdir()
    for f in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "vocab.txt"):
        (plain / f).symlink_to(src / f)
    with pytest.raises(RankError, match="not a sentence-transformers model"):
        build_index(load_dataset(small), tmp_path / "ix", DenseConfig(model=str(plain)))


def test_foreign_folder_is_not_overwritten(tmp_path, small):
    target = tmp_path / "home"
    target.mkdir()
    (target / "thesis.tex").write_text("precious")
    with pytest.raises(RankError, match="not a rank dense index"):
        build_index(load_dataset(small), target, DenseConfig(**FAST))
    assert (target / "thesis.tex").read_text() == "precious"


def test_corrupt_or_foreign_index_folders(tmp_path, built):
    with pytest.raises(RankError, match="no such index folder"):
        DenseSearcher(tmp_path / "missing")
    lucene = tmp_path / "lucene"
    lucene.mkdir()
    (lucene / "segments_1").write_text("")
    with pytest.raises(RankError, match="not a dense index.*--bm25"):
        DenseSearcher(lucene)
    broken = tmp_path / "broken"
    shutil.copytree(built, broken)
    (broken / "manifest.json").write_text("{not json")
    with pytest.raises(RankError, match="corrupt manifest"):
        DenseSearcher(broken)
    shutil.copy(built / "manifest.json", broken / "manifest.json")
    (broken / "index.faiss").write_bytes(b"garbage")
    with pytest.raises(RankError, match="cannot read the FAISS index"):
        DenseSearcher(broken)
    (broken / "index.faiss").unlink()
    with pytest.raises(RankError, match="index.faiss is missing"):
        DenseSearcher(broken)


def test_search_refuses_another_model_or_dimension(tmp_path, built):
    from rankers.models import resolve_model

    other = tmp_path / "other-model"
    shutil.copytree(resolve_model("minilm"), other)
    with pytest.raises(RankError, match="built with minilm"):
        DenseSearcher(built, model=str(other))
    DenseSearcher(built, model="minilm")  # the same model by its short name is fine
    tampered = tmp_path / "tampered"
    shutil.copytree(built, tampered)
    m = json.loads((tampered / "manifest.json").read_text())
    (tampered / "manifest.json").write_text(json.dumps({**m, "dimension": 768}))
    with pytest.raises(RankError, match="dimension"):
        DenseSearcher(tampered)


def test_empty_corpus(tmp_path):
    ds = make_beir(tmp_path / "empty", [], [{"_id": "q", "text": "x"}], [("q", "d")])
    with pytest.raises(RankError, match="no documents"):
        build_index(load_dataset(ds), tmp_path / "ix", DenseConfig(**FAST), show_progress=False)
    assert not (tmp_path / "ix").exists() and not partial_dir(tmp_path / "ix").exists()


def test_bad_option_combinations(tmp_path, small):
    ds = load_dataset(small)
    with pytest.raises(RankError, match="int8 needs --backend onnx"):
        build_index(ds, tmp_path / "a", DenseConfig(model="minilm", precision="int8"))
    with pytest.raises(RankError, match="--chunk-tokens 500"):
        build_index(ds, tmp_path / "b", DenseConfig(model="minilm", chunk_tokens=500))
    with pytest.raises(RankError, match="--chunk-overlap"):
        build_index(ds, tmp_path / "c", DenseConfig(model="minilm", chunk_tokens=50, chunk_overlap=50))
    with pytest.raises(RankError, match="--max-length 4096"):
        build_index(ds, tmp_path / "d", DenseConfig(model="minilm", max_length=4096))


# ---------------------------------------------------------------- backends and engines


@pytest.mark.slow
def test_onnx_backend_matches_torch(tmp_path, monkeypatch, docs, model):
    """The fused int8 graph (eager export, ORT attention/LayerNorm/GELU fusion, per-channel int8) gives
    vectors that agree with sentence-transformers' own torch fp32 vectors."""
    import onnx

    from rankers.dense import make_encoder

    monkeypatch.setenv("RANK_CACHE_DIR", str(tmp_path))  # the whole recipe runs: export, fusion, quantization
    texts = [d["text"] for d in docs[:8]]
    ref = model.encode(texts, normalize_embeddings=True)
    for precision, floor in (("fp32", 0.9999), ("int8", 0.99)):
        enc = make_encoder(DenseConfig(model="minilm", max_length=48, backend="onnx", precision=precision))
        path = Path(enc.model.rank_onnx_file)
        assert path.name.startswith("model-fused"), path  # not the unfused fallback
        got = enc.encode_docs(texts)
        cos = (got * ref).sum(axis=1)
        assert cos.min() > floor, (precision, cos)
    assert cos.min() < 0.99999  # int8 really ran: not bit-identical to fp32
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert {"QAttention", "MatMulInteger", "SkipLayerNormalization"} <= ops, ops
    assert not list(tmp_path.rglob("*.part")) and not list(tmp_path.rglob("model-eager.onnx"))


@pytest.mark.slow
def test_onnx_backend_falls_back_to_the_plain_graph(tmp_path, monkeypatch, capsys, docs, model):
    from rankers import onnx_backend
    from rankers.dense import make_encoder
    from rankers.errors import RankError

    def no_fusion(*args, **kwargs):
        raise RankError("attention fused in 0 layers only")

    monkeypatch.setenv("RANK_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(onnx_backend, "_fuse", no_fusion)
    enc = make_encoder(DenseConfig(model="minilm", max_length=48, backend="onnx", precision="int8"))
    assert Path(enc.model.rank_onnx_file).name == "model_qint8.onnx"
    assert "running the unfused graph" in capsys.readouterr().err
    texts = [d["text"] for d in docs[:4]]
    cos = (enc.encode_docs(texts) * model.encode(texts, normalize_embeddings=True)).sum(axis=1)
    assert cos.min() > 0.99, cos


@pytest.mark.slow
def test_ray_engine_writes_the_same_index(tmp_path, small, built):
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        index = tmp_path / "ray"
        build_index(
            load_dataset(small), index, DenseConfig(**FAST), engine="ray", ray_workers=2, show_progress=False
        )
    finally:
        ray.shutdown()
    assert (index / "docids.txt").read_text() == (built / "docids.txt").read_text()
    assert np.allclose(vectors(index), vectors(built), atol=1e-5)


# ---------------------------------------------------------------- fidelity


SCIFACT_INDEX = Path(os.environ.get("RANK_SCIFACT_DENSE", "/tmp/rank-dense/scifact-minilm"))


@pytest.mark.slow
@pytest.mark.shared_data
def test_minilm_scifact_fidelity():
    """MTEB's figure for all-MiniLM-L6-v2 on SciFact test: nDCG@10 0.6451 (the index is cached: ~4+ min to build)."""
    from ranx import Qrels, Run, evaluate

    ds = load_dataset(shared("scifact"))
    if not (SCIFACT_INDEX / "manifest.json").exists():
        build_index(ds, SCIFACT_INDEX, DenseConfig(model="minilm"), show_progress=False)
    searcher = DenseSearcher(SCIFACT_INDEX, model="minilm")
    run = {
        r.qid: {c.docid: c.score for c in r.candidates}
        for r in searcher.search(as_rankings(ds.queries("test").values()), 100)
    }
    ndcg = evaluate(Qrels(ds.qrels("test")), Run(run), "ndcg@10", make_comparable=True)
    assert abs(ndcg - 0.6451) <= 0.003, ndcg


# ---------------------------------------------------------------- command line


def test_cli_index_dense_and_retrieve(tmp_path, small, built):
    index = tmp_path / "cli-index"
    p = rank("index", "dense", "--dataset", str(small), "--index", str(index), "--model", "minilm",
             "--max-length", "48", "--batch-size", "8", "--checkpoint-every", "8")  # fmt: skip
    assert p.returncode == 0, p.stderr
    assert "docs/s" in p.stderr
    assert np.allclose(vectors(index), vectors(built), atol=1e-6)
    run = tmp_path / "dense.trec"
    p = rank(
        "retrieve", "--dataset", str(small), "--index", str(index), "--dense", "--hits", "3", "-o", str(run)
    )
    assert p.returncode == 0, p.stderr
    lines = run.read_text().splitlines()
    assert len(lines) == 6 * 3 and lines[0].split()[0] == "q0"


def test_cli_errors_are_one_line(tmp_path, small):
    p = rank(
        "index",
        "dense",
        "--dataset",
        str(small),
        "--index",
        str(tmp_path / "i"),
        "--model",
        str(tmp_path / "x"),
    )
    assert (
        p.returncode == 2
        and p.stderr.strip().startswith("rank: error: --model")
        and "Traceback" not in p.stderr
    )
    p = rank("retrieve", "--dataset", str(small), "--index", str(tmp_path), "--dense")
    assert p.returncode == 2 and "not a dense index" in p.stderr


def test_cli_hybrid_is_rrf_of_the_two_legs(tmp_path, small, built):
    from rankers.io import read_run

    lucene = tmp_path / "bm25"
    p = rank("index", "bm25", "--dataset", str(small), "--index", str(lucene), "--threads", "1")
    assert p.returncode == 0, p.stderr
    runs = {}
    for name, args in (
        ("bm25", ["--index", str(lucene), "--bm25"]),
        ("dense", ["--index", str(built), "--dense"]),
        (
            "hybrid",
            ["--index", str(lucene), "--bm25", "--dense", "--dense-index", str(built), "--fusion", "rrf"],
        ),
    ):
        out = tmp_path / f"{name}.jsonl"
        p = rank("retrieve", "--dataset", str(small), *args, "--hits", "10", "-o", str(out))
        assert p.returncode == 0, p.stderr
        runs[name] = {r.qid: [c.docid for c in r.candidates] for r in read_run(out)}
    for qid, fused in runs["hybrid"].items():
        rrf: dict[str, float] = {}
        for leg in ("bm25", "dense"):
            for rank_, d in enumerate(runs[leg][qid], 1):
                rrf[d] = rrf.get(d, 0.0) + 1 / (60 + rank_)
        want = sorted(rrf, key=lambda d: -rrf[d])
        assert [rrf[d] for d in fused] == pytest.approx([rrf[d] for d in want[: len(fused)]])
    p = rank("retrieve", "--dataset", str(small), "--index", str(lucene), "--bm25", "--dense")
    assert p.returncode == 2 and "--dense-index" in p.stderr
