"""Alembic environment: migrations always run on the connection the store hands over
(``config.attributes["connection"]``); there is no alembic.ini and no URL in a file."""

from __future__ import annotations

from alembic import context

from app.store.schema import metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through app.store.migrate (it passes the connection)")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=True,  # SQLite cannot ALTER most things: batch mode copies tables instead
)
with context.begin_transaction():
    context.run_migrations()
