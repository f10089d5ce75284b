"""MTEB suites and tasks from the installed mteb package's registry (its task metadata ships in the package).

A benchmark (`MTEB(eng, v2)`, `MTEB(cmn, v1)`, `MTEB(Multilingual, v2)` ...) becomes a suite of its retrieval
tasks; each task brings its hub dataset and revision, evaluation splits, language subsets, languages and main
score. Nothing here is a list we keep: a new mteb release brings its own tasks and revisions.

mteb is imported only here and only when an MTEB suite or an `mteb/<Task>` dataset is named (~9 s).
"""

from __future__ import annotations

import re
from typing import Any

from rankers.errors import RankError
from rankers.suites.catalog import Suite, Task, slug

# Short names of the benchmarks people say most.
ALIASES = {"mmteb": "MTEB(Multilingual, v2)", "mteb": "MTEB(eng, v2)", "cmteb": "MTEB(cmn, v1)"}
RETRIEVAL = "Retrieval"
# ISO 639-3 -> the Lucene analyzer (rankers.bm25.LANGUAGES) for that language.
ANALYZERS = {
    "eng": "en", "ara": "ar", "ben": "bn", "dan": "da", "deu": "de", "spa": "es", "fas": "fa", "pes": "fa",
    "fin": "fi", "fra": "fr", "hin": "hi", "hun": "hu", "ind": "id", "ita": "it", "jpn": "ja", "kor": "ko",
    "nld": "nl", "nor": "no", "nob": "no", "nno": "no", "pol": "pl", "por": "pt", "rus": "ru", "swe": "sv",
    "tel": "te", "tha": "th", "tur": "tr", "ukr": "uk", "zho": "zh", "cmn": "zh", "yue": "zh",
}  # fmt: skip
# mteb's score names -> rankers.evaluate labels.
_SCORE = re.compile(r"^(ndcg|map|mrr|recall|precision|hit_rate)_at_([1-9][0-9]*)$")


def _mteb() -> Any:
    from rankers.export.mteb import _mteb as load

    return load()


def benchmark_names() -> list[str]:
    """The mteb benchmarks that hold retrieval tasks, in mteb's order."""
    mteb = _mteb()
    return [b.name for b in mteb.get_benchmarks() if any(_is_retrieval(t) for t in b.tasks)]


def _is_retrieval(task: Any) -> bool:
    return task.metadata.type == RETRIEVAL


def _benchmark(name: str) -> Any:
    mteb = _mteb()
    wanted = ALIASES.get(name.lower(), name)
    for b in mteb.get_benchmarks():
        if b.name == wanted or slug(b.name) == slug(wanted):
            return b
    raise RankError(
        f"suite {name!r}: not local, loco or t2ranking, nor an mteb benchmark (see `rank suite list`; "
        f"e.g. mteb-eng-v2, mteb-cmn-v1, mmteb)"
    )


def benchmark_suite(name: str) -> Suite:
    b = _benchmark(name)
    tasks = [u for t in b.tasks if _is_retrieval(t) for u in task_units(t)]
    if not tasks:
        raise RankError(f"suite {name!r}: mteb's {b.name} has no retrieval task")
    return Suite(b.name, slug(b.name), "its retrieval tasks, from mteb's registry", tuple(tasks))


def main_metric(task: Any) -> tuple[str, str]:
    """The main score as a rankers.evaluate label, and a note when it is not one we compute."""
    main = task.metadata.main_score
    m = _SCORE.match(main)
    if m:
        return f"{m.group(1)}@{m.group(2)}", ""
    return "ndcg@10", f"mteb's main score {main} is not computed here: nDCG@10 instead"


def analyzer(languages: list[str]) -> tuple[str, str]:
    """The Lucene analyzer for a subset's languages (the first with one), and a note when none has one."""
    for code in languages:
        found = ANALYZERS.get(code.split("-")[0])
        if found:
            return found, ""
    return "en", f"no Lucene analyzer for {', '.join(languages)}: English analyzer"


