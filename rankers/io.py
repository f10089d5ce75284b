"""Reading and writing runs and text files: JSONL stream, TREC and MS MARCO runs, gzip, atomic writes.

Every reader names the file and line of a malformed row; every file writer writes to a temporary file
beside the target and renames it into place, so an interrupted run never replaces a good output.
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import io
import json
import math
import os
import re
import shutil
import sys
import tempfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from rankers.errors import InputError, RankError
from rankers.run import Candidate, Query, Ranking, strictly_decreasing, trec_order

STDIO = "-"
FORMATS = ("jsonl", "trec", "msmarco")


# ---------------------------------------------------------------- text files


def open_text(path: str | Path) -> IO[str]:
    """Open a UTF-8 text file for reading, transparently gunzipping `*.gz`; `-` is stdin."""
    if str(path) == STDIO:
        return io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="strict")
    p = Path(path)
    if not p.exists():
        raise RankError(f"{p}: no such file")
    if p.is_dir():
        raise RankError(f"{p}: is a folder, expected a file")
    if p.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(p, "rb"), encoding="utf-8", errors="strict")
    return open(p, encoding="utf-8", errors="strict")


def iter_lines(path: str | Path, stream: IO[str] | None = None) -> Iterator[tuple[int, str]]:
    """(line number, line without its newline) for every line; decoding errors name the line."""
    f = stream if stream is not None else open_text(path)
    n = 0
    try:
        while True:
            try:
                line = f.readline()
            except UnicodeDecodeError as e:
                raise InputError(path, n + 1, f"not valid UTF-8 ({e.reason})") from None
            except (EOFError, gzip.BadGzipFile, OSError, zlib.error) as e:
                raise InputError(path, n + 1, f"cannot read: {e}") from None
            if not line:
                return
            n += 1
            yield n, line.rstrip("\r\n")
    finally:
        # Closing the wrapper around stdin would close stdin itself.
        if stream is None and str(path) != STDIO:
            f.close()


def read_jsonl(path: str | Path, stream: IO[str] | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
    for n, line in iter_lines(path, stream):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(path, n, f"malformed JSON ({e.msg} at column {e.colno})") from None
        except RecursionError:
            raise InputError(path, n, "JSON nested too deeply") from None
        except ValueError as e:  # an integer of more than 4,300 digits
            raise InputError(path, n, f"malformed JSON ({e})") from None
        if not isinstance(obj, dict):
            raise InputError(path, n, "expected a JSON object")
        if _SURROGATE_ESCAPE.search(line):
            try:
                _check_unicode(obj)
            except ValueError as e:
                raise InputError(path, n, str(e)) from None
        yield n, obj


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "w") -> Iterator[IO]:
    """Write to a temporary file beside `path`, then rename it into place; on any error, leave `path` alone.

    The temporary file (`.NAME.PID-XXXX.part`) of a process killed before the rename is removed by the next write
    of `path`. A target that exists and is not a regular file (/dev/null, /dev/stdout, a named pipe) is written to as it is:
    renaming a file over it would replace the device itself (as root, /dev/null became a plain file).
    """
    p = Path(path)
    if p.exists() and not p.is_file() and not p.is_dir():
        with open(p, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            yield f
        return
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        _remove_dead(p.parent, f".{p.name}.")
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.{os.getpid()}-", suffix=".part", dir=p.parent)
    except OSError as e:
        raise RankError(f"{p}: cannot write ({e.strerror or e})") from None
    in_body = False
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            in_body = True
            yield f
            in_body = False
            f.flush()
            os.fsync(f.fileno())
        # mkstemp creates 0600; give the output the permissions a plain open() would have.
        os.chmod(tmp, 0o666 & ~UMASK)
        os.replace(tmp, p)
    except OSError as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if in_body and e.errno not in WRITE_ERRNOS:
            raise  # the caller's own error (reading an input, say), not the output's
        raise RankError(
            f"{p}: cannot write ({e.strerror or e}); the previous file, if any, is intact"
        ) from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


# Errors of the disk, not of the data: a full disk or quota, a file too large, a read-only file system.
WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EIO}


def swap_dir(new: str | Path, target: str | Path) -> None:
    """Rename a finished folder over `target`; the old one is removed only once the new one is in place.

    A failure between the two renames puts the old folder back, so `target` is always whole, old or new.
    """
    new, target = Path(new), Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    # mkdtemp makes 0700 folders and some writers (safetensors) 0600 files: give the output the permissions a
    # plain mkdir/open would have, as atomic_write does for single files.
    for p in [new, *new.rglob("*")]:
        if not p.is_symlink():
            executable = p.is_dir() or p.stat().st_mode & 0o100
            p.chmod((0o777 if executable else 0o666) & ~UMASK)
    if not target.exists():
        os.replace(new, target)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
    old.rmdir()  # a fresh unique name; os.replace needs it free
    os.replace(target, old)
    try:
        os.replace(new, target)
    except BaseException:
        os.replace(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def build_dir(target: str | Path) -> Path:
    """A fresh folder beside `target` to build it in (`.NAME.build-PID-XXXX.part`, renamed over `target` by
    `swap_dir` when done), after deleting the ones that builds of `target` by processes now gone (killed, a power
    cut) left behind. The creator's PID in the name tells whose it is; a live process keeps its own."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    stem = f".{target.name}.build-"
    _remove_dead(target.parent, stem)
    return Path(tempfile.mkdtemp(prefix=f"{stem}{os.getpid()}-", suffix=".part", dir=target.parent))


