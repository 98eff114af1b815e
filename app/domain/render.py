"""The note as plain text: what the preview shows and what is written as text/plain."""

from __future__ import annotations

from app.domain.draft import Draft


def render_plain_text(draft: Draft) -> str:
    """Sections with text, each under its title; a one-section note (an amendment) is its
    text alone, so an amended chart note keeps its own wording and layout."""
    filled = [s for s in draft.sections if s.text.strip()]
    if len(draft.sections) == 1:
        return draft.sections[0].text
    return "\n\n".join(f"{s.title}:\n{s.text.rstrip()}" for s in filled) + ("\n" if filled else "")
