"""Files of a Hugging Face dataset repository at one commit: which to fetch, their URLs and their checksums.

The hub answers three questions over plain HTTP, the same endpoints `huggingface_hub` uses (so `HF_ENDPOINT`
points both at a mirror): the commit a branch is at (`/api/datasets/R/revision/main`), the files of a commit with
their sizes and checksums (`/api/datasets/R/tree/SHA?recursive=true`: an LFS file carries its sha256, any other
file its git blob sha1), and a file's bytes (`/datasets/R/resolve/SHA/PATH`). Downloading from a commit, never
from `main`, keeps every file of a dataset from the same version, and the commit is recorded beside the data.

Which files make an MTEB retrieval task is read from the repository's own README: its `configs:` front matter
maps each config (`corpus`, `queries`, `default` for the qrels; `<subset>-corpus` ... for multilingual tasks) and
split to file patterns. It is what the `datasets` library reads when mteb loads the task.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from rankers.errors import RankError

DEFAULT_ENDPOINT = "https://huggingface.co"
TIMEOUT_S = 60
USER_AGENT = "rank-datasets/0.1 (+urllib)"
# Table files the BEIR reader reads, by suffix.
TABLES = (".parquet", ".jsonl", ".jsonl.gz", ".tsv")


def endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", DEFAULT_ENDPOINT).rstrip("/")


@dataclass(frozen=True)
class HubFile:
    path: str  # in the repository
    size: int | None
    sha256: str | None  # LFS files
    git_sha1: str | None  # other files: the git blob id


def file_url(repo: str, revision: str, path: str) -> str:
    return f"{endpoint()}/datasets/{repo}/resolve/{revision}/{urllib.parse.quote(path)}"


def _get(url: str, what: str) -> tuple[bytes, Any]:
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            return response.read(), response.headers
    except urllib.error.HTTPError as e:
        raise RankError(f"{url}: HTTP {e.code} {e.reason} ({what})") from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise RankError(
            f"{url}: cannot connect ({reason}); check the network (or HF_ENDPOINT), or import a copy with --from"
        ) from None


def _json(url: str, what: str) -> tuple[Any, Any]:
    body, headers = _get(url, what)
    try:
        return json.loads(body), headers
    except ValueError:
        raise RankError(f"{url}: not JSON ({what})") from None


def resolve_revision(repo: str, revision: str = "main") -> str:
    """The commit a branch or tag of a dataset repository points at (a commit id is returned as the hub has it)."""
    url = f"{endpoint()}/api/datasets/{repo}/revision/{urllib.parse.quote(revision, safe='')}"
    obj, _ = _json(url, f"the commit of {repo}@{revision}")
    sha = obj.get("sha") if isinstance(obj, dict) else None
    if not isinstance(sha, str) or not re.fullmatch(r"[0-9a-f]{40}", sha):
        raise RankError(f"{url}: no commit id in the answer")
    return sha


_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="next"')


def list_files(repo: str, revision: str) -> dict[str, HubFile]:
    """Every file of the repository at `revision`, by path (the tree API pages long listings with Link headers)."""
    url: str | None = f"{endpoint()}/api/datasets/{repo}/tree/{revision}?recursive=true"
    out: dict[str, HubFile] = {}
    while url:
        rows, headers = _json(url, f"the file list of {repo}@{revision}")
        if not isinstance(rows, list):
            raise RankError(f"{url}: expected a list of files")
        for row in rows:
            if not isinstance(row, dict) or row.get("type") != "file":
                continue
            lfs = row.get("lfs") if isinstance(row.get("lfs"), dict) else None
            out[row["path"]] = HubFile(
                path=row["path"],
                size=row.get("size"),
                sha256=lfs.get("oid") if lfs else None,
                git_sha1=None if lfs else row.get("oid"),
            )
        m = _NEXT.search(headers.get("Link") or "")
        url = m.group(1) if m else None
    return out


def read_text(repo: str, revision: str, path: str) -> str:
    body, _ = _get(file_url(repo, revision, path), f"{path} of {repo}")
    return body.decode("utf-8", errors="replace")


# ---------------------------------------------------------------- the files of an MTEB retrieval task


def front_matter(readme: str) -> dict[str, Any]:
    """The YAML block at the top of a dataset card (empty when there is none)."""
    import yaml

    if not readme.startswith("---"):
        return {}
    end = readme.find("\n---", 3)
    if end < 0:
        return {}
    try:
        obj = yaml.safe_load(readme[3:end])
    except (yaml.YAMLError, ValueError, RecursionError):  # ValueError: an int of more than 4,300 digits
        return {}
    return obj if isinstance(obj, dict) else {}


def _config_files(config: dict[str, Any]) -> dict[str, list[str]]:
    """split -> path patterns of one `configs:` entry (data_files as a string, a list, or split/path rows)."""
    files = config.get("data_files")
    out: dict[str, list[str]] = {}
    if isinstance(files, str):
        return {"train": [files]}
    for item in files or []:
        if isinstance(item, str):
            out.setdefault("train", []).append(item)
        elif isinstance(item, dict) and "path" in item:
            paths = item["path"] if isinstance(item["path"], list) else [item["path"]]
            out.setdefault(str(item.get("split", "train")), []).extend(map(str, paths))
    return out


def _matching(patterns: list[str], tree: dict[str, HubFile]) -> list[str]:
    return sorted(p for p in tree if any(fnmatch.fnmatchcase(p, pat) for pat in patterns))


def mteb_files(
    tree: dict[str, HubFile], readme: str, subset: str | None, splits: list[str], what: str
) -> list[tuple[str, str]]:
    """(path in the repository, destination in a BEIR-layout folder) for one subset of an MTEB retrieval task.

    The configs are the ones mteb's RetrievalDatasetLoader asks for: `[subset-]corpus`, `[subset-]queries` (or
    `query`), and the qrels in `default` (`qrels` when there is no `default`) or `subset-qrels`. A config with one
    split is used whatever its split is called (as mteb does); the qrels keep one file set per evaluation split.
    A repository whose card declares no configs is read as the older JSONL layout (corpus.jsonl, queries.jsonl,
    qrels/<split>.tsv).
    """
    configs = {
        str(c.get("config_name")): _config_files(c)
        for c in front_matter(readme).get("configs") or []
        if isinstance(c, dict)
    }
    if not configs:
        return _legacy_files(tree, subset, splits, what)
    prefix = f"{subset}-" if subset and subset != "default" else ""
    qrels_name = f"{prefix}qrels" if prefix else ("default" if "default" in configs else "qrels")
    queries_name = "query" if "query" in configs else f"{prefix}queries"
    out: list[tuple[str, str]] = []
    for name, role in ((f"{prefix}corpus", "corpus"), (queries_name, "queries"), (qrels_name, "qrels")):
        by_split = configs.get(name)
        if by_split is None:
            raise RankError(
                f"{what}: the dataset card declares no {name!r} config (configs: {', '.join(configs)})"
            )
        if role == "qrels":
            chosen = {s: by_split[s] for s in splits if s in by_split}
            if not chosen and len(by_split) == 1:
                chosen = {splits[0]: next(iter(by_split.values()))}
            if not chosen:
                raise RankError(
                    f"{what}: config {name!r} has no split {', '.join(splits)} (has {', '.join(by_split)})"
                )
        else:
            split = next((s for s in splits if s in by_split), None)
            if split is None and len(by_split) == 1:
                split = next(iter(by_split))
            if split is None:
                raise RankError(
                    f"{what}: config {name!r} has no split {', '.join(splits)} (has {', '.join(by_split)})"
                )
            chosen = {split: by_split[split]}
        for split, patterns in chosen.items():
            paths = _matching(patterns, tree)
            if not paths:
                raise RankError(
                    f"{what}: no file matches {', '.join(patterns)} (config {name!r}, split {split})"
                )
            out += [(p, _destination(role, split, p, i, len(paths), what)) for i, p in enumerate(paths)]
    return out


def _destination(role: str, split: str, path: str, i: int, n: int, what: str) -> str:
    name = PurePosixPath(path).name
    suffix = next((s for s in TABLES if name.endswith(s)), None)
    if suffix is None or (role == "qrels" and suffix not in (".parquet", ".tsv")):
        raise RankError(f"{what}: {path}: a file type the BEIR reader does not read")
    if suffix == ".parquet":
        # The reader takes a qrels file's split from the start of its name: name it after the split.
        return f"{role}/{name}" if role != "qrels" else f"qrels/{split}-{i:05d}-of-{n:05d}.parquet"
    if n > 1:
        raise RankError(f"{what}: {n} {suffix} files for the {role}; the BEIR reader reads one")
    return f"qrels/{split}.tsv" if role == "qrels" else f"{role}{suffix}"


def _legacy_files(
    tree: dict[str, HubFile], subset: str | None, splits: list[str], what: str
) -> list[tuple[str, str]]:
    base = f"{subset}/" if subset and subset != "default" else ""
    out: list[tuple[str, str]] = []
    for stem in ("corpus", "queries"):
        found = next(
            (f"{base}{stem}{s}" for s in (".jsonl", ".jsonl.gz") if f"{base}{stem}{s}" in tree), None
        )
        if found is None:
            raise RankError(
                f"{what}: no configs in the dataset card and no {base}{stem}.jsonl in the repository"
            )
        out.append((found, PurePosixPath(found).name))
    qrels = [(f"{base}qrels/{s}.tsv", f"qrels/{s}.tsv") for s in splits if f"{base}qrels/{s}.tsv" in tree]
    if not qrels:
        raise RankError(f"{what}: no {base}qrels/<split>.tsv for {', '.join(splits)}")
    return out + qrels
