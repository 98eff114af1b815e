"""Narrative sanitizing (app.fhir.narrative) against hostile input."""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from hypothesis import given, settings
from hypothesis import strategies as st

from app.fhir.markup_budget import MAX_MARKUP
from app.fhir.narrative import (
    FHIR_TAGS,
    MAX_INPUT_CHARS,
    QT_TAGS,
    XHTML_NS,
    NarrativeTooComplex,
    NarrativeTooLarge,
    clean_text,
    plain_text_to_xhtml_div,
    sanitize_for_qt,
    sanitize_xhtml,
    sections_to_xhtml_div,
)

NS = f"{{{XHTML_NS}}}"


def parse(xhtml: str) -> ET.Element:
    root = ET.fromstring(xhtml)
    assert root.tag == f"{NS}div"
    return root


def elements(xhtml: str) -> list[ET.Element]:
    return list(parse(xhtml).iter())


def assert_fhir_safe(xhtml: str) -> None:
    """Well-formed XHTML in the XHTML namespace, FHIR tags only, nothing active."""
    for el in elements(xhtml):
        assert el.tag.startswith(NS)
        name = el.tag[len(NS) :]
        assert name in FHIR_TAGS or el.tag == f"{NS}div", name
        for attr, value in el.attrib.items():
            assert not attr.lower().startswith("on"), attr
            assert "javascript" not in value.lower()
            if name == "img" and attr == "src":
                assert value.startswith(("#", "data:image/")), value
            if attr == "style":
                assert "url(" not in value.lower()


def narrative_is_valid(div: str) -> None:
    model = get_fhir_model_class("Observation")
    model.model_validate(
        {
            "resourceType": "Observation",
            "status": "final",
            "code": {"text": "x"},
            "text": {"status": "generated", "div": div},
        }
    )


# ----------------------------------------------------------------------------- plain text


def test_plain_text_is_escaped_with_paragraphs_and_line_breaks() -> None:
    div = plain_text_to_xhtml_div('BP <140/90> & "stable"\nrecheck\n\n\nPlan:\r\n- ibuprofen')
    assert div == (
        f'<div xmlns="{XHTML_NS}"><p>BP &lt;140/90&gt; &amp; "stable"<br/>recheck</p>'
        "<p>Plan:<br/>- ibuprofen</p></div>"
    )
    narrative_is_valid(div)


def test_plain_text_that_looks_like_markup_stays_text() -> None:
    div = plain_text_to_xhtml_div("<script>alert(1)</script><img src=x onerror=alert(1)>")
    root = parse(div)
    assert [el.tag for el in root.iter()] == [f"{NS}div", f"{NS}p"]
    assert root[0].text == "<script>alert(1)</script><img src=x onerror=alert(1)>"


def test_sections_become_headings_and_empty_ones_are_left_out() -> None:
    div = sections_to_xhtml_div(
        [("Subjective", "Headache."), ("Objective", " "), ("Plan", "A & B")]
    )
    assert div == (
        f'<div xmlns="{XHTML_NS}"><h3>Subjective</h3><p>Headache.</p>'
        "<h3>Plan</h3><p>A &amp; B</p></div>"
    )


def test_control_characters_and_lone_surrogates_do_not_break_the_xml() -> None:
    broken = b"caf\xc3 \xff\xfe ok".decode("utf-8", "surrogateescape")
    div = plain_text_to_xhtml_div(f"a\x00b\x1bc\x7f {broken}\ufffe")
    assert parse(div)[0].text == "abc caf\ufffd \ufffd\ufffd ok"
    div.encode("utf-8")  # no surrogate survives
    narrative_is_valid(div)


# ----------------------------------------------------------------------------- hostile HTML


