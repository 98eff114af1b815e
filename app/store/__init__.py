"""Local store: SQLAlchemy models, Alembic migrations and repositories returning domain objects."""
