"""An EHR site the app can sign in to, as clinic IT configured it (see docs/sign-in.md)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from app.domain.chart_history import DEFAULT_HISTORY_LIMIT
from app.domain.offline import DEFAULT_OFFLINE_POLICY, OfflinePolicy

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
class Hl7Listener:
    """The site's optional HL7 v2 listener (``[sites.<id>.hl7]``, docs/worklist.md)."""

    port: int
    listen: str = "127.0.0.1"  # the address to bind; anything but loopback needs ``allow``
    allow: tuple[str, ...] = ()  # sender addresses or networks ("10.1.2.3", "10.1.2.0/24")
    tls_cert: Path | None = None  # MLLP over TLS: this listener's certificate (PEM) ...
    tls_key: Path | None = None  # ... and its private key
    tls_client_ca: Path | None = None  # senders must present a certificate from this CA
    max_message_kb: int = 1024  # a larger message is refused (AR) and the connection closed
    frame_timeout_seconds: float = 10.0  # a frame begun and not finished in time: closed
    idle_timeout_seconds: float = 3600.0  # a connection silent this long: closed

    @property
    def uses_tls(self) -> bool:
        return self.tls_cert is not None


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
    hl7: Hl7Listener | None = None  # None: no HL7 v2 listener (the worklist reads FHIR only)
    offline: OfflinePolicy = DEFAULT_OFFLINE_POLICY  # charts kept for offline use (docs/offline.md)
    chart_history_limit: int = DEFAULT_HISTORY_LIMIT  # older items paged in, per chart section

    def __str__(self) -> str:
        return f"{self.display_name} ({self.fhir_base})"