@pytest.mark.parametrize(
    "hostile",
    [
        "<script>alert(1)</script>",
        "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
        "<scr<script>ipt>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        '<p onclick="steal()" ONMOUSEOVER=x>',
        "<body onload=alert(1)>",
        '<a href="javascript:alert(1)">x</a>',
        '<a href="  JaVaScRiPt:alert(1)">x</a>',
        '<a href="java&#x09;script:alert(1)">x</a>',
        '<a href="&#106;avascript:alert(1)">x</a>',
        '<a href="vbscript:msgbox(1)">x</a>',
        '<a href="data:text/html;base64,PHNjcmlwdD4=">x</a>',
        '<img src="http://tracker.example/pixel.gif">',
        '<img src="//tracker.example/pixel.gif">',
        '<img src="file:///etc/passwd">',
        '<img src="data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+">',
        '<iframe src="https://evil.example"></iframe>',
        "<object data=x></object><embed src=x>",
        '<form action="https://evil.example"><input name=pw></form>',
        '<svg onload="alert(1)"><script>x</script></svg>',
        '<math><mi xlink:href="javascript:alert(1)">x</mi></math>',
        '<span style="background:url(https://evil.example/x)">x</span>',
        '<span style="width: expression(alert(1))">x</span>',
        "<style>body{background:url(//evil)}</style>",
        '<meta http-equiv="refresh" content="0;url=https://evil.example">',
        '<base href="https://evil.example/">',
        '<link rel=stylesheet href="https://evil.example/x.css">',
        "<!--<script>alert(1)</script>-->",
        '<div xmlns="http://www.w3.org/1999/xhtml"><p title="x" id="a" class="c">ok</p></div>',
    ],
)
def test_hostile_markup_is_neutralised(hostile: str) -> None:
    xhtml = sanitize_xhtml(f"<p>before</p>{hostile}<p>after</p>")
    assert_fhir_safe(xhtml)
    lowered = xhtml.lower()
    for needle in ("<script", "onerror", "onload", "onclick", "javascript:", "evil.example"):
        assert needle not in lowered
    assert "before" in xhtml and "after" in xhtml  # the rest of the narrative survives
    narrative_is_valid(xhtml)
    qt = sanitize_for_qt(hostile).lower()
    for needle in ("<script", "onerror", "onload", "javascript:", "<img", "style=", "evil.example"):
        assert needle not in qt


def test_allowed_formatting_survives() -> None:
    html = (
        '<div xmlns="http://www.w3.org/1999/xhtml"><h2>Plan</h2><p>Take <b>two</b> '
        "<i>tablets</i>&nbsp;daily<br>with food.</p><ul><li>one</li><li>two</li></ul>"
        '<table border="1"><tr><th>BP</th><td colspan="2">142/88</td></tr></table>'
        '<a href="https://example.org/leaflet">leaflet</a> <a href="#s2">see below</a>'
        '<img src="#figure1" alt="Figure"><span style="color: red; position: fixed">red</span>'
        "</div>"
    )
    xhtml = sanitize_xhtml(html)
    assert_fhir_safe(xhtml)
    assert xhtml == (
        f'<div xmlns="{XHTML_NS}"><h2>Plan</h2><p>Take <b>two</b> <i>tablets</i>&#160;daily'
        "<br/>with food.</p><ul><li>one</li><li>two</li></ul>"
        '<table border="1"><tbody><tr><th>BP</th><td colspan="2">142/88</td></tr></tbody></table>'
        '<a href="https://example.org/leaflet">leaflet</a> <a href="#s2">see below</a>'
        '<img src="#figure1" alt="Figure"/><span style="color:red">red</span></div>'
    )
    narrative_is_valid(xhtml)


def test_attribute_values_with_markup_characters_stay_well_formed() -> None:
    xhtml = sanitize_xhtml('<p title="a<b>c&quot;d">x="y <span title=\'1>2\'>z</span></p>')
    root = parse(xhtml)
    assert root[0].attrib["title"] == 'a<b>c"d'
    assert root[0][0].attrib["title"] == "1>2"
    assert root[0].text == 'x="y '


