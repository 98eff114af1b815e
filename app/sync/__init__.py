"""Outbox planner (pure, table-driven state machine) and the thin async runner."""
