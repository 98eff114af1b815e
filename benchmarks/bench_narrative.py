"""Narrative sanitizing cost on hostile 4 MB inputs (target: <= 200 ms each, whatever the markup).

    .venv/bin/python benchmarks/bench_narrative.py [--runs 3] [--size 4000000]

Every case is exactly ``--size`` characters (default: the sanitizer's limit, MAX_INPUT_CHARS):
unbalanced closers, deep nesting, the HTML5 tree-building tricks that nest without saying so
(adoption agency, re-opened formatting elements, ignored end tags), many attributes, entity and
ampersand floods, comments, raw text, huge text and a large legitimate narrative. Each is run
through ``sanitize_xhtml`` (what the app writes) and ``sanitize_for_qt`` (what the app shows);
the outcome is "rich" (cleaned markup), "text" (shown as its text) or "refused" (the
NarrativeTooLarge words). Reports the median per case and exits 1 when one misses the target.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.fhir.markup_budget import (
    MAX_AMPERSAND_WORK,
    MAX_ATTRIBUTES,
    MAX_MARKUP,
    MarkupVerdict,
    assess_markup,
)
from app.fhir.narrative import (
    MAX_DEPTH,
    MAX_INPUT_CHARS,
    NarrativeTooLarge,
    clean_text,
    sanitize_for_qt,
    sanitize_xhtml,
)

TARGET_MS = 200.0


def cases(size: int) -> dict[str, str]:
    def fill(unit: str) -> str:
        return (unit * (size // len(unit) + 1))[:size]

    def at_cap(unit: str, tail: str = "x") -> str:
        """As many units as the tag budget allows, then text up to the size."""
        core = unit * (MAX_MARKUP // max(1, unit.count("<")))
        return core + fill(tail)[: size - len(core)]

    def reopened_kinds() -> str:
        kinds = "<div>" + "".join(f"<i class=k{k}>" for k in range(190)) + "</div>"
        core = kinds + "<div>x</div>" * ((MAX_MARKUP - kinds.count("<")) // 2)
        return core + fill("x")[: size - len(core)]

    attrs = "<p " + " ".join(f"a{i}" for i in range(MAX_ATTRIBUTES // 2)) + ">"
    spread_amps = max(1, MAX_AMPERSAND_WORK // size)
    return {
        "unbalanced closers <div></i>, whole input": fill("<div></i>"),
        "unbalanced closers <div></i>, tag budget": at_cap("<div></i>"),
        "deep nesting <div>, tag budget": at_cap("<div>"),
        "adoption agency <b><div></b>": at_cap("<b><div></b>"),
        "re-opened formatting <p><b></p>x": at_cap("<p><b></p>x"),
        "190 formatting kinds re-opened before each text": reopened_kinds(),
        "ignored end tags <form><div></form>": at_cap("<form><div></form>"),
        "ignored end tags <body><div></body>": at_cap("<body><div></body>"),
        "deep but allowed (90 levels, repeated)": at_cap("<div>" * 90 + "</div>" * 90),
        "one tag with 2 M attributes": ("<p " + fill("a ") + ">")[:size],
        "attributes at the limit in every tag": at_cap(attrs, "y"),
        "entity flood &amp;": fill("&amp;"),
        "bare ampersands every 20 characters": fill("& xxxxxxxxxxxxxxxxx "),
        "ampersands at the limit, spread": fill("&amp;" + "x" * (size // spread_amps)),
        "comments <!--x--> at the tag budget": at_cap("<!--x-->"),
        "one unclosed comment": "<!--" + fill("x")[4:],
        "less-than flood": fill("<"),
        "unclosed <script>": "<script>" + at_cap("<i>x")[8:],
        "unterminated attribute quote": '<p title="' + at_cap("</p><p>")[10:],
        "svg with end tags that do not close": at_cap("<svg><div></svg>"),
        "huge plain text": fill("lorem ipsum dolor sit amet "),
        "legitimate narrative at the tag budget": at_cap(
            '<p class="x">Line with <b>bold</b> text<br>more</p>', "plain text. "
        ),
        "table at the tag budget": "<table>" + at_cap("<tr><td>12</td><td>34</td></tr>", "z")[7:],
    }


OUTCOME = {
    MarkupVerdict.PARSE: "rich",
    MarkupVerdict.TEXT: "text",
    MarkupVerdict.TOO_COMPLEX: "refused",
}


def run(fn: Callable[[str], str], html: str, runs: int) -> float:
    times: list[float] = []
    for _ in range(runs):
        start = time.perf_counter()
        with contextlib.suppress(NarrativeTooLarge):  # refusing in words is an outcome too
            fn(html)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--size", type=int, default=MAX_INPUT_CHARS)
    args = parser.parse_args()
    worst = 0.0
    print(f"{'case':48} {'xhtml':>9} {'qt':>9}  outcome")
    for name, html in cases(args.size).items():
        assert len(html) == args.size, (name, len(html))
        outcome = OUTCOME[assess_markup(clean_text(html), MAX_DEPTH)]
        xhtml_ms = run(sanitize_xhtml, html, args.runs)
        qt_ms = run(sanitize_for_qt, html, args.runs)
        worst = max(worst, xhtml_ms, qt_ms)
        print(f"{name:48} {xhtml_ms:7.1f}ms {qt_ms:7.1f}ms  {outcome}", flush=True)
    verdict = worst <= TARGET_MS
    print(
        f"worst median: {worst:.1f} ms; target <= {TARGET_MS:.0f} ms -> {'PASS' if verdict else 'MISS'}"
    )
    return 0 if verdict else 1


if __name__ == "__main__":
    raise SystemExit(main())
