"""FHIR Write-back: review, approve and write clinical notes back to the EHR.

Layers (lowest first); a module may only import from its own layer or a lower one:

    app.domain   pure model, validation, state machines (standard library only)
    app.smart    SMART App Launch client: discovery, PKCE, loopback redirect, tokens
    app.fhir     async FHIR client and FHIR <-> domain mapping
    app.store    local store (SQLAlchemy + Alembic), repositories returning domain objects
    app.sync     outbox planner (pure) and async runner
    app.ui       the only package that imports PySide6 / qasync
    app.main     composition root (with app.cli): builds every service

app.sandbox is the embedded sandbox EHR; it imports no other app layer.
"""

from __future__ import annotations

from importlib import metadata

try:
    __version__ = metadata.version("fhir-writeback")
except metadata.PackageNotFoundError:  # pragma: no cover - running from an unpacked tree
    __version__ = "0.0.0+unknown"
