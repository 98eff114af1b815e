"""The sandbox's clinic day (written at start-up, once per date) and its HL7 v2 sender (the
messages, built with the hl7 package, that a listener reads as the right events)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, timedelta
from pathlib import Path
from typing import Any

import hl7
import httpx
import pytest

from app.domain.site import Hl7Listener
from app.domain.visit_events import VisitEvent, VisitEventKind
from app.hl7.listener import MllpListener
from app.hl7.messages import Accepted, read_message
from app.sandbox.__main__ import parse_args
from app.sandbox.clinic_day import STATUSES, encounter_id, ensure_clinic_day, visit_number
from app.sandbox.fhir.database import ResourceDatabase
from app.sandbox.fhir.store import FhirStore
from app.sandbox.hl7_sender import Hl7Sender, MessageBuilder, adt_trigger, parse_target
from app.sandbox.options import DEFAULT_SEED, SandboxOptions
from app.sandbox.server import SandboxServer

DAY = date(2026, 12, 7)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("seeded") / "sandbox.db"
    store = FhirStore(path)
    store.ensure_seeded(DEFAULT_SEED)
    store.close()
    return path


def copy_of(seeded: Path, tmp_path: Path) -> ResourceDatabase:
    target = tmp_path / "sandbox.db"
    source = ResourceDatabase(seeded)
    source.query("PRAGMA wal_checkpoint(FULL)")
    source.close()
    target.write_bytes(seeded.read_bytes())
    return ResourceDatabase(target)


def test_a_clinic_day_for_prac1_once_per_date(seeded: Path, tmp_path: Path) -> None:
    db = copy_of(seeded, tmp_path)
    assert ensure_clinic_day(db, DAY, UTC) is True
    assert ensure_clinic_day(db, DAY, UTC) is False  # started again the same day
    rows = db.query(
        "SELECT json FROM resource WHERE type = 'Encounter' AND id LIKE ?", ("day-20261207-%",)
    )
    encounters = [json.loads(r[0]) for r in rows]
    assert 12 <= len(encounters) <= 20 and len(encounters) == len(STATUSES)
    statuses = [e["status"] for e in encounters]
    assert {"finished", "arrived", "in-progress", "planned"} <= set(statuses)
    assert all(
        e["participant"][0]["individual"]["reference"] == "Practitioner/prac-1" for e in encounters
    )
    assert all(e["period"]["start"].startswith("2026-12-07T") for e in encounters)
    assert ensure_clinic_day(db, DAY + timedelta(days=1), UTC) is True  # the next day: its own
    assert db.get("Encounter", encounter_id(DAY + timedelta(days=1), 0)) is not None
    # the seed's patients keep their latest encounter (sign-in puts it in context)
    assert db.query("SELECT COUNT(*) FROM idx_ref WHERE type = 'Encounter' AND target_id = 'pat-1' "
                    "AND id LIKE 'day-%'")[0][0] == 0  # fmt: skip
    db.close()


def test_a_sandbox_running_across_midnight_writes_the_new_day_on_its_first_request(
    tmp_path: Path,
) -> None:
    """Started on one day and asked on the next (a sandbox left running overnight): the first
    request of the new day finds that day's visits, as a worklist asking for today expects."""
    server = SandboxServer(SandboxOptions(db_path=tmp_path / "sandbox.db", large_chart=False))
    base = server.start()
    try:
        assert server.clinic_days is not None and server.store is not None
        started_on = server.clinic_days.today()
        next_day = started_on + timedelta(days=1)
        assert server.store.db.get("Encounter", encounter_id(started_on, 0)) is not None
        assert server.store.db.get("Encounter", encounter_id(next_day, 0)) is None
        server.clinic_days.today = lambda: next_day  # midnight passes
        assert httpx.get(f"{base}/metadata", timeout=10).status_code == 200
        assert server.store.db.get("Encounter", encounter_id(next_day, 0)) is not None
        day_visits = server.store.db.query(
            "SELECT COUNT(*) FROM resource WHERE type = 'Encounter' AND id LIKE ?",
            (f"day-{next_day:%Y%m%d}-%",),
        )
        assert day_visits == [(len(STATUSES),)]  # once, however many requests came in
        assert httpx.get(f"{base}/metadata", timeout=10).status_code == 200
        assert server.store.db.get("Encounter", encounter_id(next_day, len(STATUSES))) is None
    finally:
        server.close()


