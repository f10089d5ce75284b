"""`rank suite`: suites resolved from mteb's registry offline, systems as data, and the runner end to end on a
`local` suite made of small real subsets of ../shared/data (scifact, qmsum-loco, lecard-t2, t2ranking-sample,
vaswani, plus a set with a malformed line): BM25 and BM25+MiniLM RRF, a run killed and resumed, a failing task
retried, the comparison table, and the leaderboard files (the MTEB folder loaded by mteb).

Sizes, to keep this file to a few minutes on 2 cores: scifact is its first 40 test queries over their cited
abstracts and 200 others; lecard-t2 the judged pools of its first 3 queries (~300 cases); vaswani its first 20
topics over their relevant documents and the first 500 others; qmsum-loco (70 transcripts, 481 queries) and
t2ranking-sample are whole. BM25 runs every query; BM25+MiniLM RRF and the comparison run the first 60 queries
of each task (--limit-queries 60: qmsum-loco's 481 long queries take minutes to encode on a busy CPU).
"""

from __future__ import annotations

import gzip
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, reference_tool, shared

from rankers.errors import RankError
from rankers.suites.catalog import get_suite, select
from rankers.suites.systems import load_system, parse_system

# ---------------------------------------------------------------- suites from mteb's registry (offline)


def test_mteb_benchmarks_resolve_from_the_installed_registry(monkeypatch):
    mteb = reference_tool("mteb")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    eng = get_suite("mteb-eng-v2")
    want = [t for t in mteb.get_benchmark("MTEB(eng, v2)").tasks if t.metadata.type == "Retrieval"]
    assert [t.group for t in eng.tasks] == [t.metadata.name for t in want]
    assert eng.name == "MTEB(eng, v2)" and eng.slug == "mteb-eng-v2" and get_suite("MTEB(eng, v2)") == eng
    for unit, task in zip(eng.tasks, want, strict=True):
        m = task.metadata
        assert unit.source == f"hf:{m.dataset['path']}@{m.dataset['revision']}"
        assert unit.split == m.eval_splits[0] and unit.language == "en" and unit.main == "ndcg@10"

    cmn = get_suite("mteb-cmn-v1")
    t2 = next(t for t in cmn.tasks if t.name == "T2Retrieval")
    meta = mteb.get_task("T2Retrieval").metadata
    assert (t2.dataset, t2.split, t2.language, t2.languages) == (
        "mteb/T2Retrieval",
        "dev",
        "zh",
        ("cmn-Hans",),
    )
    assert t2.source == f"hf:mteb/T2Retrieval@{meta.dataset['revision']}"

    # MMTEB: a multilingual task is one unit per language subset, averaged as one task.
    mm = get_suite("mmteb")
    assert mm.name == "MTEB(Multilingual, v2)"
    miracl = [t for t in mm.tasks if t.group == "MIRACLRetrievalHardNegatives"]
    assert len(miracl) == len(mteb.get_task("MIRACLRetrievalHardNegatives").hf_subsets) > 10
    ar = next(t for t in miracl if t.mteb_subset == "ar")
    assert ar.name == "MIRACLRetrievalHardNegatives.ar" and ar.language == "ar"
    assert ar.dataset == "mteb/MIRACLRetrievalHardNegatives/ar"
    assert len(mm.average_groups()) == 18
    belebele = next(t for t in mm.tasks if t.group == "BelebeleRetrieval")
    assert "its own code" in belebele.note  # a custom loader: not fetchable as mteb would load it

    only_zh = select(mm, languages=["zh"])
    assert only_zh.tasks and all(t.language == "zh" for t in only_zh.tasks)
    assert [t.name for t in select(cmn, tasks=["t2retrieval"]).tasks] == ["T2Retrieval"]
    with pytest.raises(RankError, match="--tasks: nosuch not in suite"):
        select(cmn, tasks=["nosuch"])
    with pytest.raises(RankError, match="nor an mteb benchmark"):
        get_suite("no-such-suite")


