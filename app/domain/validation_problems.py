"""The vocabulary of validation findings, shared by the checks of the note and of its items.

See :mod:`app.domain.validation` for ``field_path`` values and what blocks approval.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

MAX_NOTE_CHARS = 1_000_000  # FHIR: strings SHOULD NOT exceed 1 MB; EHRs refuse larger notes
MAX_ITEM_TEXT_CHARS = 10_000

# XML 1.0 and FHIR strings allow tab, LF, CR and nothing else below U+0020; no DEL/C1 controls,
# no surrogates (left over from undecodable bytes), no U+FFFE/U+FFFF.
_UNSAFE_CHAR = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


class Severity(Enum):
    ERROR = "error"  # blocks approval
    WARNING = "warning"  # shown; approval stays possible


class ProblemKind(Enum):
    NOT_EDITABLE = "not_editable"
    EMPTY_NOTE = "empty_note"
    REQUIRED_SECTION = "required_section"
    BLANK_LEFT = "blank_left"  # a *** blank not filled in
    UNSAFE_TEXT = "unsafe_text"
    TEXT_TOO_LONG = "text_too_long"
    WRONG_PATIENT = "wrong_patient"
    WRONG_ENCOUNTER = "wrong_encounter"
    AMENDMENT_TARGET = "amendment_target"
    LOINC_FORMAT = "loinc_format"
    UNKNOWN_CODE = "unknown_code"
    VALUE_MISSING = "value_missing"
    VALUE_IMPLAUSIBLE = "value_implausible"
    VALUE_UNUSUAL = "value_unusual"
    UNIT_INVALID = "unit_invalid"
    EFFECTIVE_TIME = "effective_time"
    INCONSISTENT_VALUES = "inconsistent_values"
    TASK_INCOMPLETE = "task_incomplete"
    MESSAGE_INCOMPLETE = "message_incomplete"
    ITEM_INCOMPLETE = "item_incomplete"  # a required part of an item is missing or wrong
    WRITE_NOT_PERMITTED = "write_not_permitted"
    NARRATIVE_MISMATCH = "narrative_mismatch"  # the text states another value than table/chart
    UNCERTAINTY_NOT_LOOKED_AT = "uncertainty_not_looked_at"  # imported flags not looked at yet
    UNACCEPTED_TEXT = "unaccepted_text"  # typed into a cell, not usable yet (kept with the draft)


@dataclass(frozen=True)
class ValidationProblem:
    field_path: str
    message: str
    severity: Severity = Severity.ERROR
    kind: ProblemKind | None = None

    @property
    def blocking(self) -> bool:
        return self.severity is Severity.ERROR


def error(path: str, kind: ProblemKind, message: str) -> ValidationProblem:
    return ValidationProblem(path, message, Severity.ERROR, kind)


def warning(path: str, kind: ProblemKind, message: str) -> ValidationProblem:
    return ValidationProblem(path, message, Severity.WARNING, kind)


def without_unsafe(text: str) -> str:
    """``text`` without the characters :func:`check_text` refuses (the item that holds them is
    refused already; a copy of its text in the note must not be refused a second time)."""
    return _UNSAFE_CHAR.sub("", text)


def check_text(path: str, what: str, text: str, limit: int) -> Iterable[ValidationProblem]:
    bad = _UNSAFE_CHAR.search(text)
    if bad is not None:
        line = text.count("\n", 0, bad.start()) + 1
        yield error(
            path,
            ProblemKind.UNSAFE_TEXT,
            f"{what} contains an invisible control character (U+{ord(bad.group()):04X}, line "
            f"{line}) that cannot be written to the chart; delete it or retype the text there.",
        )
    if len(text) > limit:
        yield error(
            path,
            ProblemKind.TEXT_TOO_LONG,
            f"{what} is too long ({len(text):,} characters, at most {limit:,}); shorten it.",
        )
