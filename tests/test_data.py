"""Dataset readers on the real shared sets (counts from each set's README), and on small broken copies."""

from __future__ import annotations

import gzip
import json
import shutil
import statistics
from collections import Counter
from pathlib import Path

import polars as pl
import pytest
from conftest import shared

from rankers.data.beir import BeirDataset
from rankers.data.loco import LocoDataset
from rankers.data.registry import REGISTRY, load_dataset, search_path, split_spec
from rankers.data.t2ranking import T2RankingDataset
from rankers.data.topics import read_topics
from rankers.data.trec import TrecDataset
from rankers.errors import InputError, RankError


def _pairs(qrels: dict[str, dict[str, int]]) -> int:
    return sum(len(d) for d in qrels.values())


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".gz":
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------- topics


def test_topics_trec_sgml_vaswani():
    topics = read_topics(shared("vaswani") / "query-text.trec")
    assert len(topics) == 93
    assert list(topics)[:3] == ["1", "2", "3"]
    assert topics["1"].text.startswith("MEASUREMENT OF DIELECTRIC CONSTANT")
    assert "\n" not in topics["1"].text and topics["1"].text == topics["1"].text.strip()


def test_topics_classic_trec_form(tmp_path):
    path = _write(
        tmp_path / "topics.301",
        "<top>\n<num> Number: 301\n<title> Topic: International Organized Crime\n\n"
        "<desc> Description:\nIdentify organizations.\n\n<narr> Narrative:\nA relevant document...\n</top>\n\n"
        "<top>\n<num> Number: 302 <title> Poliomyelitis and Post-Polio\n</top>\n",
    )
    topics = read_topics(path)
    assert list(topics) == ["301", "302"]
    assert topics["301"].text == "International Organized Crime"
    assert topics["301"].fields == {
        "description": "Identify organizations.",
        "narrative": "A relevant document...",
    }
    assert topics["302"].text == "Poliomyelitis and Post-Polio"


@pytest.mark.parametrize(
    "text",
    [
        "qid\tquery\n00123\tfirst\n-5\tsecond\n",
        "00123\tfirst\n-5\tsecond\n",
        "query_id\ttext\n00123\tfirst\n-5\tsecond\n",
    ],
)
def test_topics_tsv_with_or_without_header_keeps_ids_as_written(tmp_path, text):
    topics = read_topics(_write(tmp_path / "q.tsv", text))
    assert list(topics) == ["00123", "-5"]
    assert topics["00123"].text == "first"


def test_topics_jsonl_both_field_styles_and_dates(tmp_path):
    beir = read_topics(_write(tmp_path / "a.jsonl", '{"_id": "007", "text": "x", "date": "2022/06/16"}\n'))
    assert beir["007"].text == "x" and beir["007"].date == "2022-06-16"
    plain = read_topics(_write(tmp_path / "b.jsonl.gz", '{"qid": 7, "query": "y"}\n'))
    assert plain["7"].text == "y" and plain["7"].date is None


def test_topics_realtimeqa_dates():
    topics = read_topics(shared("realtimeqa") / "queries.jsonl")
    assert len(topics) == 131
    dates = sorted(q.date for q in topics.values())
    assert None not in dates
    assert (dates[0], dates[-1]) == ("2022-06-16", "2022-09-15")


@pytest.mark.parametrize(
    ("name", "text", "line", "words"),
    [
        ("bad.tsv", "1\tok\n2\tfine\n3\tone\ttoo many\n", 3, "2 tab-separated columns"),
        ("bad.jsonl", '{"_id": "1", "text": "a"}\n{"_id": "2", "text": \n', 2, "malformed JSON"),
        ("nodate.jsonl", '{"_id": "1", "text": "a", "date": "someday"}\n', 1, "cannot parse date"),
        ("dup.tsv", "1\ta\n1\tb\n", 2, "appears twice"),
        (
            "open.trec",
            "<top>\n<num>1</num><title>a</title>\n</top>\n<top>\n<num>2</num>\n",
            4,
            "never closed",
        ),
        ("nested.trec", "<top>\n<num>1</num>\n<top>\n", 3, "inside the <top>"),
        ("notitle.trec", "\n<top>\n<num>9</num>\n</top>\n", 2, "no <title>"),
    ],
)
def test_topics_malformed_lines_name_file_and_line(tmp_path, name, text, line, words):
    path = _write(tmp_path / name, text)
    with pytest.raises(InputError) as e:
        read_topics(path)
    assert f"{path}:{line}:" in str(e.value)
    assert words in str(e.value)