def test_mteb_datasets_are_registry_entries_pinned_to_mteb_revisions():
    mteb = reference_tool("mteb")
    from rankers.data.registry import lookup

    entry = lookup("mteb/scifact")
    meta = mteb.get_task("SciFact").metadata
    assert entry.name == "mteb/SciFact" and entry.layout == "beir" and entry.downloadable
    (hub,) = entry.hub
    assert (hub.repo, hub.revision, hub.splits, hub.mteb_subset) == (
        "mteb/scifact",
        meta.dataset["revision"],
        ("test",),
        "default",
    )
    with pytest.raises(RankError, match="one dataset per language subset"):
        lookup("mteb/MIRACLRetrievalHardNegatives")
    assert lookup("mteb/MIRACLRetrievalHardNegatives/de").language == "de"
    assert not lookup("mteb/BelebeleRetrieval/eng_Latn-eng_Latn").downloadable
    with pytest.raises(RankError, match="not an MTEB retrieval task"):
        lookup("mteb/NoSuchTask")


def test_loco_and_t2ranking_suites_follow_their_layouts():
    loco = get_suite("loco")
    assert [t.name for t in loco.tasks][:3] == ["summ_screen_fd", "gov_report", "qmsum"] and len(
        loco.tasks
    ) == 12
    assert all(t.dataset == f"loco/{t.name}" and t.main == "ndcg@10" for t in loco.tasks)
    (t2,) = get_suite("t2ranking").tasks
    assert (t2.dataset, t2.split, t2.language, t2.main, t2.preset) == (
        "t2ranking",
        "dev",
        "zh",
        "mrr@10",
        "t2ranking",
    )


def test_mteb_is_not_imported_by_the_cli_or_the_local_suite():
    code = (
        "import sys; import cli.main; from rankers.suites.catalog import get_suite; get_suite('local'); "
        "from rankers.suites import runner, compare, leaderboard, systems; "
        "print(sorted(m for m in ('mteb', 'pyserini', 'torch', 'ranx') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------- systems as data


def test_builtin_systems_and_files(tmp_path):
    bm25 = load_system("bm25")
    assert bm25.model_type == "sparse" and [s.kind for s in bm25.pipeline] == ["retrieve"]
    rrf = load_system("bm25+minilm-rrf")
    assert rrf.pipeline[0].options == {"bm25": True, "dense": True, "model": "minilm", "fusion": "rrf", "rrf_k": 60,
                                       "hits": 1000}  # fmt: skip
    assert bm25.fingerprint != rrf.fingerprint and len(bm25.fingerprint) == 12
    mine = tmp_path / "mine.json"
    mine.write_text(json.dumps({"pipeline": [
        {"fuse": {"method": "rrf", "runs": [[{"retrieve": {"bm25": True}}], [{"retrieve": {"bm25": True, "rm3": True}}]]}},
        {"rerank": {"cross-encoder": "cross-encoder/ms-marco-MiniLM-L-6-v2", "hits": 20}},
    ]}))  # fmt: skip
    s = load_system(mine)
    assert s.name == "mine" and [st.kind for st in s.stages()] == ["fuse", "retrieve", "retrieve", "rerank"]
    # The same pipeline written as YAML is the same system.
    yml = tmp_path / "other.yaml"
    yml.write_text(
        "name: mine\npipeline:\n  - fuse:\n      method: rrf\n      runs:\n        - [{retrieve: {bm25: true}}]\n"
        "        - [{retrieve: {bm25: true, rm3: true}}]\n"
        "  - rerank: {cross_encoder: cross-encoder/ms-marco-MiniLM-L-6-v2, hits: 20}\n"
    )
    assert load_system(yml).fingerprint == s.fingerprint


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("pipeline: [{retrieve: {bm25: true, hitz: 5}}]", r"pipeline\[0\]\.retrieve: unknown key 'hitz'"),
        ("pipeline: [{retrieve: {dense: true}}]", "needs a model"),
        ("pipeline: [{retrieve: {bm25: true, model: minilm}}]", r"\.model: a dense option; add dense: true"),
        ("pipeline: [{retrieve: {bm25: true, fusion: rrf}}]", "fuses bm25 and dense"),
        ("pipeline: [{retrieve: {bm25: true, fb-terms: 5}}]", "an RM3 option"),
        ("pipeline: [{retrieve: {bm25: true, hits: many}}]", r"\.hits: expected int"),
        ("pipeline: [{rerank: {cross-encoder: x}}]", "starts with retrieve or fuse"),
        ("pipeline: [{retrieve: {bm25: true}}, {rerank: {cross-encoder: x, mode: full}}]", "an LLM option"),
        (
            "pipeline: [{retrieve: {bm25: true}}, {rerank: {llm: 'openai:x', api-key: k}}]",
            "keys stay out of files",
        ),
        ("pipeline: [{fuse: {runs: [[{retrieve: {bm25: true}}]]}}]", "at least two pipelines"),
        ("pipeline: [{search: {}}]", "unknown stage 'search'"),
        ("name: 'a b'\npipeline: [{retrieve: {bm25: true}}]", "letters, digits"),
        ("pipeline: [{retrieve: {bm25: true}}\n  oops", r"sys\.yaml:\d+: not valid YAML"),
    ],
)
def test_system_files_are_checked_with_file_and_key(text, message):
    with pytest.raises(RankError, match=message) as e:
        parse_system(text, "sys.yaml", "sys", "sys.yaml")
    assert str(e.value).startswith("sys.yaml")


