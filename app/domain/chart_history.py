"""The older items of a chart's section, read in the background after its first view.

A section's first view is its newest items (the newest 200 vital signs, 200 results, 50
notes); when the EHR holds more, the rest is paged in the background, up to the site's limit
per section (``chart_history_limit`` in sites.toml). :class:`SectionHistory` is where that
stands for one section: everything loaded so far (first view included, in the section's
order), and the words the section shows under its items.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from app.domain.context import SectionKind

DEFAULT_HISTORY_LIMIT = 2000  # items per section (first view included)
HISTORY_LIMIT_RANGE = (100, 20000)
PAGED_SECTIONS = (SectionKind.VITALS, SectionKind.LABS, SectionKind.NOTES)


class HistoryState(Enum):
    LOADING = "loading"  # older pages are being read
    COMPLETE = "complete"  # everything the EHR holds is loaded
    AT_LIMIT = "at-limit"  # the site's limit was reached; older items stay in the EHR
    FAILED = "failed"  # a page could not be read: what was loaded stays, the rest is not


@dataclass(frozen=True)
class SectionHistory:
    kind: SectionKind
    items: tuple[Any, ...]  # every item loaded so far, in the section's order (newest first)
    state: HistoryState
    limit: int = DEFAULT_HISTORY_LIMIT
    unreadable: int = 0  # older records skipped because they could not be read
    problem: str | None = None  # FAILED: why, in words for people

    @property
    def words(self) -> str:
        """One line under the section's items."""
        n = f"{len(self.items):,}"
        line = {
            HistoryState.LOADING: f"{n} loaded · loading older items…",
            HistoryState.COMPLETE: f"All {n} shown",
            HistoryState.AT_LIMIT: f"Showing the newest {n}, the most this site loads per "
            "section; older items are in the EHR.",
            HistoryState.FAILED: f"Older items could not be loaded: {self.problem} "
            f"The newest {n} are shown; open the chart again to retry.",
        }[self.state]
        if self.unreadable:
            s = "s" if self.unreadable != 1 else ""
            line += f" {self.unreadable} older record{s} could not be read."
        return line

    @property
    def done(self) -> bool:
        return self.state is not HistoryState.LOADING
