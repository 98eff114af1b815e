"""An EHR site the app can sign in to, as clinic IT configured it (see docs/sign-in.md)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path

DEFAULT_REDIRECT_PATH = "/callback"
DEFAULT_INBOX_SETTLE_SECONDS = 2


class LogLevel(Enum):
    """How much the operational log file says (``--log-level``, ``log_level`` in sites.toml).
    DEBUG adds the steps of sign-in, context loads and sync, still without patient data."""

    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"

    @classmethod
    def parse(cls, text: str) -> LogLevel | None:
        """``"debug"``, ``"DEBUG"``, ... -> the level; None for anything else."""
        return next((level for level in cls if level.value == text.strip().lower()), None)


@dataclass(frozen=True)
class Site:
    """One configured EHR. Validated when loaded (app.smart.sites); immutable afterwards."""

    id: str  # stable key: keyring entries and local data are filed under it
    display_name: str
    fhir_base: str  # no trailing slash
    client_id: str
    scopes: tuple[str, ...] | None = None  # None: derived from enabled features + server
    vendor_profile: str | None = None
    ca_bundle: Path | None = None  # extra trusted CA certificates (PEM), added to the defaults
    proxy: str | None = None
    redirect_path: str = DEFAULT_REDIRECT_PATH
    idle_lock_minutes: int | None = None
    log_level: LogLevel | None = None  # None: the global setting (default INFO)
    is_sandbox: bool = False  # the embedded sandbox EHR, offered when nothing is configured
    draft_inbox: Path | None = None  # the scribe's watched folder; None: off (the default)
    draft_inbox_settle_seconds: int = DEFAULT_INBOX_SETTLE_SECONDS  # unchanged this long: ready

    def __str__(self) -> str:
        return f"{self.display_name} ({self.fhir_base})"
