"""Whether the chart moved under a commit, and the three copies kept when it did.

An amendment replaces a chart record and a correction updates one: before anything of the
commit is sent, each must still have the version the clinician saw
(:meth:`ConflictChecks.check_preconditions`); and when the EHR itself refuses a correction
(409/412) the same copies are gathered (:meth:`ConflictChecks.refused_correction`). *Base* is
what the clinician started from, *chart* what the EHR holds now, *mine* what they approved.
Nothing is ever merged automatically: the commit goes to CONFLICT and the clinician decides.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from app.domain.commit import PlannedWrite
from app.domain.outbox import SyncEvent
from app.fhir.errors import FhirError, FhirNotFound
from app.smart.errors import SmartError
from app.store.outbox_records import ConflictDetail, OutboxEntry, WriteRecord
from app.sync.planner import CannotSend, PlannedRequest, update_target
from app.sync.store_thread import StoreThread
from app.sync.writer import Failure, FhirWriter, classify_error

if TYPE_CHECKING:
    from app.store.outbox import OutboxRepository

E = SyncEvent


class ConflictChecks:
    """The chart reads behind a conflict, for one sender (same writer, store and thread)."""

    def __init__(
        self,
        store: OutboxRepository,
        writer: FhirWriter,
        db: StoreThread,
        on_contact: Callable[[bool], None],
    ) -> None:
        self._store = store
        self._writer = writer
        self._db = db
        self._on_contact = on_contact

    async def check_preconditions(
        self,
        entry: OutboxEntry,
        resolved: Mapping[str, str],
        bases: Mapping[str, WriteRecord],
        versions: Mapping[str, str],
    ) -> Failure | ConflictDetail | None:
        """An amendment replaces a chart record and a correction updates one: each must still
        be the version the clinician saw. Checked before anything is sent; a moved chart is a
        CONFLICT (never merged)."""
        targets = _precondition_targets(entry, resolved, bases, versions)
        for ref, (expected, base_url, write) in targets.items():
            rtype, _, rid = ref.partition("/")
            try:
                current = await self._writer.read_response(rtype, rid)
            except FhirNotFound:
                self._on_contact(True)
                return ConflictDetail(
                    f"The chart's {rtype} that this amends no longer exists in the EHR. "
                    "Nothing was written. Look in the chart, then retry or discard.",
                    resource=ref,
                    expected_version=expected,
                    base=await self.base_copy(ref, expected, base_url),
                    mine=write.payload(),
                )
            except (FhirError, SmartError) as exc:
                failure = classify_error(exc)
                self._on_contact(failure.reached_server)
                return failure
            self._on_contact(True)
            if current.version_id != expected:
                doing = "correcting" if write.is_update else "amending"
                return ConflictDetail(
                    f"Someone changed the chart's {rtype} after you started {doing} it "
                    f"(you saw version {expected}; the chart now has version "
                    f"{current.version_id}). Nothing was written. Compare the chart with your "
                    "version and decide.",
                    resource=ref,
                    expected_version=expected,
                    chart_version=current.version_id,
                    base=await self.base_copy(ref, expected, base_url),
                    chart=current.body,
                    mine=write.payload(),
                )
        return None

    async def refused_correction(
        self,
        entry: OutboxEntry,
        requests: tuple[PlannedRequest, ...],
        failure: Failure,
        known: tuple[Mapping[str, str], Mapping[str, str], Mapping[str, WriteRecord]],
    ) -> ConflictDetail | None:
        """A 409/412 to a round that corrects chart records: the three copies of the first
        corrected record for the conflict view (None for any other failure). ``known``:
        resolved references, base versions, base writes."""
        if failure.event is not E.CONFLICT_DETECTED:
            return None
        resolved, versions, bases = known
        positions = [p for r in requests for p in r.positions]
        update = next((w for p in positions if (w := entry.commit.writes[p]).is_update), None)
        if update is None:
            return None
        try:
            target = update_target(update, resolved, versions)
        except CannotSend:
            return None
        assert target is not None
        rtype = update.resource_type
        chart: dict[str, Any] | None = None
        chart_version: str | None = None
        try:
            current = await self._writer.read_response(rtype, target.resource_id)
            chart, chart_version = current.body, current.version_id
        except (FhirError, SmartError):
            pass
        base_url = update.target if update.target in bases else None
        return ConflictDetail(
            f"The EHR refused the correction of its {rtype}: it changed after you saw it "
            f"(you corrected version {target.version}"
            + (f"; the chart now has version {chart_version}" if chart_version else "")
            + "). Nothing more was sent. Compare the chart with your version and decide.",
            resource=target.reference,
            expected_version=target.version,
            chart_version=chart_version,
            base=await self.base_copy(target.reference, target.version, base_url),
            chart=chart,
            mine=update.payload(),
        )

    async def base_copy(
        self, ref: str, version: str, base_url: str | None
    ) -> dict[str, Any] | None:
        if base_url is not None:
            return await self._db.run(self._store.base_payload, base_url)
        rtype, _, rid = ref.partition("/")
        try:
            response = await self._writer.request(
                "GET", f"{rtype}/{rid}/_history/{version}", what=f"reading the amended {rtype}"
            )
        except (FhirError, SmartError):
            return None
        return response.body


# chart reference -> (the version the clinician saw, the base write's fullUrl if any, the write)
_Targets = dict[str, tuple[str, str | None, PlannedWrite]]


def _precondition_targets(
    entry: OutboxEntry,
    resolved: Mapping[str, str],
    bases: Mapping[str, WriteRecord],
    versions: Mapping[str, str],
) -> _Targets:
    """The chart records the commit's writes replace or update, with the version each must
    still have (writes already on the server are done; the note's own preconditions last)."""
    targets: _Targets = {}
    for write in entry.commit.writes:
        if write.full_url in resolved:
            continue
        if write.is_update:
            try:
                target = update_target(write, resolved, versions)
            except CannotSend:
                continue  # plan_send says why
            if target is not None:
                base_url = write.target if write.target in bases else None
                targets[target.reference] = (target.version, base_url, write)
            continue
        for ref in _replaced_references(write.parsed):
            if ref in bases:
                record = bases[ref]
                if record.reference and record.version_id:
                    targets[record.reference] = (record.version_id, ref, write)
            else:
                literal, version = _literal(ref)
                if literal and version:
                    targets[literal] = (version, None, write)
    note = entry.commit.writes[0]
    if note.full_url not in resolved:  # once the note is in, its precondition was met
        for ref, version in entry.preconditions.items():
            targets.setdefault(ref, (version, None, note))
    return targets


def _replaced_references(payload: Mapping[str, Any]) -> list[str]:
    out = []
    for rel in payload.get("relatesTo") or []:
        if isinstance(rel, Mapping) and rel.get("code") == "replaces":
            target = rel.get("target")
            ref = target.get("reference") if isinstance(target, Mapping) else None
            if isinstance(ref, str):
                out.append(ref)
    return out


def _literal(ref: str) -> tuple[str | None, str | None]:
    """``("Type/id", version)`` from ``[base/]Type/id/_history/v`` (version None if absent)."""
    parts = [p for p in ref.split("/") if p]
    if len(parts) >= 4 and parts[-2] == "_history":
        return f"{parts[-4]}/{parts[-3]}", parts[-1]
    if len(parts) >= 2:
        return f"{parts[-2]}/{parts[-1]}", None
    return None, None
