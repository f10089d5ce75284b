"""A full disk and an unwritable output: one line naming the path, a non-zero exit, the previous output intact and
no temporary file left where the output belongs.

The disk is a real one: a small tmpfs mounted for the test (root only; skipped elsewhere, failed under CI when
root cannot mount it), filled up, or remounted read-only (root ignores permission bits, a read-only mount it
cannot).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from clirun import rank

from rankers.errors import RankError
from rankers.io import read_run, write_run
from rankers.run import Candidate, Query, Ranking

ROOT = Path(__file__).resolve().parent.parent
CI = bool(os.environ.get("CI"))


@contextlib.contextmanager
def small_disk(where: Path, size: str):
    where.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    p = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True, text=True
    )
    if p.returncode != 0:
        if CI:
            pytest.fail(f"root cannot mount a tmpfs here: {p.stderr.strip()}")
        pytest.skip(f"cannot mount a tmpfs: {p.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(disk: Path, leave: int = 0) -> None:
    """Fill the disk up to `leave` bytes free."""
    st = os.statvfs(disk)
    free = st.f_bavail * st.f_frsize - leave
    with open(disk / "filler", "wb") as f, contextlib.suppress(OSError):
        f.write(b"\0" * max(free, 0))


def readonly(disk: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)


def one_line_error(p: subprocess.CompletedProcess, names: str) -> None:
    assert p.returncode != 0, p.stderr
    lines = [x for x in p.stderr.splitlines() if x.startswith("rank: error")]
    assert "Traceback" not in p.stderr and len(lines) == 1, p.stderr
    assert names in lines[0], lines[0]


def big_run(n_queries: int, n_docs: int) -> list[Ranking]:
    rnd = random.Random(7)
    return [
        Ranking(Query(f"q{q}", ""), [Candidate(f"doc-{q}-{d:05d}", rnd.random()) for d in range(n_docs)])
        for q in range(n_queries)
    ]


def junk(folder: Path, keep: set[str]) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


# ---------------------------------------------------------------- run files


def dated_corpus(folder: Path, run: list[Ranking]) -> Path:
    """A BEIR folder whose documents (the run's) carry dates: what `rank recency` reads."""
    (folder / "qrels").mkdir(parents=True)
    with open(folder / "corpus.jsonl", "w") as f:
        for r in run:
            for c in r.candidates:
                f.write(json.dumps({"_id": c.docid, "text": "x", "date": "2020-01-01"}) + "\n")
    (folder / "queries.jsonl").write_text(json.dumps({"_id": "q0", "text": "x"}) + "\n")
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq0\tx\t1\n")
    return folder


def test_run_file_on_a_full_disk_keeps_the_previous_run(tmp_path):
    run = big_run(20, 200)  # written back (~0.2 MB), it cannot fit in what is left
    src = tmp_path / "a.trec"
    write_run(run, src)
    data = dated_corpus(tmp_path / "dated", run)
    with small_disk(tmp_path / "disk", "2m") as disk:
        out = disk / "rescored.trec"
        write_run(big_run(2, 3), out)  # the good previous output
        before = out.read_bytes()
        fill(disk, leave=16 * 1024)
        # `rank recency`: a light stage that reads a run and writes one with -o.
        p = rank("recency", str(src), "--dataset", str(data), "--as-of", "2024-01-01", "--before-query-date",
                 "-o", str(out))  # fmt: skip
        one_line_error(p, str(out))
        assert "No space left on device" in p.stderr
        assert out.read_bytes() == before
        assert junk(disk, {"rescored.trec", "filler"}) == []  # no .rescored.trec.*.part


def test_stdout_redirected_to_a_full_disk_is_one_line(tmp_path):
    with small_disk(tmp_path / "disk", "1m") as disk:
        fill(disk)
        with open(disk / "listing.txt", "w") as out:
            p = subprocess.run([sys.executable, "-m", "cli.main", "data", "list"], stdout=out, stderr=subprocess.PIPE,
                               text=True, stdin=subprocess.DEVNULL, env=os.environ | {"PYTHONPATH": str(ROOT)},
                               cwd=ROOT, timeout=300)  # fmt: skip
        assert p.returncode == 1 and "Traceback" not in p.stderr, p.stderr
        assert p.stderr.strip() == "rank: error: cannot write: No space left on device", p.stderr


def test_library_write_on_a_full_disk_is_a_rank_error(tmp_path):
    with small_disk(tmp_path / "disk", "1m") as disk:
        fill(disk, leave=16 * 1024)
        with pytest.raises(RankError, match=r"out\.jsonl: cannot write \(No space left on device\)"):
            write_run(big_run(10, 200), disk / "out.jsonl")
        assert junk(disk, {"filler"}) == []


def test_unwritable_output_folder_names_the_path(tmp_path):
    small = beir(tmp_path / "small", 30, 1)
    with small_disk(tmp_path / "disk", "1m") as disk:
        (disk / "runs").mkdir()
        write_run(big_run(2, 3), disk / "runs" / "old.trec")
        readonly(disk)
        out = disk / "runs" / "old.trec"
        with pytest.raises(RankError, match=r"old\.trec: cannot write \(Read-only file system\)"):
            write_run(big_run(3, 3), out)
        assert len(list(read_run(out))) == 2
        p = rank("index", "bm25", "--dataset", str(small), "--index", str(disk / "idx"))
        one_line_error(p, str(disk / "idx"))
        assert "Read-only file system" in p.stderr


# ---------------------------------------------------------------- the LLM response cache


def test_response_cache_on_a_full_disk_keeps_what_it_had(tmp_path):
    from rankers.llm.cache import ResponseCache

    with small_disk(tmp_path / "disk", "1m") as disk:
        cache = ResponseCache(disk / "llm")
        cache.put("first", {"text": "kept"})
        fill(disk, leave=32 * 1024)
        with pytest.raises(RankError, match=r"responses\.sqlite: cannot write the response cache"):
            for i in range(10_000):
                cache.put(f"k{i}", {"text": "x" * 4000})
        cache.close()
        (disk / "filler").unlink()
        again = ResponseCache(disk / "llm")
        assert again.get("first") == {"text": "kept"}
        assert (
            sorted(p.name for p in (disk / "llm").iterdir() if not p.name.startswith("responses.sqlite"))
            == []
        )
        again.close()


# ---------------------------------------------------------------- a Lucene index


def beir(folder: Path, n_docs: int, seed: int) -> Path:
    rnd = random.Random(seed)
    words = [f"w{i}" for i in range(3000)] + ["panda", "bamboo"]
    folder.mkdir(parents=True)
    with open(folder / "corpus.jsonl", "w") as f:
        for i in range(n_docs):
            text = " ".join(rnd.choices(words, k=120))
            f.write(json.dumps({"_id": f"d{i}", "title": "", "text": text}) + "\n")
    (folder / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "panda bamboo"}) + "\n")
    (folder / "qrels").mkdir()
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n")
    return folder


@pytest.mark.slow
def test_bm25_index_on_a_full_disk_keeps_the_previous_index(tmp_path):
    small, large = beir(tmp_path / "small", 30, 1), beir(tmp_path / "large", 6000, 2)  # ~5 MB of text
    with small_disk(tmp_path / "disk", "2m") as disk:
        idx = disk / "idx"
        p = rank("index", "bm25", "--dataset", str(small), "--index", str(idx))
        assert p.returncode == 0, p.stderr
        before = {f.name: f.read_bytes() for f in idx.iterdir()}
        p = rank("index", "bm25", "--dataset", str(large), "--index", str(idx), "--force")
        one_line_error(p, str(idx))
        assert "No space left on device" in p.stderr
        assert {f.name: f.read_bytes() for f in idx.iterdir()} == before
        assert junk(disk, {"idx"}) == []  # no .idx.build-*.part
