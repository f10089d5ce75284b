"""Hostile input: every reader either parses or raises RankError on one line naming the file (and line).

Property-based (hypothesis): files are built from the tokens that matter to each format (ids, numbers at the
edges of float and int, tabs, JSON fragments, SGML tags, non-UTF-8 bytes, lone surrogate escapes) and from random
edits of valid files. Never another exception type, never a hang (each example has a deadline, inputs are small),
never a silently wrong result: generated valid runs survive write -> read unchanged. Example counts are modest
(set FUZZ_EXAMPLES for a longer hunt, as bench/faults_input.py does); the examples are derandomized, so CI sees
the same inputs every time.
"""

from __future__ import annotations

import gzip
import json
import math
import os
import subprocess
import sys
import tempfile
import zipfile
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from rankers.errors import InputError, RankError  # noqa: E402
from rankers.io import format_ranking, read_run, write_run  # noqa: E402
from rankers.run import Candidate, Query, Ranking, strictly_decreasing  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=timedelta(seconds=10),  # a loaded 2-core CI machine; a hang shows as a failure, not a stall
    derandomize=not os.environ.get("FUZZ_EXAMPLES"),
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
# What each reader did with the inputs it got: reader -> Counter(parsed=..., refused=...). bench/faults_input.py
# prints it; a test only needs the assertions in `outcome`.
TALLY: dict[str, Counter] = {}


def outcome(reader: str, path: Path, fn: Callable[[], object], line_needed: bool = True) -> object | None:
    """Run `fn`; it may return or raise RankError whose one-line message names `path`. Anything else fails."""
    tally = TALLY.setdefault(reader, Counter())
    try:
        out = fn()
    except RankError as e:
        msg = str(e)
        assert "\n" not in msg and "\r" not in msg, f"{reader}: message on several lines: {msg!r}"
        assert str(path) in msg or path.name in msg, f"{reader}: message does not name the file: {msg!r}"
        if line_needed and isinstance(e, InputError):
            assert e.line is None or e.line >= 1
        tally["refused"] += 1
        return None
    tally["parsed"] += 1
    return out


# ---------------------------------------------------------------- hostile bytes

TOKENS = [
    b" ", b"\t", b"\n", b"\r\n", b"\r", b"\x00", b"\xff", b"\xc3", b"\xe2\x80\xa8", b"\xc2\x85", b"\x1c",
    b"q1", b"d1", b"-5180", b"00123", b"Q0", b"0", b"1", b"-1", b"2", b"1.5", b"nan", b"NaN", b"inf", b"-inf",
    b"1e999", b"9" * 5000, b"1" * 30, b"\xef\xbc\x93",  # full-width 3
    b"{", b"}", b"[", b"]", b":", b",", b'"', b'"qid"', b'"_id"', b'"text"', b'"query"', b'"candidates"',
    b'"docid"', b'"score"', b'"title"', b'"date"', b'"pid"', b'"passage"', b'"answer_pids"', b'"meta"',
    b'"fields"', b"null", b"true", b"1e400", b'"\\ud800"', b'"2024-01-02"', b'"x"', b"1e20", b"[" * 3000,
    b"<top>", b"</top>", b"<num>", b"<title>", b"<desc>", b"<date>", b"Number:", b"<DOC>", b"</DOC>",
    b"<DOCNO>", b"</DOCNO>", b"qid\tquery", b"query-id\tcorpus-id\tscore", b"pid\tpassage", b"#", b"\\",
    b"- ", b": ", b"!!python/object:os.system", b"&a", b"*a", b"prefix", b"passage", b"suffix", b"{rank}",
    b"{text}", b"yes_words", b"no_words", b"style", b"---",
]  # fmt: skip


@st.composite
def mutated(draw, valid: bytes) -> bytes:
    """A valid file with a few tokens inserted, bytes deleted or lines duplicated."""
    data = bytearray(valid)
    for _ in range(draw(st.integers(0, 3))):
        op = draw(st.sampled_from(("insert", "delete", "replace", "truncate")))
        at = draw(st.integers(0, len(data)))
        if op == "insert":
            data[at:at] = draw(st.sampled_from(TOKENS))
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 8))]
        elif op == "replace":
            data[at : at + 1] = draw(st.sampled_from(TOKENS))
        else:
            del data[at:]
    return bytes(data)


