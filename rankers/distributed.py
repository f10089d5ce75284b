"""Encoding shards on a Ray cluster: one actor per worker loads the model once and encodes whole shards.

The driver walks the corpus (it keeps only docids), sends each shard's texts to a free actor and writes the
vectors it gets back exactly where a local run writes them, so both engines produce the same index and a
Ray run resumes a local one (and the other way round). Workers need `rank` installed in the same Python
environment (on a cluster: the same image or `pip install` on every node); no shared file system is needed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import asdict
from typing import Any

import numpy as np

from rankers.errors import RankError


def _actor_class(ray: Any) -> Any:
    @ray.remote
    class EncoderActor:
        def __init__(self, cfg: dict[str, Any], model_path: str, threads: int):
            import torch

            from rankers.dense import DenseConfig, make_encoder

            torch.set_num_threads(threads)
            self.enc = make_encoder(DenseConfig(**cfg), model_path)

        def encode(self, number: int, texts: list[str]) -> tuple[int, np.ndarray]:
            return number, self.enc.encode_docs(texts)

    return EncoderActor


def ray_encode(
    shards: Iterator[Any],
    cfg: Any,
    model_path: str,
    *,
    address: str | None = None,
    workers: int | None = None,
    say: Callable[[str], None] = lambda m: None,
) -> Iterator[tuple[int, np.ndarray]]:
    """(shard number, vectors) for every shard, in completion order; at most two shards queued per worker."""
    try:
        import ray
    except ImportError:
        raise RankError("--engine ray: the ray package is not installed (pip install ray)") from None
    gpu = cfg.device.startswith("cuda")
    started = False
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {
            "include_dashboard": False,
            "log_to_driver": False,
            "configure_logging": False,
        }
        if address:
            kwargs["address"] = address
        else:
            kwargs["num_cpus"] = os.cpu_count() or 1  # the workers then share every core
        try:
            ray.init(**kwargs)
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise RankError(f"--ray-address {address}: cannot join the Ray cluster: {e}") from None
        started = True
    try:
        res = ray.cluster_resources()
        cpus = int(res.get("CPU", 1))
        n = workers or (int(res.get("GPU", 0)) if gpu else cpus)
        if n < 1:
            raise RankError("--engine ray: the cluster has no " + ("GPU" if gpu else "CPU"))
        threads = max(1, cpus // n)
        opts = {"num_gpus": 1, "num_cpus": 1} if gpu else {"num_cpus": threads}
        say(f"ray: {n} worker(s), {threads} thread(s) each{' on GPUs' if gpu else ''}")
        actor = _actor_class(ray)
        pool = [actor.options(**opts).remote(asdict(cfg), model_path, threads) for _ in range(n)]
        yield from _dispatch(ray, pool, shards)
    finally:
        if started:
            ray.shutdown()


def _dispatch(ray: Any, pool: list[Any], shards: Iterator[Any]) -> Iterator[tuple[int, np.ndarray]]:
    free = list(pool) * 2  # two shards per actor: one encoding, one queued behind it
    running: dict[Any, Any] = {}
    exhausted = False
    while True:
        while free and not exhausted:
            s = next(shards, None)
            if s is None:
                exhausted = True
                break
            a = free.pop()
            running[a.encode.remote(s.number, s.texts)] = a
        if not running:
            return
        done, _ = ray.wait(list(running), num_returns=1)
        for ref in done:
            free.append(running.pop(ref))
            try:
                yield ray.get(ref)
            except ray.exceptions.RayError as e:
                raise RankError(f"--engine ray: a worker failed: {str(e).splitlines()[0]}") from None
