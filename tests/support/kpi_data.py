"""A year of synthetic KPI figures in a store (My week and export tests, benchmarks, the
screenshot): about 5,000 notes over working days, with their edit rates and daily sign-ins,
written straight into the KPI tables through the repository (no audit records)."""

from __future__ import annotations

import random
import uuid
from datetime import date, timedelta

from app.domain.kpi import DayCounter, NoteOutcome, NoteSource
from app.store.kpi import EditsState, KpiRepository
from app.store.kpi_tables import kpi_note_parts
from app.store.store import Store

SOURCES = (NoteSource.PREFILLED, NoteSource.IMPORTED, NoteSource.AMENDMENT, NoteSource.ADDENDUM)


def seed_year(store: Store, last_day: date, *, notes: int = 5000, seed: int = 17) -> int:
    """About ``notes`` notes over the 365 days up to ``last_day`` (weekdays only); returns how
    many were written."""
    rng = random.Random(seed)
    kpi = store.kpi
    days = [last_day - timedelta(days=i) for i in range(365)]
    workdays = [d for d in days if d.weekday() < 5]
    per_day = max(1, round(notes / len(workdays)))
    written = 0
    with store.db.write() as c:
        for day in workdays:
            kpi.bump_day(c, day, DayCounter.SIGN_INS, rng.randint(1, 3))
            kpi.bump_day(c, day, DayCounter.CHARTS_OPENED, per_day + rng.randint(0, 4))
            for _ in range(per_day + rng.randint(-4, 4)):
                _one_note(kpi, c, day, rng)
                written += 1
    return written


def _one_note(kpi: KpiRepository, c: object, day: date, rng: random.Random) -> None:
    key = kpi.note_key(uuid.UUID(int=rng.getrandbits(128)))
    source = rng.choices(SOURCES, weights=(60, 30, 6, 4))[0]
    roll = rng.random()
    outcome = (
        NoteOutcome.DISCARDED
        if roll < 0.03
        else NoteOutcome.DECLINED
        if roll < 0.05 and source is NoteSource.IMPORTED
        else NoteOutcome.CONFIRMED
    )
    attempts = 1 if rng.random() < 0.93 else rng.randint(2, 4)
    values = {
        "open_to_approve_ms": rng.randint(90, 1500) * 1000,
        "approve_to_confirm_ms": rng.randint(300, 5000),
        "edits": EditsState.MEASURED.value,
    }
    counts = {
        "active_edit_ms": rng.randint(30, 900) * 1000,
        "send_attempts": attempts,
        "person_needed": int(rng.random() < 0.02),
        "duplicates_prevented": int(rng.random() < 0.01),
        "conflicts": int(rng.random() < 0.005),
    }
    kpi.change_note(
        c,  # type: ignore[arg-type]
        key,
        day,
        source=source,
        outcome=outcome,
        set_day=True,
        values=values,
        add=counts,
    )
    total = rng.randint(400, 3000)
    changed = int(total * (rng.random() * 0.35 if source is NoteSource.IMPORTED else 0.6))
    c.execute(  # type: ignore[attr-defined]
        kpi_note_parts.insert(),
        [
            {"note_key": key, "part": "section:assessment", "total": total, "changed": changed},
            {
                "note_key": key,
                "part": "items:observation",
                "total": 3,
                "changed": rng.randint(0, 3),
            },
        ],
    )