def test_no_clinic_day_without_prac1(tmp_path: Path) -> None:
    db = ResourceDatabase(tmp_path / "empty.db")
    assert ensure_clinic_day(db, DAY, UTC) is False
    db.close()


@pytest.mark.parametrize(
    ("before", "now", "trigger"),
    [
        (None, "arrived", "A04"),
        (None, "in-progress", "A04"),
        (None, "planned", "A08"),
        ("planned", "arrived", "A04"),
        ("arrived", "in-progress", "A08"),
        ("in-progress", "finished", "A03"),
        ("finished", "in-progress", "A13"),
        ("arrived", "cancelled", "A11"),
        ("arrived", "arrived", "A08"),
        ("arrived", "entered-in-error", None),
    ],
)
def test_adt_trigger_for_each_change(before: str | None, now: str, trigger: str | None) -> None:
    assert adt_trigger(before, now) == trigger


def test_the_messages_read_back_as_the_events(seeded: Path, tmp_path: Path) -> None:
    db = copy_of(seeded, tmp_path)
    ensure_clinic_day(db, DAY, UTC)
    stored = db.get("Encounter", encounter_id(DAY, 6))
    assert stored is not None
    builder = MessageBuilder(lambda t, i: s.resource if (s := db.get(t, i)) else None)
    for trigger, kind in (("A04", VisitEventKind.REGISTERED), ("A03", VisitEventKind.DISCHARGED)):
        message = builder.adt(trigger, stored.resource)
        outcome = read_message(str(message).encode())
        assert isinstance(outcome, Accepted) and outcome.event.kind is kind
        assert outcome.event.visit_number == visit_number(DAY, 6)
        assert outcome.event.patient_ids == ("MRN-2007",)
    lab: dict[str, Any] = {
        "subject": {"reference": "Patient/pat-c07"},
        "code": {
            "coding": [{"system": "http://loinc.org", "code": "2345-7", "display": "Glucose"}]
        },
        "valueQuantity": {"value": 5.4, "unit": "mmol/L"},
    }
    oru = builder.oru(lab)
    assert oru is not None
    parsed = hl7.parse(str(oru))
    assert str(parsed.segment("OBX")(5)) == "5.4"
    outcome = read_message(str(oru).encode())
    assert isinstance(outcome, Accepted) and outcome.event.kind is VisitEventKind.RESULTS
    assert outcome.event.patient_ids == ("MRN-2007",)
    db.close()


async def test_the_sender_follows_committed_changes_only(seeded: Path, tmp_path: Path) -> None:
    db = copy_of(seeded, tmp_path)
    ensure_clinic_day(db, DAY, UTC)
    events: list[VisitEvent] = []
    listener = MllpListener(Hl7Listener(port=0), events.append)
    port = await asyncio.get_running_loop().run_in_executor(None, listener.start_in_thread)
    sender = Hl7Sender(db, "127.0.0.1", port)
    sender.start()
    stored = db.get("Encounter", encounter_id(DAY, 7))
    assert stored is not None
    finished = {**stored.resource, "status": "finished"}
    with pytest.raises(RuntimeError), db.transaction():  # rolled back: nothing sent
        db.put(type(stored)("Encounter", stored.id, 2, stored.last_updated, finished, "PUT"))
        raise RuntimeError("abandoned")
    with db.transaction():
        db.put(type(stored)("Encounter", stored.id, 2, stored.last_updated, finished, "PUT"))
    deadline = asyncio.get_running_loop().time() + 10
    while not events and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
    await asyncio.get_running_loop().run_in_executor(None, sender.close)
    await asyncio.get_running_loop().run_in_executor(None, listener.close_thread)
    assert [(e.kind, e.visit_number) for e in events] == [
        (VisitEventKind.DISCHARGED, visit_number(DAY, 7))
    ]
    assert sender.acks == ["AA"] and sender.failed == 0
    db.close()


def test_hl7_to_option() -> None:
    assert parse_target("127.0.0.1:2575") == ("127.0.0.1", 2575)
    assert parse_args(["--hl7-to", "localhost:6661"]).hl7_to == ("localhost", 6661)
    for bad in ("2575", "host:", "host:99999", ":2575"):
        with pytest.raises(ValueError):
            parse_target(bad)
    with pytest.raises(SystemExit):
        parse_args(["--hl7-to", "nonsense"])
