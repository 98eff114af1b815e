"""The markup budget (app.fhir.markup_budget): its depth estimate is checked against the parser
it protects (html5ever, through nh3): whatever the markup, the estimate is never below the depth
of the tree the parser builds."""

from __future__ import annotations

import re

import nh3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.fhir.markup_budget import (
    AMBIGUOUS,
    DOCUMENT_LEVELS,
    MAX_ATTRIBUTES,
    MAX_COMMENT_CHARS,
    MarkupVerdict,
    _fits,
    assess_markup,
)

NAMES = [
    "div", "p", "span", "b", "i", "em", "a", "font", "nobr", "code", "u", "li", "ul", "ol", "dd",
    "dt", "h1", "h2", "h3", "table", "tbody", "thead", "tr", "td", "th", "caption", "colgroup",
    "form", "body", "html", "head", "button", "object", "applet", "marquee", "pre", "x", "center",
    "address", "listing", "xmp", "iframe", "style", "script", "textarea", "title", "noembed",
    "br", "img", "col", "hr", "input", "image", "ruby", "rt", "option", "optgroup", "frame",
]  # fmt: skip
PARSED = set(NAMES) - {"xmp", "iframe", "style", "script", "textarea", "title", "noembed"}
VOID = {"br", "img", "col", "hr", "input", "frame", "image"}
TOKENS = (
    [f"<{n}>" for n in NAMES]
    + [f"</{n}>" for n in NAMES]
    + [f"<{n} class=k>" for n in ("b", "i", "a", "font", "nobr", "em", "div")]
    + ["x", " ", "<!--", "-->", "<!-->", "</ x>", "<!x>", '"', "'", "=", ">", "<", "</br>"]
    + ['<p title="</p>">', "<div title='>'>", "<DIV>", "</DIV>", "<p/>", "<b/>", "&amp;"]
)


def parser_depth(html: str) -> int:
    """The depth of the tree html5ever builds for ``html`` (its serialization closes every
    non-void element; raw-text elements are dropped so that their text cannot look like tags)."""
    out = nh3.clean(html, tags=PARSED, clean_content_tags=set(), attributes={}, strip_comments=True)
    depth = deepest = 0
    for match in re.finditer(r"<(/?)([a-z][^\s/>]*)[^>]*>", out):
        if match.group(2) in VOID:
            continue
        depth += -1 if match.group(1) else 1
        deepest = max(deepest, depth)
    return deepest


def estimated_depth(html: str) -> int:
    """The smallest depth limit the markup fits in, without the document's own levels."""
    low, high = 0, 10_000
    while low < high:
        middle = (low + high) // 2
        if _fits(html, middle):
            high = middle
        else:
            low = middle + 1
    return low - DOCUMENT_LEVELS


MARKUP = st.builds(
    lambda tokens, repeat: "".join(tokens) * repeat,
    st.lists(st.sampled_from(TOKENS), min_size=1, max_size=40),
    st.integers(min_value=1, max_value=25),
)


@settings(
    max_examples=400,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(MARKUP)
def test_the_estimate_is_never_below_the_parsers_depth(html: str) -> None:
    # One level of slack: "</p>" alone makes the parser add an empty <p>.
    assert parser_depth(html) <= estimated_depth(html) + 1


@pytest.mark.parametrize(
    "unit",
    [
        "<div></i>",  # closers for elements that are not open close nothing
        "<b><div></b>",  # adoption agency: the block stays open
        "<p><b></p>x",  # the formatting element is re-opened before the text
        "<form><div></form>",  # </form> removes only the form
        "<body><div></body>",  # </body> closes nothing
        "<h1><div><h2></h1>",  # </h1> closes the innermost heading, of any level
        "<td><div></td>",  # outside a table, cell tags are ignored
        "<div><!--</div>-->",  # a closer in a comment
        '<div title="</div>">',  # a closer in an attribute value
        "<div><style></div></style>",  # a closer in raw text
        "<span><div></span>",  # "any other end tag" stops at a special element
    ],
)
def test_nesting_tricks_are_seen_as_deep(unit: str) -> None:
    html = unit * 600
    assert parser_depth(html) > 200
    assert assess_markup(html, 200) is MarkupVerdict.TEXT


def test_elements_the_parser_reopens_before_every_text_count_in_all() -> None:
    # 190 kinds of <i> closed by a block are re-opened before each "x": 760,000 elements
    kinds = "<div>" + "".join(f"<i class=k{k}>" for k in range(190)) + "</div>"
    html = kinds + "<div>x</div>" * 4_000
    assert assess_markup(html, 200) is MarkupVerdict.TEXT
    assert assess_markup(kinds + "<div>x</div>" * 50, 200) is MarkupVerdict.PARSE


def test_formatting_elements_the_parser_reopens_count() -> None:
    # each <b> re-opens every earlier one (their attributes differ, so all are kept)
    html = "".join(f"<div><b class=c{k}></div>" for k in range(600))
    assert parser_depth(html) > 200
    assert assess_markup(html, 200) is MarkupVerdict.TEXT


@pytest.mark.parametrize(
    "html",
    [
        "<p>one<p>two" * 1_000,  # unclosed paragraphs
        "<ul>" + "<li>item" * 1_000 + "</ul>",  # unclosed list items
        "<table>" + "<tr><td>a<td>b" * 500 + "</table>",  # unclosed rows and cells
        "<p><b>bold<p>more" * 500,  # formatting carried from paragraph to paragraph
        "<dl>" + "<dt>term<dd>definition" * 500 + "</dl>",
        "<h1>a<h2>b</h2></h1>" * 500,
        "<p>Line with <b>bold</b> &amp; text<br>more</p>" * 1_000,
    ],
)
def test_common_sloppy_markup_is_not_mistaken_for_deep(html: str) -> None:
    assert parser_depth(html) < 20
    assert assess_markup(html, 200) is MarkupVerdict.PARSE


@pytest.mark.parametrize("name", sorted(AMBIGUOUS - {"plaintext"}))
def test_markup_the_parser_reads_another_way_is_shown_as_text(name: str) -> None:
    assert assess_markup(f"<p>a</p><{name}><p>b</p>", 200) is MarkupVerdict.TEXT


def test_escaped_script_text_is_shown_as_text() -> None:
    html = "<div><script><!--<script></script></div></script>"
    assert assess_markup(html, 200) is MarkupVerdict.TEXT
    assert assess_markup("<script>if (a<b) x()</script><p>ok</p>", 200) is MarkupVerdict.PARSE


def test_attribute_comment_and_ampersand_floods_are_shown_as_text() -> None:
    many = "<p " + " ".join(f"a{i}" for i in range(MAX_ATTRIBUTES + 1)) + ">x</p>"
    assert assess_markup(many, 200) is MarkupVerdict.TEXT
    assert assess_markup("<p a b c>x</p>", 200) is MarkupVerdict.PARSE
    assert assess_markup("<!--" + "x" * MAX_COMMENT_CHARS + "-->", 200) is MarkupVerdict.TEXT
    assert assess_markup("&amp;" * 20_000 + "x" * 100_000, 200) is MarkupVerdict.TEXT
    assert assess_markup("&amp;" * 100 + "x" * 100_000, 200) is MarkupVerdict.PARSE
