"""Run a sentence-transformers model's transformer through ONNX Runtime (fp32 or dynamic int8).

sentence-transformers' own `backend="onnx"` needs optimum-onnx, whose only release pins transformers < 4.58
(this project runs 5.x). So the transformer alone is exported here with torch.onnx, and for BERT-family models
(MiniLM, mpnet-free BERT/RoBERTa encoders) ONNX Runtime's transformer optimizer fuses each layer's attention,
LayerNorms and GELU into single kernels before `quantize_dynamic` turns the weights into int8 (per output
channel; the fused Attention becomes QAttention). The fusion is what makes int8 fast: on the plain graph int8
was 1.1x torch fp32, on the fused one 2x (bench/results/dense.md). It needs the eager attention export (the
SDPA export's mask arithmetic matches none of the fusion patterns); other architectures keep the plain graph.
Tokenization, prompts, pooling and normalization stay sentence-transformers' own, so both backends share every
other step. Exports are cached per model folder and recipe under $RANK_CACHE_DIR/onnx (default
~/.cache/rank/onnx), each file written to a temporary name and renamed into place.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

from rankers.errors import RankError

# Architectures whose attention ONNX Runtime's "bert" optimizer fuses (config.model_type).
FUSABLE = ("bert", "roberta", "xlm-roberta")
# int8 settings (part of the cache file name): int8 weights (u8 activations x s8 weights is what VNNI/AMX run;
# u8 weights measured 2x slower), one scale per output channel, full 8-bit range (reduce_range is for CPUs
# without VNNI), and every op the quantizer knows for the fused graph (MatMul, Attention, EmbedLayerNormalization).
QUANT = {"weight_type": "QInt8", "per_channel": True, "reduce_range": False}


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


def _fusable(model: Any) -> bool:
    cfg = model[0].model.config
    return getattr(cfg, "model_type", "") in FUSABLE and hasattr(cfg, "num_attention_heads")


def onnx_file(model: Any, model_path: str, quantize: bool) -> Path:
    """The cached .onnx file for this model (exported, fused and quantized on first use)."""
    folder = cache_dir() / _key(model_path)
    if _fusable(model):
        try:
            return _fused_file(model, folder, quantize)
        except RankError as e:  # an unusual variant of a BERT-family graph: the plain graph still runs
            print(f"warning: {e}; running the unfused graph (slower)", file=sys.stderr)
    fp32 = folder / "model.onnx"
    if not fp32.exists():
        _export(model, fp32)
    if not quantize:
        return fp32
    # Plain graph: matmuls only (quantizing the embedding Gather costs accuracy for no speed).
    plain = {**QUANT, "op_types_to_quantize": ["MatMul", "Gemm"]}
    return _quantized(fp32, folder / "model_qint8.onnx", plain)


def _fused_file(model: Any, folder: Path, quantize: bool) -> Path:
    fused = folder / "model-fused.onnx"
    if not fused.exists():
        eager = folder / "model-eager.onnx"
        if not eager.exists():
            _export(model, eager, attn="eager")
        _fuse(model, eager, fused)
        eager.unlink(missing_ok=True)
    if not quantize:
        return fused
    tag = hashlib.sha1(repr(sorted(QUANT.items())).encode()).hexdigest()[:8]
    return _quantized(fused, folder / f"model-fused-int8-{tag}.onnx", QUANT)


def _quantized(src: Path, target: Path, settings: dict[str, Any]) -> Path:
    if target.exists():
        return target
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    tmp = target.with_name(f".{target.name}.{os.getpid()}.part")
    opts = {k: v for k, v in settings.items() if k != "weight_type"}
    # The fused ops (com.microsoft domain) have no ONNX shape inference: their outputs are float tensors.
    quiet = logging.getLogger().level
    logging.getLogger().setLevel(logging.ERROR)  # "consider pre-processing" advice, once per quantization
    try:
        quantize_dynamic(
            src,
            tmp,
            weight_type=QuantType[settings["weight_type"]],
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
            **opts,
        )
        os.replace(tmp, target)
    except Exception as e:
        raise RankError(f"--precision int8: quantizing {src} failed: {e}") from None
    finally:
        logging.getLogger().setLevel(quiet)
        tmp.unlink(missing_ok=True)
    return target


def _fuse(model: Any, src: Path, target: Path) -> None:
    """ONNX Runtime's transformer optimizer on the eager export; the plain export is kept if nothing fused."""
    from onnxruntime.transformers import optimizer

    cfg = model[0].model.config
    tmp = target.with_name(f".{target.name}.{os.getpid()}.part")
    try:
        opt = optimizer.optimize_model(
            str(src),
            model_type="bert",
            num_heads=cfg.num_attention_heads,
            hidden_size=cfg.hidden_size,
            opt_level=1,
            use_gpu=False,
        )
        fused = opt.get_fused_operator_statistics()
        if fused.get("Attention", 0) < getattr(cfg, "num_hidden_layers", 1):
            raise RankError(f"attention fused in {fused.get('Attention', 0)} layers only")
        opt.save_model_to_file(str(tmp))
        os.replace(tmp, target)
    except Exception as e:
        raise RankError(f"--backend onnx: fusing the exported graph failed: {e}") from None
    finally:
        tmp.unlink(missing_ok=True)


def _inputs(model: Any) -> tuple[list[str], dict[str, Any]]:
    enc = model.tokenizer(
        ["export sample text", "a second, longer sample text to pad"], padding=True, return_tensors="pt"
    )
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in enc]
    return names, {n: enc[n] for n in names}


def _export(model: Any, target: Path, attn: str | None = None) -> None:
    """torch.onnx export of the transformer (last hidden state); `attn` picks the attention implementation
    for the export only (the torch model is left as it was)."""
    import torch

    hf = model[0].model
    names, sample = _inputs(model)
    before = hf.config._attn_implementation

    class LastHidden(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module):
            super().__init__()
            self.inner = inner

        def forward(self, *args: torch.Tensor) -> torch.Tensor:
            return self.inner(**dict(zip(names, args, strict=True))).last_hidden_state

    target.parent.mkdir(parents=True, exist_ok=True)
    tmpdir = tempfile.mkdtemp(dir=target.parent, prefix=".export-")
    try:
        if attn is not None:
            hf.set_attn_implementation(attn)
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
        if hf.config._attn_implementation != before:
            hf.set_attn_implementation(before)
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
