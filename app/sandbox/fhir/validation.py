"""Checks every resource before it is written: JSON shape, type, then FHIR R4 content.

Status policy: a body that is not JSON, not an object, or has a missing or wrong
``resourceType`` is a 400 (the request itself is malformed). Well-formed JSON whose content is
not a valid resource (unknown elements, invalid dates, invalid base64, codes outside a required
value set, missing required elements) is a 422, with one OperationOutcome issue per problem.

Content validation uses the fhir.resources R4B models (the R4 shapes the sandbox serves are a
subset of them) plus what those models leave out: strict base64 and required-binding codes.
"""

from __future__ import annotations

import binascii
import json
import re
from base64 import b64decode
from collections.abc import Iterator
from typing import Any

from app.sandbox.fhir.errors import BadRequest, Unprocessable
from app.sandbox.fhir.indexing import values_at
from app.sandbox.fhir.params import SUPPORTED_TYPES

ID_RX = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_BASE64_RX = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")


def _codes(words: str) -> frozenset[str]:
    return frozenset(words.split())


# Codes from required value sets that fhir.resources does not check (path -> allowed codes).
REQUIRED_CODES: dict[str, dict[str, frozenset[str]]] = {
    "Observation": {
        "status": _codes(
            "registered preliminary final amended corrected cancelled entered-in-error unknown"
        )
    },
    "DiagnosticReport": {
        "status": _codes(
            "registered partial preliminary final amended corrected appended cancelled "
            "entered-in-error unknown"
        )
    },
    "DocumentReference": {
        "status": _codes("current superseded entered-in-error"),
        "docStatus": _codes("preliminary final amended entered-in-error"),
        "relatesTo.code": _codes("replaces transforms signs appends"),
    },
    "Composition": {"status": _codes("preliminary final amended entered-in-error")},
    "Encounter": {
        "status": _codes(
            "planned arrived triaged in-progress onleave finished cancelled entered-in-error "
            "unknown"
        )
    },
    "Patient": {"gender": _codes("male female other unknown")},
    "Practitioner": {"gender": _codes("male female other unknown")},
    "Task": {
        "status": _codes(
            "draft requested received accepted rejected ready cancelled in-progress on-hold "
            "failed completed entered-in-error"
        ),
        "intent": _codes(
            "unknown proposal plan order original-order reflex-order filler-order "
            "instance-order option"
        ),
    },
    "Communication": {
        "status": _codes(
            "preparation in-progress not-done on-hold stopped completed entered-in-error unknown"
        )
    },
    "MedicationRequest": {
        "status": _codes(
            "active on-hold cancelled completed entered-in-error stopped draft unknown"
        ),
        "intent": _codes(
            "proposal plan order original-order reflex-order filler-order instance-order option"
        ),
    },
    "MedicationStatement": {
        "status": _codes(
            "active completed entered-in-error intended stopped on-hold unknown not-taken"
        )
    },
    "AllergyIntolerance": {
        "type": _codes("allergy intolerance"),
        "category": _codes("food medication environment biologic"),
        "criticality": _codes("low high unable-to-assess"),
    },
}

_FRIENDLY = {
    "extra_forbidden": "unknown element (not part of FHIR R4 {type})",
    "base64_decode": "not valid base64",
    "missing": "required element is missing",
    "model_field_validation.missing": "required element is missing",
}


def parse_json_body(raw: bytes) -> Any:
    if not raw.strip():
        raise BadRequest("The request body is empty; send a FHIR resource as JSON.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"The request body is not UTF-8 text (byte {exc.start}).") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadRequest(
            f"The request body is not valid JSON: {exc.msg} at line {exc.lineno}, "
            f"column {exc.colno}.",
            code="structure",
        ) from exc


def check_resource_shape(body: Any, expected_type: str | None = None) -> dict[str, Any]:
    """``body`` as a resource dict of a type this server serves (and ``expected_type``)."""
    if not isinstance(body, dict):
        raise BadRequest(
            f"The request body is a JSON {type(body).__name__}, not a FHIR resource (a JSON "
            "object with a resourceType).",
            code="structure",
        )
    resource_type = body.get("resourceType")
    if not isinstance(resource_type, str) or not resource_type:
        raise BadRequest("The resource has no resourceType element.", code="structure")
    if expected_type is not None and resource_type != expected_type:
        raise BadRequest(
            f"The body is a {resource_type} but the URL is for {expected_type}; send a "
            f"{expected_type} or use the {resource_type} endpoint.",
            expression=["resourceType"],
        )
    if resource_type not in SUPPORTED_TYPES:
        raise BadRequest(
            f"Resource type {resource_type!r} is not served by this server. "
            f"Supported: {', '.join(SUPPORTED_TYPES)}.",
            code="not-supported",
        )
    return body


