"""Suites and their tasks, as data taken from where each benchmark defines itself.

A `Task` is one ranked list per query to produce and score: a dataset (a name `load_dataset` knows, or a
folder), a split, the Lucene analyzer for its language, and the metric the benchmark reports first. An MTEB task
with several language subsets or evaluation splits is several `Task`s of one `group` (the MTEB task), averaged
as mteb averages them.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from rankers.errors import RankError

LOCAL, LOCO, T2RANKING = "local", "loco", "t2ranking"


@dataclass(frozen=True)
class Task:
    name: str  # unique in its suite; the stem of its run file
    dataset: str  # a registered name or a folder
    split: str | None  # None: the dataset's default split
    language: str  # Lucene analyzer (rankers.bm25.LANGUAGES)
    main: str  # the metric the benchmark reports (a rankers.evaluate label)
    preset: str  # the benchmark's metric preset (rankers.evaluate.PRESETS)
    languages: tuple[str, ...] = ()  # as the source lists them (MTEB: ISO 639-3 + script, e.g. eng-Latn)
    group: str | None = None  # the MTEB task this is a subset/split of
    mteb_subset: str | None = None
    source: str = ""
    note: str = ""


@dataclass(frozen=True)
class Suite:
    name: str
    slug: str  # its folder under runs/suites
    title: str
    tasks: tuple[Task, ...] = field(default_factory=tuple)
    note: str = ""

    def average_groups(self) -> list[tuple[str, list[Task]]]:
        """What the average runs over: MTEB tasks (their subsets and splits averaged first), else each task."""
        out: dict[str, list[Task]] = {}
        for t in self.tasks:
            out.setdefault(t.group or t.name, []).append(t)
        return list(out.items())


def slug(name: str) -> str:
    """`MTEB(eng, v2)` -> `mteb-eng-v2`: a benchmark's name as a folder name and a make-friendly argument."""
    return re.sub(r"[^a-z0-9.]+", "-", name.lower()).strip("-")


def get_suite(name: str) -> Suite:
    if name == LOCAL:
        return local_suite()
    if name == LOCO:
        return loco_suite()
    if name == T2RANKING:
        return t2ranking_suite()
    from rankers.suites.mteb_tasks import benchmark_suite

    return benchmark_suite(name)


def builtin_suites() -> list[Suite]:
    return [local_suite(), loco_suite(), t2ranking_suite()]


# ---------------------------------------------------------------- local: the sets on this machine


def local_roots() -> list[Path]:
    """$RANK_DATA_PATH's folders when it is set, else ../shared/data (from the current directory)."""
    roots = [Path(p) for p in os.environ.get("RANK_DATA_PATH", "").split(os.pathsep) if p]
    return roots or [Path.cwd().parent / "shared" / "data"]


def local_suite() -> Suite:
    from rankers.data.registry import REGISTRY, detect_layout
    from rankers.evaluate import PRESETS

    tasks: dict[str, Task] = {}
    roots = local_roots()
    for root in roots:
        for folder in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
            reader = detect_layout(folder)
            if reader is None or folder.name in tasks:
                continue
            entry = REGISTRY.get(folder.name)
            language = entry.language if entry is not None else guess_language(folder)
            ds = reader(folder)
            try:
                split = ds.default_split
            except RankError:
                continue  # no qrels: nothing to score
            collection = getattr(ds, "collection_path", None)
            tasks[folder.name] = Task(
                name=folder.name,
                dataset=str(folder.absolute()),
                split=split,
                language=language,
                main=PRESETS[reader.preset].main,
                preset=reader.preset,
                source=entry.description if entry is not None else f"{reader.layout} folder",
                note="no collection here: queries and qrels only"
                if collection and collection() is None
                else "",
            )
    where = os.pathsep.join(str(r) for r in roots)
    return Suite(LOCAL, LOCAL, f"the sets in {where}", tuple(tasks.values()))


_SCRIPTS = (("zh", re.compile(r"[\u4e00-\u9fff]")), ("ja", re.compile(r"[\u3040-\u30ff]")),
            ("ko", re.compile(r"[\uac00-\ud7af]")))  # fmt: skip


def guess_language(folder: Path) -> str:
    """A local set's analyzer from the script of its first queries: Chinese, Japanese, Korean, else English."""
    from rankers.data.registry import open_folder

    try:
        ds = open_folder(folder)
        text = " ".join(q.text for q, _ in zip(ds.queries().values(), range(50), strict=False))
    except RankError:
        return "en"
    counts = {lang: len(rx.findall(text)) for lang, rx in _SCRIPTS}
    if counts["ja"] > 0 and counts["ja"] >= counts["zh"] / 10:
        return "ja"
    best = max(counts, key=counts.__getitem__)
    return best if counts[best] > len(text) / 10 else "en"


# ---------------------------------------------------------------- LoCoV1 and T2Ranking: their published layouts


def loco_suite() -> Suite:
    from rankers.data.registry import LOCO_TASKS

    tasks = tuple(
        Task(sub, f"loco/{sub}", "test", "en", "ndcg@10", "loco", ("eng-Latn",),
             source="hf:hazyresearch/LoCoV1-Queries + LoCoV1-Documents")
        for sub in LOCO_TASKS
    )  # fmt: skip
    return Suite(
        LOCO, LOCO, "LoCoV1: 12 long-document retrieval tasks, nDCG@10 (Saad-Falcon et al., 2024)", tasks
    )


def t2ranking_suite() -> Suite:
    task = Task("t2ranking", "t2ranking", "dev", "zh", "mrr@10", "t2ranking", ("cmn-Hans",),
                source="hf:THUIR/T2Ranking")  # fmt: skip
    return Suite(T2RANKING, T2RANKING, "T2Ranking dev: THUIR's official metrics (MRR@10 main)", (task,))


# ---------------------------------------------------------------- narrowing


def select(suite: Suite, tasks: list[str] | None = None, languages: list[str] | None = None) -> Suite:
    """The suite cut to some tasks (a task's name, or an MTEB task's name for all its subsets; any case) and to
    some languages (an analyzer code such as zh, or an ISO 639-3 code such as cmn or eng-Latn)."""
    chosen = list(suite.tasks)
    if tasks:
        wanted = {t.lower() for t in tasks}
        known = {t.name.lower() for t in chosen} | {t.group.lower() for t in chosen if t.group}
        unknown = sorted(w for w in wanted if w not in known)
        if unknown:
            names = ", ".join(dict.fromkeys(t.group or t.name for t in chosen))
            raise RankError(f"--tasks: {', '.join(unknown)} not in suite {suite.name} (tasks: {names})")
        chosen = [t for t in chosen if t.name.lower() in wanted or (t.group or "").lower() in wanted]
    if languages:
        wanted = {x.lower() for x in languages}
        chosen = [t for t in chosen if wanted & _language_keys(t)]
        if not chosen:
            langs = sorted({k for t in suite.tasks for k in _language_keys(t)})
            raise RankError(
                f"--languages {','.join(languages)}: no task of {suite.name} in it (languages: {', '.join(langs)})"
            )
    return Suite(suite.name, suite.slug, suite.title, tuple(chosen), suite.note)


def _language_keys(task: Task) -> set[str]:
    keys = {task.language}
    for code in task.languages:
        keys |= {code.lower(), code.lower().split("-")[0]}
    return keys
