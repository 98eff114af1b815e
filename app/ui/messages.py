"""The words the clinician sees for an error: app.domain.errors.words_for (every layer's errors
carry them in ``user_message``); anything else gets the caller's fallback sentence."""

from __future__ import annotations

from app.domain.errors import words_for as message_for

__all__ = ["message_for"]
