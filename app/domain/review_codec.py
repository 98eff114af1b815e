"""The review decision as JSON: what the outbox stores with a commit and the audit log records.

``decision_to_json`` gives canonical text (sorted keys, UTC instants ending in ``Z``);
``decision_from_json`` reads it back exactly, and refuses anything else with ``ValueError``
naming the field (never its value). ``"format"`` versions the layout.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from enum import Enum
from typing import Any, TypeVar

from app.domain.clinical import Reference
from app.domain.draft import DraftSource
from app.domain.offline import ChartBasis, ChartSource
from app.domain.review import (
    AppIdentity,
    ReviewDecision,
    ReviewProvenance,
    ReviewStatus,
    RiskFlag,
    RiskKind,
)

FORMAT = 1
_E = TypeVar("_E", bound=Enum)


def decision_to_json(decision: ReviewDecision) -> str:
    d = decision
    data = {
        "format": FORMAT,
        "decision_id": str(d.decision_id),
        "draft_id": str(d.draft_id),
        "status": d.status.value,
        "approved_by": _ref(d.approved_by),
        "approved_at": _instant(d.approved_at),
        "patient": _ref(d.patient),
        "source_encounter": _ref(d.source_encounter),
        "destination_types": list(d.destination_types),
        "risk_flags": [{"kind": f.kind.value, "text": f.text} for f in d.risk_flags],
        "provenance": {
            "generated_by": d.provenance.generated_by,
            "human_edited": d.provenance.human_edited,
            "source": d.provenance.source.value,
            "import_sha256": d.provenance.import_sha256,
        },
        "app": {"name": d.app.name, "version": d.app.version, "host": d.app.host},
        "content_sha256": d.content_sha256,
        "amends": _ref(d.amends) if d.amends else None,
        "acknowledged_warnings": list(d.acknowledged_warnings),
    }
    if d.patient_mrn is not None:  # absent in decisions recorded before it was kept
        data["patient_mrn"] = d.patient_mrn
    if d.chart_basis is not None:  # absent in decisions recorded before issue 19
        data["chart_basis"] = {
            "source": d.chart_basis.source.value,
            "as_of": _instant(d.chart_basis.as_of),
        }
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def decision_from_json(text: str) -> ReviewDecision:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"review decision: not JSON ({exc.msg})") from None
    r = _Reader(data, "$")
    if r.integer("format") != FORMAT:
        raise ValueError("review decision: $.format is not supported")
    prov = r.obj("provenance")
    app = r.obj("app")
    amends = r.get("amends")
    basis = r.get("chart_basis")
    return ReviewDecision(
        decision_id=r.uuid_("decision_id"),
        draft_id=r.uuid_("draft_id"),
        status=r.enum(ReviewStatus, "status"),
        approved_by=r.ref("approved_by"),
        approved_at=r.instant("approved_at"),
        patient=r.ref("patient"),
        source_encounter=r.ref("source_encounter"),
        destination_types=tuple(r.texts("destination_types")),
        risk_flags=tuple(
            RiskFlag(f.enum(RiskKind, "kind"), f.text("text")) for f in r.objs("risk_flags")
        ),
        provenance=ReviewProvenance(
            generated_by=prov.text("generated_by"),
            human_edited=prov.boolean("human_edited"),
            source=prov.enum(DraftSource, "source"),
            import_sha256=prov.opt_str("import_sha256"),
        ),
        app=AppIdentity(app.text("name"), app.text("version"), app.text("host")),
        content_sha256=r.text("content_sha256"),
        amends=None if amends is None else r.ref("amends"),
        acknowledged_warnings=tuple(r.texts("acknowledged_warnings")),
        patient_mrn=r.opt_str("patient_mrn"),
        chart_basis=None if basis is None else _basis(r.obj("chart_basis")),
    )


def chart_basis_from_json(text: str) -> ChartBasis | None:
    """Only the chart a decision was approved on (None when it records none: decisions
    recorded before issue 19); ``ValueError`` when it records one that cannot be read."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"review decision: not JSON ({exc.msg})") from None
    basis = _Reader(data, "$").get("chart_basis")
    return None if basis is None else _basis(_Reader(basis, "$.chart_basis"))


def _basis(r: _Reader) -> ChartBasis:
    return ChartBasis(r.enum(ChartSource, "source"), r.instant("as_of"))


def _ref(ref: Reference) -> dict[str, str | None]:
    return {"resource_type": ref.resource_type, "id": ref.id, "display": ref.display}


def _instant(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


class _Reader:
    def __init__(self, data: object, path: str) -> None:
        if not isinstance(data, dict):
            raise ValueError(f"review decision: {path} must be an object")
        self.data: dict[str, Any] = data
        self.path = path

    def _fail(self, key: str, what: str) -> ValueError:
        return ValueError(f"review decision: {self.path}.{key} must be {what}")

    def get(self, key: str) -> Any:
        return self.data.get(key)

    def text(self, key: str) -> str:
        value = self.data.get(key)
        if not isinstance(value, str):
            raise self._fail(key, "a string")
        return value

    def opt_str(self, key: str) -> str | None:
        return None if self.data.get(key) is None else self.text(key)

    def integer(self, key: str) -> int:
        value = self.data.get(key)
        if not isinstance(value, int) or isinstance(value, bool):
            raise self._fail(key, "an integer")
        return value

    def boolean(self, key: str) -> bool:
        value = self.data.get(key)
        if not isinstance(value, bool):
            raise self._fail(key, "true or false")
        return value

    def texts(self, key: str) -> list[str]:
        value = self.data.get(key)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self._fail(key, "a list of strings")
        return value

    def obj(self, key: str) -> _Reader:
        return _Reader(self.data.get(key), f"{self.path}.{key}")

    def objs(self, key: str) -> list[_Reader]:
        value = self.data.get(key)
        if not isinstance(value, list):
            raise self._fail(key, "a list")
        return [_Reader(v, f"{self.path}.{key}[{i}]") for i, v in enumerate(value)]

    def uuid_(self, key: str) -> uuid.UUID:
        try:
            return uuid.UUID(self.text(key))
        except ValueError:
            raise self._fail(key, "a UUID") from None

    def instant(self, key: str) -> datetime:
        try:
            value = datetime.fromisoformat(self.text(key))
        except ValueError:
            raise self._fail(key, "an ISO 8601 instant") from None
        if value.tzinfo is None:
            raise self._fail(key, "an instant with a time zone")
        return value.astimezone(UTC)

    def enum(self, kind: type[_E], key: str) -> _E:
        try:
            return kind(self.text(key))
        except ValueError:
            allowed = ", ".join(str(m.value) for m in kind)
            raise self._fail(key, f"one of {allowed}") from None

    def ref(self, key: str) -> Reference:
        r = self.obj(key)
        return Reference(r.text("resource_type"), r.text("id"), r.opt_str("display"))