# ---------------------------------------------------------------- BEIR


def test_beir_scifact_counts_and_string_ids():
    ds = load_dataset(shared("scifact"))
    assert isinstance(ds, BeirDataset) and ds.preset == "mteb"
    assert ds.splits() == ["test", "train"] and ds.default_split == "test"
    queries, qrels = ds.queries(), ds.qrels()
    assert (len(queries), len(qrels), _pairs(qrels)) == (300, 300, 339)
    docids = [d.docid for d in ds.documents()]
    assert len(docids) == len(set(docids)) == 5183
    assert all(isinstance(x, str) for x in docids + list(queries))
    assert {d for docs in qrels.values() for d in docs} <= set(docids)


def test_beir_malformed_corpus_line(tmp_path):
    _write(tmp_path / "corpus.jsonl", '{"_id": "1", "text": "a"}\n{"_id": "2", "text": "b"\n')
    _write(tmp_path / "queries.jsonl", '{"_id": "q", "text": "a"}\n')
    _write(tmp_path / "qrels" / "test.tsv", "query-id\tcorpus-id\tscore\nq\t1\tyes\n")
    ds = load_dataset(tmp_path)
    with pytest.raises(InputError, match=r"corpus\.jsonl:2: malformed JSON"):
        list(ds.documents())
    with pytest.raises(InputError, match=r"test\.tsv:2: score 'yes' is not an integer"):
        ds.qrels("test")


# ---------------------------------------------------------------- T2Ranking


@pytest.mark.slow
def test_lecard_t2_collection_is_streamed_with_string_pids():
    ds = load_dataset(shared("lecard-t2"))
    pids = [d.docid for d in ds.documents()]
    assert len(pids) == len(set(pids)) == 9088
    assert "pid" not in pids  # the header row is not a document
    judged = {p for docs in ds.qrels().values() for p in docs}
    assert judged <= set(pids)


def test_lecard_t2_queries_and_graded_and_retrieval_qrels():
    ds = load_dataset(shared("lecard-t2"))
    assert isinstance(ds, T2RankingDataset) and ds.preset == "t2ranking"
    assert ds.splits() == ["dev"] and ds.default_split == "dev"
    queries = ds.queries()
    assert len(queries) == 107
    for qid in ("-5180", "-3859", "-1071", "-991", "-743"):
        assert qid in queries
    graded = ds.qrels()
    assert (len(graded), _pairs(graded)) == (107, 10718)
    assert Counter(g for docs in graded.values() for g in docs.values()) == {
        0: 7912,
        1: 638,
        2: 1056,
        3: 1112,
    }
    retrieval = ds.qrels(kind="retrieval")
    assert (len(retrieval), _pairs(retrieval)) == (107, 2168)
    assert retrieval == {
        q: {p: 1 for p, g in docs.items() if g >= 2}
        for q, docs in graded.items()
        if any(g >= 2 for g in docs.values())
    }


def test_t2ranking_sample_without_collection():
    ds = load_dataset(shared("t2ranking-sample"))
    assert isinstance(ds, T2RankingDataset)
    assert ds.splits() == ["test", "train"]
    with pytest.raises(RankError, match="collection .* is absent"):
        next(iter(ds.documents()))
    test, train = ds.qrels("test"), ds.qrels("train")
    assert (len(ds.queries("test")), _pairs(test)) == (100, 1685)
    assert (len(ds.queries("train")), _pairs(train)) == (100, 973)
    assert set(ds.queries("train")) == {str(q) for q in range(50000, 50100)}
    # retrieval_qrels.tsv mixes both splits: each split keeps its own queries' pairs.
    r_test, r_train = ds.qrels("test", "retrieval"), ds.qrels("train", "retrieval")
    assert set(r_test) <= set(ds.queries("test")) and set(r_train) <= set(ds.queries("train"))
    assert (len(r_test) + len(r_train), _pairs(r_test) + _pairs(r_train)) == (173, 873)
    for graded, binary in ((test, r_test), (train, r_train)):
        assert {(q, p) for q, d in binary.items() for p in d} == {
            (q, p) for q, d in graded.items() for p, g in d.items() if g >= 2
        }


