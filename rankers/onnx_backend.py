"""Run a sentence-transformers model's transformer through ONNX Runtime (fp32 or dynamic int8).

sentence-transformers' own `backend="onnx"` needs optimum-onnx, whose only release pins transformers < 4.58
(this project runs 5.x). So the transformer alone is exported here with torch.onnx and quantized with
ONNX Runtime's `quantize_dynamic` (what `export_dynamic_quantized_onnx_model` calls underneath); tokenization,
prompts, pooling and normalization stay sentence-transformers' own, so both backends share every other step.
Exports are cached per model folder under $RANK_CACHE_DIR/onnx (default ~/.cache/rank/onnx).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

from rankers.errors import RankError


def cache_dir() -> Path:
    return Path(os.environ.get("RANK_CACHE_DIR", "~/.cache/rank")).expanduser() / "onnx"


def _key(model_path: str) -> str:
    p = Path(model_path)
    stamp = ""
    if p.is_dir():
        stamp = ";".join(
            f"{f.name}:{f.stat().st_size}:{int(f.stat().st_mtime)}"
            for f in sorted(p.iterdir())
            if f.is_file()
        )
    return hashlib.sha1(f"{p.resolve() if p.exists() else model_path}|{stamp}".encode()).hexdigest()[:16]


def onnx_file(model: Any, model_path: str, quantize: bool) -> Path:
    """The cached .onnx file for this model (exported, and quantized, on first use)."""
    folder = cache_dir() / _key(model_path)
    fp32 = folder / "model.onnx"
    if not fp32.exists():
        _export(model, fp32)
    if not quantize:
        return fp32
    int8 = folder / "model_qint8.onnx"
    if not int8.exists():
        from onnxruntime.quantization import QuantType, quantize_dynamic

        tmp = int8.with_suffix(".part")
        # The same settings as optimum's avx512_vnni dynamic config: per-channel weights, matmuls only
        # (quantizing the embedding Gather costs accuracy for no speed).
        quantize_dynamic(
            fp32, tmp, weight_type=QuantType.QInt8, per_channel=True, op_types_to_quantize=["MatMul", "Gemm"]
        )
        os.replace(tmp, int8)
    return int8


def _inputs(model: Any) -> tuple[list[str], dict[str, Any]]:
    enc = model.tokenizer(
        ["export sample text", "a second, longer sample text to pad"], padding=True, return_tensors="pt"
    )
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in enc]
    return names, {n: enc[n] for n in names}


def _export(model: Any, target: Path) -> None:
    import torch

    hf = model[0].model
    names, sample = _inputs(model)

    class LastHidden(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module):
            super().__init__()
            self.inner = inner

        def forward(self, *args: torch.Tensor) -> torch.Tensor:
            return self.inner(**dict(zip(names, args, strict=True))).last_hidden_state

    target.parent.mkdir(parents=True, exist_ok=True)
    tmpdir = tempfile.mkdtemp(dir=target.parent, prefix=".export-")
    try:
        tmp = Path(tmpdir) / "model.onnx"
        axes = {n: {0: "batch", 1: "tokens"} for n in [*names, "last_hidden_state"]}
        # Tracer warnings name branches that are constant for an encoder (no KV cache, mask always given).
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                LastHidden(hf).eval(),
                tuple(sample[n] for n in names),
                str(tmp),
                dynamo=False,
                input_names=names,
                output_names=["last_hidden_state"],
                dynamic_axes=axes,
                opset_version=17,
            )
        os.replace(tmp, target)
    except Exception as e:
        raise RankError(f"--backend onnx: exporting the model to ONNX failed: {e}") from None
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def use_onnx(model: Any, model_path: str, quantize: bool) -> None:
    """Replace the transformer inside `model` by an ONNX Runtime session with the same inputs and output."""
    import onnxruntime as ort
    import torch
    from transformers.modeling_outputs import BaseModelOutput

    path = onnx_file(model, model_path, quantize)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = torch.get_num_threads()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Spinning threads wait faster but burn cores that a shared machine (or torch's own threads) needs.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    providers = ["CUDAExecutionProvider"] if model.device.type == "cuda" else []
    session = ort.InferenceSession(str(path), opts, providers=[*providers, "CPUExecutionProvider"])
    wanted = [i.name for i in session.get_inputs()]
    original = model[0].model

    class OrtTransformer(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.config = original.config
            self.register_buffer("anchor", torch.zeros(0), persistent=False)

        @property
        def device(self) -> torch.device:
            return torch.device("cpu")

        def forward(self, **kwargs: Any) -> BaseModelOutput:
            feed = {n: kwargs[n].cpu().numpy().astype("int64") for n in wanted}
            (hidden,) = session.run(["last_hidden_state"], feed)
            return BaseModelOutput(last_hidden_state=torch.from_numpy(hidden))

    model[0].model = OrtTransformer()
    model[0].model_forward_params = None  # our forward takes **kwargs and picks its own inputs
    model.rank_onnx_file = str(path)
