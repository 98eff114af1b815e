"""Statements on the outbox's hot path, compiled once and run on the connection's DBAPI cursor.

A confirmation runs about fifteen statements inside the runner's group transaction. Through
SQLAlchemy's ``Connection.execute`` each costs ≈ 20 µs of Python on a quiet machine (event
dispatch, parameter processing, the result object) around ≈ 5 µs in SQLite; on the store thread
that was a third of the client CPU per commit (issue 15). :class:`Prepared` keeps the statement
written in SQLAlchemy Core (the tables stay the one description of the schema), compiles it
once for SQLite, and runs the SQL text on the same DBAPI connection — inside the same
transaction, savepoint or group, so nothing about atomicity or durability changes. The
``sqlite3`` module keeps the prepared statement in its cache, keyed by that text.

What SQLAlchemy would have done around the call is kept: the types' bind and result processors
run (none for the outbox's and the audit log's columns on SQLite, but a column that gains one
keeps its conversion), and an ``sqlite3`` error is raised as SQLAlchemy's ``DBAPIError``
subclass for it (its parameters hidden), so ``Database`` still turns a full disk or a locked
file into words for people (app.store.errors.translate).
"""

from __future__ import annotations

import sqlite3
from collections import namedtuple
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, cast

import sqlalchemy.exc
from sqlalchemy import Connection
from sqlalchemy.dialects import sqlite
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement, Select

_DIALECT = sqlite.dialect()
_MISSING = object()  # a bind parameter the caller must give
Processor = Callable[[Any], Any]


class Prepared:
    """One Core statement, compiled once; ``params`` name its bind parameters (those given a
    value in the statement itself keep it)."""

    def __init__(self, statement: ClauseElement) -> None:
        compiled = statement.compile(dialect=_DIALECT)
        assert isinstance(compiled, SQLCompiler)
        self.sql = str(compiled)
        names = compiled.positiontup or ()
        binds = [compiled.binds[name] for name in names]
        if any(b.expanding for b in binds):
            raise ValueError("a statement with an IN list changes with the list: not prepared")
        self._names = tuple(names)
        self._defaults = tuple(_MISSING if b.required else b.effective_value for b in binds)
        self._binds: tuple[tuple[int, Processor], ...] = tuple(
            (i, proc)
            for i, name in enumerate(names)
            if (proc := binds[i].type.bind_processor(_DIALECT)) is not None
        )
        self._row: type[tuple[Any, ...]] | None = None
        self._results: tuple[tuple[int, Processor], ...] = ()
        if isinstance(statement, Select):
            columns = list(statement.selected_columns)
            self._row = namedtuple("Row", [c.key for c in columns], rename=True)  # type: ignore[misc]
            self._results = tuple(
                (i, proc)
                for i, c in enumerate(columns)
                if (proc := c.type.result_processor(_DIALECT, None)) is not None
            )

    def _values(self, params: Mapping[str, Any]) -> tuple[Any, ...]:
        values = [
            params[name] if default is _MISSING else params.get(name, default)
            for name, default in zip(self._names, self._defaults, strict=True)
        ]
        for i, process in self._binds:
            if values[i] is not None:
                values[i] = process(values[i])
        return tuple(values)

    def execute(self, c: Connection, params: Mapping[str, Any] | None = None) -> int:
        """Run a statement that returns no rows; the number of rows it changed."""
        return self._changes(c, [self._values(params or {})])

    def executemany(self, c: Connection, rows: Iterable[Mapping[str, Any]]) -> int:
        """Run once per row; the number of rows changed in all."""
        return self._changes(c, [self._values(row) for row in rows])

    def first(self, c: Connection, params: Mapping[str, Any] | None = None) -> Any:
        """The first row (with the columns' names as attributes), or None."""
        with self._running(c, [self._values(params or {})]) as cursor:
            found = cursor.fetchone()
        return None if found is None else self._make(found)

    def all(self, c: Connection, params: Mapping[str, Any] | None = None) -> list[Any]:
        with self._running(c, [self._values(params or {})]) as cursor:
            found = cursor.fetchall()
        return [self._make(row) for row in found]

    def scalar(self, c: Connection, params: Mapping[str, Any] | None = None) -> Any:
        """The first column of the first row, or None."""
        found = self.first(c, params)
        return None if found is None else found[0]

    def _make(self, found: tuple[Any, ...]) -> Any:
        assert self._row is not None, "not a SELECT"
        if self._results:
            values = list(found)
            for i, process in self._results:
                values[i] = process(values[i])
            found = tuple(values)
        return self._row._make(found)  # type: ignore[attr-defined]

    def _changes(self, c: Connection, values: list[tuple[Any, ...]]) -> int:
        """Rows changed, from the connection's count (a cursor's ``rowcount`` misses a
        statement that starts with WITH)."""
        driver = _driver(c)
        before = driver.total_changes
        with self._running(c, values):
            pass
        return driver.total_changes - before

    @contextmanager
    def _running(self, c: Connection, values: list[tuple[Any, ...]]) -> Iterator[sqlite3.Cursor]:
        """The cursor that ran the statement with ``values`` (one tuple: execute; several:
        executemany). It is closed here: its statement is reset on this thread, never later by
        whichever thread frees the cursor (the sqlite3 module would reset it under a cursor
        that is running it again)."""
        cursor = _driver(c).cursor()
        try:
            if len(values) == 1:
                cursor.execute(self.sql, values[0])
            else:
                cursor.executemany(self.sql, values)
            yield cursor
        except sqlite3.Error as exc:
            # the parameters are left out of the message: they may be sealed PHI or ids
            raise sqlalchemy.exc.DBAPIError.instance(
                self.sql, values, exc, sqlite3.Error, hide_parameters=True
            ) from exc
        finally:
            cursor.close()


def _driver(c: Connection) -> sqlite3.Connection:
    return cast(sqlite3.Connection, c.connection.driver_connection)
