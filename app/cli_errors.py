"""The command line's own error: wrong usage (an unknown site, a malformed commit id, …).

Like every layer's errors it carries its words in ``user_message`` (app.domain.errors.words_for);
the commands print them after their name and exit with status 2.
"""

from __future__ import annotations


class UsageError(Exception):
    def __init__(self, user_message: str) -> None:
        super().__init__(user_message)
        self.user_message = user_message
