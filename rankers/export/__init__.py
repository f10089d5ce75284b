"""Leaderboard files: TREC and MS MARCO submissions (`submission`), MTEB results folders (`mteb`, which imports
the mteb package only when used)."""

from rankers.export.submission import FORMATS, check_submission, check_tag, write_submission

__all__ = ["FORMATS", "check_submission", "check_tag", "write_submission"]
