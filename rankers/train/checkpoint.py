"""What every trainer here shares: one seed for every random source, and the per-epoch checkpoint that lets a
killed run continue (it is used only if it was made from the same inputs and settings: its fingerprint)."""

from __future__ import annotations

import random
from pathlib import Path


def seed_all(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def load_checkpoint(ckpt: Path, fingerprint: str) -> dict | None:
    """The state saved after the last finished epoch, or None (none yet, or one of other inputs or settings,
    which the first epoch of this run replaces)."""
    import torch

    path = ckpt / "state.pt"
    if not path.is_file():
        return None
    state = torch.load(path, weights_only=False)
    return state if state.get("fingerprint") == fingerprint else None
