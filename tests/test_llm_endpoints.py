"""Several openai: endpoints used as one (rankers.llm.endpoints): per-endpoint limits, least-busy choice,
failover and cooldown. Our scheduler is the thing under test, so the servers are local stand-ins
(tests/delay_server.py: a fixed delay, a scripted permutation); the same over a real llama.cpp server is in
tests/test_llm_openai.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from delay_server import delay_server, permutation_answer

from rankers.io import read_run, write_run
from rankers.llm import get_backend
from rankers.llm.endpoints import EndpointPool
from rankers.llm.server import free_port
from rankers.rerank import ListwiseReranker, Totals, rerank_run
from rankers.run import Candidate, Query, Ranking

ROOT = Path(__file__).resolve().parent.parent


def rankings(n_queries: int = 6, hits: int = 12) -> list[Ranking]:
    return [
        Ranking(Query(f"q{k}", f"query {k}"),
                [Candidate(f"d{k}-{i}", 20.0 - i, f"passage {i} of query {k}") for i in range(hits)])
        for k in range(n_queries)
    ]  # fmt: skip


def rerank(urls, threads: int, concurrency: int = 2, **kw):
    backend = get_backend("openai:delay", base_url=urls, concurrency=concurrency, backoff=0.01, **kw)
    reranker = ListwiseReranker(backend, "sliding", hits=12, window=6, stride=3)
    out = list(rerank_run(rankings(), reranker, threads, Totals()))
    stats = backend.endpoint_stats()
    backend.close()
    return [(r.qid, [c.docid for c in r.candidates]) for r in out], stats


def test_the_stand_in_answers_a_permutation_of_the_prompt():
    assert permutation_answer([{"role": "user", "content": "[1] a [2] b [3] c [5] e"}]) == "[3] > [2] > [1]"


def test_two_endpoints_share_the_calls_within_their_limits_and_give_the_same_run():
    with delay_server(0.05) as (one, s1):
        single, _ = rerank(one, threads=1)
    assert [q for q, _ in single] == [f"q{k}" for k in range(6)]
    assert single[0][1] != [f"d0-{i}" for i in range(12)]  # the stand-in's answers did reorder
    with delay_server(0.05) as (a, sa), delay_server(0.05) as (b, sb):
        both, stats = rerank(f"{a},{b}", threads=4, concurrency=2)
    assert both == single  # input order kept, same answers whichever endpoint gave them
    assert sa["calls"] + sb["calls"] == s1["calls"] == 6 * 3  # 3 windows per query, no call lost or repeated
    assert sa["calls"] >= 4 and sb["calls"] >= 4  # both were used
    assert sa["max_inflight"] <= 2 and sb["max_inflight"] <= 2  # the per-endpoint limit held
    assert max(sa["max_inflight"], sb["max_inflight"]) == 2  # and was used: 4 queries in flight
    assert stats["failovers"] == 0 and [e["errors"] for e in stats["endpoints"]] == [0, 0]


def test_a_dead_endpoint_is_skipped_counted_and_does_not_change_the_run():
    dead = f"http://127.0.0.1:{free_port()}/v1"
    with delay_server(0.02) as (live, s):
        single, _ = rerank(live, threads=2)
        calls = s["calls"]
        both, stats = rerank([dead, live], threads=2, concurrency=2)
    assert both == single and s["calls"] == 2 * calls
    # The dead one (first in order, so tried first) failed at least once, each failure moved its call on, and
    # the cooldown kept it from taking a share of the calls.
    assert 1 <= stats["failovers"] == stats["endpoints"][0]["errors"] <= 4
    assert stats["endpoints"][0]["calls"] == stats["endpoints"][0]["errors"]


def test_a_failing_status_moves_the_call_to_the_other_endpoint():
    with delay_server(0.02) as (ref, _):
        single, _ = rerank(ref, threads=1)
    with delay_server(0.02, fail_first=1) as (a, sa), delay_server(0.02) as (b, sb):
        both, stats = rerank([a, b], threads=4, concurrency=2)
    assert both == single
    assert sa["failed"] == 1 and stats["failovers"] == 1 == stats["endpoints"][0]["errors"]
    assert sa["calls"] - sa["failed"] + sb["calls"] == 18


def test_all_endpoints_down_fails_after_the_rounds_naming_them():
    from rankers.llm import BackendError

    urls = [f"http://127.0.0.1:{free_port()}/v1" for _ in range(2)]
    b = get_backend("openai:x", base_url=urls, retries=1, backoff=0.01)
    with pytest.raises(BackendError, match=r"2 endpoints .* did not answer after 4 tries"):
        b.chat([{"role": "user", "content": "hi"}], max_tokens=2)


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_pool_least_busy_first_then_cooldown_then_one_probe():
    clock = Clock()
    pool = EndpointPool([("a", "a"), ("b", "b")], concurrency=2, cooldown=2.0, clock=clock)
    e1, e2, e3 = pool.acquire(set()), pool.acquire(set()), pool.acquire(set())
    assert [e1.url, e2.url, e3.url] == ["a", "b", "a"]  # fewest in flight, then the order given
    pool.release(e1, True, 0.5)
    pool.release(e3, False, failover=True)  # "a" fails: it cools down for 2 s
    assert pool.acquire(set()).url == "b"  # "a" has free slots but is down
    assert pool.acquire({1}).url == "a"  # only "a" is left for a call that failed on "b": probe it
    clock.t = 2.5
    a = pool.endpoints[0]
    assert a.strikes == 1 and a.inflight == 1 and not a.free()  # recovering: one probing call at a time
    pool.release(a, False)
    assert a.down_until == pytest.approx(2.5 + 4.0)  # the second failure in a row doubles the cooldown
    clock.t = 7.0
    e = pool.acquire(set())
    assert e.url == "a"
    pool.release(e, True, 0.1)
    assert a.strikes == 0 and a.free()
    assert pool.stats()["failovers"] == 1


def test_cli_takes_several_base_urls_and_writes_endpoint_counts(tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_run(rankings(4), src)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    with delay_server(0.02) as (a, sa), delay_server(0.02) as (b, sb):
        dead = f"http://127.0.0.1:{free_port()}/v1"
        p = subprocess.run(
            [sys.executable, "-m", "cli.main", "rerank", str(src), "--llm", "openai:delay",
             "--base-url", f"{dead},{a}", "--base-url", b, "--concurrency", "1", "--threads", "3",
             "--hits", "12", "--window-size", "6", "--stride", "3", "--no-cache", "-o", str(out)],
            capture_output=True, text=True, env=env, cwd=ROOT, timeout=120,
        )  # fmt: skip
    assert p.returncode == 0, p.stderr
    assert [r.qid for r in read_run(out)] == ["q0", "q1", "q2", "q3"]
    side = json.loads(Path(f"{out}.cost.json").read_text())
    assert [e["url"] for e in side["endpoints"]["endpoints"]] == [dead, a, b]
    assert side["endpoints"]["failovers"] >= 1 and sa["calls"] + sb["calls"] == 12
    assert sa["max_inflight"] <= 1 and sb["max_inflight"] <= 1
    assert "calls moved to another endpoint" in p.stderr

    bad = subprocess.run([sys.executable, "-m", "cli.main", "rerank", str(src), "--llm", "openai:delay",
                          "--base-url", "ftp://x", "--threads", "0"], capture_output=True, text=True, env=env,
                         cwd=ROOT, timeout=60)  # fmt: skip
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