def test_thuir_metrics_follow_msmarco_eval():
    """MRR@10 over the ranked queries (a ranked query without qrels counts in the denominator), recall pooled
    over the relevant passages of the ranked judged queries; an empty ranking is no ranked query."""
    from rankers.run import Candidate, Query, Ranking
    from rankers.suites.leaderboard import thuir_metrics

    def ranking(qid: str, docids: list[str]) -> Ranking:
        return Ranking(Query(qid, ""), [Candidate(d, -i) for i, d in enumerate(docids)])

    qrels = {"1": {"a": 1, "b": 1}, "2": {"c": 1}, "3": {"d": 1}}
    run = [ranking("1", ["x", "a", "b"]), ranking("2", [f"n{i}" for i in range(59)] + ["c"]),
           ranking("9", ["a"]), ranking("3", [])]  # fmt: skip
    m = thuir_metrics(qrels, run)
    assert m["MRR@10"] == pytest.approx(0.5 / 3) and m["QueriesRanked"] == 3
    assert (m["Recall@1"], m["Recall@50"], m["Recall@1000"]) == (0.0, pytest.approx(2 / 3), 1.0)
    with pytest.raises(RankError, match="ranks no query"):
        thuir_metrics(qrels, [ranking("1", [])])


def test_cli_refusals_are_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("pipeline: [{retrieve: {bm25: true, model: minilm}}]\n")
    env = {**os.environ, "RANK_DATA_PATH": str(tmp_path)}
    for args, message in (
        (
            ["suite", "run", "local", "-s", str(bad)],
            f"rank: error: {bad}: pipeline[0].retrieve.model: a dense option",
        ),
        (
            ["suite", "run", "local", "-s", "nosuch"],
            "rank: error: --system nosuch: neither a built-in system",
        ),
        (["suite", "run", "local", "-s", "bm25"], "rank: error: suite local: no task to run"),
        (
            ["suite", "run", "local", "-s", "bm25", "--limit-queries", "0"],
            "--limit-queries 0: must be at least 1",
        ),
        (["data", "list", "--tasks", "x"], "rank: error: --tasks: only with --suite"),
        (
            ["data", "get", "loco/qmsum", "--suite", "loco"],
            "--suite: fetches the suite's datasets; give no NAME",
        ),
    ):
        p = subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=ROOT, env=env, capture_output=True,
                           text=True, stdin=subprocess.DEVNULL)  # fmt: skip
        lines = p.stderr.strip().splitlines()
        assert p.returncode == 2 and len(lines) == 1 and lines[0].startswith("rank: error: "), (
            args,
            p.stderr,
        )
        assert message.removeprefix("rank: error: ") in lines[0], (args, p.stderr)


# ---------------------------------------------------------------- small real subsets of the shared sets


