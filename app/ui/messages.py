"""The words the clinician sees for an error: every layer's errors carry them (``message`` in
app.smart, ``user_message`` elsewhere); anything else gets the caller's fallback sentence."""

from __future__ import annotations


def message_for(exc: BaseException, fallback: str) -> str:
    for attr in ("user_message", "message"):
        value = getattr(exc, attr, None)
        if isinstance(value, str) and value:
            return value
    return fallback
