"""What an EHR refused although its CapabilityStatement declares it, remembered per site.

A site may declare Provenance ``create`` and still answer 403/405 when the app sends one (an
app registration without that resource, a policy). Once seen, the refusal is kept in
``<site folder>/refused-writes.json`` — resource types, HTTP status and time only, no PHI —
so clinic IT is told once (the app's site notes and ``fhir-writeback check`` say so from then
on), approval stops planning it, and the runner stops sending it. Delete the file after IT has
fixed the site to have the app try again.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

log = logging.getLogger(__name__)

FILE_NAME = "refused-writes.json"


@dataclass(frozen=True)
class SiteRefusal:
    resource_type: str
    status: int | None
    since: datetime

    @property
    def words(self) -> str:
        code = f" (HTTP {self.status})" if self.status else ""
        return (
            f"This EHR refused {self.resource_type} writes{code} on "
            f"{self.since:%Y-%m-%d} although it declares them: notes are confirmed without "
            f"{self.resource_type}, which stays in this app's outbox and audit trail. Tell clinic "
            f"IT; once the EHR accepts it, delete {FILE_NAME} in this site's data folder."
        )


class SiteRefusals:
    """The refusals of one site, read from and written to its folder."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / FILE_NAME

    def load(self) -> dict[str, SiteRefusal]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("%s cannot be read (%s): ignored", FILE_NAME, type(exc).__name__)
            return {}
        return _parse(data)

    def record(self, resource_type: str, status: int | None, at: datetime) -> bool:
        """Remember a refusal; True when it is new (IT has not been told yet)."""
        known = self.load()
        if resource_type in known:
            return False
        known[resource_type] = SiteRefusal(resource_type, status, at.astimezone(UTC))
        payload = {
            t: {"status": r.status, "since": r.since.isoformat()} for t, r in sorted(known.items())
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".refused-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(payload, out, indent=2)
        os.replace(tmp, self.path)
        log.warning(
            "the EHR refused %s writes (HTTP %s): remembered for this site", resource_type, status
        )
        return True


def _parse(data: object) -> dict[str, SiteRefusal]:
    out: dict[str, SiteRefusal] = {}
    if not isinstance(data, Mapping):
        return out
    for rtype, value in data.items():
        if not isinstance(rtype, str) or not isinstance(value, Mapping):
            continue
        status = value.get("status")
        try:
            since = datetime.fromisoformat(str(value.get("since")))
        except ValueError:
            continue
        out[rtype] = SiteRefusal(rtype, status if isinstance(status, int) else None, since)
    return out