def hostile(*valid: bytes) -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.binary(max_size=200),
        st.lists(st.sampled_from(TOKENS), max_size=40).map(b"".join),
        *(mutated(v) for v in valid),
    )


JSON_KEYS = ["qid", "_id", "query", "text", "title", "date", "candidates", "docid", "score", "fields", "meta",
             "pid", "passage", "answer_pids", "dataset", "query_id"]  # fmt: skip
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats()
    | st.text(max_size=8)
    | st.sampled_from(["q1", "d1", "2024-01-02", "", "\ud800"]),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(JSON_KEYS), inner, max_size=5)
    ),
    max_leaves=12,
)


def json_lines(objects: list) -> bytes:
    out = []
    for o in objects:
        try:
            out.append(json.dumps(o))  # NaN and Infinity are written as JSON's lenient readers take them
        except ValueError:
            out.append("{}")
    return ("\n".join(out) + "\n").encode()


jsonl_files = st.one_of(
    st.lists(st.dictionaries(st.sampled_from(JSON_KEYS), json_values, max_size=6), max_size=4).map(
        json_lines
    ),
    hostile(b'{"qid": "q1", "query": "x", "candidates": [{"docid": "d1", "score": 1.0}]}\n'),
)


def write(folder: Path, name: str, data: bytes) -> Path:
    p = folder / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return p


# ---------------------------------------------------------------- runs

VALID_TREC = b"q1 Q0 d1 1 2.5 tag\nq1 Q0 d2 2 1.5 tag\nq2 Q0 d1 1 0.5 tag\n"
VALID_JSONL = b'{"qid": "q1", "query": "a", "candidates": [{"docid": "d1", "score": 2.0, "text": "t"}]}\n'


@FUZZ
@given(data=st.one_of(hostile(VALID_TREC, VALID_JSONL, b"1\t10\t1\n1\t11\t2\n"), jsonl_files))
def test_run_reader(data):
    with tempfile.TemporaryDirectory() as d:
        path = write(Path(d), "run.trec", data)
        runs = outcome("run (TREC, MS MARCO, JSONL)", path, lambda: list(read_run(path)))
        if runs is not None:
            for r in runs:
                assert isinstance(r.qid, str) and isinstance(r.query.text, str)
                assert all(isinstance(c.docid, str) and not math.isnan(c.score) for c in r.candidates)
                assert len({c.docid for c in r.candidates}) == len(r.candidates)


ids = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Zs", "Cc", "Zl", "Zp")), min_size=1, max_size=6
)
scores = st.floats(allow_nan=False, width=64)


@st.composite
def runs(draw):
    qids = draw(st.lists(ids, min_size=1, max_size=4, unique=True))
    out = []
    for qid in qids:
        docids = draw(st.lists(ids, max_size=6, unique=True))
        cands = [Candidate(d, draw(scores), draw(st.none() | st.text(max_size=10))) for d in docids]
        out.append(Ranking(Query(qid, draw(st.text(max_size=10))), cands))
    return out


@FUZZ
@given(run=runs(), fmt=st.sampled_from(["jsonl", "trec", "msmarco"]), gz=st.booleans())
def test_written_runs_read_back_the_same(run, fmt, gz):
    """write -> read gives the same queries, the same order of candidates and (JSONL, TREC) the written scores."""
    run = [r for r in run if r.candidates or fmt == "jsonl"]  # a column format has no line for an empty query
    with tempfile.TemporaryDirectory() as d:
        path = (
            Path(d)
            / f"run.{ {'jsonl': 'jsonl', 'trec': 'trec', 'msmarco': 'tsv'}[fmt] }{'.gz' if gz else ''}"
        )
        if gz:
            text = "".join(format_ranking(r, fmt) for r in run)
            path.write_bytes(gzip.compress(text.encode()))
        else:
            write_run(run, path, fmt)
        back = list(read_run(path))
    assert [r.qid for r in back] == [r.qid for r in run]
    for a, b in zip(run, back, strict=True):
        assert [c.docid for c in b.candidates] == [c.docid for c in a.candidates]
        if fmt != "msmarco":
            assert [c.score for c in b.candidates] == strictly_decreasing([c.score for c in a.candidates])
        if fmt == "jsonl":
            assert b.query.text == a.query.text and [c.text for c in b.candidates] == [
                c.text for c in a.candidates
            ]


