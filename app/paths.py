"""Where the app keeps its files, per platform (platformdirs), in one place.

appauthor=False everywhere: on Windows the folders are %LOCALAPPDATA%\\fhir-writeback and
%PROGRAMDATA%\\fhir-writeback, not <author>\\<app>. The installer (installer.nsi) relies on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "fhir-writeback"


@dataclass(frozen=True)
class AppPaths:
    data_dir: Path  # drafts, outbox, sandbox database (per user)
    log_dir: Path  # rotating operational logs, no PHI (per user)
    user_config_dir: Path  # per-user sites.toml overrides
    site_config_dir: Path  # per-machine sites.toml from clinic IT

    @classmethod
    def default(cls, data_dir: Path | None = None) -> AppPaths:
        return cls(
            data_dir=data_dir or Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)),
            log_dir=Path(platformdirs.user_log_dir(APP_NAME, appauthor=False)),
            user_config_dir=Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)),
            site_config_dir=Path(platformdirs.site_config_dir(APP_NAME, appauthor=False)),
        )

    def ensure(self) -> AppPaths:
        for d in (self.data_dir, self.log_dir):
            d.mkdir(parents=True, exist_ok=True)
        return self
