"""LLM backends behind one interface (chat, token counting, next-token scores), a response cache, model files.

    from rankers.llm import get_backend
    llm = get_backend("openai:qwen", cache=True)          # or "llamacpp:qwen2.5-coder-1.5b", "hf:NAME"
    c = llm.chat([{"role": "user", "content": "..."}], max_tokens=64)
    c.text, c.prompt_tokens, c.completion_tokens, c.wall_s, c.cached

Heavy modules (llama_cpp, torch, transformers) are imported only when their backend is built.
"""

from rankers.llm.base import Backend, BackendError, ChatRequest, Completion, Message, TokenScores
from rankers.llm.concurrent import ordered_map
from rankers.llm.registry import get_backend, parse_spec

__all__ = [
    "Backend",
    "BackendError",
    "ChatRequest",
    "Completion",
    "Message",
    "TokenScores",
    "get_backend",
    "ordered_map",
    "parse_spec",
]
