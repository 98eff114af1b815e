"""The HTTP ``Prefer`` header (RFC 7240) as FHIR uses it: ``return=`` and ``handling=``."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class ReturnPreference(Enum):
    MINIMAL = "minimal"  # headers only, empty body
    REPRESENTATION = "representation"  # the resource as stored (the default)
    OPERATION_OUTCOME = "OperationOutcome"  # an OperationOutcome saying what happened


class Handling(Enum):
    LENIENT = "lenient"  # unknown search parameters are ignored with a warning (the default)
    STRICT = "strict"  # unknown search parameters are a 400


@dataclass(frozen=True)
class Prefer:
    returns: ReturnPreference = ReturnPreference.REPRESENTATION
    handling: Handling = Handling.LENIENT

    @property
    def strict(self) -> bool:
        return self.handling is Handling.STRICT


def parse_prefer(header: str | None) -> Prefer:
    """Unknown or malformed preferences are ignored, as RFC 7240 asks."""
    returns, handling = ReturnPreference.REPRESENTATION, Handling.LENIENT
    for part in (header or "").replace(";", ",").split(","):
        key, _, value = part.strip().partition("=")
        value = value.strip().strip('"')
        if key.strip().lower() == "return":
            for option in ReturnPreference:
                if option.value.lower() == value.lower():
                    returns = option
        elif key.strip().lower() == "handling":
            for mode in Handling:
                if mode.value == value.lower():
                    handling = mode
    return Prefer(returns, handling)
