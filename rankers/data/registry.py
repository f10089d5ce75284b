"""Find a dataset by path or registered name, and pick the reader for its layout.

`--dataset` takes a folder, or a name looked up in this order (first match wins):
  1. each folder of `$RANK_DATA_PATH` (os.pathsep-separated), in order;
  2. the datasets root: `$RANK_DATASETS_DIR`, else `datasets/` under the current directory (where `rank data get`
     writes);
  3. `../shared/data` relative to the current directory (the project's shared sets).
A name is a folder under one of these roots (`scifact`, `beir/nfcorpus`); registered names (`REGISTRY`) also say
where to download the set from; `mteb/<Task>` names any retrieval task of the installed mteb package's registry
(`lookup`). `NAME#subset` keeps one sub-collection of a LoCoV1 table.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from rankers.data.base import Dataset
from rankers.data.beir import BeirDataset
from rankers.data.loco import LocoDataset
from rankers.data.t2ranking import T2RankingDataset
from rankers.data.trec import TrecDataset
from rankers.errors import RankError

# Detection order: the most specific layouts first (a TREC folder is recognised by content, so it goes last).
READERS: list[type[Dataset]] = [BeirDataset, T2RankingDataset, LocoDataset, TrecDataset]
LAYOUTS: dict[str, type[Dataset]] = {r.layout: r for r in READERS}


@dataclass(frozen=True)
class Remote:
    """One file to fetch: saved as `dest` inside the dataset folder, or unpacked there when `unpack`."""

    url: str
    dest: str
    md5: str | None = None
    sha256: str | None = None
    unpack: bool = False


@dataclass(frozen=True)
class HubFiles:
    """Files of one Hugging Face dataset repository, fetched from one commit (`revision`; None: the commit `main`
    is at when fetching, recorded in the dataset's rank-dataset.json). `paths` maps a path in the repository to
    its name in the dataset folder; an MTEB task (`mteb_subset` set) takes the files its dataset card names for
    that subset and the evaluation `splits` (rankers.data.hub.mteb_files)."""

    repo: str
    revision: str | None = None
    paths: tuple[tuple[str, str], ...] = ()
    mteb_subset: str | None = None
    splits: tuple[str, ...] = ()


@dataclass(frozen=True)
class Entry:
    name: str
    layout: str
    description: str
    preset: str
    source: str
    files: tuple[Remote, ...] = field(default_factory=tuple)
    hub: tuple[HubFiles, ...] = field(default_factory=tuple)
    # Lucene analyzer of the texts (rankers.bm25.LANGUAGES).
    language: str = "en"
    # Why `rank data get` cannot fetch it, when it cannot (a shared set, an MTEB task mteb loads with its own code).
    unavailable: str = ""

    @property
    def downloadable(self) -> bool:
        return bool(self.files or self.hub) and not self.unavailable


# ---------------------------------------------------------------- the registry

_BEIR_URL = "https://public.ukp.informatik.tu-darmstadt.de/thakur/BEIR/datasets/{}.zip"
# md5 of each zip as published in the BEIR README (beir-cellar/beir, "Available Datasets" table).
_BEIR_MD5 = {
    "msmarco": "444067daf65d982533ea17ebd59501e4",
    "trec-covid": "ce62140cb23feb9becf6270d0d1fe6d1",
    "nfcorpus": "a89dba18a62ef92f7d323ec890a0d38d",
    "nq": "d4d3d2e48787a744b6f6e691ff534307",
    "hotpotqa": "f412724f78b0d91183a0e86805e16114",
    "fiqa": "17918ed23cd04fb15047f73e6c3bd9d9",
    "arguana": "8ad3e3c2a5867cdced806d6503f29b99",
    "webis-touche2020": "46f650ba5a527fc69e0a6521c5a23563",
    "quora": "18fb154900ba42a600f84b839c173167",
    "dbpedia-entity": "c2a39eb420a3164af735795df012ac2c",
    "scidocs": "38121350fc3a4d2f48850f6aff52e4a9",
    "fever": "5a818580227bfb4b35bb6fa46d9b6c03",
    "climate-fever": "8b66f0a9126c521bae2bde127b4dc99d",
    "scifact": "5f7d1de60b170fc8027bb7898e2efca1",
}

# In the order of the LoCoV1 table (Saad-Falcon et al., 2024); `rank suite run loco` reports them in this order.
LOCO_TASKS = (
    "summ_screen_fd",
    "gov_report",
    "qmsum",
    "qasper_title",
    "qasper_abstract",
    "2wikimqa",
    "multifieldqa",
    "passage_retrieval",
    "courtlistener_HTML",
    "courtlistener_Plain_Text",
    "legal_case_reports",
    "stackoverflow",
)
# qmsum's document file sits at the root of LoCoV1-Documents (moved there after upload); the others in documents/.
_LOCO_DOC_PATH = {"qmsum": "qmsum_test.jsonl"}

# The repositories' commits could not be looked up from here (no hub): fetched from the commit `main` is at,
# which rank-dataset.json records.
_LOCO_QUERIES = HubFiles("hazyresearch/LoCoV1-Queries")
_LOCO_DOCUMENTS = HubFiles("hazyresearch/LoCoV1-Documents")
_T2RANKING_FILES = ("collection.tsv", "queries.dev.tsv", "qrels.dev.tsv", "qrels.retrieval.dev.tsv")

_SHARED = {
    "scifact": (
        "beir",
        "mteb",
        "SciFact claims -> cited abstracts (BEIR layout), 5,183 docs, 300 test queries",
        "en",
    ),
    "realtimeqa": (
        "beir",
        "mteb",
        "RealTimeQA news questions with dates (BEIR layout + dates), 2,501 docs",
        "en",
    ),
    "vaswani": (
        "trec",
        "default",
        "Vaswani/NPL physics abstracts, classic TREC files, 11,429 docs, 93 topics",
        "en",
    ),
    "lecard-t2": (
        "t2ranking",
        "t2ranking",
        "LeCaRD Chinese legal cases in the T2Ranking layout, 9,088 docs",
        "zh",
    ),
    "t2ranking-sample": (
        "t2ranking",
        "t2ranking",
        "THUIR's 200-query T2Ranking sample (no collection)",
        "zh",
    ),
    "qmsum-loco": (
        "loco",
        "loco",
        "QMSum meeting transcripts in the LoCoV1 layout, 70 docs, 481 queries",
        "en",
    ),
}


def _registry() -> dict[str, Entry]:
    out: list[Entry] = []
    for name, (layout, preset, description, language) in _SHARED.items():
        out.append(
            Entry(
                name,
                layout,
                description,
                preset,
                "shared set: ../shared/data/" + name,
                language=language,
                unavailable="a shared set with no public download; import a copy with --from PATH",
            )
        )
    for name, md5 in _BEIR_MD5.items():
        url = _BEIR_URL.format(name)
        out.append(
            Entry(
                f"beir/{name}",
                "beir",
                f"BEIR {name} (official zip)",
                "mteb",
                "BEIR zip (UKP, TU Darmstadt)",
                (Remote(url, f"{name}.zip", md5=md5, unpack=True),),
            )
        )
    t2 = "THUIR/T2Ranking"
    out.append(
        Entry(
            "t2ranking",
            "t2ranking",
            "T2Ranking Chinese passage ranking, dev split (2.3M passages, 3.7 GB collection)",
            "t2ranking",
            f"hf:{t2}",
            hub=(HubFiles(t2, paths=tuple((f"data/{f}", f) for f in _T2RANKING_FILES)),),
            language="zh",
        )
    )
    for sub in LOCO_TASKS:
        docs = _LOCO_DOC_PATH.get(sub, f"documents/{sub}_test.jsonl")
        out.append(
            Entry(
                f"loco/{sub}",
                "loco",
                f"LoCoV1 long-document retrieval: {sub}",
                "loco",
                "hf:hazyresearch/LoCoV1-Queries + hazyresearch/LoCoV1-Documents",
                hub=(
                    replace(_LOCO_DOCUMENTS, paths=((docs, "documents.jsonl"),)),
                    replace(_LOCO_QUERIES, paths=((f"documents/{sub}_test.jsonl", "queries.jsonl"),)),
                ),
            )
        )
    return {e.name: e for e in out}


REGISTRY: dict[str, Entry] = _registry()
MTEB_PREFIX = "mteb/"


def lookup(name: str) -> Entry | None:
    """The registry entry of a name: the static ones above, or `mteb/<Task>[/<subset>]` from mteb's own registry
    (imported only for such a name; an unknown task is an error that says so)."""
    if name in REGISTRY:
        return REGISTRY[name]
    if name.lower().startswith(MTEB_PREFIX):
        from rankers.suites.mteb_tasks import registry_entry

        return registry_entry(name)
    return None


# ---------------------------------------------------------------- where datasets live


def datasets_root() -> Path:
    """Where `rank data get` writes: `$RANK_DATASETS_DIR`, else `./datasets`."""
    env = os.environ.get("RANK_DATASETS_DIR")
    return Path(env) if env else Path.cwd() / "datasets"


def search_path() -> list[Path]:
    """The roots a dataset name is looked up in, in order (see the module docstring)."""
    roots = [Path(p) for p in os.environ.get("RANK_DATA_PATH", "").split(os.pathsep) if p]
    roots += [datasets_root(), Path.cwd().parent / "shared" / "data"]
    return roots


def find_local(name: str) -> Path | None:
    """The first folder called `name` under the search path, or None."""
    if not name or name.startswith(("/", ".")) or ".." in Path(name).parts:
        return None
    for root in search_path():
        if (root / name).is_dir():
            return root / name
    return None


# ---------------------------------------------------------------- opening


def detect_layout(path: Path) -> type[Dataset] | None:
    for reader in READERS:
        if reader.detect(path):
            return reader
    return None


def open_folder(path: Path, subset: str | None = None, name: str | None = None) -> Dataset:
    """The reader for a dataset folder, chosen by the files in it."""
    reader = detect_layout(path)
    if reader is None:
        found = sorted(p.name + ("/" if p.is_dir() else "") for p in path.iterdir())
        shown = ", ".join(found[:20]) + (f", ... ({len(found)} in all)" if len(found) > 20 else "")
        raise RankError(
            f"{path}: no known dataset layout; tried {', '.join(r.layout for r in READERS)} "
            f"({_EXPECTED}); files found: {shown or 'none'}"
        )
    if subset:
        if reader is not LocoDataset:
            raise RankError(
                f"{path}#{subset}: only LoCoV1 tables take a #subset, this is a {reader.layout} folder"
            )
        return LocoDataset(path, name, subset=subset)
    return reader(path, name)


_EXPECTED = (
    "beir: corpus.jsonl + queries.jsonl + qrels/*.tsv; t2ranking: queries.<split>.tsv + qrels.<split>.tsv; "
    "loco: documents.{jsonl,parquet} + queries.{jsonl,parquet}; trec: <top> topics + 4-column qrels"
)


def split_spec(spec: str) -> tuple[str, str | None]:
    """`DATASET[:SPLIT]` -> (dataset, split or None). A dataset path may itself hold a colon: the last one splits,
    and an existing folder is taken whole."""
    if ":" in spec and not Path(spec).is_dir():
        name, split = spec.rsplit(":", 1)
        return name, split
    return spec, None


def load_dataset(name_or_path: str | Path) -> Dataset:
    """A dataset from a folder path or a name (see the module docstring for the search order)."""
    text = str(name_or_path)
    base, _, subset = text.partition("#")
    path = Path(base)
    if path.exists():
        if not path.is_dir():
            raise RankError(f"--dataset {text}: {path} is a file; give the dataset's folder")
        return open_folder(path, subset or None)
    local = find_local(base)
    if local is not None:
        return open_folder(local, subset or None, name=base)
    entry = lookup(base)
    if entry is not None:
        # `mteb/scifact` and `mteb/SciFact` name one task; its folder has the registry's spelling.
        local = find_local(entry.name) if entry.name != base else None
        if local is not None:
            return open_folder(local, subset or None, name=entry.name)
        where = ", ".join(str(r) for r in search_path())
        hint = f"run `rank data get {entry.name}`" if entry.downloadable else entry.unavailable
        raise RankError(f"--dataset {text}: registered but not found locally ({hint}); looked in: {where}")
    raise RankError(
        f"--dataset {text}: no such folder and no such dataset name; registered names: "
        f"{', '.join(sorted(REGISTRY))}, and mteb/<Task> for MTEB's retrieval tasks (see `rank data list`)"
    )
