"""Lock files beside an output folder, so that two processes never build the same output at once.

A build holds `.NAME.lock` (an exclusive `flock`) from its start to its end: a second build of the same output
is refused at once with one line naming the process that holds it, never left to race the first one's rename.
The swap of the finished folder into place holds `.NAME.swap.lock` exclusively, and a reader holds it shared
while it opens the folder, so a reader never sees the instant where the old folder has gone and the new one is
not yet there. The locks are released by the kernel when a process dies, so a killed build blocks nothing; the
(empty) lock files stay, since removing them would let two processes lock two different files of one name.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from rankers.errors import RankError


def lock_path(target: Path, kind: str = "") -> Path:
    target = Path(target).absolute()
    return target.parent / f".{target.name}{'.' + kind if kind else ''}.lock"


@contextlib.contextmanager
def building(target: str | Path, flag: str, what: str) -> Iterator[None]:
    """Hold the build lock of `target` (refused at once if another process holds it)."""
    path = lock_path(Path(target))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as e:
        raise RankError(f"{flag} {target}: cannot create the lock file {path} ({e.strerror or e})") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
            raise RankError(
                f"{flag} {target}: another process (pid {holder}) is building this {what} now; "
                f"wait for it to end (lock file {path})"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


@contextlib.contextmanager
def swapping(target: str | Path) -> Iterator[None]:
    """Hold the swap lock of `target` exclusively (waits for readers that are opening it: milliseconds)."""
    path = lock_path(Path(target), "swap")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def opening(target: str | Path) -> Iterator[None]:
    """Hold the swap lock of `target` shared while a reader opens it. A reader creates no file: where no build
    ever made the lock file (or the folder is read-only), there is nothing to wait for."""
    try:
        fd = os.open(lock_path(Path(target), "swap"), os.O_RDONLY)
    except OSError as e:
        if e.errno not in (errno.ENOENT, errno.EACCES, errno.EROFS, errno.ENOTDIR):
            raise
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)