def test_t2ranking_full_release_headers_and_leading_zeros(tmp_path):
    _write(tmp_path / "collection.tsv.gz", "pid\tpassage\n00123\t第一段\n7\t第二段\n")
    _write(tmp_path / "queries.dev.tsv", "qid\tquery\n0042\t问题\n")
    _write(tmp_path / "queries.test.tsv", "qid\tquery\n9\t无标注\n")
    _write(tmp_path / "qrels.dev.tsv", "qid\t-\tpid\trel\n0042\t0\t00123\t3\n0042\t0\t7\t1\n")
    _write(tmp_path / "qrels.retrieval.dev.tsv", "qid\tpid\n0042\t00123\n")
    ds = load_dataset(tmp_path)
    assert ds.splits() == ["dev"] and ds.default_split == "dev"
    assert [d.docid for d in ds.documents()] == ["00123", "7"]
    assert list(ds.queries()) == ["0042"]
    assert ds.qrels() == {"0042": {"00123": 3, "7": 1}}
    assert ds.qrels(kind="retrieval") == {"0042": {"00123": 1}}
    with pytest.raises(RankError, match="qrels kind"):
        ds.qrels(kind="nope")


@pytest.mark.parametrize("collection", ["collection.tsv", "collection.tsv.gz"])
def test_t2ranking_malformed_collection_line(tmp_path, collection):
    _write(tmp_path / collection, "pid\tpassage\n1\tok\n2 no tab here\n")
    _write(tmp_path / "queries.dev.tsv", "1\tq\n")
    _write(tmp_path / "qrels.dev.tsv", "1\t0\t1\t2\n1\t0\t2\ttwo\n")
    ds = load_dataset(tmp_path)
    with pytest.raises(InputError, match=rf"{collection}:3: expected 2 tab-separated columns"):
        list(ds.documents())
    with pytest.raises(InputError, match=r"qrels\.dev\.tsv:2: grade 'two' is not an integer"):
        ds.qrels()


