"""Training: a bi-encoder on (query, document) pairs (`dense`, Promptagator), and a listwise LLM reranker on
complete rankings (`labels` makes them, `listwise` fine-tunes on them with the importance-aware loss of
`loss`). Heavy imports (torch, transformers, peft) happen inside the functions."""

from rankers.train.dense import TrainReport, mine_negatives, train_dense

__all__ = ["TrainReport", "mine_negatives", "train_dense"]
