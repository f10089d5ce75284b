"""Locks around an output folder, so that two processes never build the same output at once.

A build holds `.NAME.lock` beside the output (an exclusive `flock`) from its start to its end: a second build of
the same output is refused at once with one line naming the process that holds it, never left to race the first
one's rename. The lock file is removed when the build ends (a killed build leaves it, unlocked, and the next build
takes it over: the kernel drops the lock of a dead process).

The swap of a finished folder into place holds the parent folder's own `flock` exclusively, and a reader holds it
shared while it opens an output, so a reader never sees the instant where the old folder has gone and the new one
is not yet there. That lock needs no file, so a reader writes nothing, even into a read-only folder.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from rankers.errors import RankError


def lock_path(target: Path) -> Path:
    target = Path(target).absolute()
    return target.parent / f".{target.name}.lock"


@contextlib.contextmanager
def building(target: str | Path, flag: str, what: str) -> Iterator[None]:
    """Hold the build lock of `target` (refused at once if another process holds it)."""
    path = lock_path(Path(target))
    while True:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as e:
            raise RankError(
                f"{flag} {target}: cannot create the lock file {path} ({e.strerror or e})"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
            os.close(fd)
            raise RankError(
                f"{flag} {target}: another process (pid {holder}) is building this {what} now; "
                f"wait for it to end (lock file {path})"
            ) from None
        # The holder before us may have removed the file as we opened it: then our lock is on a file nobody else
        # will open, so try again on the path's current file.
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)  # while still locked: nobody can take the old file after this
        os.close(fd)


@contextlib.contextmanager
def _folder_lock(target: str | Path, mode: int) -> Iterator[None]:
    try:
        fd = os.open(Path(target).absolute().parent, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as e:
        if e.errno not in (errno.ENOENT, errno.EACCES, errno.ENOTDIR):
            raise
        yield  # no folder (the reader's error comes next) or not ours to lock
        return
    try:
        fcntl.flock(fd, mode)
        yield
    finally:
        os.close(fd)


def swapping(target: str | Path) -> contextlib.AbstractContextManager[None]:
    """Hold the swap lock of `target` exclusively (waits for readers that are opening it: milliseconds)."""
    return _folder_lock(target, fcntl.LOCK_EX)


def opening(target: str | Path) -> contextlib.AbstractContextManager[None]:
    """Hold the swap lock of `target` shared while a reader opens it."""
    return _folder_lock(target, fcntl.LOCK_SH)
