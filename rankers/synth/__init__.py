"""Promptagator: few-shot synthetic queries for a corpus, a round-trip filter, and the pairs file they share."""

from rankers.synth.examples import MAX_EXAMPLES, Example, examples_from_qrels, load_examples
from rankers.synth.filter import FilterReport, roundtrip
from rankers.synth.generate import SynthReport, select_documents, synthesize
from rankers.synth.pairs import Pair, check_docids, read_pairs, write_pairs
from rankers.synth.prompt import Template, builtin_template, is_cjk, load_template

__all__ = [
    "MAX_EXAMPLES",
    "Example",
    "FilterReport",
    "Pair",
    "SynthReport",
    "Template",
    "builtin_template",
    "check_docids",
    "examples_from_qrels",
    "is_cjk",
    "load_examples",
    "load_template",
    "read_pairs",
    "roundtrip",
    "select_documents",
    "synthesize",
    "write_pairs",
]
