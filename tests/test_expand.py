"""Event-aware expansion and the recency stage: the decay and date rules, leakage (an event dated after the query
is never used, even when it matches best), undated queries and events, the `terms` and `text` methods on a real
Lucene event store, and the stages in a shell pipe with `rank retrieve`."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rankers.errors import RankError
from rankers.expand import ExpandConfig, Expander, decay, eligibility, interpolate, select_events
from rankers.recency import Recency
from rankers.run import Candidate, Query, Ranking

RANK = [sys.executable, "-m", "cli.main"]
# rich wraps stderr at the terminal width; a wide one keeps each message on one line for the asserts.
ENV = {**os.environ, "COLUMNS": "400"}
DAY = 738000  # any day ordinal


# ---------------------------------------------------------------- the arithmetic


def test_decay_is_exp_minus_age_over_tau() -> None:
    assert decay(0, 30) == 1.0
    assert decay(30, 30) == pytest.approx(math.exp(-1))
    assert decay(7, 14) == pytest.approx(math.exp(-0.5))
    assert decay(10, 30) > decay(20, 30) > decay(40, 30) > 0
    assert decay(None, 30) == 1.0  # undated: no recency prior
    assert decay(100, None) == 1.0 and decay(100, 0) == 1.0  # decay off


def test_eligibility_never_lets_the_future_in() -> None:
    cfg = ExpandConfig()
    assert eligibility(DAY - 3, DAY, cfg) == "ok"
    assert eligibility(DAY + 1, DAY, cfg) == "future"
    # Dates are days: an item dated the query's own day may have been published after the question.
    assert eligibility(DAY, DAY, cfg) == "future"
    assert eligibility(DAY, DAY, ExpandConfig(same_day=True)) == "ok"
    assert eligibility(DAY + 1, DAY, ExpandConfig(same_day=True)) == "future"
    assert eligibility(DAY - 8, DAY, ExpandConfig(window_days=7)) == "window"
    assert eligibility(DAY - 7, DAY, ExpandConfig(window_days=7)) == "ok"
    assert eligibility(None, DAY, cfg) == "undated"
    assert eligibility(None, DAY, ExpandConfig(undated_events=True)) == "ok"
    assert eligibility(DAY + 100, None, cfg) == "ok"  # an undated query has no "future"


def test_select_events_normalizes_by_the_best_eligible_event_only() -> None:
    days = [DAY + 5, DAY - 2, DAY - 60, None]
    cands = [(0, 20.0), (1, 10.0), (2, 9.0), (3, 8.0)]
    sel = select_events(cands, days, DAY, ExpandConfig(tau=30, top_events=5))
    assert (sel.future, sel.undated) == (1, 1)
    rows = [e.row for e in sel.events]
    assert rows == [1, 2]
    top, old = sel.events
    # The future event's score (20) must not set the scale: the best past event has similarity 1.
    assert top.similarity == 1.0 and top.age_days == 2
    assert top.score == pytest.approx(math.exp(-2 / 30))
    assert old.score == pytest.approx(0.9 * math.exp(-60 / 30))
    assert [e.row for e in select_events(cands, days, DAY, ExpandConfig(tau=30, min_score=0.5)).events] == [1]
    assert len(select_events(cands, days, DAY, ExpandConfig(top_events=1)).events) == 1
    windowed = select_events(cands, days, DAY, ExpandConfig(window_days=30))
    assert windowed.outside_window == 1 and [e.row for e in windowed.events] == [1]


def test_decay_can_put_a_recent_weaker_match_first() -> None:
    days = [DAY - 300, DAY - 1]
    sel = select_events([(0, 10.0), (1, 8.0)], days, DAY, ExpandConfig(tau=30))
    assert [e.row for e in sel.events] == [1, 0]
    sel = select_events([(0, 10.0), (1, 8.0)], days, DAY, ExpandConfig(tau=0))
    assert [e.row for e in sel.events] == [0, 1]


def test_interpolate_is_rm3s_mixture() -> None:
    q = {"quake": 1.0, "toll": 1.0}
    fb = {"quake": 0.5, "turkey": 0.3, "rubble": 0.2, "noise": 0.01}
    out = interpolate(q, fb, weight=0.6, fb_terms=3)
    assert sum(out.values()) == pytest.approx(1.0)
    assert "noise" not in out
    assert out["toll"] == pytest.approx(0.6 * 0.5)
    assert out["quake"] == pytest.approx(0.6 * 0.5 + 0.4 * 0.5)
    assert out["turkey"] == pytest.approx(0.4 * 0.3)
    assert interpolate(q, fb, weight=1.0, fb_terms=3).keys() >= {"quake", "toll"}
    assert interpolate(q, fb, weight=1.0, fb_terms=3)["turkey"] == 0.0


@pytest.mark.parametrize(
    "kwargs, flag",
    [
        ({"method": "words"}, "--method"),
        ({"top_events": 0}, "--top-events"),
        ({"weight": 1.5}, "--weight"),
        ({"tau": -1}, "--tau"),
        ({"window_days": -1}, "--window-days"),
        ({"depth": 2, "top_events": 5}, "--depth"),
    ],
)
def test_bad_settings_name_their_flag(kwargs: dict, flag: str) -> None:
    with pytest.raises(RankError, match=flag):
        ExpandConfig(**kwargs).check()


# ---------------------------------------------------------------- on a real event store

QUERY_DATE = "2023-02-10"
EVENTS = [
    {
        "id": "turkey",
        "date": "2023-02-07",
        "title": "Earthquake death toll rises in Turkey and Syria",
        "text": "Rescuers in Gaziantep and Kahramanmaras search the rubble as the death toll rises.",
    },
    {
        # Dated after the query and the best BM25 match: it must never be used.
        "id": "ecuador",
        "date": "March 20, 2023",
        "title": "Earthquake death toll rises: earthquake death toll in Ecuador",
        "text": "Guayaquil earthquake death toll rises again; earthquake death toll rises in Guayaquil.",
    },
    {
        "id": "sameday",
        "date": "2023-02-10T18:00:00Z",
        "title": "Earthquake death toll: Antakya hospital",
        "text": "Antakya hospital collapsed, earthquake death toll grows.",
    },
    {
        "id": "haiti",
        "date": "2010/01/15",
        "title": "Haiti earthquake death toll",
        "text": "Port-au-Prince earthquake death toll climbs.",
    },
    {
        "id": "chile",
        "date": None,
        "title": "Earthquake death toll in Chile",
        "text": "Valparaiso counts victims.",
    },
    {"id": "vote", "date": "2023-02-01", "title": "Parliament election results", "text": "Turnout was high."},
    {
        "id": "match",
        "date": "2023-02-05",
        "title": "Cup final tonight",
        "text": "Fans travel to the stadium.",
    },
]
DOCS = [
    {
        "_id": "d-turkey",
        "title": "",
        "text": "Gaziantep rescuers pull survivors from Kahramanmaras rubble",
        "date": "2023-02-08",
    },
    {
        "_id": "d-ecuador",
        "title": "",
        "text": "Guayaquil buildings collapse in Ecuador",
        "date": "2023-03-21",
    },
    {
        "_id": "d-guide",
        "title": "",
        "text": "Earthquake preparedness guide: how to survive",
        "date": "2019-05-01",
    },
    {"_id": "d-vote", "title": "", "text": "Election turnout high in parliament vote", "date": "2023-02-02"},
]
QUERY = "earthquake death toll rises"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from rankers.bm25 import build_index
    from rankers.events import build_store

    root = tmp_path_factory.mktemp("events")
    src = root / "events.jsonl"
    src.write_text("".join(json.dumps(e) + "\n" for e in EVENTS), encoding="utf-8")
    build_store(src, root / "store")
    data = root / "news"
    (data / "qrels").mkdir(parents=True)
    (data / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in DOCS), encoding="utf-8")
    queries = [{"_id": "q1", "text": QUERY, "date": QUERY_DATE}, {"_id": "q2", "text": QUERY}]
    (data / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries), encoding="utf-8")
    (data / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td-turkey\t1\nq2\td-turkey\t1\n")
    build_index(data, root / "docs")
    return {"root": root, "store": root / "store", "data": data, "docs": root / "docs"}


def expand_one(store_dir: Path, query: Query, **cfg) -> tuple[Ranking, Expander]:
    from rankers.events import EventStore

    ex = Expander(EventStore(store_dir), ExpandConfig(**cfg))
    [r] = list(ex([Ranking(query)]))
    return r, ex


@pytest.mark.slow
def test_a_future_event_that_matches_best_is_excluded_and_counted(world: dict[str, Path]) -> None:
    from rankers.events import EventStore

    store = EventStore(world["store"])
    [hits] = store.search([QUERY], 10)
    assert store.ids[hits[0][0]] == "ecuador"  # the leak this test guards against is real
    lines: list[str] = []
    r, ex = expand_one(world["store"], Query("q1", QUERY, QUERY_DATE), tau=30)
    used = [e["id"] for e in r.query.fields["expansion"]["events"]]
    assert "ecuador" not in used and "sameday" not in used and "chile" not in used
    assert used[0] == "turkey"
    assert r.query.fields["expansion"]["excluded_future"] == 2  # ecuador, and sameday (same day)
    assert ex.stats.future_events == 2 and ex.stats.queries_with_future == 1
    assert ex.stats.undated_events == 1
    terms = r.query.fields["expansion"]["terms"]
    assert {"gaziantep", "rubble"} <= terms.keys()
    assert not {"guayaquil", "ecuador", "antakya"} & terms.keys()
    ex.show = lines.append
    list(ex([Ranking(Query("q1", QUERY, QUERY_DATE))]))
    assert "excluded 2 future" in lines[0] and "turkey" in lines[0]


@pytest.mark.slow
def test_same_day_and_undated_events_only_on_request(world: dict[str, Path]) -> None:
    r, _ = expand_one(world["store"], Query("q1", QUERY, QUERY_DATE), same_day=True, undated_events=True)
    used = {e["id"] for e in r.query.fields["expansion"]["events"]}
    assert {"sameday", "chile", "turkey"} <= used and "ecuador" not in used
    undated = next(e for e in r.query.fields["expansion"]["events"] if e["id"] == "chile")
    assert undated["date"] is None


@pytest.mark.slow
def test_recency_decay_orders_events_and_as_of_moves_the_horizon(world: dict[str, Path]) -> None:
    r, _ = expand_one(world["store"], Query("q1", QUERY, QUERY_DATE), tau=7)
    events = r.query.fields["expansion"]["events"]
    by_id = {e["id"]: e["score"] for e in events}
    assert by_id["turkey"] > by_id["haiti"]
    assert by_id["haiti"] < 1e-6  # 13 years at tau = 7 days
    r, ex = expand_one(world["store"], Query("q1", QUERY, QUERY_DATE), as_of="2011-01-01")
    assert [e["id"] for e in r.query.fields["expansion"]["events"]] == ["haiti"]
    assert ex.stats.future_events == 3


@pytest.mark.slow
def test_undated_queries_get_no_prior_and_are_counted(world: dict[str, Path]) -> None:
    r, ex = expand_one(world["store"], Query("q2", QUERY), tau=7)
    exp = r.query.fields["expansion"]
    assert exp["undated_query"] is True and exp["excluded_future"] == 0
    assert ex.stats.undated_queries == 1
    # No query date, no decay: the order is BM25's.
    assert exp["events"][0]["id"] == "ecuador"
    assert exp["events"][0]["score"] == 1.0


@pytest.mark.slow
def test_query_date_from_a_field_and_bad_dates(world: dict[str, Path]) -> None:
    q = Query("q3", QUERY, None, {"asked": "10 Feb 2023"})
    r, ex = expand_one(world["store"], q, date_field="asked")
    assert ex.stats.undated_queries == 0 and "ecuador" not in {
        e["id"] for e in r.query.fields["expansion"]["events"]
    }
    with pytest.raises(RankError, match="query q4: asked: cannot parse date 'soon'"):
        expand_one(world["store"], Query("q4", QUERY, None, {"asked": "soon"}), date_field="asked")


@pytest.mark.slow
def test_text_method_appends_event_text_and_keeps_the_original(world: dict[str, Path]) -> None:
    r, _ = expand_one(world["store"], Query("q1", QUERY, QUERY_DATE), method="text", top_events=1)
    q = r.query
    assert q.fields["original_text"] == QUERY
    assert q.text.startswith(QUERY + " ") and "Gaziantep" in q.text and "Guayaquil" not in q.text
    assert "terms" not in q.fields["expansion"]
    # Expanding again starts from the original text: no compounding.
    again, _ = expand_one(world["store"], q, method="text", top_events=1)
    assert again.query.text == q.text and again.query.fields["original_text"] == QUERY
    back, _ = expand_one(world["store"], again.query, method="terms")
    assert back.query.text == QUERY and "original_text" not in back.query.fields


@pytest.mark.slow
def test_no_eligible_event_leaves_the_query_alone(world: dict[str, Path]) -> None:
    r, ex = expand_one(world["store"], Query("q1", QUERY, "2000-01-01"))
    assert r.query.text == QUERY and "terms" not in r.query.fields["expansion"]
    assert r.query.fields["expansion"]["events"] == [] and ex.stats.without_events == 1


@pytest.mark.slow
def test_expand_pipes_into_retrieve_and_recency(world: dict[str, Path]) -> None:
    """`rank expand | rank retrieve | rank recency`: the expansion finds the article the query shares no word with."""
    topics = world["root"] / "topics.jsonl"
    topics.write_text(json.dumps({"_id": "q1", "text": QUERY, "date": QUERY_DATE}) + "\n", encoding="utf-8")
    plain = subprocess.run(
        [*RANK, "retrieve", "--index", str(world["docs"]), "--topics", str(topics)],
        capture_output=True,
        text=True,
        env=ENV,
    )
    assert plain.returncode == 0, plain.stderr
    assert "d-turkey" not in plain.stdout
    expanded = subprocess.run(
        [*RANK, "expand", "--events", str(world["store"]), "--topics", str(topics), "--show"],
        capture_output=True,
        text=True,
        env=ENV,
    )
    assert expanded.returncode == 0, expanded.stderr
    assert "excluded 2 future" in expanded.stderr and "1 queries have no date" not in expanded.stderr
    row = json.loads(expanded.stdout)
    assert row["fields"]["expansion"]["terms"]
    retrieved = subprocess.run(
        [*RANK, "retrieve", "--index", str(world["docs"])],
        input=expanded.stdout,
        capture_output=True,
        text=True,
        env=ENV,
    )
    assert retrieved.returncode == 0, retrieved.stderr
    ranking = json.loads(retrieved.stdout)
    docids = [c["docid"] for c in ranking["candidates"]]
    assert "d-turkey" in docids and "d-ecuador" not in docids
    assert ranking["date"] == QUERY_DATE
    recent = subprocess.run(
        [*RANK, "recency", "--dataset", str(world["data"]), "--before-query-date", "--recency-tau", "30"],
        input=retrieved.stdout,
        capture_output=True,
        text=True,
        env=ENV,
    )
    assert recent.returncode == 0, recent.stderr
    kept = [c["docid"] for c in json.loads(recent.stdout)["candidates"]]
    assert kept and set(kept) <= set(docids)


# ---------------------------------------------------------------- the recency stage


def ranking(date: str | None, scores: dict[str, float]) -> Ranking:
    return Ranking(Query("q", "x", date), [Candidate(d, s) for d, s in scores.items()])


def ordinal(date: str) -> int:
    import datetime as dt

    return dt.date.fromisoformat(date).toordinal()


DOC_DAYS = {
    "new": ordinal("2023-02-09"),
    "old": ordinal("2022-02-09"),
    "later": ordinal("2023-02-11"),
    "undated": None,
}


def test_recency_filter_drops_documents_after_the_query_date_only() -> None:
    stage = Recency(DOC_DAYS, before_query_date=True)
    [r] = list(stage([ranking("2023-02-10", {"later": 9.0, "old": 8.0, "new": 7.0, "undated": 6.0})]))
    assert [c.docid for c in r.candidates] == ["old", "new", "undated"]
    assert [c.score for c in r.candidates] == [8.0, 7.0, 6.0]  # a filter alone does not rescore
    assert stage.stats.dropped_after_query == 1 and stage.stats.undated_documents == 1
    [same] = list(Recency(DOC_DAYS, before_query_date=True)([ranking("2023-02-11", {"later": 1.0})]))
    assert [c.docid for c in same.candidates] == ["later"]  # the query's own day is kept


def test_recency_boost_multiplies_by_the_decay() -> None:
    stage = Recency(DOC_DAYS, tau=30)
    [r] = list(stage([ranking("2023-02-10", {"old": 10.0, "new": 5.0, "later": 4.0})]))
    got = {c.docid: c.score for c in r.candidates}
    assert got["new"] == pytest.approx(5.0 * math.exp(-1 / 30))
    assert got["old"] == pytest.approx(10.0 * math.exp(-366 / 30))
    assert got["later"] == pytest.approx(4.0)  # after the query, not filtered: age 0
    assert [c.docid for c in r.candidates] == ["new", "later", "old"]


def test_recency_undated_documents_get_the_mean_decay_and_undated_queries_pass() -> None:
    stage = Recency(DOC_DAYS, tau=30)
    [r] = list(stage([ranking("2023-02-10", {"new": 1.0, "old": 1.0, "undated": 1.0, "unknown": 1.0})]))
    got = {c.docid: c.score for c in r.candidates}
    mean = (math.exp(-1 / 30) + math.exp(-366 / 30)) / 2
    assert got["undated"] == pytest.approx(mean) and got["unknown"] == pytest.approx(mean)
    assert stage.stats.unknown_documents == 1
    [u] = list(stage([ranking(None, {"old": 3.0, "new": 1.0})]))
    assert [c.score for c in u.candidates] == [3.0, 1.0] and stage.stats.undated_queries == 1


def test_recency_with_negative_scores_still_prefers_recent_documents() -> None:
    [r] = list(Recency(DOC_DAYS, tau=30)([ranking("2023-02-10", {"old": -1.0, "new": -1.5})]))
    assert [c.docid for c in r.candidates] == ["new", "old"]
    assert all(c.score > 0 for c in r.candidates)


def test_recency_needs_a_setting_and_a_positive_tau() -> None:
    with pytest.raises(RankError, match="--before-query-date, --recency-tau"):
        Recency(DOC_DAYS)
    with pytest.raises(RankError, match="--recency-tau"):
        Recency(DOC_DAYS, tau=0)
