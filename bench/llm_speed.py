"""How fast this machine's llama-cpp-python build reads prompts and writes tokens (the two costs of reranking).

Prompt reading (prefill) and writing (decode) are timed apart on a GGUF model, for each thread count given.
A llama.cpp build made for another CPU (e.g. -DGGML_NATIVE=OFF) or any other busy process on the cores shows
here first: llama.cpp's threads wait for each other at every step, so one stolen core slows all of them.

    python bench/llm_speed.py --model qwen2.5-coder-1.5b --threads 1 2
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="qwen2.5-coder-1.5b")
    ap.add_argument("--threads", type=int, nargs="+", default=[os.cpu_count() or 1])
    ap.add_argument("--prompt-tokens", type=int, default=512)
    ap.add_argument("--new-tokens", type=int, default=64)
    args = ap.parse_args()

    import llama_cpp

    from rankers.llm.models import resolve_gguf

    path = resolve_gguf(args.model)
    print(llama_cpp.llama_print_system_info().decode().strip())
    print(f"model {path.name}; 1-minute load average {os.getloadavg()[0]:.1f}")
    text = "Passage: the quick brown fox jumps over the lazy dog near the river bank. " * 200
    for n in args.threads:
        llm = llama_cpp.Llama(str(path), n_ctx=2048, n_threads=n, n_threads_batch=n, verbose=False)
        prompt = llm.tokenize(text.encode())[: args.prompt_tokens]
        t = time.perf_counter()
        llm.eval(prompt)
        prefill = len(prompt) / (time.perf_counter() - t)
        t, made = time.perf_counter(), 0
        for _ in range(args.new_tokens):  # greedy decoding, one token per step
            llm.eval([llm.sample(temp=0.0)])
            made += 1
        decode = made / (time.perf_counter() - t)
        print(f"threads {n}: prompt {prefill:.1f} tokens/s, decode {decode:.1f} tokens/s")
        del llm


if __name__ == "__main__":
    main()