def test_truncated_gzip_names_the_line(tmp_path):
    good = tmp_path / "good.gz"
    _write(good, "pid\tpassage\n" + "".join(f"{i}\t{'x' * 200}\n" for i in range(2000)))
    data = good.read_bytes()
    _write(tmp_path / "queries.dev.tsv", "1\tq\n")
    _write(tmp_path / "qrels.dev.tsv", "1\t0\t1\t2\n")
    (tmp_path / "collection.tsv.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"collection\.tsv\.gz:\d+: cannot read"):
        list(load_dataset(tmp_path).documents())


# ---------------------------------------------------------------- LoCoV1


def test_qmsum_loco_counts():
    ds = load_dataset(shared("qmsum-loco"))
    assert isinstance(ds, LocoDataset) and ds.preset == "loco"
    assert ds.splits() == ["test"]
    docs = list(ds.documents())
    assert len(docs) == len({d.docid for d in docs}) == 70
    queries, qrels = ds.queries(), ds.qrels()
    assert len(queries) == 481 and _pairs(qrels) == 481
    assert set(qrels["Bed003_q00"]) == {"Bed003"}
    assert {p for d in qrels.values() for p in d} <= {d.docid for d in docs}


def test_qmsum_loco_parquet_equals_jsonl(tmp_path):
    src = shared("qmsum-loco")
    for name in ("documents.parquet", "queries.parquet"):
        shutil.copy(src / name, tmp_path / name)
    from_parquet, from_jsonl = load_dataset(tmp_path), load_dataset(src)
    assert [(d.docid, d.text) for d in from_parquet.documents()] == [
        (d.docid, d.text) for d in from_jsonl.documents()
    ]
    assert {q: x.text for q, x in from_parquet.queries().items()} == {
        q: x.text for q, x in from_jsonl.queries().items()
    }
    assert from_parquet.qrels() == from_jsonl.qrels()


def test_loco_subset_filter(tmp_path):
    rows = [("a1", "one", "alpha"), ("b1", "two", "beta")]
    _write(
        tmp_path / "documents.jsonl",
        "".join(json.dumps({"pid": p, "passage": t, "dataset": d}) + "\n" for p, t, d in rows),
    )
    _write(
        tmp_path / "queries.jsonl",
        '{"qid": "qa", "query": "x", "answer_pids": ["a1"], "dataset": "alpha"}\n'
        '{"qid": "qb", "query": "y", "answer_pids": ["b1"], "dataset": "beta"}\n',
    )
    beta = load_dataset(f"{tmp_path}#beta")
    assert [d.docid for d in beta.documents()] == ["b1"]
    assert beta.qrels() == {"qb": {"b1": 1}} and beta.name.endswith("#beta")
    assert len(load_dataset(tmp_path).queries()) == 2
    with pytest.raises(RankError, match="no rows with dataset = 'gamma'"):
        load_dataset(f"{tmp_path}#gamma").queries()


def test_loco_parquet_integer_ids_become_strings(tmp_path):
    pl.DataFrame({"pid": [123, 7], "passage": ["a", "b"], "dataset": ["x", "x"]}).write_parquet(
        tmp_path / "documents.parquet"
    )
    pl.DataFrame({"qid": [1], "query": ["q"], "answer_pids": [["123"]], "dataset": ["x"]}).write_parquet(
        tmp_path / "queries.parquet"
    )
    ds = load_dataset(tmp_path)
    assert [d.docid for d in ds.documents()] == ["123", "7"]
    assert list(ds.queries()) == ["1"]


def test_loco_malformed_rows(tmp_path):
    pl.DataFrame({"pid": ["a"], "text": ["wrong column name"]}).write_parquet(tmp_path / "documents.parquet")
    pl.DataFrame(
        {"qid": ["q1", "q2"], "query": ["x", "y"], "answer_pids": [["a"], []], "dataset": ["d", "d"]}
    ).write_parquet(tmp_path / "queries.parquet")
    ds = load_dataset(tmp_path)
    with pytest.raises(InputError, match=r"documents\.parquet: missing column\(s\) passage"):
        list(ds.documents())
    with pytest.raises(InputError, match=r"queries\.parquet:2: 'answer_pids' must be a non-empty list"):
        ds.queries()
    (tmp_path / "queries.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(InputError, match=r"queries\.parquet: cannot read parquet"):
        load_dataset(tmp_path).queries()


# ---------------------------------------------------------------- TREC


def test_vaswani_trec_files():
    ds = load_dataset(shared("vaswani"))
    assert isinstance(ds, TrecDataset) and ds.preset == "default"
    assert ds.splits() == ["qrels"] and ds.default_split == "qrels"
    docs = list(ds.documents())
    assert len(docs) == 11429
    assert [d.docid for d in docs[:3]] == ["1", "2", "3"]
    assert all("DOCNO" not in d.text for d in docs)
    # The README measures "text between </DOCNO> and </DOC>, stripped": mean 271.7, median 243.0.
    lengths = [len(d.text) for d in docs]
    assert round(statistics.mean(lengths), 1) == 271.7 and statistics.median(lengths) == 243.0
    queries, qrels = ds.queries(), ds.qrels()
    assert (len(queries), len(qrels), _pairs(qrels)) == (93, 93, 2083)
    assert set(qrels) == set(queries)


def test_trec_gz_collection_with_inner_tags(tmp_path):
    _write(
        tmp_path / "docs.sgml.gz",
        "<DOC>\n<DOCNO> FT-001 </DOCNO>\n<HEADLINE>Title</HEADLINE>\n<TEXT>\nBody\n</TEXT>\n</DOC>\n"
        "<DOC><DOCNO>FT-002</DOCNO>one line</DOC>\n",
    )
    _write(tmp_path / "topics.txt", "<top>\n<num> Number: 051\n<title> Topic: t\n</top>\n")
    _write(tmp_path / "qrels.test.txt", "051 0 FT-002 1\n051 0 FT-001 0\n")
    ds = load_dataset(tmp_path)
    assert isinstance(ds, TrecDataset) and ds.splits() == ["qrels.test"]
    docs = list(ds.documents())
    assert [d.docid for d in docs] == ["FT-001", "FT-002"]
    assert docs[0].text == "<HEADLINE>Title</HEADLINE>\n<TEXT>\nBody\n</TEXT>"
    assert docs[1].text == "one line"
    assert list(ds.queries()) == ["051"]
    assert ds.qrels(kind="retrieval") == {"051": {"FT-002": 1}}


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        (
            "<DOC>\n<DOCNO>1</DOCNO>\na\n</DOC>\n<DOC>\n<DOCNO>2</DOCNO>\n<DOC>\n",
            7,
            "inside the <DOC> opened at line 5",
        ),
        ("<DOC>\n<DOCNO>1</DOCNO>\n</DOC>\n<DOC>\nno number\n</DOC>\n", 4, "without a <DOCNO>"),
        ("<DOC>\n<DOCNO>1</DOCNO>\n</DOC>\nstray text\n", 4, "text outside"),
        ("<DOC>\n<DOCNO>1</DOCNO>\n</DOC>\n<DOC>\n<DOCNO>2</DOCNO>\n", 4, "never closed"),
        ("<DOC>\n<DOCNO>1</DOCNO>\n</DOC>\n<DOC>\n<DOCNO>1</DOCNO>\n</DOC>\n", 4, "appears twice"),
    ],
)
def test_trec_malformed_sgml(tmp_path, text, line, words):
    path = _write(tmp_path / "docs.trec", text)
    _write(tmp_path / "topics", "<top>\n<num>1</num><title>t</title>\n</top>\n")
    _write(tmp_path / "qrels", "1 0 1 1\n")
    with pytest.raises(InputError) as e:
        list(load_dataset(tmp_path).documents())
    assert f"{path}:{line}:" in str(e.value) and words in str(e.value)


