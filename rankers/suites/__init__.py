"""Whole benchmarks in one command: suites of tasks, systems (pipelines defined as data), a resumable runner,
comparisons across systems and the leaderboards' own files.

- `catalog`: what a suite holds. `local` (the sets in $RANK_DATA_PATH or ../shared/data), `loco` (LoCoV1's 12
  tasks), `t2ranking` (T2Ranking dev), and every MTEB benchmark with retrieval tasks, read from the installed
  mteb package's registry (`mteb_tasks`, imported only when such a suite is named).
- `systems`: a system is a pipeline of the stages a shell pipe chains (retrieve, fuse, rerank), written once in
  YAML or JSON; `bm25` and `bm25+minilm-rrf` are built in (systems/*.yaml).
- `runner`: per task, build or reuse the indexes, run the pipeline, write `<task>.trec` and a record; skip what
  is done, report what fails and go on; `summary.json` holds the main metric per task and the average.
- `compare`: several systems in one table, paired tests Holm-corrected per task and on the average.
- `leaderboard`: MTEB results folders, T2Ranking's official dev metrics, the LoCoV1 table.
"""
