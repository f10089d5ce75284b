"""Parsing and repair of listwise answers; every repair kind is counted."""

from __future__ import annotations

from rankers.rerank.parse import normalize_digits, parse_permutation, sanitize_passage


def test_clean_answer_needs_no_repair():
    p = parse_permutation("[3] > [1] > [2]", 3)
    assert p.order == [2, 0, 1] and not p.repairs


def test_text_before_think_end_is_dropped():
    p = parse_permutation("<think>maybe [1] > [2] > [3]?</think>\n[2] > [3] > [1]", 3)
    assert p.order == [1, 2, 0] and p.repairs == {"think": 1}


def test_lookalike_digits_and_brackets():
    p = parse_permutation("［２］ > [١] > [3]", 3)  # full-width brackets and 2, Arabic-Indic 1
    assert p.order == [1, 0, 2] and p.repairs == {"lookalike": 2}
    assert normalize_digits("०１²") == ("012", 3)


def test_out_of_range_duplicates_and_missing():
    p = parse_permutation("[4] > [2] > [0] > [2] > [9]", 4)
    assert p.order == [3, 1, 0, 2]
    assert p.repairs == {"out_of_range": 2, "duplicate": 1, "missing": 2}


def test_missing_ids_follow_in_their_prior_order():
    p = parse_permutation("[5] > [2]", 6)
    assert p.order == [4, 1, 0, 2, 3, 5] and p.repairs == {"missing": 4}


def test_a_short_answer_asked_for_is_not_a_repair():
    p = parse_permutation("[5] > [2]", 6, want=2)
    assert p.order == [4, 1, 0, 2, 3, 5] and "missing" not in p.repairs
    p = parse_permutation("[5]", 6, want=3)  # asked for 3, got 1
    assert p.order == [4, 0, 1, 2, 3, 5] and p.repairs["missing"] == 2


def test_bare_numbers_when_no_brackets():
    p = parse_permutation("Ranking: 2 > 3 > 1", 3)
    assert p.order == [1, 2, 0] and p.repairs == {"bare_numbers": 1}


def test_garbled_or_empty_answer_keeps_the_prior_order():
    for text in ("", "I cannot rank these passages.", "</think>"):
        p = parse_permutation(text, 4)
        assert p.order == [0, 1, 2, 3]
        assert p.repairs["empty"] == 1 and p.repairs["missing"] == 4


def test_passage_ids_inside_text_are_rewritten():
    assert sanitize_passage("as shown in [12] and 【3】,\n\nnot [a]") == "as shown in (12) and (3), not [a]"
    assert sanitize_passage("大熊猫［２］吃竹子") == "大熊猫(２)吃竹子"
