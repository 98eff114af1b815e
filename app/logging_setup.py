"""Operational logging: rotating files in the per-user log folder.

Log records carry ids, states and error classes only — never names, note text or tokens.
``RedactingFormatter`` is the safety net behind that rule: whatever a record or a traceback
says, bearer tokens, JWTs, OAuth parameters and URL query strings (which can carry a patient's
name as a search parameter) are masked before a line reaches the file.
"""

from __future__ import annotations

import logging
import logging.handlers
import re
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_REDACTIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]+"), r"\1 [redacted]"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), "[jwt redacted]"),
    (
        re.compile(
            r"(?i)\b(access_token|refresh_token|id_token|code|code_verifier|client_secret|"
            r"password|assertion)(\\?[\"']?\s*[=:]\s*\\?[\"']?)[^&\s\"'\\,}]+"
        ),
        r"\1\2[redacted]",
    ),
    (re.compile(r"(https?://[^\s?#\"'<>]+)\?[^\s\"'<>]+"), r"\1?[query redacted]"),
)


def redact(text: str) -> str:
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFormatter(logging.Formatter):
    """Formats as usual, then masks secrets and query strings in the whole line (message,
    arguments and traceback alike)."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def configure_logging(log_dir: Path, level: int = logging.INFO) -> Path:
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / "fhir-writeback.log"
    handler = logging.handlers.RotatingFileHandler(
        path, maxBytes=2_000_000, backupCount=5, encoding="utf-8"
    )
    handler.setFormatter(RedactingFormatter(FORMAT))
    root = logging.getLogger()
    root.setLevel(level)
    root.addHandler(handler)
    # httpx logs full URLs (which can carry search parameters such as a patient name) at INFO.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    # At DEBUG Authlib logs whole token responses (tokens, patient ids).
    logging.getLogger("authlib").setLevel(logging.INFO)
    return path
