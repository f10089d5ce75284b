"""Fault injection for `rank`'s own tests and benchmarks: kill a command anywhere and check that a rerun ends where
an uninterrupted run ends (`kill`), and a flaky proxy in front of a real LLM server (`proxy`).

Test tools, not part of any pipeline: nothing here is imported by the commands.
"""