@FUZZ
@given(
    qid=st.sampled_from(["a b", "", "a\tb", "x\u2028y", "q\x85"]), fmt=st.sampled_from(["trec", "msmarco"])
)
def test_ids_with_white_space_are_refused_by_column_formats(qid, fmt):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "run.out"
        with pytest.raises(RankError, match="white space"):
            write_run([Ranking(Query(qid, ""), [Candidate("d1", 1.0)])], path, fmt)
        assert not list(Path(d).iterdir())  # nothing half-written


# ---------------------------------------------------------------- qrels, topics


@FUZZ
@given(
    data=hostile(b"q1 0 d1 1\nq1 0 d2 0\n", b"qid\tpid\nq1\td1\n"), kind=st.sampled_from(["graded", "pairs"])
)
def test_qrels_readers(data, kind):
    from rankers.data.qrels import read_graded_qrels, read_pair_qrels

    fn = read_graded_qrels if kind == "graded" else read_pair_qrels
    with tempfile.TemporaryDirectory() as d:
        path = write(Path(d), "qrels.txt", data)
        q = outcome(f"qrels ({kind})", path, lambda: fn(path))
        if q is not None:
            assert all(isinstance(g, int) for docs in q.values() for g in docs.values())


TOPICS = {
    "tsv": b"qid\tquery\tdate\nq1\tpandas\t2024-01-02\nq2\tbamboo\t\n",
    "jsonl": b'{"_id": "q1", "text": "pandas", "date": "2024-01-02"}\n',
    "trec": b"<top>\n<num> Number: 301\n<title> pandas\n<desc> Description:\nabout pandas\n</top>\n",
}


@FUZZ
@given(data=st.one_of(hostile(*TOPICS.values()), jsonl_files))
def test_topics_reader(data):
    from rankers.data.topics import read_topics

    with tempfile.TemporaryDirectory() as d:
        path = write(Path(d), "topics.txt", data)
        q = outcome("topics (TSV, JSONL, TREC)", path, lambda: read_topics(path))
        if q is not None:
            assert all(isinstance(k, str) and k and isinstance(v.text, str) for k, v in q.items())


# ---------------------------------------------------------------- dataset layouts


def _consume(ds) -> None:
    for d in ds.documents():
        assert isinstance(d.docid, str) and isinstance(d.text, str) and isinstance(d.title, str)
    for split in ds.splits():
        assert all(isinstance(q.text, str) for q in ds.queries(split).values())
        ds.qrels(split)


def _dataset(folder: Path):
    from rankers.data import load_dataset

    return load_dataset(folder)


def _any_path_named(folder: Path, fn: Callable[[], object], reader: str) -> None:
    """Like `outcome`, for a folder: the message must name the folder or a file in it."""
    tally = TALLY.setdefault(reader, Counter())
    try:
        fn()
    except RankError as e:
        msg = str(e)
        assert "\n" not in msg, msg
        assert str(folder) in msg, f"{reader}: message names no file of {folder}: {msg!r}"
        tally["refused"] += 1
        return
    tally["parsed"] += 1


@FUZZ
@given(
    corpus=st.one_of(jsonl_files, hostile(b'{"_id": "d1", "title": "t", "text": "pandas"}\n')),
    queries=jsonl_files,
    qrels=hostile(b"query-id\tcorpus-id\tscore\nq1\td1\t1\n"),
)
def test_beir_jsonl(corpus, queries, qrels):
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d)
        write(folder, "corpus.jsonl", corpus)
        write(folder, "queries.jsonl", queries)
        write(folder, "qrels/test.tsv", qrels)
        _any_path_named(folder, lambda: _consume(_dataset(folder)), "BEIR JSONL")


