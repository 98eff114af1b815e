"""Parses FHIR search parameters into a ``SearchRequest`` (no SQL, no I/O).

Unknown parameters are ignored with a warning that the searchset carries as an
OperationOutcome entry (``Prefer: handling=strict`` turns them into a 400 instead). Conditional
criteria (``If-None-Exist``, conditional references, v2 scope queries) are always strict:
ignoring a criterion there would match the wrong resource.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from app.sandbox.fhir.dates import parse_range
from app.sandbox.fhir.errors import BadRequest
from app.sandbox.fhir.indexing import parse_reference
from app.sandbox.fhir.params import (
    RESULT_PARAMS,
    SUPPORTED_TYPES,
    ParamKind,
    SearchParam,
    may_target,
    params_of,
)

DATE_PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
DEFAULT_COUNT = 50
MAX_COUNT = 1000

Warn = Callable[[str], None]

_MODIFIERS = {
    ParamKind.TOKEN: {"", "missing", "not"},
    ParamKind.DATE: {"", "missing"},
    ParamKind.STRING: {"", "missing", "exact", "contains"},
    ParamKind.REFERENCE: {"", "missing"},  # plus a target resource type, e.g. subject:Patient
}


@dataclass(frozen=True)
class Criterion:
    param: SearchParam
    modifier: str  # "" when none
    values: tuple[str, ...]  # alternatives (comma separated in the URL): any may match


@dataclass(frozen=True)
class Include:
    source_type: str
    param: SearchParam
    target_type: str | None
    iterate: bool = False


@dataclass(frozen=True)
class SortKey:
    param: SearchParam
    descending: bool


@dataclass
class SearchRequest:
    resource_type: str
    criteria: list[Criterion] = field(default_factory=list)
    count: int = DEFAULT_COUNT
    offset: int = 0
    sort: list[SortKey] = field(default_factory=list)
    includes: list[Include] = field(default_factory=list)
    revincludes: list[Include] = field(default_factory=list)
    summary_count: bool = False
    warnings: list[str] = field(default_factory=list)
    echo: list[tuple[str, str]] = field(default_factory=list)  # for the self/next links


def split_escaped(text: str, sep: str) -> list[str]:
    r"""Split on ``sep`` unless escaped with a backslash (``a\,b`` is one value)."""
    parts, current, i = [], "", 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            current += text[i + 1]
            i += 2
            continue
        if ch == sep:
            parts.append(current)
            current = ""
        else:
            current += ch
        i += 1
    parts.append(current)
    return parts


def split_token(value: str) -> tuple[str | None, str]:
    """``("http://loinc.org", "8867-4")`` from ``system|code``; system None when absent."""
    if "|" not in value.replace("\\|", ""):
        return None, value.replace("\\|", "|")
    pieces = split_escaped(value, "|")
    return pieces[0], "|".join(pieces[1:])


def parse_search(
    resource_type: str, pairs: Sequence[tuple[str, str]], *, strict: bool = False
) -> SearchRequest:
    request = SearchRequest(resource_type)
    known = params_of(resource_type)

    def unknown(message: str) -> None:
        if strict:
            raise BadRequest(f"{message} (Prefer: handling=strict).", code="not-supported")
        request.warnings.append(f"{message}; it was ignored.")

    for raw_name, value in pairs:
        name, _, modifier = raw_name.partition(":")
        if name in RESULT_PARAMS:
            _result_param(request, name, modifier, value, unknown)
            if name not in ("_count", "_offset", "_format"):
                request.echo.append((raw_name, value))
            continue
        if "." in name or name.startswith("_has"):
            unknown(f"Chained and reverse-chained search ({raw_name}) is not supported")
            continue
        param = known.get(name)
        if param is None:
            unknown(
                f"Unknown search parameter {raw_name!r} for {resource_type} (supported: "
                f"{', '.join(sorted(known))})"
            )
            continue
        criterion = make_criterion(param, modifier, value)
        if criterion is not None:
            request.criteria.append(criterion)
            request.echo.append((raw_name, value))
    return request


def parse_criteria(resource_type: str, query: str, *, purpose: str) -> list[Criterion]:
    """Strict criteria from a query string such as ``identifier=sys|1`` (or ``Type?...``)."""
    if "?" in query:
        prefix, _, query = query.partition("?")
        if prefix and prefix.rstrip("/").split("/")[-1] != resource_type:
            raise BadRequest(f"{purpose} {prefix!r} does not search {resource_type}.")
    known = params_of(resource_type)
    criteria: list[Criterion] = []
    for raw_name, value in parse_qsl(query, keep_blank_values=True):
        name, _, modifier = raw_name.partition(":")
        param = known.get(name)
        if param is None:
            raise BadRequest(
                f"{purpose} uses {raw_name!r}, which is not a search parameter of "
                f"{resource_type} on this server; supported: {', '.join(sorted(known))}."
            )
        criterion = make_criterion(param, modifier, value)
        if criterion is not None:
            criteria.append(criterion)
    if not criteria:
        raise BadRequest(f"{purpose} has no search criteria; give at least one, e.g. identifier.")
    return criteria


def make_criterion(param: SearchParam, modifier: str, value: str) -> Criterion | None:
    allowed = _MODIFIERS[param.kind]
    is_type_modifier = (
        param.kind is ParamKind.REFERENCE
        and modifier in SUPPORTED_TYPES
        and may_target(param, modifier)
    )
    if modifier not in allowed and not is_type_modifier:
        raise BadRequest(
            f"The modifier :{modifier} is not supported on {param.name}; supported: "
            f"{', '.join(':' + m for m in sorted(allowed) if m) or 'none'}.",
            code="not-supported",
        )
    values = tuple(v for v in split_escaped(value, ",") if v != "")
    if not values:
        return None  # FHIR: an empty parameter value is ignored
    if modifier == "missing":
        if values not in (("true",), ("false",)):
            raise BadRequest(f"{param.name}:missing takes true or false, not {value!r}.")
        return Criterion(param, modifier, values)
    for v in values:
        _check_value(param, modifier, v)
    return Criterion(param, modifier, values)


def date_prefix(value: str) -> tuple[str, str]:
    if value[:2] in DATE_PREFIXES and value[2:3].isdigit():
        return value[:2], value[2:]
    return "eq", value


def _check_value(param: SearchParam, modifier: str, value: str) -> None:
    if param.kind is ParamKind.DATE:
        _, text = date_prefix(value)
        if parse_range(text) is None:
            raise BadRequest(
                f"{param.name}={value!r} is not a valid date search: use an optional prefix "
                f"({', '.join(DATE_PREFIXES)}) and a date like 2024, 2024-03, 2024-03-05 or "
                "2024-03-05T10:00:00Z.",
                code="value",
            )
    elif param.kind is ParamKind.REFERENCE and "/" in value and parse_reference(value) is None:
        raise BadRequest(
            f"{param.name}={value!r} is not a reference: use an id, Type/id or an absolute URL."
        )


def _result_param(
    request: SearchRequest, name: str, modifier: str, value: str, unknown: Warn
) -> None:
    if name in ("_count", "_offset"):
        if not value.isdigit():
            raise BadRequest(f"{name} must be a whole number of 0 or more, not {value!r}.")
        number = int(value)
        if name == "_offset":
            request.offset = number
        elif number > MAX_COUNT:
            request.count = MAX_COUNT
            request.warnings.append(
                f"_count={number} is above this server's maximum; "
                f"{MAX_COUNT} were returned per page."
            )
        else:
            request.count = number
    elif name == "_sort":
        _parse_sort(request, value, unknown)
    elif name in ("_include", "_revinclude"):
        _parse_include(request, name, modifier, value, unknown)
    elif name == "_summary":
        if value == "count":
            request.summary_count = True
        elif value != "false":
            unknown(f"_summary={value} is not supported (only count and false)")
    # _total: the total is always counted; _format: checked by the HTTP layer.


def _parse_sort(request: SearchRequest, value: str, unknown: Warn) -> None:
    known = params_of(request.resource_type)
    for item in (v.strip() for v in value.split(",") if v.strip()):
        descending = item.startswith("-")
        param = known.get(item.lstrip("-"))
        if param is None:
            unknown(f"_sort={item} names no search parameter of {request.resource_type}")
        else:
            request.sort.append(SortKey(param, descending))


def _parse_include(
    request: SearchRequest, name: str, modifier: str, value: str, unknown: Warn
) -> None:
    iterate = modifier in ("iterate", "recurse")
    parts = value.split(":")
    source_type = parts[0]
    param = params_of(source_type).get(parts[1]) if len(parts) >= 2 else None
    target = parts[2] if len(parts) == 3 else None
    if (
        source_type not in SUPPORTED_TYPES
        or param is None
        or param.kind is not ParamKind.REFERENCE
        or len(parts) > 3
        or (target is not None and (target not in SUPPORTED_TYPES or not may_target(param, target)))
    ):
        unknown(
            f"{name}={value} is not a reference parameter this server can follow "
            "(write it as Type:parameter or Type:parameter:TargetType)"
        )
        return
    include = Include(source_type, param, target, iterate)
    if name == "_include":
        if source_type != request.resource_type and not iterate:
            unknown(
                f"_include={value} does not start from {request.resource_type} "
                "(use _include:iterate to follow included resources)"
            )
            return
        request.includes.append(include)
    else:
        if not may_target(param, request.resource_type) and not iterate:
            unknown(f"_revinclude={value} cannot point at {request.resource_type}")
            return
        request.revincludes.append(include)
