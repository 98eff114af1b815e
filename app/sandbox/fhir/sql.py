"""SQL conditions for search criteria, patient compartments and sort orders.

Every condition is written against ``resource r`` and answered from the index tables, so a
search is a few index look-ups rather than a scan of stored JSON.

Date prefixes compare ranges (``dates.py``): with the resource's range ``[lo, hi)`` and the
searched value's ``[sl, sh)``: eq ``lo >= sl and hi <= sh``; ne its negation; gt ``hi > sh``;
lt ``lo < sl``; ge ``hi > sl``; le ``lo < sh``; sa ``lo >= sh``; eb ``hi <= sl``; ap overlaps
the searched range widened by one day on each side.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from app.sandbox.fhir.dates import HIGHEST, LOWEST, parse_range
from app.sandbox.fhir.indexing import normalize_text, parse_reference
from app.sandbox.fhir.params import COMPARTMENT_PARAM, COMPARTMENT_TYPES, ParamKind
from app.sandbox.fhir.query import Criterion, SortKey, date_prefix, split_token

Filter = tuple[str, list[Any]]
NO_FILTER: Filter = ("1", [])

_TABLES = {
    ParamKind.TOKEN: "idx_token",
    ParamKind.REFERENCE: "idx_ref",
    ParamKind.DATE: "idx_date",
    ParamKind.STRING: "idx_string",
}


def all_of(filters: Sequence[Filter]) -> Filter:
    if not filters:
        return NO_FILTER
    return " AND ".join(f"({s})" for s, _ in filters), [p for _, ps in filters for p in ps]


def any_of(filters: Sequence[Filter]) -> Filter:
    if not filters:
        return ("0", [])
    return " OR ".join(f"({s})" for s, _ in filters), [p for _, ps in filters for p in ps]


def criterion_filter(resource_type: str, c: Criterion) -> Filter:
    if c.param.name == "_id":
        marks = ",".join("?" * len(c.values))
        sql = f"r.id {'NOT ' if c.modifier == 'not' else ''}IN ({marks})"
        return (sql, list(c.values)) if c.modifier != "missing" else _missing_table_column(c)
    if c.param.name == "_lastUpdated":
        if c.modifier == "missing":
            return _missing_table_column(c)
        return any_of([_date_condition(v, "r.lu_low", "r.lu_high") for v in c.values])
    table = _TABLES[c.param.kind]
    head = f"SELECT x.id FROM {table} x WHERE x.type = ? AND x.param = ?"
    head_params: list[Any] = [resource_type, c.param.name]
    if c.modifier == "missing":
        negate = c.values == ("true",)
        return f"r.id {'NOT ' if negate else ''}IN ({head})", head_params
    alternatives = any_of([_value_condition(c, v) for v in c.values])
    negate = c.modifier == "not"
    return (
        f"r.id {'NOT ' if negate else ''}IN ({head} AND ({alternatives[0]}))",
        head_params + alternatives[1],
    )


def _missing_table_column(c: Criterion) -> Filter:
    return ("0", []) if c.values == ("true",) else NO_FILTER


def _value_condition(c: Criterion, value: str) -> Filter:
    kind = c.param.kind
    if kind is ParamKind.TOKEN:
        system, code = split_token(value)
        if system is None:
            return "x.code = ?", [code]
        if code == "":
            return "x.system = ?", [system]
        return "x.system = ? AND x.code = ?", [system, code]
    if kind is ParamKind.STRING:
        if c.modifier == "exact":
            return "x.raw = ?", [value]
        folded = normalize_text(value)
        if c.modifier == "contains":
            return "instr(x.value, ?) > 0", [folded]
        return "x.value >= ? AND x.value < ?", [folded, folded + "\U0010ffff"]
    if kind is ParamKind.DATE:
        return _date_condition(value, "x.low", "x.high")
    # reference
    target_type = c.modifier or None
    parsed = parse_reference(value) if "/" in value else None
    if parsed is not None:
        ref_type, ref_id = parsed
        if target_type and ref_type != target_type:
            return "0", []
        return "x.target_type = ? AND x.target_id = ?", [ref_type, ref_id]
    if target_type is None and len(c.param.targets) == 1:
        target_type = c.param.targets[0]
    if target_type:
        return "x.target_type = ? AND x.target_id = ?", [target_type, value]
    return "x.target_id = ?", [value]


def _date_condition(value: str, lo: str, hi: str) -> Filter:
    prefix, text = date_prefix(value)
    rng = parse_range(text)
    assert rng is not None, value  # checked when the criterion was parsed
    sl, sh = rng.low, rng.high
    if prefix == "eq":
        return f"{lo} >= ? AND {hi} <= ?", [sl, sh]
    if prefix == "ne":
        return f"NOT ({lo} >= ? AND {hi} <= ?)", [sl, sh]
    if prefix == "gt":
        return f"{hi} > ?", [sh]
    if prefix == "lt":
        return f"{lo} < ?", [sl]
    if prefix == "ge":
        return f"{hi} > ?", [sl]
    if prefix == "le":
        return f"{lo} < ?", [sh]
    if prefix == "sa":
        return f"{lo} >= ?", [sh]
    if prefix == "eb":
        return f"{hi} <= ?", [sl]
    # ap: overlap with the value widened by a day each way
    return f"{lo} < ? AND {hi} > ?", [_shift(sh, 1), _shift(sl, -1)]


def _shift(moment: str, days: int) -> str:
    if moment in (LOWEST, HIGHEST):
        return moment
    shifted = datetime.strptime(moment, "%Y-%m-%dT%H:%M:%S.%f") + timedelta(days=days)
    return shifted.strftime("%Y-%m-%dT%H:%M:%S.%f")


def compartment_filter(resource_type: str, patient_id: str) -> Filter:
    """Resources of ``resource_type`` in the compartment of Patient ``patient_id``."""
    if resource_type == "Patient":
        return "r.id = ?", [patient_id]
    if resource_type not in COMPARTMENT_TYPES:
        return NO_FILTER  # shared reference data (Practitioner, Medication ...)
    direct: Filter = (
        "r.id IN (SELECT c.id FROM idx_ref c WHERE c.type = ? AND c.param = ? "
        "AND c.target_type = 'Patient' AND c.target_id = ?)",
        [resource_type, COMPARTMENT_PARAM, patient_id],
    )
    if resource_type != "Provenance":
        return direct
    via_target: Filter = (
        "r.id IN (SELECT t.id FROM idx_ref t JOIN idx_ref c "
        "ON c.type = t.target_type AND c.id = t.target_id "
        "WHERE t.type = 'Provenance' AND t.param = 'target' AND c.param = ? "
        "AND c.target_type = 'Patient' AND c.target_id = ?)",
        [COMPARTMENT_PARAM, patient_id],
    )
    return any_of([direct, via_target])


def order_by(resource_type: str, sort: Sequence[SortKey]) -> Filter:
    """An ORDER BY clause (without the keywords); missing values sort last."""
    parts: list[str] = []
    params: list[Any] = []
    for key in sort:
        direction = "DESC" if key.descending else "ASC"
        name = key.param.name
        if name == "_id":
            parts.append(f"r.id {direction}")
            continue
        if name == "_lastUpdated":
            parts.append(f"r.lu_low {direction}")
            continue
        table = _TABLES[key.param.kind]
        column = {
            ParamKind.TOKEN: "code",
            ParamKind.REFERENCE: "target_id",
            ParamKind.DATE: "low",
            ParamKind.STRING: "value",
        }[key.param.kind]
        pick = "MAX" if key.descending else "MIN"
        expr = (
            f"(SELECT {pick}(x.{column}) FROM {table} x "
            "WHERE x.type = r.type AND x.id = r.id AND x.param = ?)"
        )
        parts.append(f"{expr} {direction} NULLS LAST")  # one look-up per match, not two
        params.append(name)
    parts.append("r.lu_low ASC, r.id ASC")
    return ", ".join(parts), params