parquet_columns = st.one_of(
    st.lists(st.text(max_size=6), min_size=2, max_size=2),
    st.lists(st.integers(-(2**62), 2**62), min_size=2, max_size=2),
    st.lists(st.floats(), min_size=2, max_size=2),
    st.lists(st.none() | st.text(max_size=4), min_size=2, max_size=2),
    st.lists(st.lists(st.integers(0, 9), max_size=2), min_size=2, max_size=2),
)


@FUZZ
@given(
    corpus=st.one_of(
        st.just({"_id": ["d1", "d2"], "text": ["pandas", "bamboo"]}),
        st.dictionaries(st.sampled_from(["_id", "title", "text", "date"]), parquet_columns, max_size=4),
    ),
    qrels=st.one_of(
        st.just({"query-id": ["q1", "q2"], "corpus-id": ["d1", "d2"], "score": [1, 0]}),
        st.dictionaries(st.sampled_from(["query-id", "corpus-id", "score"]), parquet_columns, max_size=3),
    ),
    junk=st.one_of(st.none(), st.none(), st.binary(max_size=64)),
)
def test_beir_parquet(corpus, qrels, junk):
    import polars as pl

    with tempfile.TemporaryDirectory() as d:
        folder = Path(d)
        pl.DataFrame(corpus or {"x": [1]}).write_parquet(folder / "corpus.parquet")
        pl.DataFrame({"_id": ["q1", "q2"], "text": ["a", "b"]}).write_parquet(folder / "queries.parquet")
        (folder / "qrels").mkdir()
        if junk is not None:
            (folder / "qrels" / "test.parquet").write_bytes(junk)
        else:
            pl.DataFrame(qrels or {"x": [1]}).write_parquet(folder / "qrels" / "test.parquet")
        _any_path_named(folder, lambda: _consume(_dataset(folder)), "BEIR parquet")


@FUZZ
@given(
    collection=hostile(b"pid\tpassage\n1\tpandas eat bamboo\n2\t\xe5\xa4\xa7\xe7\x86\x8a\n"),
    queries=hostile(TOPICS["tsv"], b"-5180\tquery\n"),
    qrels=hostile(b"qid\t0\tpid\tgrade\n-5180\t0\t1\t2\n"),
    gz=st.sampled_from(["no", "gz", "corrupt-gz"]),
)
def test_t2ranking(collection, queries, qrels, gz):
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d)
        if gz == "no":
            write(folder, "collection.tsv", collection)
        else:
            packed = gzip.compress(collection)
            if gz == "corrupt-gz":
                packed = packed[:10] + bytes(b ^ 0x5A for b in packed[10:-8]) + packed[-8:]
            write(folder, "collection.tsv.gz", packed)
        write(folder, "queries.dev.tsv", queries)
        write(folder, "qrels.dev.tsv", qrels)
        _any_path_named(
            folder, lambda: _consume(_dataset(folder)), f"T2Ranking TSV{' (gz)' if gz != 'no' else ''}"
        )


@FUZZ
@given(documents=jsonl_files, queries=jsonl_files)
def test_loco(documents, queries):
    from rankers.data.loco import LocoDataset

    with tempfile.TemporaryDirectory() as d:
        folder = Path(d)
        write(folder, "documents.jsonl", documents)
        write(folder, "queries.jsonl", queries)
        _any_path_named(folder, lambda: _consume(LocoDataset(folder)), "LoCoV1 JSONL")


@FUZZ
@given(collection=hostile(b"<DOC>\n<DOCNO> d1 </DOCNO>\npandas\n</DOC>\n<DOC><DOCNO>d2</DOCNO>x</DOC>\n"))
def test_trec_collection(collection):
    from rankers.data.trec import read_sgml_documents

    with tempfile.TemporaryDirectory() as d:
        path = write(Path(d), "docs.txt", collection)
        outcome("TREC <DOC> collection", path, lambda: list(read_sgml_documents(path)))


# ---------------------------------------------------------------- templates, answers


LISTWISE = b"prefix: 'Rank for {query}:\\n'\npassage: '[{rank}] {text}'\nsuffix: 'Answer [1] > [2].'\n"
POINTWISE = b"user: 'Is {text} about {query}?'\nyes_words: [yes]\nno_words: [no]\n"