def test_trec_malformed_qrels(tmp_path):
    _write(tmp_path / "topics", "<top>\n<num>1</num><title>t</title>\n</top>\n")
    path = _write(tmp_path / "qrels", "1 0 1 1\n1 0 2\n")
    with pytest.raises(InputError, match=rf"{path}:2: expected 4 columns"):
        load_dataset(tmp_path).qrels()


# ---------------------------------------------------------------- registry


def test_names_are_found_through_the_search_path_in_order(tmp_path, monkeypatch):
    first, second = tmp_path / "first", tmp_path / "second"
    shutil.copytree(shared("t2ranking-sample"), first / "mine")
    (second / "mine").mkdir(parents=True)
    _write(second / "mine" / "topics", "<top>\n<num>1</num><title>t</title>\n</top>\n")
    _write(second / "mine" / "qrels", "1 0 1 1\n")
    monkeypatch.setenv("RANK_DATA_PATH", f"{first}:{second}")
    monkeypatch.setenv("RANK_DATASETS_DIR", str(tmp_path / "downloads"))
    assert search_path()[:3] == [first, second, tmp_path / "downloads"]
    ds = load_dataset("mine")
    assert ds.layout == "t2ranking" and ds.name == "mine" and ds.path == first / "mine"
    monkeypatch.setenv("RANK_DATA_PATH", f"{second}:{first}")
    assert load_dataset("mine").layout == "trec"


def test_shared_set_by_name(monkeypatch):
    monkeypatch.setenv("RANK_DATA_PATH", str(shared("scifact").parent))
    ds = load_dataset("scifact")
    assert ds.path == shared("scifact") and ds.name == "scifact" and len(ds.queries()) == 300


