import gzip
import io
import itertools
import json
import os
from pathlib import Path

import pytest

from rankers.errors import InputError, RankError
from rankers.io import atomic_write, format_ranking, read_run, write_run
from rankers.run import Candidate, Query, Ranking, strictly_decreasing


def _ranking(qid="q1", scores=(3.0, 2.0, 2.0, 1.0)):
    return Ranking(Query(qid, "text"), [Candidate(f"d{i}", s) for i, s in enumerate(scores)])


def test_ties_become_strictly_decreasing_and_keep_order():
    s = strictly_decreasing([5.0, 5.0, 5.0, 4.9999999, 1.0])
    assert all(a > b for a, b in itertools.pairwise(s))
    assert s[0] == 5.0 and s[-1] == 1.0


def test_trec_roundtrip_keeps_order_with_ties(tmp_path):
    r = _ranking(scores=(2.0, 2.0, 2.0))
    r.candidates = [Candidate("z", 2.0), Candidate("a", 2.0), Candidate("m", 2.0)]
    path = tmp_path / "run.trec"
    write_run([r], path)
    back = list(read_run(path))
    assert [c.docid for c in back[0].candidates] == ["z", "a", "m"]
    lines = path.read_text().splitlines()
    assert lines[0].split()[:4] == ["q1", "Q0", "z", "1"]
    scores = [float(x.split()[4]) for x in lines]
    assert scores[0] > scores[1] > scores[2]


def test_jsonl_roundtrip_keeps_text_date_fields_meta(tmp_path):
    r = Ranking(
        Query("007", "q", date="2022-01-02", fields={"x": 1}), [Candidate("00123", 1.5, "t")], {"cost": 1}
    )
    path = tmp_path / "run.jsonl"
    write_run([r], path)
    (back,) = read_run(path)
    assert back.to_dict() == r.to_dict()
    assert back.qid == "007" and back.candidates[0].docid == "00123"


def test_gzip_and_msmarco(tmp_path):
    path = tmp_path / "run.tsv.gz"
    with gzip.open(path, "wt") as f:
        f.write("1\t10\t2\n1\t11\t1\n")
    (r,) = read_run(path)
    assert [c.docid for c in r.candidates] == ["11", "10"]


def test_malformed_lines_name_file_and_line(tmp_path):
    bad = tmp_path / "bad.trec"
    bad.write_text("1 Q0 d1 1 2.0 x\n1 Q0 d2 1\n")
    with pytest.raises(InputError, match=r"bad.trec:2: expected 6 columns"):
        list(read_run(bad))
    badj = tmp_path / "bad.jsonl"
    badj.write_text('{"qid": "1", "candidates": []}\n{"qid": \n')
    with pytest.raises(InputError, match=r"bad.jsonl:2: malformed JSON"):
        list(read_run(badj))
    dup = tmp_path / "dup.trec"
    dup.write_text("1 Q0 d1 1 2.0 x\n1 Q0 d1 2 1.0 x\n")
    with pytest.raises(InputError, match=r"dup.trec:2: docid d1 appears twice"):
        list(read_run(dup))
    with pytest.raises(RankError, match="no such run file"):
        list(read_run(tmp_path / "missing.trec"))


def test_atomic_write_keeps_good_file_on_failure(tmp_path):
    path = tmp_path / "out.trec"
    path.write_text("good\n")

    def exploding():
        yield _ranking()
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_run(exploding(), path)
    assert path.read_text() == "good\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.trec"]
    with atomic_write(path) as f:
        f.write("new\n")
    assert path.read_text() == "new\n"


def test_empty_ranking_is_kept(tmp_path):
    path = tmp_path / "run.jsonl"
    write_run([Ranking(Query("q", ""))], path)
    (r,) = read_run(path)
    assert r.qid == "q" and r.candidates == []
    assert json.loads(format_ranking(r))["candidates"] == []
    assert io.StringIO(format_ranking(r, "trec")).read() == ""


def test_atomic_write_gives_plain_file_permissions(tmp_path):
    import os

    path = tmp_path / "perm.trec"
    with atomic_write(path) as f:
        f.write("x\n")
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


