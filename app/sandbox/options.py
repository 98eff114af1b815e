"""Command-line options of the sandbox EHR."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from app._resources import resource_path
from app.sandbox.quirks import Quirk

DEFAULT_SEED = resource_path("sandbox", "seed-bundle.json")
DEFAULT_CLIENTS = resource_path("sandbox", "clients.json")


@dataclass(frozen=True)
class SandboxOptions:
    host: str = "127.0.0.1"
    port: int = 0  # 0: a free port chosen by the OS
    db_path: Path | None = None  # None: a temporary database, gone at exit
    token_ttl: int = 3600  # access token lifetime, seconds
    auto_login: str | None = None  # practitioner (or patient) id: skip the login page
    seed_path: Path = DEFAULT_SEED
    clients_path: Path = DEFAULT_CLIENTS
    max_body_bytes: int = 8 * 1024 * 1024  # requests larger than this get 413
    clinic_day: bool | None = None  # today's visits for prac-1 (None: with the default seed)
    large_chart: bool | None = None  # pat-large, 200 notes (None: with the default seed)
    hl7_to: tuple[str, int] | None = None  # send HL7 v2 events there (app.sandbox.hl7_sender)
    quirks: frozenset[Quirk] = frozenset()  # per-site behaviour switches (app.sandbox.quirks)

    @property
    def writes_clinic_day(self) -> bool:
        return self.clinic_day if self.clinic_day is not None else self.seed_path == DEFAULT_SEED

    @property
    def writes_large_chart(self) -> bool:
        return self.large_chart if self.large_chart is not None else self.seed_path == DEFAULT_SEED
