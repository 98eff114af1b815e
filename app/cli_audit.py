"""``fhir-writeback audit export|verify``: the audit log for clinic IT.

    fhir-writeback audit export [--since YYYY-MM-DD] [--format csv|json]   -> stdout
    fhir-writeback audit verify

Thin adapters: app.cli opens the store the way the app does (``open_protected_store``: the key
comes from the user's keyring, so run them as the user whose store it is) and passes its
``AuditLog``; these functions return ``(text, exit code)``. They take the log by its shape
(``AuditSource``) so this module imports nothing from the layers below.

Exit codes: 0 done, chain intact; 1 the chain check found alterations (export still written:
run ``audit verify`` for the list); 2 bad arguments. (app.cli: 3 when the store cannot be
opened — print the error's ``user_message``.)
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Protocol

OK, ALTERED, USAGE = 0, 1, 2
FORMATS = ("csv", "json")


class VerifyOutcome(Protocol):
    @property
    def ok(self) -> bool: ...

    def summary(self) -> str: ...


class AuditSource(Protocol):
    def export(
        self,
        since: datetime | date | None,
        fmt: str,
        *,
        actor: str | None = ...,
        record: bool = ...,
    ) -> str: ...

    def verify(self) -> VerifyOutcome: ...


def parse_since(text: str | None) -> date | datetime | None:
    """``2025-03-01`` (a day, UTC) or an ISO-8601 time with zone; None for no limit."""
    if text is None or not text.strip():
        return None
    value = text.strip()
    try:
        if len(value) == 10:
            return date.fromisoformat(value)
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"--since {value!r} is not a date: use YYYY-MM-DD (UTC) or an ISO-8601 time"
        ) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def audit_export(
    audit: AuditSource, since: str | None, fmt: str, *, actor: str | None = "cli"
) -> tuple[str, int]:
    """The export text and the exit code (the export is itself recorded in the log)."""
    kind = (fmt or "").strip().lower()
    if kind not in FORMATS:
        return f"--format {fmt!r} is not supported: use csv or json.\n", USAGE
    try:
        start = parse_since(since)
    except ValueError as exc:
        return f"{exc}.\n", USAGE
    checked = audit.verify()
    text = audit.export(start, kind, actor=actor, record=True)
    return text, OK if checked.ok else ALTERED


def audit_verify(audit: AuditSource) -> tuple[str, int]:
    result = audit.verify()
    return result.summary() + "\n", OK if result.ok else ALTERED