def test_swap_dir_replaces_a_folder_whole_and_restores_it_when_the_rename_fails(tmp_path, monkeypatch):
    from rankers import io as rio

    target, new = tmp_path / "index", tmp_path / ".index.build"
    target.mkdir()
    (target / "old.txt").write_text("old")
    new.mkdir()
    (new / "new.txt").write_text("new")
    real = rio.os.replace

    def failing(src, dst):
        if Path(src) == new:
            raise OSError("disk gone")
        return real(src, dst)

    monkeypatch.setattr(rio.os, "replace", failing)
    with pytest.raises(OSError):
        rio.swap_dir(new, target)
    assert [p.name for p in target.iterdir()] == ["old.txt"]
    monkeypatch.setattr(rio.os, "replace", real)
    rio.swap_dir(new, target)
    assert [p.name for p in target.iterdir()] == ["new.txt"] and not new.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index"]  # no old copy left behind


def test_check_target_refuses_files_foreign_folders_and_ours_without_force(tmp_path):
    from rankers.errors import RankError
    from rankers.io import check_target

    def ours(folder):
        return (folder / "ours.json").is_file()

    target = tmp_path / "idx"
    check_target(target, False, ours, "index")  # missing
    target.mkdir()
    check_target(target, False, ours, "index")  # empty
    (target / "notes.txt").write_text("x")
    with pytest.raises(
        RankError, match=r"^--index .*idx: exists and is not an index; refusing to replace it$"
    ):
        check_target(target, True, ours, "index")
    (target / "ours.json").write_text("{}")
    with pytest.raises(
        RankError, match=r"idx: an event store is already there \(pass --force to replace it\)$"
    ):
        check_target(target, False, ours, "event store")
    check_target(target, True, ours, "event store")
    with pytest.raises(RankError, match="notes.txt: is a file, expected a folder for the index$"):
        check_target(target / "notes.txt", True, ours, "index")


def test_swap_dir_gives_plain_permissions(tmp_path):
    """mkdtemp folders are 0700 and safetensors writes 0600 files: the output gets what mkdir/open would give."""
    import os
    import stat
    import tempfile

    from rankers.io import UMASK, swap_dir

    new = Path(tempfile.mkdtemp(dir=tmp_path))
    (new / "weights.bin").write_bytes(b"x")
    (new / "weights.bin").chmod(0o600)
    (new / "run.sh").write_text("#!/bin/sh\n")
    (new / "run.sh").chmod(0o700)
    swap_dir(new, tmp_path / "out")
    mode = lambda p: stat.S_IMODE(os.stat(p).st_mode)  # noqa: E731
    assert mode(tmp_path / "out") == 0o777 & ~UMASK
    assert mode(tmp_path / "out" / "weights.bin") == 0o666 & ~UMASK
    assert mode(tmp_path / "out" / "run.sh") == 0o777 & ~UMASK


def test_build_dir_removes_the_leftovers_of_dead_builds_only(tmp_path):
    """A build killed with SIGKILL leaves `.NAME.build-PID-*.part`; the next build of NAME removes it, never the
    folder of a build still running (here: this process's parent) nor another target's."""
    import subprocess
    import sys

    from rankers.io import build_dir

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    for name in (
        f".store.build-{dead.pid}-a.part",
        f".store.build-{os.getppid()}-b.part",
        f".other.build-{dead.pid}-c.part",
    ):
        (tmp_path / name).mkdir()
        (tmp_path / name / "segment").write_text("x")
    new = build_dir(tmp_path / "store")
    assert new.parent == tmp_path and new.name.startswith(f".store.build-{os.getpid()}-")
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted(
        [new.name, f".store.build-{os.getppid()}-b.part", f".other.build-{dead.pid}-c.part"]
    )


def test_atomic_write_removes_the_temporary_files_of_dead_writers(tmp_path):
    import subprocess
    import sys

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / f".out.jsonl.{dead.pid}-x.part").write_text("half")
    (tmp_path / f".out.jsonl.{os.getppid()}-y.part").write_text("still being written")
    with atomic_write(tmp_path / "out.jsonl") as f:
        f.write("whole\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == [f".out.jsonl.{os.getppid()}-y.part", "out.jsonl"]


def test_atomic_write_writes_through_a_device_instead_of_replacing_it(tmp_path):
    """`-o /dev/null` must not rename a file over the device (as root it did: /dev/null became a plain file)."""
    import stat

    with atomic_write("/dev/null") as f:
        f.write("nothing\n")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert not list(Path("/dev").glob(".null.*.part"))
