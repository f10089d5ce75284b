"""`rank data get`: fetch a registered dataset (or import a local copy) into `<datasets root>/NAME/`.

Every file is streamed to `<name>.part` beside its final place, so an interrupted download resumes from where it
stopped (HTTP Range); it is checked against its published checksum before it is renamed into place (BEIR's md5;
for Hugging Face files, the sha256 or git blob id the hub lists for that commit). The dataset folder is assembled
in a staging folder and renamed to `NAME/` only once it is complete and its layout is recognised: `NAME/` is
either absent or whole. Files from the hub come from one commit, recorded in `NAME/rank-dataset.json`.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import shutil
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from rankers.data.registry import REGISTRY, Entry, HubFiles, Remote, datasets_root, detect_layout, lookup
from rankers.errors import RankError
from rankers.io import swap_dir, write_json

CHUNK = 1 << 20
TIMEOUT_S = 60
USER_AGENT = "rank-datasets/0.1 (+urllib)"
STAGING = ".staging"
RECORD = "rank-dataset.json"


# ---------------------------------------------------------------- one file


def file_digest(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            h.update(block)
    return h.hexdigest()


def git_blob_sha1(path: Path) -> str:
    """The id git (and the hub, for a file not in LFS) gives a file: sha1 of `blob <size>\\0` + its bytes."""
    h = hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            h.update(block)
    return h.hexdigest()


def verify(path: Path, md5: str | None, sha256: str | None, what: str, git_sha1: str | None = None) -> None:
    """Raise when a file's checksum differs from the published one (nothing to check when none is published)."""
    for algorithm, expected in (("sha256", sha256), ("md5", md5), ("git-sha1", git_sha1)):
        if expected:
            got = git_blob_sha1(path) if algorithm == "git-sha1" else file_digest(path, algorithm)
            if got.lower() != expected.lower():
                raise RankError(f"{what}: checksum mismatch ({algorithm} {got}, expected {expected})")


