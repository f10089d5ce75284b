"""A Hugging Face causal LM through transformers: for GPU machines, or any local model folder."""

from __future__ import annotations

import threading
import time
from typing import Any

from rankers.errors import RankError
from rankers.llm.base import Backend, Completion, Message, TokenScores

# For tokenizers that carry no chat template: plain role markers, enough for a model to answer.
FALLBACK_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


class HFBackend(Backend):
    kind = "hf"

    def __init__(self, model: str, context_length: int | None = None, device: str | None = None):
        super().__init__(model)
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError as e:
            raise RankError(f"hf: transformers/torch are not installed ({e})") from None
        self.torch = torch
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(model)
            self.lm = AutoModelForCausalLM.from_pretrained(model, dtype="auto").to(self.device).eval()
        except (OSError, ValueError) as e:
            raise RankError(f"hf:{model}: cannot load the model ({str(e).splitlines()[0]})") from None
        if not getattr(self.tokenizer, "chat_template", None):
            self.tokenizer.chat_template = FALLBACK_TEMPLATE
        limit = getattr(self.lm.config, "max_position_embeddings", None)
        self._context_length = context_length or (int(limit) if limit else None)
        self._lock = threading.Lock()

    @property
    def identity(self) -> dict[str, Any]:
        return {
            "backend": self.kind,
            "model": self.model,
            "commit": getattr(self.lm.config, "_commit_hash", None),
        }

    @property
    def context_length(self) -> int | None:
        return self._context_length

    def _prompt_ids(self, messages: list[Message]) -> list[int]:
        prompt = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return self.tokenizer(prompt, add_special_tokens=False)["input_ids"]

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
