"""Find a dataset by path or registered name and pick the reader for its layout."""

from __future__ import annotations

from pathlib import Path

from rankers.data.base import Dataset
from rankers.data.beir import BeirDataset
from rankers.errors import RankError

READERS: list[type[Dataset]] = [BeirDataset]


def load_dataset(name_or_path: str | Path) -> Dataset:
    path = Path(name_or_path)
    if not path.is_dir():
        raise RankError(f"--dataset {name_or_path}: no such folder")
    for reader in READERS:
        if reader.detect(path):
            return reader(path)
    raise RankError(f"--dataset {name_or_path}: no known layout (beir) in {path}")
