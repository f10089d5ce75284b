"""The one HTML file of `rank report`: the metrics table, the figures and everything needed to draw them.

Nothing is fetched: the Vega runtime is inlined, the charts are Vega-Lite specs with their data inline, and there
is no font, image or stylesheet link, so the file opens the same from disk, a web server or an e-mail.
`rank eval --format json`'s object is embedded as it is (`<script id="rank-eval">`), for anyone who wants
the numbers back out of the page.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from string import Template
from typing import Any


@dataclass
class Section:
    """A heading, a paragraph or two of HTML (already escaped), and optionally a figure drawn below it."""

    anchor: str
    heading: str
    body: str
    figure: str | None = None  # the id of a Vega-Lite spec in the page's figures


def script_json(obj: Any) -> str:
    """JSON safe inside <script>: `</script>` or `<!--` in a query text must not end or hide the element."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


_PAGE = Template("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="rank report">
<title>$title</title>
<style>
body { font: 15px/1.45 "DejaVu Sans", Helvetica, Arial, sans-serif; color: #222; margin: 0 auto;
       max-width: 1000px; padding: 1.5em 2em 4em; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; }
h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
nav a { margin-right: 1em; }
table { border-collapse: collapse; margin: 0.6em 0; font-variant-numeric: tabular-nums; display: block;
        overflow-x: auto; max-width: 100%; }
th, td { padding: 0.25em 0.7em; border-bottom: 1px solid #e4e4e4; text-align: right; white-space: nowrap; }
th:nth-child(-n+2), td:nth-child(-n+2) { text-align: left; }
table.outcomes th:nth-child(2), table.outcomes td:nth-child(2) { text-align: right; }
thead th { border-bottom: 2px solid #999; }
td.best { font-weight: bold; }
sup { font-size: 0.75em; color: #555; }
.title { font-weight: bold; }
.legend, .note { color: #555; font-size: 0.92em; }
.figure { margin: 0.8em 0; overflow-x: auto; }
.figure-error { color: #b00; }
details { margin: 0.6em 0; }
</style>
</head>
<body>
<h1>$title</h1>
<nav>$nav</nav>
$sections
<script type="application/json" id="rank-eval">$eval_json</script>
<script type="application/json" id="rank-figures">$figures</script>
<script>$runtime</script>
<script>
(function () {
  // Vega-Lite specs drawn as SVG by vega-embed; its tooltip shows the hovered query. No editor link: offline.
  var specs = JSON.parse(document.getElementById("rank-figures").textContent);
  var ids = Object.keys(specs);
  var options = {renderer: "svg", actions: {export: true, source: false, compiled: false, editor: false}};
  Promise.all(ids.map(function (id) { return vegaEmbed("#" + id, specs[id], options); })).then(function () {
    document.body.setAttribute("data-figures-drawn", String(ids.length));
  }, function (err) {
    document.body.setAttribute("data-figures-drawn", "error");
    ids.forEach(function (id) {
      var el = document.getElementById(id);
      if (!el.querySelector("svg")) { el.className += " figure-error"; el.textContent = "not drawn: " + err; }
    });
    throw err;
  });
})();
</script>
</body>
</html>
""")


def render_page(
    title: str,
    sections: Sequence[Section],
    figures: Mapping[str, Mapping[str, Any]],
    eval_json: Mapping[str, Any],
    runtime: str,
) -> str:
    """The page: `figures` maps each section's figure id to its Vega-Lite spec."""
    parts = []
    for s in sections:
        parts.append(f'<section id="{escape(s.anchor)}">\n<h2>{escape(s.heading)}</h2>\n{s.body}')
        if s.figure:
            parts.append(f'<div class="figure" id="{escape(s.figure)}"></div>')
        parts.append("</section>")
    nav = " ".join(f'<a href="#{escape(s.anchor)}">{escape(s.heading)}</a>' for s in sections)
    return _PAGE.substitute(
        title=escape(title),
        nav=nav,
        sections="\n".join(parts),
        eval_json=script_json(eval_json),
        figures=script_json(figures),
        # A script element ends at the first "</script"; the bundle has none, but a future one might.
        runtime=runtime.replace("</script", "<\\/script"),
    )