@FUZZ
@given(data=hostile(LISTWISE, POINTWISE), kind=st.sampled_from(["listwise", "pointwise"]))
def test_templates(data, kind):
    from rankers.rerank.templates import listwise_template, pointwise_template

    fn = listwise_template if kind == "listwise" else pointwise_template
    with tempfile.TemporaryDirectory() as d:
        path = write(Path(d), "t.yaml", data)
        t = outcome(f"template (YAML, {kind})", path, lambda: fn(path), line_needed=False)
        if t is not None and kind == "listwise":
            t.messages("q {query}", ["a [1]", "b"])


def test_templates_load_safely(tmp_path):
    """yaml.safe_load: a template cannot construct Python objects (or run a command)."""
    from rankers.rerank.templates import listwise_template

    marker = tmp_path / "pwned"
    bad = tmp_path / "t.yaml"
    bad.write_text(
        f"prefix: !!python/object/apply:os.system ['touch {marker}']\npassage: '[{{rank}}] {{text}}'\nsuffix: x\n"
    )
    with pytest.raises(RankError, match=r"t\.yaml:1: not valid YAML"):
        listwise_template(bad)
    assert not marker.exists()


answers = st.one_of(
    st.text(max_size=60),
    st.lists(st.sampled_from(["[1]", "[2]", "[ 3 ]", ">", " ", "[0]", "[99]", "３", "［4］", "<think>", "</think>",
                              "9" * 5000, "[" + "9" * 40 + "]", "\u0663", "²", "1.5", "\n"]), max_size=20).map("".join),
)  # fmt: skip


@FUZZ
@given(text=answers, n=st.integers(1, 30), want=st.none() | st.integers(1, 30))
def test_answer_parser(text, n, want):
    from rankers.rerank.parse import parse_permutation

    p = parse_permutation(text, n, want)
    TALLY.setdefault("LLM answer parser", Counter())["parsed"] += 1
    assert sorted(p.order) == list(range(n))


@FUZZ
@given(order=st.permutations(list(range(1, 13))))
def test_a_clean_answer_is_read_as_written(order):
    from rankers.rerank.parse import parse_permutation

    p = parse_permutation(" > ".join(f"[{i}]" for i in order), 12)
    assert p.order == [i - 1 for i in order] and not p.repairs


# ---------------------------------------------------------------- the command line


def rank(*args: str, stdin: bytes | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "cli.main", *args], input=stdin if stdin is not None else b"",
                          capture_output=True, env=env, cwd=cwd, timeout=300)  # fmt: skip


HOSTILE_FILES = {
    "deep.jsonl": b'{"qid": "q1", "meta": ' + b"[" * 100_000 + b"\n",
    "bigint.jsonl": b'{"qid": "q1", "candidates": [{"docid": "d1", "score": ' + b"9" * 5000 + b"}]}\n",
    "surrogate.jsonl": b'{"qid": "q1", "query": "\\ud800", "candidates": [{"docid": "d1", "score": 1}]}\n',
    "list-candidates.jsonl": b'{"qid": "q1", "candidates": [["d1", 1]]}\n',
    "overflow.jsonl": b'{"qid": "q1", "candidates": [{"docid": "d1", "score": 1e999999}]}\n'.replace(b"1e999999", b"1" * 400),
    "binary.trec": b"\xff\xfe\x00\x01 Q0 d 1 1 x\n",
    "nan.trec": b"q1 Q0 d1 1 nan x\n",
    "bad.gz.trec.gz": gzip.compress(VALID_TREC)[:-12] + b"\x00" * 12,
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(HOSTILE_FILES))
def test_cli_refuses_hostile_runs_on_one_line(tmp_path, name):
    path = write(tmp_path, name, HOSTILE_FILES[name])
    qrels = write(tmp_path, "qrels.txt", b"q1 0 d1 1\n")
    for args, stdin in (
        (["eval", str(path), "--qrels", str(qrels)], None),
        (["fuse", str(path), str(path).replace(name, "other.trec")], None),
        (["eval", "--qrels", str(qrels)], HOSTILE_FILES[name]),
    ):
        if args[0] == "fuse":
            write(tmp_path, "other.trec", VALID_TREC)
        p = rank(*args, stdin=stdin)
        err = p.stderr.decode("utf-8", "replace")
        assert p.returncode == 2, (args, err)
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
        assert (name if stdin is None else "-") in err or "stdin" in err, err


