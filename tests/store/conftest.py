"""Store tests use real SQLite files in a temp dir."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.domain.draft import Draft
from app.domain.prefill import prefill_draft
from app.store.store import Store, open_store
from app.store.templates import load_templates
from tests.domain.conftest import NOW, make_context


class Clock:
    """A clock that moves one second per call, so 'newest first' is deterministic."""

    def __init__(self, start: datetime = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "user" / "store.db"


@pytest.fixture
def store(store_path: Path, clock: Clock) -> Iterator[Store]:
    s = open_store(store_path, clock=clock)
    yield s
    s.close()


@pytest.fixture
def new_draft() -> Callable[..., Draft]:
    template = load_templates().default

    def make(**changes: object) -> Draft:
        draft = prefill_draft(make_context(), template, now=NOW)
        if changes:
            from dataclasses import replace

            draft = replace(draft, **changes)  # type: ignore[arg-type]
        return draft

    return make
