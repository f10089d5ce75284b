"""rank: composable search-ranking stages. Heavy engines (Lucene, torch, FAISS) load lazily."""

from rankers.errors import InputError, RankError
from rankers.run import Candidate, Query, Ranking, Stage

__all__ = ["Candidate", "InputError", "Query", "RankError", "Ranking", "Stage"]
__version__ = "0.1.0"