def test_qt_output_has_no_images_styles_or_local_links() -> None:
    qt = sanitize_for_qt(
        '<p style="color:red">a<img src="#x"><img src="data:image/png;base64,AAAA">'
        '<a href="file:///etc/passwd">f</a><a href="notes/1">r</a>'
        '<a href="https://ok.example/">k</a></p>'
    )
    assert qt == (
        '<p>a<a rel="noopener noreferrer">f</a><a rel="noopener noreferrer">r</a>'
        '<a href="https://ok.example/" rel="noopener noreferrer">k</a></p>'
    )


def test_empty_or_fully_hostile_input_gives_an_empty_div() -> None:
    for html in ("", "<script>x</script>", "<!-- only a comment -->"):
        assert sanitize_xhtml(html) == f'<div xmlns="{XHTML_NS}"></div>'
        assert sanitize_for_qt(html) == ""


# ----------------------------------------------------------------------------- size and depth


def test_deeply_nested_markup_is_reduced_to_its_text_quickly() -> None:
    html = "<div>" * 4_000 + "deep &amp; <script>x</script>text" + "</div>" * 4_000
    start = time.monotonic()
    xhtml = sanitize_xhtml(html)
    qt = sanitize_for_qt(html)
    assert time.monotonic() - start < 5
    assert parse(xhtml)[0].text == "deep & text"
    assert qt == "<p>deep &amp; text</p>"