def validate_content(resource: dict[str, Any]) -> None:
    """Raise Unprocessable listing every FHIR content problem of ``resource``."""
    resource_type = str(resource["resourceType"])
    problems: list[tuple[str, str]] = []
    # the R4B models (pydantic) load on the first write, not as the sandbox starts
    from fhir.resources.R4B import get_fhir_model_class
    from pydantic import ValidationError

    try:
        get_fhir_model_class(resource_type).model_validate(resource)
    except ValidationError as exc:
        for error in exc.errors():
            where = _location(resource_type, error["loc"])
            friendly = _FRIENDLY.get(error["type"], "").format(type=resource_type)
            message = friendly or _plain(str(error["msg"]))
            problems.append((where, _with_input(message, error)))
    except (TypeError, ValueError) as exc:  # fhir.resources raises these for some shapes
        problems.append((resource_type, str(exc)))
    problems.extend(_base64_problems(resource_type, resource))
    problems.extend(_code_problems(resource_type, resource))
    if problems:
        shown = "; ".join(f"{where}: {what}" for where, what in problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        first, *rest = problems
        raise Unprocessable(
            f"This {resource_type} is not valid FHIR R4: {shown}{more}. Nothing was saved.",
            expression=[first[0]],
            extra_issues=[
                {
                    "severity": "error",
                    "code": "invalid",
                    "diagnostics": f"{w}: {m}",
                    "expression": [w],
                }
                for w, m in rest
            ],
        )


def check_id(resource_id: str) -> None:
    if not ID_RX.match(resource_id):
        raise BadRequest(
            f"{resource_id!r} is not a valid FHIR id: use 1 to 64 letters, digits, '-' or '.'."
        )


def _plain(message: str) -> str:
    message = message.removeprefix("Value error, ")
    m = re.match(r"^(\w+) value string does not match spec regex", message)
    if m:  # fhir.resources' wording for a malformed date, dateTime, instant, time ...
        return f"not a valid FHIR {m[1][0].lower()}{m[1][1:]}"
    return message


def _location(resource_type: str, loc: tuple[int | str, ...]) -> str:
    out = resource_type
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part not in ("__root__",):
            out += f".{part}"
    return out


def _with_input(message: str, error: Any) -> str:
    value = error.get("input")
    if isinstance(value, str | int | float) and error["type"] != "missing":
        shown = repr(value) if len(str(value)) <= 60 else repr(str(value)[:57] + "...")
        return f"{message} (got {shown})"
    return message


def _walk(node: Any, path: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(path, key, parent) for every key in every object below ``node``."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield path, key, node
            yield from _walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _walk(item, f"{path}[{i}]")


def _base64_problems(resource_type: str, resource: dict[str, Any]) -> Iterator[tuple[str, str]]:
    # Attachment.data/hash, Signature.data and Binary.data are base64Binary; SampledData.data
    # (which sits next to "dimensions") is a plain string.
    for path, key, parent in _walk(resource, resource_type):
        value = parent[key]
        if key not in ("data", "hash") or not isinstance(value, str) or "dimensions" in parent:
            continue
        compact = re.sub(r"\s+", "", value)
        try:
            ok = bool(_BASE64_RX.match(compact)) and len(compact) % 4 == 0
            if ok:
                b64decode(compact, validate=True)
        except (binascii.Error, ValueError):
            ok = False
        if not ok:
            yield f"{path}.{key}", "not valid base64 (RFC 4648, with '=' padding)"


def _code_problems(resource_type: str, resource: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for path, allowed in REQUIRED_CODES.get(resource_type, {}).items():
        for value in values_at(resource, path):
            if isinstance(value, str) and value not in allowed:
                yield (
                    f"{resource_type}.{path}",
                    f"{value!r} is not an allowed code; use one of {', '.join(sorted(allowed))}",
                )
