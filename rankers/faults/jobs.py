"""The long `rank` commands as kill-test jobs on tiny inputs cut from real collections (scifact).

`tiny_inputs(data_dir, root)` writes the inputs once (a small BEIR folder, a run with passage texts, examples,
training pairs, an event source); each `*_job` returns a `kill.Job` over them. The LLM jobs need a server
(`rerank`) or llama-cpp-python (`synth`); `data get` needs a `HubServer` (a local stand-in for the hub).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from rankers.faults.kill import (
    Job,
    same_bytes,
    same_dense_index,
    same_model,
    same_ranking,
    same_tree,
    sqlite_intact,
)
from rankers.faults.loopback import LoopbackServer, start_range


@dataclass
class Inputs:
    dataset: Path  # BEIR layout: corpus.jsonl, queries.jsonl, qrels/test.tsv
    run: Path  # JSONL run with passage texts (for rerank)
    examples: Path  # few-shot examples for synth
    pairs: Path  # training pairs for train dense
    events: Path  # event source for events build
    loco_docs: bytes  # the two hub files of `data get`
    loco_queries: bytes


def tiny_inputs(data_dir: Path, root: Path, docs: int = 200) -> Inputs:
    from rankers.io import write_run
    from rankers.run import Candidate, Query, Ranking

    src = Path(data_dir) / "scifact"
    root.mkdir(parents=True, exist_ok=True)
    ds = root / "tiny-scifact"
    (ds / "qrels").mkdir(parents=True, exist_ok=True)
    corpus = [json.loads(x) for x in (src / "corpus.jsonl").read_text().splitlines()[:docs]]
    (ds / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in corpus))
    queries = [json.loads(x) for x in (src / "queries.jsonl").read_text().splitlines()[:6]]
    (ds / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    (ds / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n"
        + "".join(f"{q['_id']}\t{corpus[i]['_id']}\t1\n" for i, q in enumerate(queries))
    )
    text = {d["_id"]: f"{d.get('title', '')} {d['text']}"[:400] for d in corpus}
    ids = list(text)
    run = root / "run.jsonl"
    write_run(
        [Ranking(Query(q["_id"], q["text"]),
                 [Candidate(ids[(7 * k + i) % len(ids)], 12.0 - i, text[ids[(7 * k + i) % len(ids)]]) for i in range(6)])
         for k, q in enumerate(queries[:1])],
        run,
    )  # fmt: skip
    examples = root / "examples.jsonl"
    examples.write_text(
        json.dumps({"query": "what do pandas eat", "document": "Giant pandas eat bamboo almost exclusively."})
        + "\n"
    )
    pairs = root / "pairs.jsonl"
    pairs.write_text(
        "".join(
            json.dumps(
                {"qid": f"p{i}", "query": " ".join(text[d].split()[:8]), "docid": d, "document": text[d]}
            )
            + "\n"
            for i, d in enumerate(ids[:32])
        )
    )
    events = root / "events.jsonl"
    events.write_text(
        "".join(
            json.dumps(
                {
                    "id": d,
                    "date": f"2022-{1 + i % 12:02d}-{1 + i % 28:02d}",
                    "title": text[d][:40],
                    "text": text[d],
                }
            )
            + "\n"
            for i, d in enumerate(ids)
        )
    )
    loco = Path(data_dir) / "qmsum-loco"
    loco_docs = (loco / "documents.jsonl").read_bytes()
    pids = {json.loads(d)["pid"] for d in loco_docs.decode().splitlines()}
    loco_queries = "".join(
        q + "\n"
        for q in (loco / "queries.jsonl").read_text().splitlines()
        if json.loads(q)["answer_pids"][0] in pids
    ).encode()
    return Inputs(ds, run, examples, pairs, events, loco_docs, loco_queries)


# ---------------------------------------------------------------- jobs


def bm25_job(inp: Inputs) -> Job:
    def same(a: Path, b: Path) -> str | None:
        return _same_bm25(a, b, inp.dataset)

    return Job("index bm25", ["index", "bm25", "-d", str(inp.dataset), "-i", "{work}/idx", "--threads", "1"],
               "idx", same)  # fmt: skip


def _same_bm25(a: Path, b: Path, dataset: Path) -> str | None:
    """Lucene writes random segment ids: compare what the index says (its manifest) and what it finds."""
    ma, mb = (json.loads((p / "rank-index.json").read_text()) for p in (a, b))
    for k in ("documents", "skipped_empty", "language", "fields"):
        if ma[k] != mb[k]:
            return f"rank-index.json {k}: {mb[k]} vs {ma[k]}"
    if not any(b.glob("segments_*")):
        return "no Lucene segments"
    return None


def dense_job(inp: Inputs, engine: str = "local") -> Job:
    return Job(
        f"index dense ({engine})",
        ["index", "dense", "-d", str(inp.dataset), "-i", "{work}/idx", "--model", "minilm", "--max-length", "64",
         "--batch-size", "8", "--checkpoint-every", "16", "--engine", engine],
        "idx",
        same_dense_index,
        intact=_dense_partial_intact,
    )  # fmt: skip


def _dense_partial_intact(work: Path) -> str | None:
    import numpy as np

    part = work / "idx.partial"
    if not part.exists():
        return None
    state = part / "build.json"
    if state.exists():
        try:
            json.loads(state.read_text())
        except ValueError:
            return "idx.partial/build.json is not JSON"
    for shard in part.glob("shard-*.npy"):
        try:
            np.load(shard)
        except (OSError, ValueError) as e:
            return f"{shard.name}: {e}"
    return None


def rerank_job(inp: Inputs, base_url: str, mode: str) -> Job:
    extra = ["--window-size", "4", "--stride", "2"] if mode == "sliding" else []
    return Job(
        f"rerank {mode}",
        ["rerank", str(inp.run), "--llm", "openai:local", "--base-url", base_url, "--mode", mode, "--hits", "6",
         *extra, "--max-passage-tokens", "24", "--cache-dir", "{work}/cache", "--concurrency", "1",
         "-o", "{work}/out.jsonl"],
        "out.jsonl",
        same_ranking,
        intact=lambda work: sqlite_intact(work / "cache" / "responses.sqlite"),
    )  # fmt: skip


def synth_job(inp: Inputs) -> Job:
    def intact(work: Path) -> str | None:
        why = sqlite_intact(work / "cache" / "llm" / "responses.sqlite")
        journal = work / "pairs.jsonl.partial"
        if why or not journal.exists():
            return why
        lines = journal.read_bytes().split(b"\n")
        for n, line in enumerate(lines[:-1], 1):  # the last piece may be torn: it is cut off on resume
            try:
                json.loads(line)
            except ValueError:
                return f"pairs.jsonl.partial:{n}: a torn line before the last"
        return None

    return Job(
        "synth",
        ["synth", "-d", str(inp.dataset), "--examples", str(inp.examples), "--llm", "llamacpp:smollm2",
         "--docs", "3", "--per-doc", "1", "--batch", "1", "-o", "{work}/pairs.jsonl"],
        "pairs.jsonl",
        same_bytes,
        intact=intact,
        env={"RANK_CACHE_DIR": "{work}/cache"},
        # One CPU, so one llama.cpp thread: two spin at every barrier when the machine is loaded (15-40x slower).
        prefix=["taskset", "-c", "0"] if shutil.which("taskset") else [],
    )  # fmt: skip


def train_job(inp: Inputs) -> Job:
    def intact(work: Path) -> str | None:
        for ckpt in work.glob("*checkpoint*"):
            state = ckpt / "state.pt"
            if ckpt.is_dir() and state.exists():
                import torch

                try:
                    torch.load(state, weights_only=False)
                except Exception as e:
                    return f"{ckpt.name}/state.pt: {type(e).__name__}: {e}"
        return None

    return Job(
        "train dense",
        ["train", "dense", "--pairs", str(inp.pairs), "--model", "minilm", "--output", "{work}/model",
         "--epochs", "3", "--batch-size", "8", "--max-seq-length", "32"],
        "model",
        same_model,
        intact=intact,
    )  # fmt: skip


def events_job(inp: Inputs) -> Job:
    def same(a: Path, b: Path) -> str | None:
        import polars as pl

        from rankers.events import LUCENE, MANIFEST, TABLE

        if not (b / MANIFEST).is_file():
            return f"no {MANIFEST}"
        ma, mb = (json.loads((p / MANIFEST).read_text()) for p in (a, b))
        for m in (ma, mb):
            m.pop("built", None)
        if ma != mb:
            return "manifest differs"
        if not pl.read_parquet(a / TABLE).equals(pl.read_parquet(b / TABLE)):
            return f"{TABLE} differs"
        return _same_bm25(a / LUCENE, b / LUCENE, inp.dataset)

    return Job("events build", ["events", "build", "--source", str(inp.events), "--index", "{work}/store"],
               "store", same)  # fmt: skip


def data_get_job(hub_url: str) -> Job:
    return Job(
        "data get",
        ["data", "get", "loco/qmsum"],
        "ds/loco/qmsum",
        same_tree(),
        env={"RANK_DATASETS_DIR": "{work}/ds", "RANK_DATA_PATH": "", "HF_ENDPOINT": hub_url},
    )


# ---------------------------------------------------------------- a local stand-in for the hub


class HubServer(LoopbackServer):
    """Serves two LoCo repositories at fixed commits as the hub's API does (tree listing, resolve/, revision/main),
    `rate` bytes per second so that a download lasts long enough to be killed in the middle; honours Range."""

    def __init__(self, docs: bytes, queries: bytes, rate: float = 2_000_000):
        self.files: dict[str, bytes] = {}
        for repo, rev, path, data in (
            ("hazyresearch/LoCoV1-Documents", "c" * 40, "qmsum_test.jsonl", docs),
            ("hazyresearch/LoCoV1-Queries", "d" * 40, "documents/qmsum_test.jsonl", queries),
        ):
            oid = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
            rows = [{"type": "file", "path": path, "size": len(data), "oid": oid}]
            self.files[f"/datasets/{repo}/resolve/{rev}/{path}"] = data
            self.files[f"/api/datasets/{repo}/tree/{rev}?recursive=true"] = json.dumps(rows).encode()
            self.files[f"/api/datasets/{repo}/revision/main"] = json.dumps({"id": repo, "sha": rev}).encode()
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                data = hub.files.get(self.path)
                if data is None:
                    self.send_error(404)
                    return
                start = start_range(self, len(data))
                if start is None:
                    return
                self.end_headers()
                step = 16384
                try:
                    for i in range(start, len(data), step):
                        self.wfile.write(data[i : i + step])
                        time.sleep(step / rate)
                except OSError:
                    pass

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(Handler)