def _lines(path: Path) -> list[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return f.read().splitlines()


def _write(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")


def _scifact(dest: Path, queries: int = 40, others: int = 200) -> None:
    src = shared("scifact")
    qrels = _lines(src / "qrels" / "test.tsv")
    qids = list(dict.fromkeys(line.split("\t")[0] for line in qrels[1:]))[:queries]
    rows = [line for line in qrels[1:] if line.split("\t")[0] in qids]
    cited = {line.split("\t")[1] for line in rows}
    corpus = _lines(src / "corpus.jsonl")
    keep = [c for i, c in enumerate(corpus) if i < others or json.loads(c)["_id"] in cited]
    _write(dest / "corpus.jsonl", keep)
    _write(dest / "queries.jsonl", [q for q in _lines(src / "queries.jsonl") if json.loads(q)["_id"] in qids])
    _write(dest / "qrels" / "test.tsv", [qrels[0], *rows])


def _lecard(dest: Path, queries: int = 3) -> None:
    src = shared("lecard-t2")
    topics = _lines(src / "queries.dev.tsv")
    qids = [line.split("\t")[0] for line in topics[1 : queries + 1]]
    graded = [line for line in _lines(src / "qrels.dev.tsv") if line.split("\t")[0] in qids]
    pool = {line.split("\t")[2] for line in graded}
    collection = _lines(src / "collection.tsv.gz")
    _write(
        dest / "collection.tsv", [collection[0], *(c for c in collection[1:] if c.split("\t", 1)[0] in pool)]
    )
    _write(dest / "queries.dev.tsv", topics[: queries + 1])
    _write(dest / "qrels.dev.tsv", graded)
    retrieval = _lines(src / "qrels.retrieval.dev.tsv")
    _write(
        dest / "qrels.retrieval.dev.tsv",
        [retrieval[0], *(r for r in retrieval[1:] if r.split("\t")[0] in qids)],
    )


def _vaswani(dest: Path, topics: int = 20, others: int = 500) -> None:
    src = shared("vaswani")
    text = (src / "query-text.trec").read_text(encoding="utf-8")
    blocks = re.findall(r"<top>.*?</top>\s*", text, re.S)[:topics]
    qids = {re.search(r"<num>\s*(\d+)", b).group(1) for b in blocks}
    qrels = [line for line in _lines(src / "qrels") if line.split()[0] in qids]
    relevant = {line.split()[2] for line in qrels}
    docs = re.findall(r"<DOC>.*?</DOC>\s*", (src / "doc-text.trec").read_text(encoding="utf-8"), re.S)
    kept = [
        d
        for i, d in enumerate(docs)
        if i < others or re.search(r"<DOCNO>\s*(\S+?)\s*</DOCNO>", d).group(1) in relevant
    ]
    dest.mkdir(parents=True)
    (dest / "doc-text.trec").write_text("".join(kept), encoding="utf-8")
    (dest / "query-text.trec").write_text("".join(blocks), encoding="utf-8")
    _write(dest / "qrels", qrels)


def _broken(dest: Path, fixed: bool = False) -> None:
    """A BEIR set whose second document line is malformed JSON (until `fixed`)."""
    docs = ['{"_id": "d1", "text": "protein folding in yeast cells"}',
            '{"_id": "d2", "text": "a broken line' + ('"}' if fixed else ""),
            '{"_id": "d3", "text": "the folding of proteins"}']  # fmt: skip
    _write(dest / "corpus.jsonl", docs)
    _write(dest / "queries.jsonl", ['{"_id": "q1", "text": "protein folding"}'])
    _write(dest / "qrels" / "test.tsv", ["query-id\tcorpus-id\tscore", "q1\td3\t1"])


@pytest.fixture(scope="module")
def sets(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sets")
    _scifact(root / "scifact")
    _lecard(root / "lecard-t2")
    _vaswani(root / "vaswani")
    _broken(root / "broken")
    for name in ("qmsum-loco", "t2ranking-sample"):
        os.symlink(shared(name), root / name)
    return root


@pytest.fixture(scope="module")
def work(tmp_path_factory, sets) -> dict:
    w = tmp_path_factory.mktemp("work")
    env = {**os.environ, "RANK_DATA_PATH": str(sets), "RANK_DATASETS_DIR": str(w / "datasets"),
           "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}  # fmt: skip
    return {"root": w, "out": w / "runs", "limited": w / "limited", "env": env}


def rank(work: dict, *args: str, timeout: int = 1500) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=ROOT, env=work["env"], capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)  # fmt: skip


def summary(work: dict, system: str, root: str = "out") -> dict:
    return json.loads((work[root] / "local" / system / "summary.json").read_text())


def test_local_suite_is_the_sets_in_rank_data_path(sets, monkeypatch):
    monkeypatch.setenv("RANK_DATA_PATH", str(sets))
    local = get_suite("local")
    assert [t.name for t in local.tasks] == [
        "broken",
        "lecard-t2",
        "qmsum-loco",
        "scifact",
        "t2ranking-sample",
        "vaswani",
    ]
    by = {t.name: t for t in local.tasks}
    assert (by["lecard-t2"].language, by["lecard-t2"].split, by["lecard-t2"].main) == ("zh", "dev", "mrr@10")
    assert (by["scifact"].split, by["vaswani"].split, by["qmsum-loco"].main) == ("test", "qrels", "ndcg@10")
    assert "no collection" in by["t2ranking-sample"].note


@pytest.mark.slow
def test_bm25_over_the_local_suite_reports_a_failing_task_and_goes_on(work):
    p = rank(work, "suite", "run", "local", "--system", "bm25", "--out", str(work["out"]), "--threads", "2")
    assert p.returncode == 1, p.stderr
    assert re.search(r"broken: FAILED: .*corpus\.jsonl:2: malformed JSON", p.stderr), p.stderr
    s = summary(work, "bm25")
    status = {t["task"]: t["status"] for t in s["tasks"]}
    assert status == {"broken": "failed", "lecard-t2": "done", "qmsum-loco": "done", "scifact": "done",
                      "t2ranking-sample": "skipped", "vaswani": "done"}  # fmt: skip
    assert s["failed"] == ["broken"] and s["skipped"] == ["t2ranking-sample"]
    rows = {t["task"]: t for t in s["tasks"]}
    assert rows["qmsum-loco"]["score"] == pytest.approx(0.8647, abs=0.002)  # REFERENCE.md: the whole set
    assert rows["lecard-t2"]["main"] == "mrr@10" and rows["lecard-t2"]["queries"] == 3
    folder = work["out"] / "local" / "bm25"
    for task in ("lecard-t2", "qmsum-loco", "scifact", "vaswani"):
        lines = (folder / f"{task}.trec").read_text().splitlines()
        assert lines and lines[0].split()[5] == "bm25"
    a = s["average"]
    assert (a["over"], a["of"], a["complete"]) == (4, 5, False)
    assert a["main"] == pytest.approx(
        sum(rows[t]["score"] for t in ("lecard-t2", "qmsum-loco", "scifact", "vaswani")) / 4
    )
    assert "| **average** (4 of 5, incomplete)" in p.stdout
    # The scores are rank eval's on the same run file.
    e = rank(work, "eval", "-d", str(Path(work["env"]["RANK_DATA_PATH"]) / "scifact"), str(folder / "scifact.trec"),
             "-m", "ndcg@10", "-f", "json")  # fmt: skip
    assert json.loads(e.stdout)["runs"][0]["scores"]["ndcg@10"] == pytest.approx(
        rows["scifact"]["score"], abs=1e-9
    )


@pytest.mark.slow
def test_rrf_run_killed_then_resumed(work):
    """BM25+MiniLM RRF: killed (SIGKILL) once lecard-t2 is done, then run again: done tasks are not redone."""
    folder = work["limited"] / "local" / "bm25+minilm-rrf"
    run = ["suite", "run", "local", "-s", "bm25+minilm-rrf", "--out", str(work["limited"]), "--threads", "2",
           "--limit-queries", "60"]  # fmt: skip
    args = [sys.executable, "-m", "cli.main", *run]
    proc = subprocess.Popen(args, cwd=ROOT, env=work["env"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 1200
    while not (folder / "lecard-t2.json").is_file():
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    first = (folder / "lecard-t2.json").stat().st_mtime_ns
    assert not (folder / "vaswani.json").exists()

    p = rank(work, *run)
    assert p.returncode == 1, p.stderr  # broken still fails
    assert "[2/6] lecard-t2: done before" in p.stderr and "lecard-t2: encoding" not in p.stderr
    assert (folder / "lecard-t2.json").stat().st_mtime_ns == first
    s = summary(work, "bm25+minilm-rrf", "limited")
    assert s["failed"] == ["broken"] and not s["pending"] and s["limit_queries"] == 60
    rrf = {t["task"]: t for t in s["tasks"]}
    assert (rrf["qmsum-loco"]["queries"], rrf["scifact"]["queries"], rrf["lecard-t2"]["queries"]) == (
        60,
        40,
        3,
    )
    bm25 = {t["task"]: t for t in summary(work, "bm25")["tasks"]}
    assert rrf["scifact"]["score"] > bm25["scifact"]["score"] - 0.05  # the same 40 queries: RRF holds up
    assert (folder / "scifact.trec").read_text().split("\n", 1)[0].split()[5] == "bm25+minilm-rrf"


@pytest.mark.slow
def test_a_failed_task_is_retried_and_the_rest_skipped(work, sets):
    _broken(sets / "broken", fixed=True)
    p = rank(work, "suite", "run", "local", "-s", "bm25", "--out", str(work["out"]), "--threads", "2")
    assert p.returncode == 0, p.stderr
    assert p.stderr.count("done before") == 4 and "[1/6] broken: ndcg@10" in p.stderr
    s = summary(work, "bm25")
    assert not s["failed"] and s["average"]["complete"] and s["average"]["over"] == 5


@pytest.mark.slow
def test_limit_queries_narrows_and_does_not_pass_for_a_full_run(work):
    p = rank(
        work, "suite", "run", "local", "-s", "bm25", "--limit-queries", "60", "--out", str(work["limited"])
    )
    assert p.returncode == 0, p.stderr
    s = summary(work, "bm25", "limited")
    assert {t["task"]: t.get("queries") for t in s["tasks"]} == {
        "broken": 1, "lecard-t2": 3, "qmsum-loco": 60, "scifact": 40, "t2ranking-sample": None, "vaswani": 20
    }  # fmt: skip
    assert "indexing" not in p.stderr  # the indexes of the full run are reused
    x = rank(work, "suite", "export", "local", "-s", "bm25", "-f", "mteb", "--out", str(work["limited"]))
    assert x.returncode == 2 and "scifact: run with --limit-queries 60" in x.stderr


@pytest.mark.slow
def test_compare_two_systems_with_holm_corrected_tests(work):
    p = rank(work, "suite", "compare", "local", "-s", "bm25", "-s", "bm25+minilm-rrf", "--out", str(work["limited"]),
             "-f", "json")  # fmt: skip
    assert p.returncode == 0, p.stderr
    c = json.loads(p.stdout)
    assert [r["task"] for r in c["rows"]] == ["lecard-t2", "qmsum-loco", "scifact", "vaswani"]
    assert dict(c["skipped"]) == {"broken": "not done by bm25+minilm-rrf",
                                  "t2ranking-sample": "skipped by every system (nothing to search)"}  # fmt: skip
    bm25 = {t["task"]: t for t in summary(work, "bm25", "limited")["tasks"]}
    for r in c["rows"]:
        assert r["scores"]["bm25"] == pytest.approx(bm25[r["task"]]["score"], abs=1e-9)
        (pair,) = r["pairs"]
        # One pair: Holm changes nothing; alike on every query, no p-value (null), which Holm counts as 1.
        assert pair["p_holm"] == (1.0 if pair["p"] is None else pytest.approx(pair["p"]))
    a = c["average"]
    assert (a["over"], a["of"]) == (4, 5) and len(a["pairs"]) == 1
    md = rank(
        work,
        "suite",
        "compare",
        "local",
        "-s",
        "bm25",
        "-s",
        "bm25+minilm-rrf",
        "--out",
        str(work["limited"]),
    )
    assert "| task | metric | bm25 (a) | bm25+minilm-rrf (b) |" in md.stdout and "Holm" in md.stdout
    one = rank(work, "suite", "compare", "local", "-s", "bm25", "--out", str(work["out"]))
    assert one.returncode == 2 and "at least two systems" in one.stderr
    # The same comparison as one offline page: its embedded data is the JSON above (rendered in test_report).
    page = work["limited"] / "compare.html"
    p = rank(work, "suite", "compare", "local", "-s", "bm25", "-s", "bm25+minilm-rrf", "--out", str(work["limited"]),
             "-f", "html", "-o", str(page))  # fmt: skip
    assert p.returncode == 0, p.stderr
    embedded = re.search(
        r'<script type="application/json" id="rank-eval">(.*?)</script>', page.read_text(), re.S
    )
    assert json.loads(embedded.group(1)) == c and 'id="fig-suite"' in page.read_text()


@pytest.mark.slow
def test_leaderboard_files(work, sets):
    mteb = reference_tool("mteb")
    results = work["root"] / "mteb-results"
    p = rank(
        work,
        "suite",
        "export",
        "local",
        "-s",
        "bm25",
        "-f",
        "mteb",
        "-o",
        str(results),
        "--out",
        str(work["out"]),
    )
    assert p.returncode == 0, p.stderr
    assert "left out vaswani: not an MTEB task" in p.stderr
    system = load_system("bm25")
    loaded = mteb.ResultCache(results).load_results(
        models=["rank/bm25"], tasks=["SciFact"], include_remote=False, validate_and_filter=True
    )
    (model,) = loaded.model_results
    assert model.model_revision == system.fingerprint
    (task,) = model.task_results
    scifact = next(t for t in summary(work, "bm25")["tasks"] if t["task"] == "scifact")
    assert task.get_score() == pytest.approx(scifact["score"], abs=1e-5)

    p = rank(work, "suite", "export", "local", "-s", "bm25", "-f", "t2ranking", "--out", str(work["out"]))
    assert p.returncode == 0, p.stderr
    t2 = json.loads((work["out"] / "local" / "bm25" / "leaderboard" / "t2ranking.json").read_text())[
        "lecard-t2"
    ]
    record = json.loads((work["out"] / "local" / "bm25" / "lecard-t2.json").read_text())
    # Every query is ranked and judged: THUIR's MRR@10 is the mean one; its recall pools the relevant passages.
    assert t2["MRR@10"] == pytest.approx(record["scores"]["mrr@10"], abs=1e-9)
    assert t2["nDCG@10"] == pytest.approx(record["scores"]["ndcg@10"], abs=1e-9)
    relevant: dict[str, set[str]] = {}
    for line in _lines(sets / "lecard-t2" / "qrels.retrieval.dev.tsv")[1:]:
        q, d = line.split("\t")
        relevant.setdefault(q, set()).add(d)
    top50: dict[str, list[str]] = {}
    for line in (work["out"] / "local" / "bm25" / "lecard-t2.trec").read_text().splitlines():
        q, _, d, r, _, _ = line.split()
        if int(r) <= 50:
            top50.setdefault(q, []).append(d)
    found = sum(len(relevant[q] & set(ds)) for q, ds in top50.items())
    assert t2["Recall@50"] == pytest.approx(found / sum(map(len, relevant.values())))
    assert t2["QueriesRanked"] == 3 and "| lecard-t2 | dev |" in p.stdout

    p = rank(work, "suite", "export", "local", "-s", "bm25", "-f", "loco", "--out", str(work["out"]))
    assert p.returncode == 0, p.stderr
    loco = json.loads((work["out"] / "local" / "bm25" / "leaderboard" / "loco.json").read_text())
    assert list(loco["ndcg@10"]) == ["qmsum-loco"] and loco["average"] == pytest.approx(0.8647, abs=0.002)


@pytest.mark.slow
def test_a_system_file_with_fusion_and_an_llm_reranker(work):
    """fuse (BM25, BM25+RM3) then a listwise LLM rerank of the top 4 (SmolLM2 through llama.cpp), 1 query."""
    pytest.importorskip("llama_cpp")
    fused = work["root"] / "fused.yaml"
    fused.write_text(
        "name: fused\npipeline:\n  - fuse:\n      method: rrf\n      hits: 20\n      runs:\n"
        "        - [{retrieve: {bm25: true, hits: 20}}]\n        - [{retrieve: {bm25: true, rm3: true, hits: 20}}]\n"
    )
    reranked = work["root"] / "reranked.yaml"
    reranked.write_text(
        fused.read_text().replace("name: fused", "name: fused-llm")
        + "  - rerank: {llm: 'llamacpp:smollm2', mode: full, hits: 4, max-passage-tokens: 24, context-length: 2048}\n"
    )
    out = work["root"] / "custom"
    tops = {}
    for system in (fused, reranked):
        p = rank(work, "suite", "run", "local", "-s", str(system), "--tasks", "vaswani", "--limit-queries", "1",
                 "--out", str(out), "--threads", "2")  # fmt: skip
        assert p.returncode == 0, p.stderr
        run: dict[str, list[str]] = {}
        for line in (
            (out / "local" / system.stem.replace("reranked", "fused-llm") / "vaswani.trec")
            .read_text()
            .splitlines()
        ):
            run.setdefault(line.split()[0], []).append(line.split()[2])
        tops[system.stem] = run
    assert len(tops["fused"]) == 1
    for qid, docs in tops["fused"].items():
        llm = tops["reranked"][qid]
        assert len(docs) == len(llm) == 20
        assert sorted(llm[:4]) == sorted(docs[:4]) and llm[4:] == docs[4:]  # only the top 4 reordered
