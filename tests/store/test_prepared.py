"""Statements compiled once and run on the DBAPI cursor (app.store.prepared, issue 15): the same
rows and the same errors as through SQLAlchemy, inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy.exc
from sqlalchemy import bindparam, func, or_, select, update

from app.store.database import Database, open_database
from app.store.outbox_tables import sync_status
from app.store.prepared import Prepared

_PUT = Prepared(sync_status.insert().values(key=bindparam("key"), value=bindparam("value")))
_ALL = Prepared(select(sync_status.c.key, sync_status.c.value).order_by(sync_status.c.key))
_ONE = Prepared(select(sync_status.c.value).where(sync_status.c.key == bindparam("key")).limit(1))
_COUNT = Prepared(select(func.count()).select_from(sync_status))


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    opened = open_database(tmp_path / "store.db")
    yield opened
    opened.close()


def test_rows_are_those_sqlalchemy_reads_with_the_columns_as_attributes(db: Database) -> None:
    with db.write() as c:
        assert _PUT.executemany(c, [{"key": f"k{n}", "value": f"v{n}"} for n in range(3)]) == 3
        assert _PUT.execute(c, {"key": "k3", "value": "v3"}) == 1
    with db.read() as c:
        rows = _ALL.all(c)
        expected = c.execute(select(sync_status.c.key, sync_status.c.value).order_by("key")).all()
        assert [tuple(r) for r in rows] == [tuple(r) for r in expected]
        assert [r.value for r in rows] == ["v0", "v1", "v2", "v3"]
        assert _ONE.first(c, {"key": "k2"}).value == "v2"  # the LIMIT keeps its own value
        assert _ONE.first(c, {"key": "none"}) is None
        assert _COUNT.scalar(c) == 4


def test_a_parameter_left_out_is_refused(db: Database) -> None:
    with db.read() as c, pytest.raises(KeyError):
        _ONE.first(c, {})


def test_it_runs_inside_the_callers_transaction(db: Database) -> None:
    with pytest.raises(RuntimeError), db.write() as c:
        _PUT.execute(c, {"key": "k", "value": "v"})
        raise RuntimeError("rolled back")
    with db.read() as c:
        assert _COUNT.scalar(c) == 0


def test_an_sqlite_error_is_sqlalchemys_without_the_parameters(db: Database) -> None:
    with db.write() as c:
        _PUT.execute(c, {"key": "k", "value": "secret value"})
    with pytest.raises(sqlalchemy.exc.IntegrityError) as raised, db.write() as c:
        _PUT.execute(c, {"key": "k", "value": "secret value"})
    assert "secret value" not in str(raised.value)
    assert "UNIQUE" in str(raised.value)


def test_a_statement_that_starts_with_with_counts_the_rows_it_changed(db: Database) -> None:
    """The cursor's rowcount is -1 for it; the connection's count of changes is not."""
    chosen = or_(sync_status.c.key == "k0", sync_status.c.key == "k2")
    rows = select(sync_status.c.key).where(chosen).cte("chosen")
    change = Prepared(
        update(sync_status)
        .where(sync_status.c.key.in_(select(rows.c.key)))
        .values(value=bindparam("value"))
    )
    assert change.sql.startswith("WITH")
    with db.write() as c:
        _PUT.executemany(c, [{"key": f"k{n}", "value": "old"} for n in range(3)])
        assert change.execute(c, {"value": "new"}) == 2


def test_an_in_list_is_refused_when_prepared() -> None:
    with pytest.raises(ValueError, match="IN list"):
        Prepared(select(sync_status.c.value).where(sync_status.c.key.in_(["a", "b"])))