# ---------------------------------------------------------------- archives


def _zip(path: Path, members: dict[str, bytes], symlink: str | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo("scifact/link")
            info.external_attr = 0o120777 << 16  # a symlink entry, pointing outside
            z.writestr(info, symlink)
    return path


@pytest.mark.parametrize(
    "evil",
    ["../escape.txt", "scifact/../../escape.txt", "/tmp/rank-zip-slip-escape.txt", "..\\escape.txt", "C:/x"],
)
def test_zip_slip_is_refused(tmp_path, evil):
    from rankers.data.download import _unzip

    archive = _zip(tmp_path / "a.zip", {"scifact/corpus.jsonl": b"{}\n", evil: b"pwned"})
    into = tmp_path / "deep" / "into"
    into.mkdir(parents=True)
    with pytest.raises(RankError, match="unsafe path"):
        _unzip(archive, into)
    assert not list(into.iterdir())  # refused before anything was written
    assert not (tmp_path / "deep" / "escape.txt").exists() and not (tmp_path / "escape.txt").exists()
    assert not Path("/tmp/rank-zip-slip-escape.txt").exists()


def test_zip_symlink_entries_stay_files(tmp_path):
    from rankers.data.download import _unzip

    archive = _zip(tmp_path / "a.zip", {"scifact/corpus.jsonl": b"{}\n"}, symlink="/etc/passwd")
    into = tmp_path / "into"
    into.mkdir()
    _unzip(archive, into)
    link = into / "scifact" / "link"
    assert link.is_file() and not link.is_symlink() and link.read_text() == "/etc/passwd"
    assert all(not p.is_symlink() for p in into.rglob("*"))


def test_rank_data_get_from_a_zip_slip_archive_leaves_nothing(tmp_path):
    """Through the command: `rank data get beir/scifact --from evil.zip` refuses, and the datasets folder is
    left without the dataset and without staging junk."""
    from rankers.data.registry import lookup

    entry = lookup("beir/scifact")
    if entry is None or not entry.files or not entry.files[0].unpack:
        pytest.skip("beir/scifact is not a zip download here")
    archive = _zip(tmp_path / "scifact.zip", {"scifact/corpus.jsonl": b"{}\n", "../../escape.txt": b"pwned"})
    root = tmp_path / "datasets"
    env_root = {"RANK_DATASETS_DIR": str(root)}
    p = subprocess.run([sys.executable, "-m", "cli.main", "data", "get", "beir/scifact", "--from", str(archive)],
                       capture_output=True, text=True, cwd=ROOT, timeout=300,
                       env=os.environ | env_root | {"PYTHONPATH": str(ROOT)})  # fmt: skip
    assert p.returncode == 2 and "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1, (
        p.stderr
    )
    assert "checksum" in p.stderr or "unsafe path" in p.stderr
    assert not (root / "beir" / "scifact").exists() and not (tmp_path / "escape.txt").exists()
    assert not any(p.is_file() for p in root.rglob("*")) if root.exists() else True


# ---------------------------------------------------------------- stray exceptions in the small helpers


@pytest.mark.parametrize("value", [1e20, -1e20, float("nan"), float("inf"), 10**30, ["2024"], {"y": 1}])
def test_dates_out_of_range_are_refused_on_one_line(value):
    from rankers.dates import parse_date

    with pytest.raises(InputError, match=r"f.jsonl:3: cannot parse date"):
        parse_date(value, "f.jsonl", 3)


def test_response_cache_corrupt_file_is_one_line(tmp_path):
    from rankers.llm.cache import ResponseCache

    (tmp_path / "responses.sqlite").write_bytes(b"not a database" * 100)
    with pytest.raises(RankError, match="response cache"):
        c = ResponseCache(tmp_path)
        c.get("k")
