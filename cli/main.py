"""The `rank` command line: a thin Typer front. Each command module parses flags and calls `rankers`.

Nothing heavy is imported here or at the top of the command modules (pyserini, torch, faiss, ranx, numpy):
`rank --help` must answer instantly (tests/test_startup.py checks the imports, bench/startup.py the time).
`rank NAME ...` imports and builds only the command NAME.
"""

from __future__ import annotations

import contextlib
import os
import sys

import typer


def _coerce_none_without_pydantic() -> None:
    """typer 0.29 builds a pydantic TypeAdapter for a parameter before it looks at the value, even when the value
    is None (a flag not given), and its coercion of None is None anyway: `rank SUBCOMMAND --help` paid ~60 ms
    (quiet machine) of pydantic imports for the group's own unused --help. Skip the build for None; any other
    value goes through typer's coercion unchanged. Guarded: a typer without these internals is left as it is."""
    core = getattr(typer, "core", None)
    param = getattr(core, "_TyperParameter", None)
    original = getattr(param, "get_runtime_param", None)
    if original is None or getattr(original, "_rank_patched", False):
        return

    class NoneOnly:
        """Stands in until a value other than None comes; then the real coercion is built and used."""

        def coerce(self, value, param, ctx):
            if value is None:
                return () if (param.multiple or param.nargs == -1) else None
            param._runtime_param = None
            return original(param).coerce(value, param=param, ctx=ctx)

    def get_runtime_param(self):
        if getattr(self, "_runtime_param", None) is None:
            return NoneOnly()
        return original(self)

    get_runtime_param._rank_patched = True
    param.get_runtime_param = get_runtime_param


_coerce_none_without_pydantic()

HELP = (
    "Composable search-ranking stages: each reads a run and writes a run.\n\n"
    "Example: rank retrieve --index idx --dataset scifact --bm25 | rank eval --dataset scifact"
)
SETTINGS = dict(
    name="rank",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    # Plain (click) help: typer's rich help cost ~0.1 s of imports (rich.markdown, markdown_it, pygments) and
    # ~0.1 s of rendering per --help on a quiet machine, 3x that on a loaded one (bench/startup.py).
    rich_markup_mode=None,
)
# name -> (module, attribute, a group of subcommands?), in the order `rank --help` lists them.
COMMANDS: dict[str, tuple[str, str, bool]] = {
    "data": ("cli.data", "app", True),
    "index": ("cli.index", "app", True),
    "retrieve": ("cli.retrieve", "retrieve", False),
    "eval": ("cli.evaluate", "evaluate", False),
    "report": ("cli.report", "report", False),
    "export": ("cli.export", "export", False),
    "fuse": ("cli.fuse", "fuse", False),
    "rerank": ("cli.rerank", "rerank", False),
    "synth": ("cli.synth", "synth", False),
    "synth-filter": ("cli.synth", "synth_filter", False),
    "train": ("cli.train", "app", True),
    "labels": ("cli.labels", "labels", False),
    "events": ("cli.events", "app", True),
    "suite": ("cli.suite", "app", True),
    "expand": ("cli.expand", "expand", False),
    "recency": ("cli.recency", "recency", False),
}


def build_app(only: str | None = None, listing: bool = False) -> typer.Typer:
    """The `rank` app with every command, or with `only` that one (then typer builds the flags of one command,
    not of all 23: `rank rerank ...` starts ~40 ms sooner). `listing`: every command as a stub with its help and
    no flags, for what needs only the list (`rank`, `rank --help`, `rank UNKNOWN`)."""
    import importlib

    app = typer.Typer(help=HELP, **SETTINGS)
    if only is not None:
        # A callback keeps the app a group, so that `rank NAME ...` parses as it does in the full app.
        app.callback()(_group)
    for name, (module, attr, group) in COMMANDS.items():
        if only is not None and name != only:
            continue
        obj = getattr(importlib.import_module(module), attr)
        if listing and group:
            obj = typer.Typer(help=obj.info.help, no_args_is_help=True)
            obj.callback()(_group)
        elif listing:
            obj = _stub(obj)
        if group:
            app.add_typer(obj, name=name)
        else:
            app.command(name)(obj)
    return app


def _stub(fn):
    def stub() -> None:
        raise AssertionError("a listing stub ran")  # never: only the full app's commands run

    stub.__doc__ = fn.__doc__
    return stub


def _group() -> None:
    pass


def __getattr__(name: str):
    if name == "app":  # the full app, for whoever imports cli.main.app
        return build_app()
    raise AttributeError(name)


def main() -> None:
    # OpenMP threads (torch, MKL) spin while they wait for each other by default; with any other process on the
    # cores a spinning thread holds a core its partner needs, and a LoRA step of SmolLM2 took 20 s instead of 3.6 s
    # (bench in the issue note). Sleeping waits cost little on a quiet machine. Set before torch is imported.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from rankers.errors import RankError

    first = sys.argv[1] if len(sys.argv) > 1 else None
    app = build_app(first) if first in COMMANDS else build_app(listing=True)
    try:
        try:
            app(prog_name="rank")
        finally:
            # Written out here, not at exit: a full disk under a redirected stdout is then reported below.
            sys.stdout.flush()
    except RankError as e:
        with contextlib.suppress(OSError):
            sys.stdout.flush()
        print(f"rank: error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("rank: interrupted", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly; stdout goes to /dev/null so the exit flush cannot fail.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
    except OSError as e:
        from rankers.io import WRITE_ERRNOS

        if e.errno not in WRITE_ERRNOS:
            raise
        # Standard output (or a file written outside rankers.io) on a full or read-only disk: one line.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        print(f"rank: error: cannot write: {e.strerror}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
