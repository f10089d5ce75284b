"""`rank data get` against a local HTTP server that serves the same file layout as the public hosts."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import zipfile
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from conftest import ROOT, shared

from rankers.data.download import fetch, get_dataset
from rankers.data.registry import REGISTRY, Entry, Remote, load_dataset
from rankers.errors import RankError
from rankers.faults.loopback import LoopbackServer, start_range


class Server(LoopbackServer):
    """Serves `files` (path -> bytes) on 127.0.0.1, honouring Range; can cut its next responses short."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.headers: dict[str, dict[str, str]] = {}  # extra response headers by path
        self.ranges: list[str | None] = []
        self.paths: list[str] = []
        self.cut_next = 0  # how many of the next responses stop halfway
        self.cut_only: str | None = None  # ... counting only the responses to this path
        self.ignore_range = False
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                data = server.files.get(self.path)
                server.ranges.append(self.headers.get("Range"))
                server.paths.append(self.path)
                if data is None:
                    self.send_error(404)
                    return
                start = start_range(self, len(data), honour=not server.ignore_range)
                if start is None:
                    return
                body = data[start:]
                for k, v in server.headers.get(self.path, {}).items():
                    self.send_header(k, v)
                self.end_headers()
                if server.cut_next and server.cut_only in (None, self.path):
                    server.cut_next -= 1
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(Handler)


@pytest.fixture
def server():
    with Server() as s:
        yield s


@pytest.fixture
def root(tmp_path, monkeypatch) -> Path:
    out = tmp_path / "datasets"
    monkeypatch.setenv("RANK_DATASETS_DIR", str(out))
    monkeypatch.setenv("RANK_DATA_PATH", "")
    return out


def _tiny_scifact() -> dict[str, bytes]:
    """A few real scifact rows in the BEIR zip's file layout: 3 judged test queries and their documents + 20 more."""
    src = shared("scifact")
    qrels_lines = (src / "qrels" / "test.tsv").read_text().splitlines()
    rows = [line.split("\t") for line in qrels_lines[1:4]]
    qids, cited = {r[0] for r in rows}, {r[1] for r in rows}
    corpus = [line for line in (src / "corpus.jsonl").read_text().splitlines()]
    keep = [line for line in corpus if json.loads(line)["_id"] in cited] + corpus[:20]
    queries = [
        line for line in (src / "queries.jsonl").read_text().splitlines() if json.loads(line)["_id"] in qids
    ]
    return {
        "corpus.jsonl": ("\n".join(dict.fromkeys(keep)) + "\n").encode(),
        "queries.jsonl": ("\n".join(queries) + "\n").encode(),
        "qrels/test.tsv": ("\n".join(qrels_lines[:4]) + "\n").encode(),
    }