def _remove_dead(folder: Path, stem: str) -> None:
    """Delete the files and folders `{stem}PID-*.part` in `folder` whose process PID is gone."""
    for p in folder.glob(f"{stem}*.part"):
        pid = p.name[len(stem) :].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    p.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def check_target(target: Path, force: bool, is_ours: Callable[[Path], bool], what: str) -> None:
    """May a build go to `target`? Yes if it is missing or an empty folder, or one of ours (`is_ours`) with
    `force`; `what` names the thing built ("index", "event store") in the one-line refusals."""
    if not target.exists():
        return
    a = "an" if what[:1] in "aeiou" else "a"
    if not target.is_dir():
        raise RankError(f"--index {target}: is a file, expected a folder for the {what}")
    if not any(target.iterdir()):
        return
    if not is_ours(target):
        # --force replaces our own output, never an unrelated folder someone pointed us at by mistake.
        raise RankError(f"--index {target}: exists and is not {a} {what}; refusing to replace it")
    if not force:
        raise RankError(f"--index {target}: {a} {what} is already there (pass --force to replace it)")


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Read once at import: os.umask can only be read by setting it, which briefly changes it for every thread.
UMASK = _read_umask()


def write_json(path: str | Path, obj: Any) -> None:
    with atomic_write(path) as f:
        json.dump(obj, f, ensure_ascii=False, indent=2)
        f.write("\n")


# ---------------------------------------------------------------- runs


def format_of(path: str | Path | None, explicit: str | None = None) -> str:
    """The run format: the explicit flag, else the file extension, else JSONL (the pipe format)."""
    if explicit:
        if explicit not in FORMATS:
            raise RankError(
                f"--output-format: unknown format {explicit!r} (choose from {', '.join(FORMATS)})"
            )
        return explicit
    if path is None or str(path) == STDIO:
        return "jsonl"
    name = Path(path).name.removesuffix(".gz")
    suffix = Path(name).suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        return "jsonl"
    if suffix in (".tsv",):
        return "msmarco"
    return "trec"


RUN_SUFFIXES = (".jsonl", ".json", ".ndjson", ".trec", ".run", ".tsv", ".txt")


