"""``[sites.<id>.offline]``: what the site allows to be kept for offline use, validated as
strictly as the rest of sites.toml (app.smart.sites): an unknown key, a wrong type or a value
out of range raises ``SiteConfigError`` naming the file and the key. See docs/offline.md.

    [sites.clinic.offline]
    retention_hours = 72        # kept charts are purged this long after they were read
    max_charts = 60             # at most this many charts kept (the oldest go first)
    max_megabytes = 20          # and at most this much room in the store
    refresh_minutes = 15        # a kept chart older than this is read again while online
    unlock_window_hours = 12    # an offline start this long after the last online sign-in
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from app.domain.offline import OfflinePolicy
from app.smart.errors import SiteConfigError

_RANGES: dict[str, tuple[float, float]] = {
    "retention_hours": (1, 24 * 14),
    "max_charts": (0, 1000),
    "max_megabytes": (1, 2048),
    "refresh_minutes": (1, 24 * 60),
    "unlock_window_hours": (0, 72),
}


def read_offline_table(file: Path, where: str, table: object) -> OfflinePolicy:
    if not isinstance(table, dict):
        raise SiteConfigError(str(file), where, "must be a table: [sites.<id>.offline]")
    for key, value in table.items():
        bounds = _RANGES.get(key)
        if bounds is None:
            allowed = ", ".join(sorted(_RANGES))
            raise SiteConfigError(str(file), f"{where}.{key}", f"unknown key (allowed: {allowed})")
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise SiteConfigError(str(file), f"{where}.{key}", f"must be a number, not {value!r}")
        low, high = bounds
        if not low <= value <= high:
            raise SiteConfigError(
                str(file), f"{where}.{key}", f"must be between {low:g} and {high:g}, not {value}"
            )
    default = OfflinePolicy()
    return OfflinePolicy(
        retention=_hours(table, "retention_hours", default.retention),
        max_charts=int(table.get("max_charts", default.max_charts)),
        max_bytes=int(table.get("max_megabytes", default.max_bytes / 2**20) * 2**20),
        refresh_after=timedelta(
            minutes=table.get("refresh_minutes", default.refresh_after / timedelta(minutes=1))
        ),
        unlock_window=_hours(table, "unlock_window_hours", default.unlock_window),
    )


def _hours(table: dict[str, object], key: str, default: timedelta) -> timedelta:
    value = table.get(key)
    return default if not isinstance(value, int | float) else timedelta(hours=value)
