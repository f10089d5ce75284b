"""Promptagator pieces: examples, template, cleaning and rejection, resumable generation, round-trip filter.

The generation loop and the filter are our own algorithms, so their unit tests drive them with scripted
backends/searchers; the real LLM and the real indexes are exercised in the end-to-end tests below them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rankers.data.base import Document
from rankers.data.beir import BeirDataset
from rankers.errors import InputError, RankError
from rankers.run import Candidate
from rankers.synth import (
    Example,
    Pair,
    builtin_template,
    check_docids,
    examples_from_qrels,
    is_cjk,
    load_examples,
    load_template,
    read_pairs,
    roundtrip,
    select_documents,
    synthesize,
    write_pairs,
)
from rankers.synth.prompt import build_messages, clean, rejection, truncate, units

DOCS = {
    "d1": (
        "Honey",
        "Honey never spoils because its low water content and acidity stop bacteria from growing.",
    ),
    "d2": ("Pandas", "Giant pandas eat bamboo almost exclusively, up to 38 kilograms a day in the wild."),
    "d3": ("Volcanoes", "A volcano erupts when pressure from gases and molten rock becomes too strong."),
    "d4": ("Tides", "Ocean tides are caused mainly by the gravitational pull of the moon on the oceans."),
    "d5": ("Rainbows", "Rainbows appear when sunlight is refracted, reflected and dispersed in raindrops."),
}


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def tiny(tmp_path: Path) -> BeirDataset:
    root = tmp_path / "tiny"
    (root / "qrels").mkdir(parents=True)
    write_jsonl(root / "corpus.jsonl", [{"_id": k, "title": t, "text": x} for k, (t, x) in DOCS.items()])
    queries = {"q1": "why does honey not spoil", "q2": "what do pandas eat", "q3": "what causes tides"}
    write_jsonl(root / "queries.jsonl", [{"_id": k, "text": v} for k, v in queries.items()])
    (root / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\nq3\td4\t1\n")
    return BeirDataset(root)


# ---------------------------------------------------------------- examples


def test_examples_by_docid_and_by_text(tiny, tmp_path):
    path = write_jsonl(
        tmp_path / "ex.jsonl",
        [
            {"query": "why does honey not spoil", "docid": "d1"},
            {"query": "what is x", "document": "X is a letter."},
        ],
    )
    ex = load_examples(path, tiny)
    assert [e.docid for e in ex] == ["d1", None]
    assert ex[0].document.startswith("Honey Honey never spoils")
    assert ex[1].document == "X is a letter."


def test_more_than_eight_examples_refused(tiny, tmp_path):
    path = write_jsonl(tmp_path / "ex.jsonl", [{"query": f"q{i}", "document": f"doc {i}"} for i in range(9)])
    with pytest.raises(RankError, match="9 examples.*at most 8"):
        load_examples(path, tiny)
    with pytest.raises(RankError, match="at most 8"):
        examples_from_qrels(tiny, "train", 9, seed=0)


def test_example_docid_not_in_corpus_names_the_line(tiny, tmp_path):
    path = write_jsonl(
        tmp_path / "ex.jsonl", [{"query": "a", "docid": "d1"}, {"query": "b", "docid": "nope"}]
    )
    with pytest.raises(InputError, match=r"ex\.jsonl:2: docid nope is not in the corpus"):
        load_examples(path, tiny)


def test_example_rows_need_query_and_document(tiny, tmp_path):
    with pytest.raises(InputError, match=r":1: no 'query'"):
        load_examples(write_jsonl(tmp_path / "a.jsonl", [{"docid": "d1"}]), tiny)
    with pytest.raises(InputError, match=r":1: neither 'docid' nor 'document'"):
        load_examples(write_jsonl(tmp_path / "b.jsonl", [{"query": "x"}]), tiny)
    with pytest.raises(InputError, match="no --dataset"):
        load_examples(write_jsonl(tmp_path / "c.jsonl", [{"query": "x", "docid": "d1"}]), None)


def test_examples_from_qrels_are_seeded_and_judged(tiny):
    a = examples_from_qrels(tiny, "train", 2, seed=3)
    b = examples_from_qrels(tiny, "train", 2, seed=3)
    assert [(e.query, e.docid) for e in a] == [(e.query, e.docid) for e in b]
    judged = {("why does honey not spoil", "d1"), ("what do pandas eat", "d2"), ("what causes tides", "d4")}
    assert {(e.query, e.docid) for e in a} <= judged and len(a) == 2
    seeds = {tuple(e.docid for e in examples_from_qrels(tiny, "train", 2, seed=s)) for s in range(10)}
    assert len(seeds) > 1


# ---------------------------------------------------------------- template and cleaning


def test_units_count_words_and_chinese_characters():
    assert units("what keeps honey") == ["what", "keeps", "honey"]
    assert units("大熊猫吃什么 food") == ["大", "熊", "猫", "吃", "什", "么", "food"]
    assert truncate("one two three four", 2) == "one two"
    assert truncate("被告人张某于2019年", 3) == "被告人"
    assert is_cjk("被告人张某于2019年盗窃") and not is_cjk("Honey never spoils")


def test_builtin_templates_build_a_prompt_with_examples_first():
    for lang in ("en", "zh"):
        t = builtin_template(lang)
        msgs = build_messages(t, [("q one", "doc one {braces}"), ("q two", "doc two")], "the new document")
        user = msgs[-1]["content"]
        assert user.index("q one") < user.index("q two") < user.index("the new document")
        assert "{braces}" in user  # placeholders are replaced, not str.format-ed
        # Everything before the new document is the same for every document: the shared, cacheable prefix.
        other = build_messages(t, [("q one", "doc one {braces}"), ("q two", "doc two")], "another")[-1][
            "content"
        ]
        assert user[: user.index("the new document")] == other[: other.index("another")]


def test_long_documents_are_cut_to_the_template_limits():
    t = builtin_template("zh")
    doc = "案" * 5000
    user = build_messages(t, [("查" * 1000, "文" * 2000)], doc)[-1]["content"]
    assert user.count("案") == t.setting("doc_units")
    assert user.count("查") == t.setting("example_query_units") + 2  # + the two 查询 labels
    assert user.count("文") == t.setting("example_doc_units") + 2  # + the two 文档 labels


def test_template_errors_name_the_line(tmp_path):
    bad = tmp_path / "t.txt"
    bad.write_text("[settings]\ndoc_units = lots\n")
    with pytest.raises(InputError, match=r"t\.txt:2: doc_units must be a positive integer"):
        load_template(bad)
    bad.write_text(
        builtin_template("en").path and Path(builtin_template("en").path).read_text().replace("{query}", "")
    )
    with pytest.raises(InputError, match=r"\[example\] lacks the placeholder \{query\}"):
        load_template(bad)


def test_clean_and_reject():
    t = builtin_template("en")
    assert clean('\n  Query: "why does honey never spoil"\nDocument: x', t) == "why does honey never spoil"
    assert clean("**what do pandas eat**", t) == "what do pandas eat"
    doc = DOCS["d1"][1]
    assert rejection("", doc, t, set()) == "empty"
    assert rejection(" ".join(["word"] * 60), doc, t, set()) == "too_long"
    assert rejection("honey never spoils because its low water content", doc, t, set()) == "copy"
    assert rejection("why does honey last forever", doc, t, {"why does honey last forever"}) == "echo"
    assert rejection("why does honey last forever", doc, t, set()) is None


# ---------------------------------------------------------------- generation loop


class Scripted:
    """A stand-in LLM that answers from a script, to test our loop (drops, resume, give-up), not a model."""

    def __init__(self, answer):
        self.answer, self.calls = answer, 0

    def chat(self, messages, max_tokens=64, temperature=0.0, stop=None, seed=None):
        from types import SimpleNamespace

        self.calls += 1
        doc = messages[-1]["content"].rsplit("Document:", 1)[1]
        return SimpleNamespace(
            text=self.answer(doc, seed), prompt_tokens=10, completion_tokens=5, wall_s=0.0, cached=False
        )


def _docs() -> list[Document]:
    return [Document(k, x, t) for k, (t, x) in DOCS.items()]


EXAMPLES = [Example("why does honey not spoil", "Honey never spoils.", "d1")]


def test_generation_drops_bad_answers_and_counts_them(tmp_path):
    def answer(doc, seed):
        if "Volcano" in doc:
            return ""
        if "Tides" in doc:
            return "Ocean tides are caused mainly by the gravitational pull of the moon"
        return f"question {seed} about {doc.split()[0]}"

    out = tmp_path / "pairs.jsonl"
    rep = synthesize(
        _docs(), EXAMPLES, Scripted(answer), builtin_template("en"), out, llm="scripted", per_doc=2
    )
    pairs = read_pairs(out)
    assert rep.kept == len(pairs) == 6 and rep.generated == 10
    assert rep.dropped == {"empty": 2, "copy": 2}
    assert {p.docid for p in pairs} == {"d1", "d2", "d5"}
    assert all(p.document and p.document.startswith(DOCS[p.docid][0]) for p in pairs)
    assert not Path(f"{out}.partial").exists()


def test_same_answer_twice_is_a_duplicate(tmp_path):
    rep = synthesize(_docs()[:2], EXAMPLES, Scripted(lambda d, s: "same"), builtin_template("en"), tmp_path / "p.jsonl",
                     llm="s", per_doc=3)  # fmt: skip
    assert rep.kept == 2 and rep.dropped == {"duplicate": 4}


def test_interrupted_generation_resumes_without_redoing_documents(tmp_path):
    out = tmp_path / "pairs.jsonl"
    good = Scripted(lambda d, s: f"question about {d.split()[0]}")

    class Dies(Scripted):
        def chat(self, *a, **k):
            if self.calls == 3:
                raise KeyboardInterrupt
            return super().chat(*a, **k)

    dying = Dies(good.answer)
    with pytest.raises(KeyboardInterrupt):
        synthesize(_docs(), EXAMPLES, dying, builtin_template("en"), out, llm="s", batch_size=2)
    assert not out.exists()  # no half-written pairs file
    partial = Path(f"{out}.partial")
    with open(partial, "a") as f:
        f.write('{"docid": "torn')  # a write cut by the interruption
    rep = synthesize(_docs(), EXAMPLES, good, builtin_template("en"), out, llm="s", batch_size=2)
    assert rep.resumed == 2 and good.calls == 3
    assert [p.docid for p in read_pairs(out)] == list(DOCS)
    # Different settings do not reuse the journal of another run.
    fresh = Scripted(good.answer)
    synthesize(_docs(), EXAMPLES, fresh, builtin_template("en"), tmp_path / "o.jsonl", llm="s", seed=1)
    assert fresh.calls == 5


def test_nothing_usable_stops_with_a_clear_message(tmp_path):
    docs = [Document(f"x{i}", f"text number {i}") for i in range(20)]
    backend = Scripted(lambda d, s: "   ")
    with pytest.raises(
        RankError, match=r"--llm junk: nothing usable for the first 8 documents \(dropped: empty 8"
    ):
        synthesize(
            docs, EXAMPLES, backend, builtin_template("en"), tmp_path / "p.jsonl", llm="junk", batch_size=4
        )
    assert backend.calls == 8
    assert not (tmp_path / "p.jsonl").exists()


def test_document_selection_first_and_seeded_sample():
    docs = [Document(str(i), f"text {i}") for i in range(100)] + [Document("empty", "")]
    assert [d.docid for d in select_documents(iter(docs), 3, None, 0)] == ["0", "1", "2"]
    a = select_documents(iter(docs), None, 10, 7)
    assert [d.docid for d in a] == [d.docid for d in select_documents(iter(docs), None, 10, 7)]
    assert len(a) == 10 and a != select_documents(iter(docs), None, 10, 8)
    assert [int(d.docid) for d in a] != sorted(int(d.docid) for d in a)  # shuffled, so a prefix is a sample
    assert all(d.docid != "empty" for d in select_documents(iter(docs), None, 101, 0))
    small, large = select_documents(iter(docs), None, 5, 7), select_documents(iter(docs), None, 30, 7)
    assert small == large[:5]  # nested: a run cut short has done exactly a smaller sample


# ---------------------------------------------------------------- pairs and filter


def test_pairs_file_errors_name_the_line(tmp_path):
    p = write_jsonl(
        tmp_path / "p.jsonl",
        [{"qid": "a", "query": "x", "docid": "d1"}, {"qid": "b", "query": "", "docid": "d2"}],
    )
    with pytest.raises(InputError, match=r"p\.jsonl:2: no 'query'"):
        read_pairs(p)
    p = write_jsonl(
        tmp_path / "p.jsonl",
        [{"qid": "a", "query": "x", "docid": "d1"}, {"qid": "a", "query": "y", "docid": "d2"}],
    )
    with pytest.raises(InputError, match=r":2: qid a already used on line 1"):
        read_pairs(p)
    pairs = read_pairs(
        write_jsonl(tmp_path / "p.jsonl", [{"query": "x", "docid": "d1"}, {"query": "y", "docid": "zz"}])
    )
    with pytest.raises(InputError, match=r"p\.jsonl:2: docid zz is not in index idx"):
        check_docids(pairs, {"d1"}.__contains__, "index idx", tmp_path / "p.jsonl")


def test_roundtrip_keeps_pairs_whose_source_is_in_the_top_k():
    pairs = [Pair("a", "qa", "d1"), Pair("b", "qb", "d2"), Pair("c", "qc", "d3")]
    hits = {"a": ["d1", "d9"], "b": ["d9", "d2"], "c": ["d8", "d9", "d7"]}

    def search(rankings, k):
        for r in rankings:
            r.candidates = [Candidate(d, 1.0 / (i + 1)) for i, d in enumerate(hits[r.qid][:k])]
            yield r

    kept, rep = roundtrip(pairs, search, 1)
    assert [p.qid for p in kept] == ["a"] and rep.ranks == {1: 1, 0: 2}
    kept, rep = roundtrip(pairs, search, 2)
    assert [p.qid for p in kept] == ["a", "b"] and rep.kept == 2 and "2 of 3 pairs kept" in rep.summary()


# ---------------------------------------------------------------- the commands, on a real Lucene index


def rank(*args: str) -> tuple[int, str]:
    """Run `rank` in this process (one JVM for all tests); returns (exit code, stderr+stdout)."""
    import contextlib
    import io
    import sys

    from cli.main import main

    buf = io.StringIO()
    code = 0
    argv = sys.argv
    sys.argv = ["rank", *args]
    try:
        with contextlib.redirect_stderr(buf), contextlib.redirect_stdout(buf):
            main()
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    finally:
        sys.argv = argv
    return code, buf.getvalue()


@pytest.fixture(scope="module")
def tiny_index(tmp_path_factory) -> tuple[Path, Path]:
    from rankers.bm25 import build_index

    root = tmp_path_factory.mktemp("tinyidx")
    (root / "ds").mkdir()
    write_jsonl(
        root / "ds" / "corpus.jsonl", [{"_id": k, "title": t, "text": x} for k, (t, x) in DOCS.items()]
    )
    write_jsonl(root / "ds" / "queries.jsonl", [{"_id": "q1", "text": "honey"}])
    build_index(root / "ds", root / "idx")
    return root / "ds", root / "idx"


@pytest.mark.slow
def test_synth_filter_command_keeps_round_trip_consistent_pairs(tiny_index, tmp_path):
    _, idx = tiny_index
    pairs = write_jsonl(
        tmp_path / "pairs.jsonl",
        [
            {"qid": "a", "query": "why does honey never spoil", "docid": "d1", "document": "x"},
            {"qid": "b", "query": "moon gravity ocean tides", "docid": "d4", "document": "y"},
            {"qid": "c", "query": "what do giant pandas eat", "docid": "d5", "document": "z"},
        ],
    )
    code, out = rank(
        "synth-filter",
        str(pairs),
        "--index",
        str(idx),
        "--bm25",
        "--top-k",
        "1",
        "-o",
        str(tmp_path / "k.jsonl"),
    )
    assert code == 0, out
    assert [p.qid for p in read_pairs(tmp_path / "k.jsonl")] == ["a", "b"]
    assert "2 of 3 pairs kept" in out

    bad = write_jsonl(
        tmp_path / "bad.jsonl",
        [{"qid": "a", "query": "honey", "docid": "d1"}, {"qid": "b", "query": "x", "docid": "d99"}],
    )
    code, out = rank("synth-filter", str(bad), "--index", str(idx), "--bm25")
    assert code == 2 and f"rank: error: {bad}:2: docid d99 is not in index {idx}" in out
    code, out = rank("synth-filter", str(pairs), "--index", str(idx), "--bm25", "--top-k", "50")
    assert code == 2 and "--top-k: must be between 1 and 20" in out


def test_synth_command_refuses_bad_examples_before_loading_a_model(tiny, tmp_path):
    many = write_jsonl(tmp_path / "ex.jsonl", [{"query": f"q{i}", "document": f"d{i}"} for i in range(12)])
    code, out = rank(
        "synth",
        "-d",
        str(tiny.path),
        "--examples",
        str(many),
        "--llm",
        "llamacpp:none",
        "-o",
        str(tmp_path / "p.jsonl"),
    )
    assert code == 2 and "12 examples; Promptagator's recipe takes at most 8" in out
    code, out = rank(
        "synth",
        "-d",
        str(tiny.path),
        "--examples-from",
        f"{tiny.path}:train",
        "--k",
        "9",
        "--llm",
        "x:y",
        "-o",
        "p",
    )
    assert code == 2 and "--k: 9 examples" in out
    missing = write_jsonl(tmp_path / "m.jsonl", [{"query": "q", "docid": "d404"}])
    code, out = rank("synth", "-d", str(tiny.path), "--examples", str(missing), "--llm", "x:y", "-o", "p")
    assert code == 2 and "m.jsonl:1: docid d404 is not in the corpus" in out
    assert not (tmp_path / "p.jsonl").exists()


# ---------------------------------------------------------------- end to end with a real local LLM


@pytest.mark.slow
def test_end_to_end_smollm2_synth_filter_train(tiny_index, tmp_path, monkeypatch):
    """synth (SmolLM2-135M through llama.cpp) -> synth-filter (BM25) -> train dense (+ BM25 hard negatives)."""
    pytest.importorskip("llama_cpp", reason="llama-cpp-python (the llm extra) is not installed")
    monkeypatch.setenv("RANK_CACHE_DIR", str(tmp_path / "cache"))
    ds, idx = tiny_index
    ex = write_jsonl(
        tmp_path / "ex.jsonl",
        [
            {"query": "why does honey never go bad", "docid": "d1"},
            {"query": "what do pandas eat", "docid": "d2"},
        ],
    )
    pairs = tmp_path / "pairs.jsonl"
    args = [
        "synth",
        "-d",
        str(ds),
        "--examples",
        str(ex),
        "--llm",
        "llamacpp:smollm2",
        "--docs",
        "5",
        "--per-doc",
        "2",
    ]
    code, out = rank(*args, "--batch", "2", "-o", str(pairs))
    assert code == 0, out
    assert ("docs/s" in out or "s/doc" in out) and "pairs kept" in out
    rows = read_pairs(pairs, need_text=True)
    assert 1 <= len(rows) <= 10 and {p.docid for p in rows} <= set(DOCS)
    assert all(p.query.strip() and p.document == f"{DOCS[p.docid][0]} {DOCS[p.docid][1]}" for p in rows)
    # A second run answers from the LLM response cache and writes the same pairs.
    first = pairs.read_text()
    code, out = rank(*args, "--batch", "2", "-o", str(pairs))
    assert code == 0 and pairs.read_text() == first

    code, out = rank(
        "synth-filter",
        str(pairs),
        "--index",
        str(idx),
        "--bm25",
        "--top-k",
        "5",
        "-o",
        str(tmp_path / "kept.jsonl"),
    )
    assert code == 0, out
    # SmolLM2-135M writes much prose ("Pretty much the same as the previous query."): BM25 finds few sources.
    kept = read_pairs(tmp_path / "kept.jsonl") if (tmp_path / "kept.jsonl").exists() else []
    assert f"{len(kept)} of {len(rows)} pairs kept" in out
    assert {p.qid for p in kept} <= {p.qid for p in rows}

    # What SmolLM2 writes decides whether BM25 finds other documents for it (with the native llama.cpp build it
    # found none), so one hand-written pair whose query also matches d4 makes sure mining has work to do.
    train_pairs = tmp_path / "train.jsonl"
    extra = Pair("hand-1", "sunlight and the moon pull on the oceans", "d5", " ".join(DOCS["d5"]), {})
    write_pairs(train_pairs, [*rows, extra])
    model = tmp_path / "model"
    code, out = rank("train", "dense", "--pairs", str(train_pairs), "--model", "minilm", "--output", str(model),
                     "--epochs", "1", "--batch-size", "4", "--max-seq-length", "48",
                     "--hard-negatives", "bm25", "--index", str(idx))  # fmt: skip
    assert code == 0, out
    log = json.loads((model / "rank_training.json").read_text())
    assert log["hard_negatives"] >= 1 and log["pairs"] == len(rows) + 1
    assert len(log["losses"]) == sum(log["steps_per_epoch"]) >= 1
    from sentence_transformers import SentenceTransformer

    vec = SentenceTransformer(str(model), device="cpu").encode(["why is honey so durable"])
    assert vec.shape == (1, 384)


@pytest.mark.slow
def test_a_real_llm_with_no_usable_answer_is_refused(tiny, tmp_path, monkeypatch):
    """A template that allows no query length: every SmolLM2 answer is dropped, and the run says why."""
    pytest.importorskip("llama_cpp", reason="llama-cpp-python (the llm extra) is not installed")
    monkeypatch.setenv("RANK_CACHE_DIR", str(tmp_path / "cache"))
    text = (
        Path(builtin_template("en").path).read_text().replace("max_query_units = 48", "max_query_units = 1")
    )
    (tmp_path / "t.txt").write_text(text)
    ex = write_jsonl(tmp_path / "ex.jsonl", [{"query": "why does honey never go bad", "docid": "d1"}])
    code, out = rank("synth", "-d", str(tiny.path), "--examples", str(ex), "--llm", "llamacpp:smollm2",
                     "--template", str(tmp_path / "t.txt"), "--docs", "5", "-o", str(tmp_path / "p.jsonl"))  # fmt: skip
    assert code == 2 and "--llm llamacpp:smollm2: nothing usable for the first 5 documents" in out
    assert "too_long" in out and not (tmp_path / "p.jsonl").exists()
