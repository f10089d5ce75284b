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
