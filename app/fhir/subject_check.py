"""Whether a resource belongs to the open patient *on this EHR*: the wrong-patient guard.

An Encounter (or an Observation, a Condition...) is the open patient's only if its subject is a
reference to ``Patient/<the open id>`` on the FHIR base the app talks to. Refused, as
wrong-patient risks:

- no subject at all, a subject with only an identifier or a display, a contained (``#x``) or a
  ``urn:`` subject: the resource does not say which patient record it belongs to;
- a subject that is not a Patient (a Group, a Device...);
- an absolute reference to *another* server, even with the same id: ``Patient/pat-1`` there is
  somebody else;
- another patient's id.

Absolute references to this EHR's own base (scheme and host case-insensitive, default ports
ignored) are the open patient's like relative ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import Enum
from typing import Any
from urllib.parse import urlsplit

from app.domain.clinical import Reference

_DEFAULT_PORTS = {"http": 80, "https": 443}


class SubjectProblem(Enum):
    NAMES_NO_PATIENT = "it names no patient"
    NOT_A_PATIENT = "it belongs to something other than a patient"
    OTHER_SERVER = "it names a patient on another server"
    OTHER_PATIENT = "it belongs to another patient"


def subject_problem(
    raw: Mapping[str, Any],
    patient_id: str,
    fhir_base: str,
    keys: Sequence[str] = ("subject",),
) -> SubjectProblem | None:
    """Why ``raw`` is not the open patient's (None when it is). ``keys``: where the resource
    names its patient (``subject``, or ``patient`` for AllergyIntolerance and the like)."""
    ref = next((raw[k] for k in keys if isinstance(raw.get(k), Mapping)), None)
    text = ref.get("reference") if ref is not None else None
    if not isinstance(text, str) or not text.strip() or text.startswith(("#", "urn:")):
        return SubjectProblem.NAMES_NO_PATIENT
    parsed = Reference.parse(text)
    if parsed is None:
        return SubjectProblem.NAMES_NO_PATIENT
    if parsed.resource_type != "Patient":
        return SubjectProblem.NOT_A_PATIENT
    if not _on_this_server(text, fhir_base):
        return SubjectProblem.OTHER_SERVER
    if parsed.id != patient_id:
        return SubjectProblem.OTHER_PATIENT
    return None


def reference_base(text: str) -> str | None:
    """The server part of an absolute reference (``https://x/fhir`` of
    ``https://x/fhir/Patient/1/_history/2``); None for a relative one."""
    parts = urlsplit(text)
    if not parts.scheme or not parts.netloc:
        return None
    segments = parts.path.rstrip("/").split("/")
    if len(segments) >= 4 and segments[-2] == "_history":
        segments = segments[:-2]
    return f"{parts.scheme}://{parts.netloc}" + "/".join(segments[:-2])


def _on_this_server(text: str, fhir_base: str) -> bool:
    base = reference_base(text)
    if base is None:  # relative: "Patient/1" (or "Patient/1/_history/2"), nothing more
        segments = [s for s in text.split("?")[0].split("/") if s]
        return len(segments) == 2 or (len(segments) == 4 and segments[2] == "_history")
    return _origin_and_path(base) == _origin_and_path(fhir_base)


def _origin_and_path(url: str) -> tuple[str, str, int | None, str]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or _DEFAULT_PORTS.get(scheme)
    except ValueError:  # a port that is not a number: never this server
        return (scheme, "", -1, url)
    return scheme, (parts.hostname or "").lower(), port, parts.path.rstrip("/")