def run_stem(path: str | Path) -> str:
    """A run's name from its file: `runs/bm25.trec.gz` -> `bm25`; stdin is `stdin`."""
    if str(path) == STDIO:
        return "stdin"
    name = Path(path).name.removesuffix(".gz")
    for suffix in RUN_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def named_runs(args: Iterable[str]) -> list[tuple[str, str]]:
    """(name, source) per run argument: NAME=FILE, else the file stem; runs with the same stem get their folder
    as a prefix (`a/bm25`, `b/bm25`). An argument that is an existing file is a file even with an `=` in it."""
    args = list(args)
    if args.count(STDIO) > 1:
        raise RankError("stdin (-) can be read once only")
    pairs: list[tuple[str | None, str]] = []
    for a in args:
        if a != STDIO and not Path(a).exists() and "=" in a:
            name, _, path = a.partition("=")
            if not name:
                raise RankError(f"{a}: empty run name before '='")
            pairs.append((name, path))
        else:
            pairs.append((None, a))
    stems = [run_stem(p) for _, p in pairs]
    out = []
    for (name, path), stem in zip(pairs, stems, strict=True):
        if name is None:
            name = stem
            if stems.count(stem) > 1 and path != STDIO:
                name = f"{Path(path).resolve().parent.name}/{stem}"
        out.append((name, path))
    names = [n for n, _ in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise RankError(f"two runs are both named {dup[0]!r}: name them with NAME=FILE")
    return out


def read_run(source: str | Path = STDIO) -> Iterator[Ranking]:
    """Rankings from a JSONL stream, a TREC run or an MS MARCO run; the format is detected from content."""
    if str(source) != STDIO and not Path(source).exists():
        raise RankError(f"{source}: no such run file")
    f = open_text(source)
    lines = iter_lines(source, f)
    try:
        first = None
        for n, line in lines:
            if line.strip():
                first = (n, line)
                break
        if first is None:
            return
        rest = _chain(first, lines)
        if first[1].lstrip().startswith("{"):
            yield from _read_jsonl_run(source, rest)
        else:
            yield from _read_columns_run(source, rest)
    finally:
        if str(source) != STDIO:
            f.close()


def _chain(first: tuple[int, str], rest: Iterator[tuple[int, str]]) -> Iterator[tuple[int, str]]:
    yield first
    yield from rest


def _read_jsonl_run(source: str | Path, lines: Iterator[tuple[int, str]]) -> Iterator[Ranking]:
    for n, line in lines:
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            if not isinstance(obj, dict) or "qid" not in obj:
                raise ValueError("expected an object with a 'qid'")
            if _SURROGATE_ESCAPE.search(line):
                _check_unicode(obj)
            r = Ranking.from_dict(obj)
            seen: set[str] = set()
            for c in r.candidates:
                if c.docid in seen:
                    raise ValueError(f"docid {c.docid} appears twice for query {r.qid}")
                seen.add(c.docid)
        except json.JSONDecodeError as e:
            raise InputError(source, n, f"malformed JSON ({e.msg} at column {e.colno})") from None
        except RecursionError:
            raise InputError(source, n, "JSON nested too deeply") from None
        except (ValueError, TypeError, KeyError) as e:
            raise InputError(source, n, f"not a ranking: {e}") from None
        yield r


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _check_unicode(obj: Any) -> None:
    """JSON may escape a lone surrogate (`\\ud800`), which is no character: it could never be written out again."""
    try:
        json.dumps(obj, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(
            "a string holds a lone surrogate escape (\\ud800-\\udfff): not valid Unicode"
        ) from None


def _read_columns_run(source: str | Path, lines: Iterator[tuple[int, str]]) -> Iterator[Ranking]:
    """TREC (`qid Q0 docid rank score tag`) or MS MARCO (`qid pid rank`); a query's lines may be scattered.

    A TREC run is ranked as trec_eval ranks it (`rankers.run.trec_order`); an MS MARCO run by its rank column.
    """
    groups: dict[str, list[tuple[float, int, str]]] = {}
    seen: dict[str, set[str]] = {}
    kind = None
    for n, line in lines:
        if not line.strip():
            continue
        cols = line.split()
        this = "trec" if len(cols) == 6 else "msmarco" if len(cols) in (3, 4) else None
        if this is None:
            raise InputError(
                source,
                n,
                f"expected 6 columns (qid Q0 docid rank score tag) or 3 (qid docid rank), got {len(cols)}",
            )
        if kind is None:
            kind = this
        elif this != kind:
            want = (
                "6 columns (qid Q0 docid rank score tag)" if kind == "trec" else "3 columns (qid docid rank)"
            )
            raise InputError(source, n, f"expected {want} like the lines above, got {len(cols)}")
        try:
            if kind == "trec":
                qid, _, docid, rank, score = cols[0], cols[1], cols[2], int(cols[3]), float(cols[4])
            else:
                qid, docid, rank = cols[0], cols[1], int(cols[2])
                score = float(cols[3]) if len(cols) == 4 else -float(rank)
        except ValueError:
            raise InputError(source, n, "rank must be an integer and score a number") from None
        if math.isnan(score):
            raise InputError(source, n, "score is NaN: a ranking needs comparable scores")
        if docid in seen.setdefault(qid, set()):
            raise InputError(source, n, f"docid {docid} appears twice for query {qid}")
        seen[qid].add(docid)
        groups.setdefault(qid, []).append((score, rank, docid))
    for qid, rows in groups.items():
        if kind == "trec":
            # trec_eval's order, not the rank column's: what a leaderboard scoring this file would see.
            ranked = trec_order((d, s) for s, _, d in rows)
        else:
            # MS MARCO's evaluation reads the rank column.
            ranked = [(d, s) for s, _, d in sorted(rows, key=lambda r: r[1])]
        yield Ranking(Query(qid=qid, text=""), [Candidate(docid=d, score=s) for d, s in ranked])


def write_run(
    rankings: Iterable[Ranking],
    dest: str | Path | None = STDIO,
    fmt: str | None = None,
    tag: str = "rank",
) -> int:
    """Write rankings to a file (atomically) or to stdout (streamed, one query per line); returns the count."""
    fmt = format_of(dest, fmt)
    if dest is None or str(dest) == STDIO:
        return _write_stream(rankings, sys.stdout, fmt, tag, flush=True)
    with atomic_write(dest) as f:
        return _write_stream(rankings, f, fmt, tag, flush=False)


def _write_stream(rankings: Iterable[Ranking], f: IO[str], fmt: str, tag: str, flush: bool) -> int:
    count = 0
    for r in rankings:
        f.write(format_ranking(r, fmt, tag))
        if flush:
            f.flush()
        count += 1
    return count


def format_ranking(r: Ranking, fmt: str = "jsonl", tag: str = "rank") -> str:
    """One ranking as text; scores are made strictly decreasing so the written order is the only order."""
    scores = strictly_decreasing([c.score for c in r.candidates])
    if fmt == "jsonl":
        d = r.to_dict()
        for c, s in zip(d["candidates"], scores, strict=True):
            c["score"] = s
        return json.dumps(d, ensure_ascii=False) + "\n"
    if fmt in ("trec", "msmarco"):
        _check_columns(r, fmt)
    if fmt == "trec":
        return "".join(
            f"{r.qid} Q0 {c.docid} {i} {s!r} {tag}\n"
            for i, (c, s) in enumerate(zip(r.candidates, scores, strict=True), 1)
        )
    if fmt == "msmarco":
        return "".join(f"{r.qid}\t{c.docid}\t{i}\n" for i, c in enumerate(r.candidates, 1))
    raise RankError(f"unknown run format {fmt!r}")


_WHITE = re.compile(r"\s")


def _check_columns(r: Ranking, fmt: str) -> None:
    """Ids of a column format must be one non-empty word: `a b` would be read back as other columns."""
    for what, value in (("query id", r.qid), *(("docid", c.docid) for c in r.candidates)):
        if not value or _WHITE.search(value):
            raise RankError(
                f"{what} {value!r:.60} (query {r.qid!r:.40}): empty or with white space, it cannot be written "
                f"in the {fmt} format (write JSONL instead)"
            )
