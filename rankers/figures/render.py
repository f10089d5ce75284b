"""Vega-Lite specs to what a page or a paper needs, offline, through vl-convert (Rust and an embedded V8; no
browser, no network): the JavaScript the page inlines to draw them, and SVG/PNG files.

The page inlines vega-embed with Vega and Vega-Lite, minified into one 0.9 MB script by vl-convert. A
Vega-only bundle would be 0.58 MB, but vl-convert's bundler exports `vega` as its (absent) default export,
i.e. null, so Vega is reachable only through vega-embed; plotly.js alone is 4.8 MB.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rankers.errors import RankError
from rankers.io import atomic_write

FIGURE_FORMATS = ("svg", "png")


def _vlc():
    import vl_convert

    return vl_convert


def vegalite_version() -> str:
    """The Vega-Lite version altair writes its specs for, as vl-convert names it (`6.4`)."""
    import altair as alt

    return ".".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])


@functools.cache
def vega_runtime() -> str:
    """vega-embed, Vega-Lite and Vega as one minified script that sets `window.vegaEmbed` (~4 s to bundle)."""
    vlc = _vlc()
    version = vegalite_version()
    head = (
        f"/* vega-embed {vlc.get_vega_embed_version()}, Vega-Lite {version}, Vega {vlc.get_vega_version()} "
        "(BSD-3-Clause), bundled by vl-convert */\n"
    )
    return head + vlc.javascript_bundle("window.vegaEmbed = vegaEmbed;", vl_version=version)


def svg(spec: Mapping[str, Any]) -> str:
    return _vlc().vegalite_to_svg(dict(spec), vl_version=vegalite_version())


def png(spec: Mapping[str, Any], scale: float = 2.0) -> bytes:
    """A PNG at `scale` times the chart's CSS pixels (2: sharp in print at a column's width)."""
    return _vlc().vegalite_to_png(dict(spec), vl_version=vegalite_version(), scale=scale)


def write_figures(
    specs: Mapping[str, Mapping[str, Any]], folder: str | Path, formats: tuple[str, ...] = FIGURE_FORMATS
) -> list[Path]:
    """Each spec as `<folder>/<name>.<format>`, written atomically; returns the paths written."""
    bad = [f for f in formats if f not in FIGURE_FORMATS]
    if bad:
        raise RankError(f"figure format {bad[0]!r}: choose from {', '.join(FIGURE_FORMATS)}")
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise RankError(f"--figures {folder}: exists and is not a folder")
    written = []
    for name, spec in specs.items():
        for fmt in formats:
            path = folder / f"{name}.{fmt}"
            if fmt == "svg":
                with atomic_write(path) as f:
                    f.write(svg(spec))
            else:
                with atomic_write(path, "wb") as f:
                    f.write(png(spec))
            written.append(path)
    return written