def _zip(files: dict[str, bytes], folder: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in files.items():
            z.writestr(f"{folder}/{name}", data)
    return buf.getvalue()


@pytest.fixture
def tiny_zip(server, monkeypatch) -> bytes:
    data = _zip(_tiny_scifact(), "tiny")
    server.files["/BEIR/datasets/tiny.zip"] = data
    md5 = hashlib.md5(data).hexdigest()
    remote = Remote(f"{server.url}/BEIR/datasets/tiny.zip", "tiny.zip", md5=md5, unpack=True)
    monkeypatch.setitem(REGISTRY, "beir/tiny", Entry("beir/tiny", "beir", "test", "mteb", "local", (remote,)))
    return data


def test_get_downloads_unzips_and_is_found_by_name(root, tiny_zip, server):
    target = get_dataset("beir/tiny", progress=False)
    assert target == root / "beir" / "tiny"
    ds = load_dataset("beir/tiny")
    assert ds.path == target and ds.layout == "beir"
    assert len(ds.qrels("test")) == len(ds.queries("test")) == 3
    assert sorted(p.name for p in target.iterdir()) == ["corpus.jsonl", "qrels", "queries.jsonl"]
    assert not (root / ".staging").exists()  # nothing left behind
    with pytest.raises(RankError, match="already exists; use --force"):
        get_dataset("beir/tiny", progress=False)
    (target / "corpus.jsonl").write_text("")
    get_dataset("beir/tiny", force=True, progress=False)
    assert len(list(load_dataset("beir/tiny").documents())) > 20


def test_checksum_mismatch_leaves_nothing(root, tiny_zip, server, monkeypatch):
    bad = Remote(REGISTRY["beir/tiny"].files[0].url, "tiny.zip", md5="0" * 32, unpack=True)
    monkeypatch.setitem(REGISTRY, "beir/tiny", Entry("beir/tiny", "beir", "t", "mteb", "local", (bad,)))
    with pytest.raises(RankError, match=r"checksum mismatch \(md5 [0-9a-f]{32}, expected 0{32}\)"):
        get_dataset("beir/tiny", progress=False)
    assert not (root / "beir" / "tiny").exists()
    assert not list(root.rglob("*.part")) and not list(root.rglob("tiny.zip"))
    assert not (root / ".staging").exists()


def test_interrupted_download_resumes_with_range(root, tiny_zip, server):
    server.cut_next = 1
    with pytest.raises(RankError, match="run the command again to resume"):
        get_dataset("beir/tiny", progress=False)
    (part,) = root.rglob("*.part")
    kept = part.stat().st_size
    assert 0 < kept < len(tiny_zip)
    assert not (root / "beir" / "tiny").exists()
    get_dataset("beir/tiny", progress=False)
    assert server.ranges == [None, f"bytes={kept}-"]
    assert len(load_dataset("beir/tiny").queries()) == 3


def test_server_ignoring_range_restarts_cleanly(tmp_path, server):
    data = os.urandom(300_000)
    server.files["/f.bin"] = data
    server.cut_next, server.ignore_range = 1, True
    dest = tmp_path / "f.bin"
    with pytest.raises(RankError):
        fetch(f"{server.url}/f.bin", dest, progress=False)
    fetch(f"{server.url}/f.bin", dest, sha256=hashlib.sha256(data).hexdigest(), progress=False)
    assert dest.read_bytes() == data and not (tmp_path / "f.bin.part").exists()


def test_whole_part_file_is_finished_on_416(tmp_path, server):
    data = b"x" * 1000
    server.files["/f.bin"] = data
    (tmp_path / "f.bin.part").write_bytes(data)
    fetch(f"{server.url}/f.bin", tmp_path / "f.bin", md5=hashlib.md5(data).hexdigest(), progress=False)
    assert (tmp_path / "f.bin").read_bytes() == data and server.ranges == ["bytes=1000-"]


def test_http_errors_are_one_line(tmp_path, server):
    with pytest.raises(RankError, match=r"/missing\.zip: HTTP 404"):
        fetch(f"{server.url}/missing.zip", tmp_path / "x", progress=False)
    with pytest.raises(RankError, match="cannot connect"):
        fetch("http://127.0.0.1:9/nothing", tmp_path / "y", progress=False)


def test_multi_file_entry_in_mteb_layout(root, server, monkeypatch):
    files = _tiny_scifact()
    remotes = []
    for name, data in files.items():
        server.files[f"/datasets/mteb/tiny/resolve/main/{name}"] = data
        remotes.append(Remote(f"{server.url}/datasets/mteb/tiny/resolve/main/{name}", name))
    monkeypatch.setitem(
        REGISTRY, "mteb/tiny", Entry("mteb/tiny", "beir", "t", "mteb", "local", tuple(remotes))
    )
    target = get_dataset("mteb/tiny", progress=False)
    assert (target / "qrels" / "test.tsv").read_bytes() == files["qrels/test.tsv"]
    assert len(load_dataset("mteb/tiny").queries()) == 3


def test_import_from_file_and_folder(root, tiny_zip, tmp_path):
    zipped = tmp_path / "tiny.zip"
    zipped.write_bytes(tiny_zip)
    get_dataset("beir/tiny", source=zipped)
    assert len(load_dataset("beir/tiny").queries()) == 3
    get_dataset("beir/tiny", source=shared("scifact"), force=True)
    assert len(load_dataset("beir/tiny").queries()) == 300
    zipped.write_bytes(tiny_zip[:-10] + b"0123456789")
    with pytest.raises(RankError, match="checksum mismatch"):
        get_dataset("beir/tiny", source=zipped, force=True)
    assert len(load_dataset("beir/tiny").queries()) == 300  # the old copy is untouched
    with pytest.raises(RankError, match="not in the beir layout"):
        get_dataset("beir/tiny", source=shared("vaswani"), force=True)


def test_unregistered_name_imports_any_layout(root):
    target = get_dataset("mine/vaswani", source=shared("vaswani"))
    assert load_dataset("mine/vaswani").layout == "trec" and target.parent.name == "mine"
    with pytest.raises(RankError, match="not a registered dataset"):
        get_dataset("not-registered")


def _rank(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        cwd=ROOT,
        env=os.environ | env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_get_and_list(tmp_path):
    env = {"RANK_DATASETS_DIR": str(tmp_path / "ds"), "RANK_DATA_PATH": "", "COLUMNS": "200"}
    done = _rank("data", "get", "loco/qmsum", "--from", str(shared("qmsum-loco")), env=env)
    assert done.returncode == 0, done.stderr
    assert "loco layout" in done.stderr
    listing = _rank("data", "list", env=env)
    assert listing.returncode == 0
    line = next(x for x in listing.stdout.splitlines() if "loco/qmsum " in x)
    assert str(tmp_path / "ds" / "loco" / "qmsum") in line
    assert "not downloaded" in next(x for x in listing.stdout.splitlines() if "loco/gov_report" in x)
    again = _rank("data", "get", "loco/qmsum", "--from", str(shared("qmsum-loco")), env=env)
    assert again.returncode == 2 and again.stderr.startswith("rank: error:") and "--force" in again.stderr


# ---------------------------------------------------------------- the Hugging Face hub, at one commit


def _git_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _serve_repo(server: Server, repo: str, revision: str, files: dict[str, bytes], lfs: set[str],
                page: int = 0, main: bool = False) -> None:  # fmt: skip
    """What the hub serves for a dataset repository at one commit: its tree listing (LFS files with their sha256,
    others with their git blob id; directories listed too; `page` > 0 splits the listing with a Link header),
    each file under resolve/<commit>/, and, with `main`, the commit `main` is at."""
    rows: list[dict] = [{"type": "directory", "oid": "0" * 40, "size": 0, "path": "corpus"}]
    for path, data in files.items():
        row = {"type": "file", "path": path, "size": len(data)}
        if path in lfs:
            row |= {
                "oid": "1" * 40,
                "lfs": {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134},
            }
        else:
            row["oid"] = _git_sha1(data)
        rows.append(row)
        server.files[f"/datasets/{repo}/resolve/{revision}/{path}"] = data
    tree = f"/api/datasets/{repo}/tree/{revision}?recursive=true"
    if page:
        server.files[tree] = json.dumps(rows[:page]).encode()
        server.headers[tree] = {"Link": f'<{server.url}{tree}&cursor=p2>; rel="next"'}
        server.files[f"{tree}&cursor=p2"] = json.dumps(rows[page:]).encode()
    else:
        server.files[tree] = json.dumps(rows).encode()
    if main:
        server.files[f"/api/datasets/{repo}/revision/main"] = json.dumps(
            {"id": repo, "sha": revision}
        ).encode()


_CARD = """---
configs:
- config_name: corpus
  data_files:
  - split: test
    path: corpus/test-*
- config_name: default
  data_files:
  - split: test
    path: data/test-*
- config_name: queries
  data_files:
  - split: test
    path: queries/test-*
---
# SciFact
"""


def _parquet(rows: list[dict]) -> bytes:
    import polars as pl

    buf = io.BytesIO()
    pl.DataFrame(rows).write_parquet(buf)
    return buf.getvalue()


@pytest.fixture
def hub(server, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    return server


def test_mteb_task_fetched_from_the_revision_mteb_pins(root, hub):
    """mteb/scifact at the commit mteb's SciFact names: the files its dataset card lists, sha256-checked."""
    mteb = pytest.importorskip("mteb")
    revision = mteb.get_task("SciFact").metadata.dataset["revision"]
    tiny = _tiny_scifact()
    corpus = [json.loads(x) for x in tiny["corpus.jsonl"].decode().splitlines()]
    queries = [json.loads(x) for x in tiny["queries.jsonl"].decode().splitlines()]
    qrels = [dict(zip(("query-id", "corpus-id", "score"), (a, b, int(c)), strict=True))
             for a, b, c in (x.split("\t") for x in tiny["qrels/test.tsv"].decode().splitlines()[1:])]  # fmt: skip
    files = {
        ".gitattributes": b"*.parquet filter=lfs diff=lfs merge=lfs -text\n",
        "README.md": _CARD.encode(),
        "corpus/test-00000-of-00001.parquet": _parquet(corpus),
        "data/test-00000-of-00001.parquet": _parquet(qrels),
        "queries/test-00000-of-00001.parquet": _parquet(queries),
    }
    _serve_repo(hub, "mteb/scifact", revision, files, {p for p in files if p.endswith(".parquet")}, page=3)
    corpus_url = f"/datasets/mteb/scifact/resolve/{revision}/corpus/test-00000-of-00001.parquet"
    hub.cut_next, hub.cut_only = 1, corpus_url
    with pytest.raises(RankError, match="run the command again to resume"):
        get_dataset("mteb/scifact", progress=False)
    target = get_dataset("mteb/scifact", progress=False)
    assert target == root / "mteb" / "SciFact"  # mteb's name for the task
    assert sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file()) == [
        "corpus/test-00000-of-00001.parquet", "qrels/test-00000-of-00001.parquet",
        "queries/test-00000-of-00001.parquet", "rank-dataset.json",
    ]  # fmt: skip
    resumed = [r for p, r in zip(hub.paths, hub.ranges, strict=True) if p == corpus_url]
    assert resumed[0] is None and resumed[1].startswith("bytes=")
    assert not any("/main" in p for p in hub.paths)  # pinned: never the moving branch
    record = json.loads((target / "rank-dataset.json").read_text())
    (repo,) = record["repositories"]
    assert (repo["repo"], repo["revision"], repo["pinned"]) == ("mteb/scifact", revision, True)
    assert {f["path"]: f["sha256"] for f in repo["files"]}[
        "data/test-00000-of-00001.parquet"
    ] == hashlib.sha256(files["data/test-00000-of-00001.parquet"]).hexdigest()
    ds = load_dataset("mteb/scifact")  # any spelling mteb knows
    assert ds.path == target and ds.splits() == ["test"] and len(ds.queries("test")) == 3
    assert len(list(ds.documents())) == len(corpus)

    # A file whose bytes are not the ones the listing names is refused, and nothing is left in place.
    hub.files[f"/datasets/mteb/scifact/resolve/{revision}/queries/test-00000-of-00001.parquet"] = _parquet(
        queries[:1]
    )
    with pytest.raises(RankError, match=r"checksum mismatch \(sha256"):
        get_dataset("mteb/scifact", force=True, progress=False)
    assert len(load_dataset("mteb/scifact").queries("test")) == 3  # the good copy stays


def _tiny_loco() -> tuple[bytes, bytes]:
    src = shared("qmsum-loco")
    docs = (src / "documents.jsonl").read_text().splitlines()[:4]
    pids = {json.loads(d)["pid"] for d in docs}
    queries = [
        q for q in (src / "queries.jsonl").read_text().splitlines() if json.loads(q)["answer_pids"][0] in pids
    ]
    return ("\n".join(docs) + "\n").encode(), ("\n".join(queries) + "\n").encode()


def test_loco_task_from_two_repositories_at_the_commits_main_is_at(root, hub):
    docs, queries = _tiny_loco()
    doc_sha, query_sha = "a" * 40, "b" * 40
    _serve_repo(
        hub,
        "hazyresearch/LoCoV1-Documents",
        doc_sha,
        {"qmsum_test.jsonl": docs, "documents/gov_report_test.jsonl": b"{}\n"},
        {"qmsum_test.jsonl"},
        main=True,
    )
    _serve_repo(hub, "hazyresearch/LoCoV1-Queries", query_sha, {"documents/qmsum_test.jsonl": queries}, set(),
                main=True)  # fmt: skip
    target = get_dataset("loco/qmsum", progress=False)
    record = json.loads((target / "rank-dataset.json").read_text())
    assert [(r["repo"], r["revision"], r["pinned"]) for r in record["repositories"]] == [
        ("hazyresearch/LoCoV1-Documents", doc_sha, False), ("hazyresearch/LoCoV1-Queries", query_sha, False)
    ]  # fmt: skip
    assert record["repositories"][1]["files"][0]["git_sha1"] == _git_sha1(queries)
    assert (
        f"/datasets/hazyresearch/LoCoV1-Queries/resolve/{query_sha}/documents/qmsum_test.jsonl" in hub.paths
    )
    ds = load_dataset("loco/qmsum")
    assert (
        ds.layout == "loco"
        and len(list(ds.documents())) == 4
        and len(ds.queries()) == len(queries.splitlines())
    )
    # A file that is not the one the listing names (git blob id) is refused.
    hub.files[f"/datasets/hazyresearch/LoCoV1-Queries/resolve/{query_sha}/documents/qmsum_test.jsonl"] = (
        b"{}\n"
    )
    with pytest.raises(RankError, match=r"checksum mismatch \(git-sha1"):
        get_dataset("loco/qmsum", force=True, progress=False)


def test_cli_get_and_list_a_suite(tmp_path, server):
    docs, queries = _tiny_loco()
    _serve_repo(
        server, "hazyresearch/LoCoV1-Documents", "c" * 40, {"qmsum_test.jsonl": docs}, set(), main=True
    )
    _serve_repo(server, "hazyresearch/LoCoV1-Queries", "d" * 40, {"documents/qmsum_test.jsonl": queries}, set(),
                main=True)  # fmt: skip
    env = {
        "RANK_DATASETS_DIR": str(tmp_path / "ds"),
        "RANK_DATA_PATH": "",
        "COLUMNS": "250",
        "HF_ENDPOINT": server.url,
    }
    done = _rank("data", "get", "--suite", "loco", "--tasks", "qmsum", env=env)
    assert done.returncode == 0, done.stderr
    assert f"loco/qmsum: fetched into {tmp_path / 'ds' / 'loco' / 'qmsum'}" in done.stderr
    again = _rank("data", "get", "--suite", "loco", "--tasks", "qmsum,gov_report", env=env)
    assert (
        again.returncode == 1
        and "loco/qmsum: here" in again.stderr
        and "loco/gov_report: FAILED" in again.stderr
    )
    listing = _rank("data", "list", "--suite", "loco", env=env)
    assert listing.returncode == 0, listing.stderr
    rows = {line.split()[1]: line for line in listing.stdout.splitlines() if line.startswith("│")}
    assert str(tmp_path / "ds" / "loco" / "qmsum") in rows["qmsum"] and "not downloaded" in rows["gov_report"]
    bad = _rank("data", "get", "loco/qmsum", "--tasks", "qmsum", env=env)
    assert bad.returncode == 2 and "--tasks: only with --suite" in bad.stderr
