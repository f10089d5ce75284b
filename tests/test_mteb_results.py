"""MTEB result files are made and read by mteb itself: `rank export -f mteb` writes the results repository's layout
(results/<model>/<revision>/<Task>.json + model_meta.json) that mteb's ResultCache loads and validates, with the
numbers `rank eval` gives; `rank eval -f mteb` prints one task's result as mteb's TaskResult."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from clirun import rank
from conftest import reference_tool, shared

mteb = reference_tool("mteb")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bm25_run(tmp_path_factory) -> Path:
    scifact = shared("scifact")
    work = tmp_path_factory.mktemp("mteb")
    p = rank("index", "bm25", "-d", str(scifact), "-i", str(work / "idx"), "--threads", "2")
    assert p.returncode == 0, p.stderr
    run = work / "bm25.trec"
    p = rank("retrieve", "-i", str(work / "idx"), "-d", str(scifact), "--bm25", "-k", "1000", "-o", str(run))
    assert p.returncode == 0, p.stderr
    return run


def test_export_writes_a_results_folder_that_mteb_loads(bm25_run, tmp_path):
    from mteb import ResultCache, TaskResult

    out = tmp_path / "results-repo"
    p = rank("export", str(bm25_run), "-f", "mteb", "-d", str(shared("scifact")), "--model", "rank/bm25",
             "--model-type", "sparse", "--revision", "v1", "-o", str(out))  # fmt: skip
    assert p.returncode == 0, p.stderr
    folder = out / "results" / "rank__bm25" / "v1"
    assert (folder / "SciFact.json").is_file() and (folder / "model_meta.json").is_file()
    # Strict: the file validates as a current TaskResult, not through mteb's loader for historic files.
    strict = TaskResult.from_disk(folder / "SciFact.json", load_historic_data=False)
    assert (
        strict.task_name == "SciFact"
        and strict.dataset_revision == mteb.get_task("SciFact").metadata.revision
    )
    meta = json.loads((folder / "model_meta.json").read_text())
    assert meta["name"] == "rank/bm25" and meta["revision"] == "v1" and meta["model_type"] == ["sparse"]

    loaded = ResultCache(out).load_results(
        models=["rank/bm25"], tasks=["SciFact"], include_remote=False, validate_and_filter=True
    )
    (model,) = loaded.model_results
    (task,) = model.task_results
    main = task.get_score()

    # The same number as rank eval (ranx), which equals trec_eval: to the 5 places mteb rounds to.
    p = rank(
        "eval", "-d", str(shared("scifact")), str(bm25_run), "-m", "ndcg@10,recall@100,mrr@10", "-f", "json"
    )
    assert p.returncode == 0, p.stderr
    ours = json.loads(p.stdout)["runs"][0]["scores"]
    assert main == pytest.approx(ours["ndcg@10"], abs=1e-5)
    (scores,) = task.scores["test"]
    assert scores["recall_at_100"] == pytest.approx(ours["recall@100"], abs=1e-5)
    assert scores["mrr_at_10"] == pytest.approx(ours["mrr@10"], abs=1e-5)
    assert main == pytest.approx(0.6789, abs=0.002)  # ../shared/data/REFERENCE.md, pyserini directly

    # A second export into the same folder replaces the task's file and keeps the folder loadable.
    p = rank("export", str(bm25_run), "-f", "mteb", "-d", str(shared("scifact")), "--model", "rank/bm25",
             "--model-type", "sparse", "--revision", "v1", "-k", "10", "-o", str(out))  # fmt: skip
    assert p.returncode == 0, p.stderr
    again = TaskResult.from_disk(folder / "SciFact.json", load_historic_data=False)
    assert again.get_score() == pytest.approx(main, abs=1e-5)  # nDCG@10 needs only the top 10
    assert again.scores["test"][0]["recall_at_100"] < scores["recall_at_100"]
    assert not list(out.glob(".mteb-*"))  # no staging folder left behind


def test_eval_format_mteb_prints_a_task_result(bm25_run):
    from mteb import TaskResult

    p = rank("eval", "-d", str(shared("scifact")), str(bm25_run), "-f", "mteb")
    assert p.returncode == 0, p.stderr
    result = TaskResult.model_validate_json(p.stdout)
    assert result.task_name == "SciFact" and result.get_score() == pytest.approx(0.6789, abs=0.002)


def test_incomplete_runs_and_wrong_flags_are_refused(bm25_run, tmp_path):
    lines = bm25_run.read_text().splitlines()
    first_q = lines[0].split()[0]
    partial = tmp_path / "partial.trec"
    partial.write_text("".join(f"{ln}\n" for ln in lines if ln.split()[0] != first_q))
    out = tmp_path / "out"
    p = rank("export", str(partial), "-f", "mteb", "-d", str(shared("scifact")), "-o", str(out))
    assert p.returncode == 2 and "1 of 300 judged queries have no ranking" in p.stderr
    assert not (out / "results").exists()
    for args, message in (
        (["--task", "NoSuchTask"], "not an MTEB retrieval task"),
        (["--model", "bm25"], "ORGANISATION/NAME"),
        (["--model-type", "magic"], "--model-type magic"),
        (["--split", "train"], "evaluated on test"),
    ):
        p = rank("export", str(bm25_run), "-f", "mteb", "-d", str(shared("scifact")), "-o", str(out), *args)
        assert p.returncode == 2 and message in p.stderr, (args, p.stderr)
    p = rank("eval", "-d", str(shared("scifact")), str(bm25_run), "-f", "mteb", "-m", "ndcg@10")
    assert p.returncode == 2 and "--format mteb" in p.stderr
    p = rank("export", str(bm25_run), "--model", "rank/x")
    assert p.returncode == 2 and "--model: only with --format mteb" in p.stderr