def fetch(
    url: str,
    dest: Path,
    md5: str | None = None,
    sha256: str | None = None,
    progress: bool = True,
    timeout: float = TIMEOUT_S,
    git_sha1: str | None = None,
) -> Path:
    """Download `url` to `dest`, resuming a `.part` file left by an earlier try; checksum checked before renaming."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    offset = part.stat().st_size if part.exists() else 0
    try:
        response = _open(url, offset, timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and offset:
            # The server has nothing past our offset: the .part file may already be whole.
            return _finish(part, dest, url, md5, sha256, git_sha1)
        raise RankError(f"{url}: HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise RankError(
            f"{url}: cannot connect ({reason}); check the network, or import a copy with --from"
        ) from None
    with response:
        if offset and response.status != 206:
            offset = 0  # the server ignored Range: start again
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length and length.isdigit() else None
        _stream(response, part, offset, total, url, progress)
    if total is not None and part.stat().st_size != total:
        raise RankError(
            f"{url}: download stopped at {part.stat().st_size} of {total} bytes; run the command again to resume"
        )
    return _finish(part, dest, url, md5, sha256, git_sha1)


def _open(url: str, offset: int, timeout: float) -> http.client.HTTPResponse:
    headers = {"User-Agent": USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)


def _stream(response, part: Path, offset: int, total: int | None, url: str, progress: bool) -> None:
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    bar = Progress(*columns, console=Console(stderr=True), disable=not progress, transient=False)
    with bar, open(part, "ab" if offset else "wb") as f:
        task = bar.add_task(Path(url).name[:40], total=total, completed=offset)
        try:
            while block := response.read(CHUNK):
                f.write(block)
                bar.advance(task, len(block))
        except (http.client.IncompleteRead, OSError, TimeoutError) as e:
            f.flush()
            raise RankError(
                f"{url}: download interrupted after {f.tell()} bytes ({type(e).__name__}); "
                "run the command again to resume"
            ) from None


def _finish(
    part: Path, dest: Path, url: str, md5: str | None, sha256: str | None, git_sha1: str | None = None
) -> Path:
    try:
        verify(part, md5, sha256, url, git_sha1)
    except RankError:
        part.unlink(missing_ok=True)  # a corrupt file must not be resumed
        raise
    os.replace(part, dest)
    return dest


# ---------------------------------------------------------------- a dataset


def get_dataset(name: str, force: bool = False, source: Path | None = None, progress: bool = True) -> Path:
    """Fetch (or, with `source`, import) a dataset into `<datasets root>/NAME`; returns that folder."""
    entry = lookup(name)
    if entry is None and source is None:
        downloadable = sorted(n for n, e in REGISTRY.items() if e.downloadable)
        raise RankError(
            f"{name}: not a registered dataset; registered: {', '.join(downloadable)}, and mteb/<Task> "
            "for MTEB's retrieval tasks"
        )
    if entry is not None and not entry.downloadable and source is None:
        raise RankError(f"{name}: {entry.unavailable or 'nothing to download'}")
    if entry is not None:
        name = entry.name  # `mteb/scifact` is stored under the registry's spelling, mteb/SciFact
    root = datasets_root()
    target = root / name
    if target.exists() and not force:
        raise RankError(f"{target} already exists; use --force to replace it")
    staging = root / STAGING / name.replace("/", "__")
    build = staging / "build"
    _rmtree(build)
    build.mkdir(parents=True)
    try:
        if source is not None:
            _import(entry, Path(source), build)
        else:
            assert entry is not None
            for remote in entry.files:
                fetched = fetch(
                    remote.url, staging / "files" / remote.dest, remote.md5, remote.sha256, progress
                )
                _place(fetched, remote, build, move=True)
            if entry.hub:
                record = [_fetch_hub(hub, staging, build, name, progress) for hub in entry.hub]
                write_json(build / RECORD, {"name": name, "source": entry.source, "repositories": record})
        folder = _check_layout(build, entry, name)
        swap_dir(folder, target)
    except BaseException:
        _rmtree(build)
        if not any(p.is_file() for p in staging.rglob("*")):
            _rmtree(staging)  # keep the staging folder only when it holds a download to resume
            with contextlib.suppress(OSError):
                (root / STAGING).rmdir()
        raise
    _rmtree(staging)
    with contextlib.suppress(OSError):
        (root / STAGING).rmdir()
    return target


def _fetch_hub(hub: HubFiles, staging: Path, build: Path, name: str, progress: bool) -> dict:
    """Fetch one repository's files at one commit into `build`; returns what rank-dataset.json records of it."""
    from rankers.data import hub as hf

    revision = hub.revision or _resumed_revision(staging, hub.repo)
    tree = hf.list_files(hub.repo, revision)
    where = f"{name} ({hub.repo}@{revision[:12]})"
    if hub.mteb_subset is not None:
        readme = hf.read_text(hub.repo, revision, "README.md") if "README.md" in tree else ""
        pairs = hf.mteb_files(tree, readme, hub.mteb_subset, list(hub.splits), where)
    else:
        pairs = list(hub.paths)
        for path, _ in pairs:
            if path not in tree:
                raise RankError(f"{where}: no {path} in the repository at that commit")
    files = []
    for path, dest in pairs:
        f = tree[path]
        fetched = fetch(
            hf.file_url(hub.repo, revision, path),
            staging / "files" / dest,
            sha256=f.sha256,
            git_sha1=f.git_sha1,
            progress=progress,
        )
        (build / dest).parent.mkdir(parents=True, exist_ok=True)
        os.replace(fetched, build / dest)
        files.append({"path": path, "dest": dest, "size": f.size, "sha256": f.sha256, "git_sha1": f.git_sha1})
    return {"repo": hub.repo, "revision": revision, "pinned": hub.revision is not None, "files": files}