def task_units(task: Any) -> list[Task]:
    """One Task per (language subset, evaluation split) of an MTEB retrieval task."""
    m = task.metadata
    main, note = main_metric(task)
    subsets = list(task.hf_subsets)
    langs = m.eval_langs
    out = []
    for subset in subsets:
        codes = list(langs[subset]) if isinstance(langs, dict) else list(langs)
        language, lnote = analyzer(codes)
        for split in m.eval_splits:
            name = (
                m.name
                + (f".{subset}" if len(subsets) > 1 else "")
                + (f"@{split}" if len(m.eval_splits) > 1 else "")
            )
            out.append(
                Task(
                    name=name,
                    dataset=dataset_name(m.name, subset, len(subsets)),
                    split=split,
                    language=language,
                    main=main,
                    preset="mteb",
                    languages=tuple(codes),
                    group=m.name,
                    mteb_subset=subset,
                    source=f"hf:{m.dataset.get('path')}@{m.dataset.get('revision')}",
                    note="; ".join(x for x in (note, lnote, unavailable(task)) if x),
                )
            )
    return out


def dataset_name(task_name: str, subset: str, n_subsets: int) -> str:
    return f"mteb/{task_name}" + (f"/{subset}" if n_subsets > 1 else "")


def unavailable(task: Any) -> str:
    """Why `rank data get` cannot fetch a task's data as mteb would load it ("" when it can)."""
    from mteb.abstasks.retrieval import AbsTaskRetrieval

    cls = type(task)
    if cls.load_data is not AbsTaskRetrieval.load_data:
        return f"mteb loads it with its own code ({cls.__name__}.load_data): import a copy with --from"
    if getattr(cls, "dataset_transform", None) is not getattr(AbsTaskRetrieval, "dataset_transform", None):
        return f"mteb changes it after loading ({cls.__name__}.dataset_transform): import a copy with --from"
    extra = sorted(k for k in task.metadata.dataset if k not in ("path", "revision"))
    if extra:
        return f"its hub dataset takes {', '.join(extra)} as well: import a copy with --from"
    return ""


def find_task(name: str) -> Any:
    """An MTEB retrieval task by name (any case) or hub dataset (`mteb/scifact`)."""
    from rankers.export.mteb import mteb_task

    task = mteb_task(name)
    if not _is_retrieval(task):
        raise RankError(f"{name}: mteb's {task.metadata.name} is a {task.metadata.type} task, not retrieval")
    return task


def registry_entry(name: str):
    """The `rankers.data.registry.Entry` of `mteb/<Task>` (one language subset: `mteb/<Task>/<subset>`)."""
    from rankers.data.registry import MTEB_PREFIX, Entry, HubFiles

    rest = name[len(MTEB_PREFIX) :]
    task_name, _, subset = rest.partition("/")
    task = find_task(task_name)
    m = task.metadata
    subsets = list(task.hf_subsets)
    if len(subsets) > 1 and not subset:
        shown = ", ".join(subsets[:12]) + (f", ... ({len(subsets)} in all)" if len(subsets) > 12 else "")
        raise RankError(
            f"{name}: MTEB's {m.name} has one dataset per language subset: name one, "
            f"{MTEB_PREFIX}{m.name}/<subset> ({shown}), or fetch a suite with `rank data get --suite`"
        )
    subset = subset or subsets[0]
    if subset not in subsets:
        raise RankError(f"{name}: {m.name} has no subset {subset!r} (subsets: {', '.join(subsets)})")
    langs = m.eval_langs[subset] if isinstance(m.eval_langs, dict) else m.eval_langs
    path, revision = m.dataset.get("path"), m.dataset.get("revision")
    return Entry(
        name=dataset_name(m.name, subset, len(subsets)),
        layout="beir",
        description=f"MTEB {m.name}"
        + (f" ({subset})" if len(subsets) > 1 else "")
        + f": {m.description[:80]}",
        preset="mteb",
        source=f"hf:{path}@{revision}",
        hub=(HubFiles(path, revision, mteb_subset=subset, splits=tuple(m.eval_splits)),),
        language=analyzer(list(langs))[0],
        unavailable=unavailable(task),
    )
