"""The text of (X)HTML, in time linear in its size whatever the markup.

Used for chart notes shown or amended as text and for narratives too costly to clean as markup
(app.fhir.narrative). No tree is built: a few regular-expression passes, every one linear
(possessive quantifiers; case-insensitive groups only after the literal ``<``, so searching stays
a fast scan). The standard library's ``html.parser`` was quadratic on unclosed constructs
(``'<a ' * 20_000`` took 40 s, ``'<!--' * 80_000`` 48 s). The result is text to be escaped by
whoever shows it: being approximate where markup is malformed is safe.

- comments, and elements whose content is not readable text (scripts, styles, frames, forms'
  lists, SVG/MathML...), are dropped with their content;
- block tags (p, div, br, li, tr, headings) become one line break (never two in a row, never
  one at the start or after text that already ends a line); other tags are dropped;
- character references are decoded as HTML does (``html.unescape``); past
  :data:`MAX_EXACT_DECODES` ampersands (decoding costs a Python call each), only the common
  named ones are (``&lt; &gt; &quot; &#39; &nbsp; &amp;``), at C speed.
"""

from __future__ import annotations

import html
import re

_WS = "\t\n\f\r "
# The rest of a tag: quoted attribute values may hold '>' (quotes open a value only after '=').
_REST_OF_TAG = rf"(?:[^>\"'=]++|=[{_WS}]*+(?:\"[^\"]*+\"?|'[^']*+'?)|[=\"'])*+>?"
_COMMENT = re.compile(r"<!--(?:[^-]++|-(?!-!?>))*+(?:--!?>)?")
_DROPPED_ELEMENT = re.compile(
    r"<((?i:script|style|iframe|object|embed|noscript|template|svg|math|title|head|textarea|"
    rf"select|applet|frameset|frame|xmp|noembed|noframes))(?![^{_WS}/>]){_REST_OF_TAG}"
    rf"(?:[^<]++|<(?!/(?i:\1)(?![^{_WS}/>])))*+(?:</(?i:\1)[^>]*+>?)?"
)
_BLOCK_TAG = re.compile(rf"</?(?i:p|div|br|li|tr|h[1-6])(?![^{_WS}/>]){_REST_OF_TAG}")
_ANY_TAG = re.compile(rf"</?[A-Za-z]{_REST_OF_TAG}|<[!?/][^>]*+>?")
MAX_EXACT_DECODES = 20_000
_COMMON_REFERENCES = (
    ("&lt;", "<"),
    ("&gt;", ">"),
    ("&quot;", '"'),
    ("&#39;", "'"),
    ("&nbsp;", "\u00a0"),
    ("&amp;", "&"),  # last: what it makes is never decoded again
)
_BREAK = "\x01"  # a control character (removed from the input first): where a block tag was
_BREAKS_AFTER_A_LINE_END = re.compile(f"\n{_BREAK}+")
_BREAKS = re.compile(f"{_BREAK}{_BREAK}*")  # (a literal first: a fast scan)


def html_to_text(markup: str) -> str:
    """Text content of an (X)HTML fragment; scripts, styles and the like are dropped."""
    text = _DROPPED_ELEMENT.sub("", _COMMENT.sub("", markup.replace(_BREAK, "")))
    text = _ANY_TAG.sub("", _BLOCK_TAG.sub(_BREAK, text))
    if _BREAK in text:
        text = _BREAKS_AFTER_A_LINE_END.sub("\n", text).lstrip(_BREAK)
        text = _BREAKS.sub("\n", text)
    if text.count("&") <= MAX_EXACT_DECODES:
        return html.unescape(text).strip("\n")
    for reference, char in _COMMON_REFERENCES:
        text = text.replace(reference, char)
    return text.strip("\n")