def test_unknown_name_lists_registered_names(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RANK_DATA_PATH", str(tmp_path))
    with pytest.raises(RankError) as e:
        load_dataset("no-such-set")
    assert (
        "registered names" in str(e.value) and "beir/scifact" in str(e.value) and "loco/qmsum" in str(e.value)
    )
    pytest.importorskip("mteb")
    with pytest.raises(RankError, match="rank data get mteb/SciFact"):  # mteb's name for its task
        load_dataset("mteb/scifact")


def test_folder_without_layout_lists_layouts_and_files(tmp_path):
    _write(tmp_path / "notes.txt", "hello\n")
    with pytest.raises(RankError) as e:
        load_dataset(tmp_path)
    message = str(e.value)
    assert (
        all(layout in message for layout in ("beir", "t2ranking", "loco", "trec")) and "notes.txt" in message
    )
    with pytest.raises(RankError, match="only LoCoV1 tables take a #subset"):
        load_dataset(f"{shared('vaswani')}#x")


def test_split_spec_splits_at_the_last_colon_unless_the_whole_is_a_folder(tmp_path):
    assert split_spec("scifact:train") == ("scifact", "train")
    assert split_spec("scifact") == ("scifact", None)
    assert split_spec("C:/data/set:dev") == ("C:/data/set", "dev")
    odd = tmp_path / "a:b"
    odd.mkdir()
    assert split_spec(str(odd)) == (str(odd), None)
    assert split_spec(f"{odd}:test") == (str(odd), "test")


def test_registry_entries_are_complete():
    # MTEB's tasks are not listed here: they come from mteb's own registry (tests/test_suites.py).
    assert {"t2ranking", "beir/scifact", "loco/qmsum", "vaswani", "lecard-t2"} <= set(REGISTRY)
    assert not any(name.startswith("mteb/") for name in REGISTRY)
    for entry in REGISTRY.values():
        assert entry.layout in ("beir", "t2ranking", "loco", "trec") and entry.preset and entry.source
        assert entry.downloadable != bool(entry.unavailable)
        for remote in entry.files:
            assert remote.url.startswith("https://") and remote.dest
        for hub in entry.hub:
            assert hub.repo.count("/") == 1 and hub.paths
    assert REGISTRY["beir/scifact"].files[0].md5 == "5f7d1de60b170fc8027bb7898e2efca1"
    assert REGISTRY["lecard-t2"].language == "zh" and REGISTRY["loco/qmsum"].language == "en"


def test_mteb_parquet_variant_equals_beir_jsonl(tmp_path):
    src = load_dataset(shared("scifact"))
    docs = list(src.documents())
    pl.DataFrame(
        {"_id": [d.docid for d in docs], "title": [d.title for d in docs], "text": [d.text for d in docs]}
    ).write_parquet(_mkdir(tmp_path / "corpus") / "corpus-00000-of-00001.parquet")
    queries = src._all_queries()
    pl.DataFrame({"_id": list(queries), "text": [q.text for q in queries.values()]}).write_parquet(
        _mkdir(tmp_path / "queries") / "queries-00000-of-00001.parquet"
    )
    rows = [(q, d, g) for q, docs_ in src.qrels("test").items() for d, g in docs_.items()]
    half = len(rows) // 2
    for i, part in enumerate((rows[:half], rows[half:])):
        pl.DataFrame(part, schema=["query-id", "corpus-id", "score"], orient="row").write_parquet(
            _mkdir(tmp_path / "default") / f"test-0000{i}-of-00002.parquet"
        )
    ds = load_dataset(tmp_path)
    assert isinstance(ds, BeirDataset) and ds.splits() == ["test"]
    assert [(d.docid, d.title, d.text) for d in ds.documents()] == [(d.docid, d.title, d.text) for d in docs]
    assert ds.qrels("test") == src.qrels("test")
    assert {q: x.text for q, x in ds.queries("test").items()} == {
        q: x.text for q, x in src.queries("test").items()
    }


def test_mteb_parquet_integer_ids_and_bad_scores(tmp_path):
    pl.DataFrame({"_id": [5, 6], "text": ["a", "b"]}).write_parquet(tmp_path / "corpus.parquet")
    pl.DataFrame({"_id": [1], "text": ["q"]}).write_parquet(tmp_path / "queries.parquet")
    pl.DataFrame({"query-id": [1, 1], "corpus-id": [5, 6], "score": ["1", "high"]}).write_parquet(
        _mkdir(tmp_path / "qrels") / "test.parquet"
    )
    ds = load_dataset(tmp_path)
    assert [d.docid for d in ds.documents()] == ["5", "6"]
    with pytest.raises(InputError, match=r"test\.parquet:1: score is not an integer"):
        ds.qrels("test")


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def test_retrieval_kind_is_binary_everywhere(tmp_path):
    _write(tmp_path / "queries.dev.tsv", "1\tq\n2\tr\n")
    _write(tmp_path / "qrels.dev.tsv", "1\t0\ta\t3\n1\t0\tb\t1\n2\t0\tc\t0\n")
    # No retrieval file: derived from the graded pairs with grade >= 2, as T2Ranking defines them.
    assert load_dataset(tmp_path).qrels(kind="retrieval") == {"1": {"a": 1}}
    beir = load_dataset(shared("scifact"))
    assert beir.qrels(kind="retrieval") == beir.qrels()  # scifact is binary already
    with pytest.raises(RankError, match="qrels kind"):
        beir.qrels(kind="binary")