@pytest.mark.parametrize(
    "unit",
    ["<b><i><table><tr><td>", "<svg>", "<p>", '<div title="a>b">', "<select>", '<x y="', "<!--"],
)
def test_unclosed_tags_in_bulk_do_not_hang(unit: str) -> None:
    html = unit * (MAX_MARKUP // unit.count("<")) + "end"
    start = time.monotonic()
    xhtml = sanitize_xhtml(html)
    sanitize_for_qt(html)
    assert time.monotonic() - start < 5
    assert_fhir_safe(xhtml)
    assert "title" not in xhtml


@pytest.mark.parametrize("unit", ["<div>", "<div></i>", "<p>x</p>", "<", "<!--"])
def test_more_tags_than_can_be_read_in_time_are_refused_with_words(unit: str) -> None:
    html = unit * (MAX_MARKUP + 1)
    start = time.monotonic()
    for fn in (sanitize_xhtml, sanitize_for_qt):
        with pytest.raises(NarrativeTooComplex) as err:
            fn(html)
        assert "too complex to show" in err.value.user_message
        assert "Open it in the EHR" in err.value.user_message
        assert isinstance(err.value, NarrativeTooLarge)  # callers that handle one handle both
    assert time.monotonic() - start < 1


def test_large_flat_narrative_is_cleaned() -> None:
    html = "<p>Line with <b>bold</b> &amp; text<br>more</p>" * 1_500  # 7,500 tags
    start = time.monotonic()
    xhtml = sanitize_xhtml(html)
    assert time.monotonic() - start < 10
    assert len(parse(xhtml)) == 1_500


def _best_time(fn: object, html: str) -> float:
    assert callable(fn)
    best = float("inf")
    for _ in range(5):  # the best of five: other work on a shared CI machine only adds time
        start = time.perf_counter()
        fn(html)
        best = min(best, time.perf_counter() - start)
    return best


# Each shape costs the parser N^2 when N grows (nesting, attributes, ampersands before text);
# with the budget the work must grow like the input: x4 input, about x4 time, never x16.
@pytest.mark.parametrize(
    "shape",
    [
        lambda n: "<div></i>x" * n,
        lambda n: "<b><div></b>x" * n,
        lambda n: "<p><b></p>x" * n,
        lambda n: "<body><div></body>x" * n,
        lambda n: "<p " + " ".join(f"a{i}" for i in range(2 * n)) + ">x</p>",
        lambda n: "& " * n + "x" * (300 * n),
    ],
    ids=[
        "unbalanced closers",
        "adoption agency",
        "re-opened",
        "ignored closers",
        "attributes",
        "ampersands",
    ],
)
@pytest.mark.parametrize("fn", [sanitize_xhtml, sanitize_for_qt], ids=["xhtml", "qt"])
def test_sanitizing_cost_grows_linearly_with_the_input(shape: Any, fn: Any) -> None:
    n = MAX_MARKUP // (4 * max(1, shape(1).count("<")))  # as large as the tag budget allows
    small, large = shape(n), shape(4 * n)
    assert large.count("<") <= MAX_MARKUP
    ratio = _best_time(fn, large) / max(_best_time(fn, small), 1e-3)
    assert ratio < 11, f"x4 input took x{ratio:.1f} time"  # quadratic: x16


def test_oversized_input_is_refused_with_a_clear_message() -> None:
    huge = "x" * (MAX_INPUT_CHARS + 1)
    for fn in (sanitize_xhtml, sanitize_for_qt, plain_text_to_xhtml_div):
        with pytest.raises(NarrativeTooLarge) as err:
            fn(huge)
        assert "too large" in err.value.user_message


# ----------------------------------------------------------------------------- fuzzing

_HTMLISH = st.lists(
    st.sampled_from(
        [
            "<",
            ">",
            "/",
            '"',
            "'",
            "=",
            " ",
            "&",
            "#",
            ";",
            "\x00",
            "\ud800",
            "\n",
            "a",
            "p",
            "div",
            "img",
            "script",
            "svg",
            "style",
            "table",
            "td",
            "br",
            "src",
            "href",
            "on",
            "onerror",
            "javascript:",
            "data:",
            "http://x/",
            "<!--",
            "-->",
            "<![CDATA[",
            "]]>",
            "&nbsp;",
            "&#0;",
            "&#x110000;",
            "é",
            "\u202e",
            "xmlns",
        ]
    ),
    max_size=60,
).map("".join)


# Unbalanced markup, repeated: closers of elements that are not open, end tags the HTML5 tree
# builder ignores, formatting elements it re-opens, closers hidden in comments and attributes.
_UNBALANCED_UNITS = [
    "<div>", "</i>", "<b>", "</b>", "<p>", "</p>", "<form>", "</form>", "<body>", "</body>",
    "<h1>", "<h2>", "</h1>", "<td>", "</td>", "<table>", "<span>", "</span>", "<!--</div>-->",
    '<div title="</div>">', "<style></div></style>", "<b class=x>", "x", "&amp;", "<svg>",
    "</svg>", "<a href=x>", "</a>",
]  # fmt: skip
_UNBALANCED = st.builds(
    lambda units, repeat: "".join(units) * repeat,
    st.lists(st.sampled_from(_UNBALANCED_UNITS), min_size=1, max_size=8),
    st.integers(min_value=1, max_value=1_000),
)


@settings(max_examples=300, deadline=None)
@given(html=_HTMLISH | _UNBALANCED | st.text())
def test_any_input_gives_safe_well_formed_xhtml(html: str) -> None:
    if html.count("<") > MAX_MARKUP:
        with pytest.raises(NarrativeTooComplex):
            sanitize_xhtml(html)
        return
    xhtml = sanitize_xhtml(html)
    assert_fhir_safe(xhtml)
    xhtml.encode("utf-8")
    qt = sanitize_for_qt(html)
    qt.encode("utf-8")
    assert "<img" not in qt and "<script" not in qt.lower()
    for tag in QT_TAGS:
        assert f"<{tag} on" not in qt


@settings(max_examples=200, deadline=None)
@given(text=st.text())
def test_any_plain_text_keeps_every_visible_character(text: str) -> None:
    root = parse(plain_text_to_xhtml_div(text))
    shown = "".join(root.itertext())
    assert re.sub(r"\s", "", shown) == re.sub(r"\s", "", clean_text(text))
