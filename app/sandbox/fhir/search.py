"""Runs a parsed search against the database: matches, total, paging, _include/_revinclude."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from app.sandbox.fhir.database import ResourceDatabase, StoredResource
from app.sandbox.fhir.query import Criterion, Include, SearchRequest
from app.sandbox.fhir.sql import NO_FILTER, Filter, all_of, criterion_filter, order_by

# The filter a caller may see for a type, or None when it may not read that type at all.
ReadFilter = Callable[[str], Filter | None]

_MAX_ITERATIONS = 3  # _include:iterate rounds


@dataclass
class SearchResult:
    total: int
    matches: list[StoredResource]
    included: list[StoredResource] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class SearchEngine:
    def __init__(self, db: ResourceDatabase) -> None:
        self.db = db

    def where(self, resource_type: str, criteria: list[Criterion], access: Filter) -> Filter:
        sql, params = all_of([criterion_filter(resource_type, c) for c in criteria] + [access])
        return f"r.type = ? AND ({sql})", [resource_type, *params]

    def matching_ids(
        self, resource_type: str, criteria: list[Criterion], access: Filter, limit: int = 3
    ) -> list[str]:
        """Ids of up to ``limit`` matches (conditional create and conditional references)."""
        sql, params = self.where(resource_type, criteria, access)
        rows = self.db.query(
            f"SELECT r.id FROM resource r WHERE {sql} ORDER BY r.id LIMIT ?", [*params, limit]
        )
        return [row[0] for row in rows]

    def allows(self, resource_type: str, resource_id: str, access: Filter) -> bool:
        """Whether the stored resource passes ``access`` (compartment, scope query)."""
        sql, params = access
        rows = self.db.query(
            f"SELECT 1 FROM resource r WHERE r.type = ? AND r.id = ? AND ({sql})",
            [resource_type, resource_id, *params],
        )
        return bool(rows)

    def run(self, request: SearchRequest, access: Filter, read_filter: ReadFilter) -> SearchResult:
        sql, params = self.where(request.resource_type, request.criteria, access)
        total = int(self.db.query(f"SELECT COUNT(*) FROM resource r WHERE {sql}", params)[0][0])
        result = SearchResult(total, [], warnings=list(request.warnings))
        if request.summary_count or request.count == 0:
            return result
        order, order_params = order_by(request.resource_type, request.sort)
        ids = [
            row[0]
            for row in self.db.query(
                f"SELECT r.id FROM resource r WHERE {sql} ORDER BY {order} LIMIT ? OFFSET ?",
                [*params, *order_params, request.count, request.offset],
            )
        ]
        result.matches = self.db.get_many([(request.resource_type, i) for i in ids])
        if request.includes or request.revincludes:
            result.included = self._included(request, result, read_filter)
        return result

    def _included(
        self, request: SearchRequest, result: SearchResult, read_filter: ReadFilter
    ) -> list[StoredResource]:
        seen = {(m.resource_type, m.id) for m in result.matches}
        frontier = list(seen)
        included: list[StoredResource] = []
        refused: set[str] = set()
        for round_number in range(_MAX_ITERATIONS):
            wanted: list[tuple[str, str]] = []
            for inc in request.includes:
                if round_number == 0 or inc.iterate:
                    wanted += self._forward(inc, frontier)
            for inc in request.revincludes:
                if round_number == 0 or inc.iterate:
                    wanted += self._reverse(inc, frontier)
            fresh = [k for k in dict.fromkeys(wanted) if k not in seen]
            if not fresh:
                break
            seen.update(fresh)
            allowed = [k for k in fresh if self._readable(k, read_filter, refused)]
            found = self.db.get_many(allowed)
            included += found
            frontier = [(s.resource_type, s.id) for s in found]
        for resource_type in sorted(refused):
            result.warnings.append(
                f"Some included {resource_type} resources were left out: this token may not "
                "read them."
            )
        return included

    def _readable(self, key: tuple[str, str], read_filter: ReadFilter, refused: set[str]) -> bool:
        access = read_filter(key[0])
        if access == NO_FILTER:
            return True
        if access is not None and self.allows(key[0], key[1], access):
            return True
        refused.add(key[0])
        return False

    def _forward(self, inc: Include, frontier: list[tuple[str, str]]) -> list[tuple[str, str]]:
        ids = [i for t, i in frontier if t == inc.source_type]
        out: list[tuple[str, str]] = []
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            sql = (
                "SELECT target_type, target_id FROM idx_ref WHERE type = ? AND param = ? "
                f"AND id IN ({','.join('?' * len(chunk))})"
            )
            params: list[object] = [inc.source_type, inc.param.name, *chunk]
            if inc.target_type:
                sql += " AND target_type = ?"
                params.append(inc.target_type)
            out += [(t, i) for t, i in self.db.query(sql, params)]
        return out

    def _reverse(self, inc: Include, frontier: list[tuple[str, str]]) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for target_type in {t for t, _ in frontier}:
            if inc.target_type and inc.target_type != target_type:
                continue
            ids = [i for t, i in frontier if t == target_type]
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                rows = self.db.query(
                    "SELECT type, id FROM idx_ref WHERE type = ? AND param = ? "
                    f"AND target_type = ? AND target_id IN ({','.join('?' * len(chunk))}) "
                    "ORDER BY id",
                    [inc.source_type, inc.param.name, target_type, *chunk],
                )
                out += [(t, i) for t, i in rows]
        return out
