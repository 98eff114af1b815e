"""Every sealed column of the store, in one place: (table, format column, blob column, the
row's context). The protector binds each sealed value to its context, so a value moved to
another row fails to open; sealing in place (app.store.protected), the key-loss report
(app.store.key_report) and the repositories all use these names."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.store.audit_tables import audit_log
from app.store.outbox_tables import outbox_commits, outbox_writes
from app.store.schema import chart_cache, directory_cache, drafts, worklist_cache


def error_context(commit_id: str) -> str:
    """The context of a commit's sealed last error."""
    return f"{commit_id}:error"


SEALED_COLUMNS: tuple[tuple[Any, str, str, Callable[[Any], str]], ...] = (
    (drafts, "body_format", "body", lambda r: str(r.id)),
    (outbox_writes, "payload_format", "payload", lambda r: f"{r.commit_id}.{r.position}"),
    (outbox_commits, "decision_format", "decision", lambda r: f"{r.commit_id}:decision"),
    (outbox_commits, "conflict_format", "conflict", lambda r: f"{r.commit_id}:conflict"),
    (outbox_commits, "error_format", "error_text", lambda r: error_context(str(r.commit_id))),
    (audit_log, "details_format", "details", lambda r: f"audit:{r.seq}"),
    (directory_cache, "body_format", "body", lambda r: f"directory:{r.key}"),
    (worklist_cache, "body_format", "body", lambda r: f"worklist:{r.key}"),
    (chart_cache, "body_format", "body", lambda r: f"chart:{r.key}"),
)
