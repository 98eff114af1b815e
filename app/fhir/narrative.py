"""Narrative XHTML: what the app writes to the chart and what it shows from the chart.

Every piece of markup from outside the app (an EHR's narrative, an imported draft) is hostile
until cleaned. Cleaning is done by Ammonia (the ``nh3`` binding), a whitelist HTML sanitizer that
parses like a browser (html5ever), so tricks that fool regular expressions do not work:

- :func:`sanitize_xhtml` — the XHTML subset FHIR allows in ``Narrative.div`` (FHIR R4 narrative
  rules: basic formatting, lists, tables, ``<a>`` with ``href``/``name``, images only from the
  resource itself (``#id``) or ``data:image/...``, inline ``style`` limited to harmless
  properties). No ``<script>``, no event handlers, no ``javascript:`` links, no external images,
  no forms or frames. Returns ``<div xmlns="http://www.w3.org/1999/xhtml">…</div>``.
- :func:`plain_text_to_xhtml_div` — the clinician's text as that div: escaped, blank lines
  separating ``<p>`` paragraphs, single newlines as ``<br/>``.
- :func:`sanitize_for_qt` — for any Qt rich-text widget: stricter still (no images at all, no
  styles, links only to ``http(s)``/``mailto``, because Qt resolves image sources and relative
  links against the local file system).

Input is never trusted to be well-formed: control characters are removed, lone surrogates (from
undecodable bytes) become U+FFFD, and input over :data:`MAX_INPUT_CHARS` is refused with
:class:`NarrativeTooLarge` — the only exception these functions raise (as its subclass
:class:`NarrativeTooComplex` for more than ``MAX_MARKUP`` tags). The work is linear in the input
whatever the markup: markup the HTML parser would find expensive (a tag with too many
attributes, too many ampersands for its size, or a tree deeper than :data:`MAX_DEPTH` however
the tags achieve it) is shown as its text, extracted without building a tree
(:mod:`app.fhir.markup_budget`; figures in docs/performance.md).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable

import nh3

from app.domain.markup_text import html_to_text
from app.fhir.markup_budget import MAX_MARKUP, MarkupVerdict, assess_markup

XHTML_NS = "http://www.w3.org/1999/xhtml"
DIV_OPEN = f'<div xmlns="{XHTML_NS}">'
MAX_INPUT_CHARS = 4_000_000
MAX_DEPTH = 200


class NarrativeTooLarge(ValueError):
    """The narrative is too large to clean or show safely. ``user_message`` is for people.

    Belongs in app.fhir.errors (under FhirError); kept here until that module takes it.
    """

    def __init__(self, size: int) -> None:
        self.user_message = self.words(size)
        super().__init__(self.user_message)

    @staticmethod
    def words(size: int) -> str:
        return (
            f"The note text is too large to show or write safely ({size:,} characters, at most "
            f"{MAX_INPUT_CHARS:,}). Open it in the EHR instead, or shorten it."
        )


class NarrativeTooComplex(NarrativeTooLarge):
    """More tags than can be read in the time the UI may wait (``MAX_MARKUP``)."""

    @staticmethod
    def words(size: int) -> str:
        return (
            f"The note's formatting is too complex to show safely ({size:,} tags, at most "
            f"{MAX_MARKUP:,}). Open it in the EHR instead."
        )


# FHIR R4 narrative: HTML 4.0 chapters 7-11 (without ins/del) and 15, <a>, <img>.
FHIR_TAGS = frozenset(
    [
        "a",
        "abbr",
        "acronym",
        "address",
        "b",
        "bdo",
        "big",
        "blockquote",
        "br",
        "caption",
        "cite",
        "code",
        "col",
        "colgroup",
        "dd",
        "dfn",
        "div",
        "dl",
        "dt",
        "em",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "hr",
        "i",
        "img",
        "kbd",
        "li",
        "ol",
        "p",
        "pre",
        "q",
        "s",
        "samp",
        "small",
        "span",
        "strike",
        "strong",
        "sub",
        "sup",
        "table",
        "tbody",
        "td",
        "tfoot",
        "th",
        "thead",
        "tr",
        "tt",
        "u",
        "ul",
        "var",
    ]
)
_GLOBAL_ATTRS = {"class", "style", "title", "lang", "dir"}
_CELL_ATTRS = {"colspan", "rowspan", "align", "valign", "headers", "scope", "abbr"}
FHIR_ATTRIBUTES: dict[str, set[str]] = {
    "*": _GLOBAL_ATTRS,
    "a": {"href", "name"},
    "img": {"src", "alt", "width", "height"},
    "table": {"border", "cellpadding", "cellspacing", "summary", "width"},
    "td": _CELL_ATTRS,
    "th": _CELL_ATTRS,
    "col": {"span", "width", "align", "valign"},
    "colgroup": {"span", "width", "align", "valign"},
    "ol": {"start", "type"},
    "ul": {"type"},
    "li": {"value"},
    "p": {"align"},
    "div": {"align"},
    "tr": {"align", "valign"},
}
STYLE_PROPERTIES = frozenset(
    [
        "color",
        "background-color",
        "font-weight",
        "font-style",
        "font-size",
        "font-family",
        "text-decoration",
        "text-align",
        "vertical-align",
        "white-space",
        "border",
        "border-collapse",
        "border-style",
        "border-width",
        "border-color",
        "padding",
        "margin",
        "width",
    ]
)
# Removed together with their content (never shown as text).
DROPPED_WITH_CONTENT = frozenset(
    [
        "script",
        "style",
        "iframe",
        "object",
        "embed",
        "noscript",
        "template",
        "svg",
        "math",
        "title",
        "head",
        "textarea",
        "select",
        "applet",
        "frameset",
        "frame",
    ]
)
QT_TAGS = FHIR_TAGS - {"img"}
QT_ATTRIBUTES: dict[str, set[str]] = {
    tag: attrs - {"style", "class"} for tag, attrs in FHIR_ATTRIBUTES.items() if tag != "img"
}

_UNSAFE_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff]")
_ASCII_CONTROLS = bytes([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])
_SURROGATES = re.compile("[\ud800-\udfff]")
_VOID = frozenset({"br", "hr", "img", "col", "wbr", "area", "input", "meta", "link", "base"})
# A start tag as Ammonia serializes it: lowercase name, attribute values always double-quoted.
_START_TAG = re.compile(r'<([a-z][a-z0-9]*)((?:\s+[^\s="/>]+(?:="[^"]*")?)*)\s*/?>')
_ATTR_VALUE = re.compile(r'="([^"]*)"')
_LINK_SCHEMES = ("http:", "https:", "mailto:", "tel:")
_DATA_IMAGE = re.compile(r"^data:image/(?:png|gif|jpeg|webp);base64,[A-Za-z0-9+/=\s]*$", re.I)
_BAD_STYLE = re.compile(r"url\s*\(|expression\s*\(|@import|javascript:|behavior\s*:", re.I)
_BLANK_LINES = re.compile(r"\n[ \t]*\n\s*")


def clean_text(text: str) -> str:
    """``text`` without control characters; lone surrogates become U+FFFD; newlines are LF."""
    if text.isascii():  # the common case, at C speed (bytes.translate deletes the controls)
        data = text.encode("ascii").replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        return data.translate(None, _ASCII_CONTROLS).decode("ascii")
    text = _SURROGATES.sub("\ufffd", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _UNSAFE_CHARS.sub("", text)


def _check_size(text: str) -> None:
    if len(text) > MAX_INPUT_CHARS:
        raise NarrativeTooLarge(len(text))


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def plain_text_to_xhtml_div(text: str) -> str:
    """The text as a FHIR narrative div: paragraphs at blank lines, ``<br/>`` at newlines."""
    _check_size(text)
    return DIV_OPEN + _paragraphs(clean_text(text)) + "</div>"


def sections_to_xhtml_div(sections: Iterable[tuple[str, str]]) -> str:
    """Titled sections (``(title, text)``; empty texts skipped) as one narrative div."""
    parts: list[str] = []
    for title, text in sections:
        _check_size(text)
        if text.strip():
            parts.append(f"<h3>{_escape(clean_text(title))}</h3>{_paragraphs(clean_text(text))}")
    return DIV_OPEN + "".join(parts) + "</div>"


def _paragraphs(text: str) -> str:
    paras = [p.strip("\n") for p in _BLANK_LINES.split(text.strip("\n"))]
    return "".join(
        "<p>" + "<br/>".join(_escape(line) for line in p.split("\n")) + "</p>"
        for p in paras
        if p.strip()
    )


def sanitize_xhtml(html: str) -> str:
    """Any (X)HTML as a FHIR narrative div that keeps only what FHIR allows."""
    _check_size(html)
    html = clean_text(html)
    if _verdict(html) is MarkupVerdict.TEXT:
        return plain_text_to_xhtml_div(html_to_text(html))
    cleaned = nh3.clean(
        html,
        tags=set(FHIR_TAGS),
        clean_content_tags=set(DROPPED_WITH_CONTENT),
        attributes={k: set(v) for k, v in FHIR_ATTRIBUTES.items()},
        attribute_filter=_fhir_attribute,
        url_schemes={"http", "https", "mailto", "tel", "data"},
        link_rel=None,
        strip_comments=True,
        filter_style_properties=set(STYLE_PROPERTIES),
    )
    result = _narrative_div(_to_xhtml(cleaned))
    if result is None:  # a serializer corner case: never write broken XHTML
        return plain_text_to_xhtml_div(html_to_text(html))
    return result


def sanitize_for_qt(html: str) -> str:
    """Markup that is safe to give a Qt rich-text widget (HTML, not XHTML)."""
    _check_size(html)
    html = clean_text(html)
    if _verdict(html) is MarkupVerdict.TEXT:
        return "<p>" + _escape(clean_text(html_to_text(html))).replace("\n", "<br>") + "</p>"
    return nh3.clean(
        html,
        tags=set(QT_TAGS),
        clean_content_tags=set(DROPPED_WITH_CONTENT),
        attributes={k: set(v) for k, v in QT_ATTRIBUTES.items()},
        attribute_filter=_qt_attribute,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
        strip_comments=True,
    )


# ----------------------------------------------------------------------------- internals


def _verdict(html: str) -> MarkupVerdict:
    verdict = assess_markup(html, MAX_DEPTH)
    if verdict is MarkupVerdict.TOO_COMPLEX:
        raise NarrativeTooComplex(html.count("<"))
    return verdict


def _fhir_attribute(tag: str, attr: str, value: str) -> str | None:
    if attr == "style":
        return None if _BAD_STYLE.search(value) else value
    if tag == "img" and attr == "src":
        v = value.strip()
        return v if v.startswith("#") or _DATA_IMAGE.match(v) else None
    if tag == "a" and attr == "href":
        v = value.strip()
        return v if v.startswith("#") or v.lower().startswith(_LINK_SCHEMES) else None
    return value


def _qt_attribute(tag: str, attr: str, value: str) -> str | None:
    if tag == "a" and attr == "href":
        v = value.strip()
        return v if v.lower().startswith(("http:", "https:", "mailto:")) else None
    return value


def _to_xhtml(html: str) -> str:
    """Ammonia's HTML5 serialization as XML: void elements closed, no HTML-only entities,
    ``<``/``>`` escaped inside attribute values, ``<img>`` whose source was removed dropped.
    Text never holds a raw ``<`` (Ammonia escapes it), so every ``<`` starts a tag."""
    return _START_TAG.sub(_xml_start_tag, html.replace("&nbsp;", "&#160;"))


def _xml_start_tag(match: re.Match[str]) -> str:
    name, attrs = match.group(1), match.group(2)
    if name == "img" and ' src="' not in attrs:
        return ""  # an external image: nothing left to show
    attrs = _ATTR_VALUE.sub(
        lambda m: '="' + m.group(1).replace("<", "&lt;").replace(">", "&gt;") + '"', attrs
    )
    return f"<{name}{attrs}{'/' if name in _VOID else ''}>"


def _narrative_div(fragment: str) -> str | None:
    """The fragment in the narrative div (None if it is not well-formed XML), parsed once.
    ``<div>x</div>`` (as an EHR's own narrative div arrives after cleaning) becomes ``x``."""
    try:
        root = ET.fromstring(f"<r>{fragment}</r>")
    except ET.ParseError:
        return None
    if (
        fragment.startswith("<div>")
        and fragment.endswith("</div>")
        and len(root) == 1
        and not (root.text or "").strip()
        and not (root[0].tail or "").strip()
    ):
        fragment = fragment[len("<div>") : -len("</div>")]
    return DIV_OPEN + fragment + "</div>"
