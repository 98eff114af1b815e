"""``FhirStore``: the sandbox's FHIR data as the rest of the sandbox sees it.

It owns the SQLite database, loads the seed Bundle into an empty store, and answers the
authorization server's ``Directory`` questions (who can log in, which encounter is current).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from app.sandbox.contracts import DirectoryEntry
from app.sandbox.fhir.database import ResourceDatabase
from app.sandbox.fhir.errors import FhirError, SeedError
from app.sandbox.fhir.prefer import Prefer, ReturnPreference
from app.sandbox.fhir.scopes import Access
from app.sandbox.fhir.service import FhirService
from app.sandbox.fhir.transaction import BundleProcessor

log = logging.getLogger(__name__)

SEED_BASE = "http://sandbox.invalid/fhir"  # only used to build URLs nobody sees while seeding


class FhirStore:
    """The FHIR resources of one sandbox (implements ``contracts.Directory``)."""

    def __init__(self, db_path: Path) -> None:
        self.db = ResourceDatabase(db_path)

    def close(self) -> None:
        self.db.close()

    def ensure_seeded(self, seed_path: Path) -> None:
        """Load the transaction (or batch) Bundle at ``seed_path`` when the store is empty."""
        existing = self.db.count()
        if existing:
            log.info("FHIR store already holds %d resources; seed not loaded again", existing)
            return
        if not seed_path.exists():
            log.warning(
                "seed bundle %s not found: the sandbox starts with an empty FHIR store "
                "(no patients or practitioners to log in as)",
                seed_path,
            )
            return
        try:
            body = json.loads(seed_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise SeedError(f"seed bundle {seed_path} cannot be read: {exc}") from exc
        processor = BundleProcessor(FhirService(self.db, SEED_BASE))
        try:
            result = processor.process(Access.system(), body, Prefer(ReturnPreference.MINIMAL))
        except FhirError as err:
            raise SeedError(f"seed bundle {seed_path} was refused: {err.diagnostics}") from None
        failed = [
            f"entry {i}: {e['response']['status']}: "
            + "; ".join(x.get("diagnostics", "") for x in e["response"]["outcome"]["issue"])
            for i, e in enumerate((result.body or {}).get("entry", []))
            if not e["response"]["status"].startswith("2")
        ]
        if failed:
            raise SeedError(
                f"seed bundle {seed_path} has failing entries: {' | '.join(failed[:5])}"
            )
        log.info("loaded %d resources from seed bundle %s", self.db.count(), seed_path)

    # --- Directory ------------------------------------------------------------------------

    def practitioners(self) -> list[DirectoryEntry]:
        return self._entries("Practitioner")

    def patients(self) -> list[DirectoryEntry]:
        return self._entries("Patient")

    def exists(self, resource_type: str, resource_id: str) -> bool:
        return self.db.get(resource_type, resource_id) is not None

    def latest_encounter(self, patient_id: str) -> str | None:
        rows = self.db.query(
            "SELECT r.id FROM resource r "
            "JOIN idx_ref f ON f.type = r.type AND f.id = r.id AND f.param = 'patient' "
            "AND f.target_type = 'Patient' AND f.target_id = ? "
            "LEFT JOIN idx_date d ON d.type = r.type AND d.id = r.id AND d.param = 'date' "
            "WHERE r.type = 'Encounter' "
            "ORDER BY d.low IS NULL, d.low DESC, r.lu_low DESC, r.id LIMIT 1",
            (patient_id,),
        )
        return rows[0][0] if rows else None

    def _entries(self, resource_type: str) -> list[DirectoryEntry]:
        rows = self.db.query("SELECT id, json FROM resource WHERE type = ?", (resource_type,))
        entries = []
        for resource_id, text in rows:
            resource = json.loads(text)
            entries.append(
                DirectoryEntry(
                    resource_type,
                    resource_id,
                    display_name(resource) or resource_id,
                    _detail(resource),
                )
            )
        return sorted(entries, key=lambda e: (e.display.casefold(), e.id))


def display_name(resource: dict[str, Any]) -> str:
    names = [n for n in resource.get("name") or [] if isinstance(n, dict)]
    if not names:
        return ""
    name = next((n for n in names if n.get("use") in ("official", "usual")), names[0])
    if name.get("text"):
        return str(name["text"])
    parts = [*name.get("prefix", []), *name.get("given", []), name.get("family", "")]
    return " ".join(str(p) for p in parts if p)


def _detail(resource: dict[str, Any]) -> str:
    bits = []
    if resource.get("birthDate"):
        bits.append(f"born {resource['birthDate']}")
    identifiers = [i for i in resource.get("identifier") or [] if isinstance(i, dict)]
    for ident in identifiers:
        codes = [c.get("code") for c in (ident.get("type") or {}).get("coding", [])]
        if "MR" in codes:
            value = str(ident.get("value", ""))
            bits.append(value if value.upper().startswith("MRN") else f"MRN {value}")
            break
        if "npi" in str(ident.get("system", "")).lower():
            bits.append(f"NPI {ident.get('value', '')}")
            break
    return " · ".join(bits)
