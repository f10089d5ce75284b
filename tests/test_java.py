import subprocess
import sys

SCRIPT = """
import pickle, sys
sys.setrecursionlimit(1_000_000)
from rankers.java import start_jvm
start_jvm()
x = []
for _ in range(20_000):
    x = [x]
print(len(pickle.dumps(x)))
"""


def test_deep_native_recursion_survives_the_jvm():
    # The JVM fences the primordial thread's stack at 1 MB unless told not to; numba and torch recurse deeper.
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert int(out.stdout.strip()) > 20_000


def test_helpers_compile_once_and_a_broken_source_leaves_nothing(tmp_path, monkeypatch):
    """rankers/jvm is compiled into one jar in the cache, reused while source and Anserini's jar are unchanged;
    a source that does not compile gives no jar (the pure-Python paths are taken) and no debris."""
    import zipfile

    import pytest

    from rankers import java

    if java._javac() is None:
        pytest.skip("no JDK 21+ compiler on this machine")
    monkeypatch.setenv("RANK_CACHE_DIR", str(tmp_path / "cache"))
    jar = java._anserini_jar()
    built = java._build_helpers(jar)
    assert built is not None and "rank/Bm25Batch.class" in zipfile.ZipFile(built).namelist()
    made = java.Path(built).stat().st_mtime_ns
    assert java._build_helpers(jar) == built and java.Path(built).stat().st_mtime_ns == made
    monkeypatch.setenv("RANK_JAVA_HELPERS", "0")
    assert java._build_helpers(jar) is None
    monkeypatch.delenv("RANK_JAVA_HELPERS")
    broken = tmp_path / "src"
    broken.mkdir()
    (broken / "Broken.java").write_text("package rank; class Broken { int x = ; }\n")
    monkeypatch.setattr(java, "HELPER_SOURCES", broken)
    assert java._build_helpers(jar) is None
    assert sorted(p.name for p in (tmp_path / "cache" / "jvm").iterdir()) == [java.Path(built).name]
