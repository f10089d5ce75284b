"""ONNX int8 encoding, step by step, against torch fp32 and against the CPU's own measured limit (issue 14).

Every step runs the transformer alone on the same pre-tokenized batches (length-sorted, as
sentence-transformers batches them), then pools and normalizes like the model; calls alternate across steps
and the best of --repeat counts. CPU time (process CPU seconds, all threads) is the steady measure on a shared
machine; wall is reported beside it. The limit: the model's FLOPs per document (from the real token counts)
over the throughput of one large fp32 GEMM (torch) and one int8 GEMM (ONNX Runtime MatMulInteger, u8 x s8)
of the model's own FFN shape, both per CPU second.

Usage: python bench/onnx_steps.py --docs 256 [--repeat 2] [--out bench/results/dense.md]
(the table replaces the file's section headed SECTION, or is appended).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SECTION = "## ONNX int8 step by step (issue 14)"


def cpu_timed(fn, rounds: int = 3) -> float:
    """Best CPU seconds of fn()."""
    best = float("inf")
    for _ in range(rounds):
        c = time.process_time()
        fn()
        best = min(best, time.process_time() - c)
    return best


def gemm_limits(h: int, f: int, threads: int) -> tuple[float, float]:
    """(fp32, int8) GFLOP per CPU second of an (8192 x h) @ (h x f) product: torch fp32, ORT MatMulInteger."""
    import numpy as np
    import onnxruntime as ort
    import torch
    from onnx import TensorProto, helper, numpy_helper

    m = 8192
    flops = 2 * m * h * f
    a, b = torch.randn(m, h), torch.randn(h, f)
    torch.mm(a, b)
    fp32 = flops / cpu_timed(lambda: torch.mm(a, b), 10) / 1e9
    w = numpy_helper.from_array(np.random.randint(-127, 127, (h, f), dtype=np.int8), "B")
    node = helper.make_node("MatMulInteger", ["A", "B"], ["Y"])
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("A", TensorProto.UINT8, [m, h])],
        [helper.make_tensor_value_info("Y", TensorProto.INT32, [m, f])],
        [w],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    s = ort.InferenceSession(model.SerializeToString(), opts)
    x = {"A": np.random.randint(0, 255, (m, h), dtype=np.uint8)}
    s.run(None, x)
    int8 = flops / cpu_timed(lambda: s.run(None, x), 10) / 1e9
    return fp32, int8


def model_flops(lengths: list[int], layers: int, h: int, f: int) -> float:
    """Matmul FLOPs of a BERT encoder over documents of these token counts (each its own attention)."""
    per_token = 2 * (4 * h * h + 2 * h * f)
    return sum(layers * (n * per_token + 2 * 2 * n * n * h) for n in lengths)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", type=Path, default=ROOT.parent / "shared" / "data" / "scifact")
    ap.add_argument("--docs", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument(
        "--core", action="store_true", help="only the steps that make the new default (a loaded machine)"
    )
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "dense.md")
    args = ap.parse_args()

    import numpy as np
    import onnxruntime as ort
    import torch

    from rankers import onnx_backend as ob
    from rankers.io import atomic_write
    from rankers.models import load_encoder

    load0 = os.getloadavg()[0]
    texts = []
    with open(args.dataset / "corpus.jsonl") as fh:
        for line in fh:
            d = json.loads(line)
            texts.append(f"{d['title']} {d['text']}" if d.get("title") else d["text"])
            if len(texts) == args.docs:
                break
    n = len(texts)
    model = load_encoder("minilm")
    tok, hf = model.tokenizer, model[0].model.eval()
    cfg = hf.config
    limit = model.max_seq_length

    def batches(order: list[int]):
        return [
            tok(
                [texts[i] for i in order[s : s + args.batch_size]],
                padding=True,
                truncation=True,
                max_length=limit,
                return_tensors="np",
            )
            for s in range(0, n, args.batch_size)
        ]

    by_length = sorted(range(n), key=lambda i: -len(texts[i]))  # sentence-transformers' order (characters)
    sorted_b, unsorted_b = batches(by_length), batches(list(range(n)))
    lengths = [int(x) for b in sorted_b for x in b["attention_mask"].sum(1)]

    def padding(bs) -> float:
        return 1 - sum(int(b["attention_mask"].sum()) for b in bs) / sum(b["attention_mask"].size for b in bs)

    def pool(hidden, mask):
        m = mask[..., None].astype(np.float32)
        v = (hidden * m).sum(1) / m.sum(1)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    def torch_step(bs):
        def run():
            out = []
            with torch.inference_mode():
                for b in bs:
                    hidden = hf(**{k: torch.from_numpy(v) for k, v in b.items()}).last_hidden_state
                    out.append(pool(hidden.numpy(), b["attention_mask"]))
            return np.concatenate(out)

        return run

    def ort_step(path: Path, bs, threads: int = torch.get_num_threads(), spin: bool = False):
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
        s = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        want = [i.name for i in s.get_inputs()]

        def run():
            out = []
            for b in bs:
                (hidden,) = s.run(None, {k: b[k].astype(np.int64) for k in want})
                out.append(pool(hidden, b["attention_mask"]))
            return np.concatenate(out)

        return run

    # The graphs: today's plain export, and the fused one with the int8 settings compared.
    work = Path(tempfile.mkdtemp(prefix="onnx-steps-"))
    plain = work / "plain.onnx"
    ob._export(model, plain)
    eager = work / "eager.onnx"
    ob._export(model, eager, attn="eager")
    fused = work / "fused.onnx"
    ob._fuse(model, eager, fused)
    pc = {"weight_type": "QInt8", "per_channel": True, "reduce_range": False}
    variants = {  # name: (source graph, settings, in the --core set)
        "plain int8": (plain, {**pc, "op_types_to_quantize": ["MatMul", "Gemm"]}, True),
        "per-tensor": (fused, {**pc, "per_channel": False}, False),
        "u8 weights": (fused, {**pc, "weight_type": "QUInt8"}, False),
        "MatMul only": (fused, {**pc, "op_types_to_quantize": ["MatMul"]}, True),
        "reduce range": (fused, {**pc, "reduce_range": True}, False),
        "chosen": (fused, ob.QUANT, True),
    }
    q = {
        k: ob._quantized(src, work / f"q{i}.onnx", settings)
        for i, (k, (src, settings, core)) in enumerate(variants.items())
        if core or not args.core
    }
    chosen = "**+ int8 per-channel s8 weights, all ops (new default)**"
    plan = [  # (label, in the --core set, make the step)
        ("torch fp32 (sentence-transformers today; baseline)", True, lambda: torch_step(sorted_b)),
        ("ONNX fp32, plain torch.onnx export (SDPA)", False, lambda: ort_step(plain, sorted_b)),
        (
            "ONNX int8, plain export (before: per-channel, MatMul/Gemm)",
            True,
            lambda: ort_step(q["plain int8"], sorted_b),
        ),
        (
            "ONNX fp32, eager export + ORT fusion (Attention, SkipLayerNorm, BiasGelu, EmbedLayerNorm)",
            True,
            lambda: ort_step(fused, sorted_b),
        ),
        ("+ int8 per-tensor, all ops", False, lambda: ort_step(q["per-tensor"], sorted_b)),
        ("+ int8 per-channel, u8 weights, all ops", False, lambda: ort_step(q["u8 weights"], sorted_b)),
        (
            "+ int8 per-channel, MatMul only (Attention stays fp32)",
            True,
            lambda: ort_step(q["MatMul only"], sorted_b),
        ),
        ("+ int8 per-channel, reduce_range, all ops", False, lambda: ort_step(q["reduce range"], sorted_b)),
        (chosen, True, lambda: ort_step(q["chosen"], sorted_b)),
        ("new default, 1 intra-op thread", True, lambda: ort_step(q["chosen"], sorted_b, threads=1)),
        ("new default, spinning threads", False, lambda: ort_step(q["chosen"], sorted_b, spin=True)),
        (
            "new default, batches in corpus order (not length-sorted)",
            True,
            lambda: ort_step(q["chosen"], unsorted_b),
        ),
    ]
    steps = {label: make() for label, core, make in plan if core or not args.core}
    wall = {k: float("inf") for k in steps}
    cpu = dict(wall)
    vecs = {}
    for r in range(args.repeat):
        for k, fn in steps.items():
            t, c = time.perf_counter(), time.process_time()
            vecs[k] = fn()
            wall[k] = min(wall[k], time.perf_counter() - t)
            cpu[k] = min(cpu[k], time.process_time() - c)
            print(r, f"{wall[k]:.1f} {cpu[k]:.1f}", k, flush=True)
    load1 = os.getloadavg()[0]
    threads = torch.get_num_threads()
    lim32, lim8 = gemm_limits(cfg.hidden_size, cfg.intermediate_size, threads)
    flops = model_flops(lengths, cfg.num_hidden_layers, cfg.hidden_size, cfg.intermediate_size) / n

    base = next(iter(steps))
    ref = vecs[base]
    unsorted_key = list(steps)[-1]
    lines = [
        SECTION,
        "",
        f"Written by `bench/onnx_steps.py --docs {n} --repeat {args.repeat}{' --core' if args.core else ''}` "
        "(`make bench-onnx-steps`): all-MiniLM-L6-v2,",
        f"the first {n} scifact documents (title + text, {limit}-token limit, batch {args.batch_size}), transformer +",
        f"mean pooling only (tokenized once), {os.cpu_count()} cores, {threads} threads, load average {load0:.1f} at start,",
        f"{load1:.1f} at end (shared machine: the CPU-time column is the steady one). Best of {args.repeat}, calls alternating.",
        "Cosine: to the torch fp32 vectors of the same documents.",
        "",
        "| step | docs/s (wall) | docs per CPU-second | x torch (wall) | x torch (CPU time) | cosine mean | cosine min |",
        "|---|---|---|---|---|---|---|",
    ]
    for k in steps:
        # Rows follow the batches: length order, except the corpus-order step (row i is document i).
        got = vecs[k][by_length] if k == unsorted_key else vecs[k]
        cos = (got * ref).sum(1)
        lines.append(
            f"| {k} | {n / wall[k]:.2f} | {n / cpu[k]:.2f} | {wall[base] / wall[k]:.2f} | {cpu[base] / cpu[k]:.2f} | "
            f"{cos.mean():.4f} | {cos.min():.4f} |"
        )
    lines += [
        "",
        f"Padding: {padding(sorted_b):.1%} of the token slots in length-sorted batches, {padding(unsorted_b):.1%} in corpus "
        f"order ({np.mean(lengths):.0f} real tokens per document on average; {np.mean(np.array(lengths) >= limit):.0%} "
        f"reach the {limit}-token limit, so there is little padding left to trim).",
        "",
        f"**Limit.** The model costs {flops / 1e9:.2f} GFLOP per document here (matmuls, attention included). One "
        f"{cfg.hidden_size}x{cfg.intermediate_size} GEMM over 8,192 rows runs at {lim32:.0f} GFLOP per CPU-second in torch fp32 and "
        f"{lim8:.0f} in ONNX Runtime int8 (u8 x s8), i.e. {lim8 / lim32:.1f}x. So at most {lim32 * 1e9 / flops:.1f} docs per "
        f"CPU-second in fp32 and {lim8 * 1e9 / flops:.1f} in int8 (x{threads} on an idle {threads}-core machine). Measured: torch fp32 "
        f"{n / cpu[base]:.1f} ({n / cpu[base] * flops / (lim32 * 1e9):.0%} of its limit), new int8 {n / cpu[chosen]:.1f} "
        f"({n / cpu[chosen] * flops / (lim8 * 1e9):.0%} of the int8 limit).",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    old = args.out.read_text() if args.out.exists() else ""
    head = old.split(SECTION)[0].rstrip() if SECTION in old else old.rstrip()
    with atomic_write(args.out) as fh:
        fh.write((head + "\n\n" if head else "") + text)
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