def _resumed_revision(staging: Path, repo: str) -> str:
    """The commit `main` is at, fixed for this download: a resumed download keeps the commit it started with."""
    from rankers.data.hub import resolve_revision

    path = staging / "revisions.json"
    known = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    if repo not in known:
        known[repo] = resolve_revision(repo)
        write_json(path, known)
    return known[repo]


def _import(entry: Entry | None, source: Path, build: Path) -> None:
    if not source.exists():
        raise RankError(f"--from {source}: no such file or folder")
    if source.is_dir() and detect_layout(source) is not None:
        shutil.copytree(source, build, dirs_exist_ok=True)  # the dataset folder itself
        return
    if entry is None:
        raise RankError(
            f"--from {source}: no known dataset layout there (an unregistered name needs a dataset folder)"
        )
    if source.is_file():
        if len(entry.files) != 1 or entry.hub:
            want = [r.dest for r in entry.files] + [dest for h in entry.hub for _, dest in h.paths]
            raise RankError(
                f"--from {source}: {entry.name} has {len(want) or 'several'} files ({', '.join(want) or 'a dataset folder'}); "
                "give their folder"
            )
        _place(_verified(source, entry.files[0]), entry.files[0], build, move=False)
        return
    for remote in entry.files:
        candidates = [source / remote.dest, source / Path(remote.dest).name, source / Path(remote.url).name]
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            raise RankError(f"--from {source}: no {remote.dest} there (the file fetched from {remote.url})")
        _place(_verified(found, remote), remote, build, move=False)
    for hub in entry.hub:
        if not hub.paths:
            raise RankError(
                f"--from {source}: give {entry.name}'s dataset folder (in the {entry.layout} layout)"
            )
        for path, dest in hub.paths:
            candidates = [source / dest, source / path, source / Path(path).name]
            found = next((c for c in candidates if c.is_file()), None)
            if found is None:
                raise RankError(f"--from {source}: no {dest} there (the file {path} of {hub.repo})")
            (build / dest).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(found, build / dest)


def _verified(path: Path, remote: Remote) -> Path:
    verify(path, remote.md5, remote.sha256, str(path))
    return path


def _place(file: Path, remote: Remote, build: Path, move: bool) -> None:
    if remote.unpack:
        _unzip(file, build)
        return
    dest = build / remote.dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    if move:
        os.replace(file, dest)
    else:
        shutil.copy2(file, dest)


def _unzip(file: Path, into: Path) -> None:
    try:
        with zipfile.ZipFile(file) as z:
            check_members(z, file)
            z.extractall(into)
    except zipfile.BadZipFile as e:
        raise RankError(f"{file}: not a valid zip ({e})") from None


def check_members(z: zipfile.ZipFile, file: Path) -> None:
    """Refuse an archive with a member that would land outside the folder it is unpacked into (zip slip)."""
    for member in z.namelist():
        parts = Path(member.replace("\\", "/")).parts
        if member.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
            raise RankError(f"{file}: unsafe path {member!r:.80} in the archive")


def _check_layout(build: Path, entry: Entry | None, name: str) -> Path:
    """The folder in `build` that holds the dataset (zips usually wrap it in one folder), checked by its reader."""
    folder = build
    children = [p for p in build.iterdir() if not p.name.startswith((".", "__MACOSX"))]
    if len(children) == 1 and children[0].is_dir() and detect_layout(build) is None:
        folder = children[0]
    reader = detect_layout(folder)
    want = entry.layout if entry else None
    if reader is None or (want and reader.layout != want):
        found = sorted(p.name for p in folder.iterdir())
        raise RankError(
            f"{name}: the files fetched are not in the {want or 'any known'} layout "
            f"(found {reader.layout if reader else 'none'}; files: {', '.join(found) or 'none'})"
        )
    return folder


def _rmtree(path: Path) -> None:
    if path.exists():
        shutil.rmtree(path)
