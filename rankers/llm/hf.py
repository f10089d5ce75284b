"""A Hugging Face causal LM through transformers: for GPU machines, or any local model folder."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path
from typing import Any

from rankers.errors import RankError
from rankers.llm.base import Backend, Completion, Message, TokenScores

# For tokenizers that carry no chat template: plain role markers, enough for a model to answer.
FALLBACK_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def model_source(model: str) -> tuple[str, dict[str, Any]]:
    """Where transformers loads `model` from: a folder or hub name as it is, or a GGUF file (a path, or a short
    name of `rankers.llm.models` such as smollm2) through transformers' GGUF reader, which dequantizes it."""
    from rankers.llm.models import MODELS, resolve_gguf

    if model in MODELS or (model.endswith(".gguf") and Path(model).is_file()):
        path = resolve_gguf(model)
        return str(path.parent), {"gguf_file": path.name}
    return model, {}


def converted_gguf(source: str, gguf_file: str) -> Path:
    """A GGUF model as a plain Hugging Face folder, converted once into the model cache and reused.

    transformers dequantizes GGUF tensors and converts the GGUF tokenizer on every load (~30 s for SmolLM2-135M on
    2 cores, against ~2 s from safetensors), and marks the result as quantized, which forbids saving it (a
    fine-tuned model must be written) and casting it: so it is rebuilt once as a plain model with those weights.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from rankers.io import build_dir, swap_dir
    from rankers.llm.models import models_dir

    gguf = Path(source) / gguf_file
    st = gguf.stat()
    target = models_dir() / "hf" / f"{gguf.stem}-{st.st_size}-{st.st_mtime_ns}"
    if (target / "config.json").is_file():
        return target
    tokenizer = AutoTokenizer.from_pretrained(source, gguf_file=gguf_file)
    lm = AutoModelForCausalLM.from_pretrained(source, gguf_file=gguf_file)
    config = lm.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, dtype=next(lm.parameters()).dtype)
    plain.load_state_dict(lm.state_dict())
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = build_dir(target)
    try:
        plain.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        swap_dir(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def local_stamp(model: str) -> str | None:
    """A short hash of a local model's weight files (names, sizes, modification times), so that the answer cache
    never serves a model retrained into the same folder with the old model's answers; None for hub names."""
    import hashlib

    source, extra = model_source(model)
    root = Path(source)
    if not root.is_dir():
        return None
    files = (
        [root / extra["gguf_file"]]
        if extra
        else sorted(root.glob("*.safetensors")) + sorted(root.glob("*.bin"))
    )
    h = hashlib.sha256()
    for f in [*files, root / "config.json"]:
        if f.is_file():
            st = f.stat()
            h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.hexdigest()[:16]


def load_causal_lm(model: str, device: str | None = None, dtype: str = "auto"):
    """(tokenizer, model, device) of a causal LM: a folder, a hub name, a GGUF file or a short GGUF name."""
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as e:
        raise RankError(f"hf: transformers/torch are not installed ({e})") from None
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    source, extra = model_source(model)
    try:
        if extra:
            source = str(converted_gguf(source, extra["gguf_file"]))
        tokenizer = AutoTokenizer.from_pretrained(source)
        lm = AutoModelForCausalLM.from_pretrained(source, dtype=dtype).to(device)
    except (OSError, ValueError) as e:
        raise RankError(f"hf:{model}: cannot load the model ({str(e).splitlines()[0]})") from None
    if not getattr(tokenizer, "chat_template", None):
        tokenizer.chat_template = FALLBACK_TEMPLATE
    return tokenizer, lm, device


def chat_prompt_ids(tokenizer: Any, messages: list[Message]) -> list[int]:
    """The token ids a chat prompt is given to the model as, up to the assistant's turn: at inference and in
    training alike (rankers.train.listwise), so a fine-tuned model sees exactly the prompts it learnt on."""
    prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return tokenizer(prompt, add_special_tokens=False)["input_ids"]


class HFBackend(Backend):
    kind = "hf"

    def __init__(self, model: str, context_length: int | None = None, device: str | None = None):
        super().__init__(model)
        import torch

        self.torch = torch
        self.tokenizer, self.lm, self.device = load_causal_lm(model, device)
        self.lm.eval()
        limit = getattr(self.lm.config, "max_position_embeddings", None)
        self._context_length = context_length or (int(limit) if limit else None)
        self._lock = threading.Lock()

    @property
    def identity(self) -> dict[str, Any]:
        return {
            "backend": self.kind,
            "model": self.model,
            "commit": getattr(self.lm.config, "_commit_hash", None),
            "files": local_stamp(self.model),
        }

    @property
    def context_length(self) -> int | None:
        return self._context_length

    def _prompt_ids(self, messages: list[Message]) -> list[int]:
        return chat_prompt_ids(self.tokenizer, messages)

    def count_chat_tokens(self, messages) -> int:
        return len(self._prompt_ids(list(messages)))

    def _chat(
        self,
        messages: list[Message],
        max_tokens: int,
        temperature: float,
        stop: list[str] | None,
        seed: int | None,
    ) -> Completion:
        torch = self.torch
        t0 = time.perf_counter()
        ids = self._prompt_ids(messages)
        with self._lock, torch.inference_mode():
            if seed is not None:
                torch.manual_seed(seed)
            x = torch.tensor([ids], device=self.device)
            sample = temperature > 0
            out = self.lm.generate(
                x,
                attention_mask=torch.ones_like(x),
                max_new_tokens=max_tokens,
                do_sample=sample,
                **({"temperature": temperature} if sample else {}),
                pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id or 0,
            )
        new = out[0, len(ids) :].tolist()
        text = self.tokenizer.decode(new, skip_special_tokens=True)
        finish = "length" if len(new) >= max_tokens else "stop"
        for s in stop or []:
            if s in text:
                text, finish = text[: text.index(s)], "stop"
        return Completion(text, len(ids), len(new), time.perf_counter() - t0, finish_reason=finish)

    def _token_scores(self, messages: list[Message], candidates: list[str]) -> TokenScores:
        torch = self.torch
        t0 = time.perf_counter()
        ids = self._prompt_ids(messages)
        with self._lock, torch.inference_mode():
            logits = self.lm(torch.tensor([ids], device=self.device)).logits[0, -1].float().cpu()
        scores = {}
        for c in candidates:
            first = self.tokenizer(c, add_special_tokens=False)["input_ids"]
            if not first:
                raise ValueError(f"token_scores: candidate {c!r} has no tokens")
            scores[c] = float(logits[first[0]])
        return TokenScores(scores, len(ids), time.perf_counter() - t0)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"]) if text else 0

    def truncate(self, text: str, n_tokens: int) -> str:
        enc = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=self.tokenizer.is_fast)
        ids = enc["input_ids"]
        if len(ids) <= n_tokens:
            return text
        if n_tokens <= 0:
            return ""
        if self.tokenizer.is_fast:
            # Cut the original text where the n-th token ends: keeps its spacing and case, and never splits a character.
            return text[: enc["offset_mapping"][n_tokens - 1][1]]
        return self.tokenizer.decode(ids[:n_tokens], skip_special_tokens=True)

    def close(self) -> None:
        self.lm = None
