"""Dataset readers, one per layout, and `load_dataset` that names a dataset by path or registered name."""

from rankers.data.base import Dataset, Document, Qrels
from rankers.data.registry import load_dataset

__all__ = ["Dataset", "Document", "Qrels", "load_dataset"]
