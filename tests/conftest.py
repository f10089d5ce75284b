"""Shared fixtures. Data tests read ../shared/data; they skip where it is absent, and fail in CI."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# As the rank command sets it (cli/main.py): OpenMP threads that spin starve each other on a shared machine.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("DATA_DIR", ROOT.parent / "shared" / "data")).resolve()
REQUIRE = bool(os.environ.get("RANK_REQUIRE_SHARED_DATA") or os.environ.get("CI"))


def shared(name: str) -> Path:
    """Path of a shared dataset; skip the test where it is absent, fail in CI."""
    path = DATA_DIR / name
    if not path.is_dir():
        if REQUIRE:
            pytest.fail(f"shared dataset {path} is missing (CI requires ../shared/data)")
        pytest.skip(f"shared dataset {path} is absent")
    return path


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA_DIR


def reference_tool(module: str):
    """Import a reference tool the tests compare with (pytrec_eval, mteb, ...); skip where it is not installed,
    fail in CI, where `make venv` installs it."""
    if REQUIRE:
        import importlib

        return importlib.import_module(module)
    return pytest.importorskip(module)
