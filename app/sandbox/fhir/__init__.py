"""The sandbox's FHIR R4 server: SQLite storage, search, transactions and SMART scope checks.

store.py        FhirStore: the database, the seed, the Directory for the login page
database.py     SQLite tables (current, history, search indexes) and the write lock
params.py       served types and search parameters (the source of the CapabilityStatement)
indexing.py     resource -> index rows;   dates.py  date values as UTC ranges
query.py        search parameters -> SearchRequest;   sql.py  criteria -> SQL
search.py       running searches (_include, _revinclude, paging)
validation.py   JSON, type and FHIR content checks (fhir.resources R4B models)
scopes.py       SMART v1/v2 scopes and the patient compartment
service.py      read, vread, history, search, create, update
transaction.py  transaction and batch Bundles
capability.py   the CapabilityStatement;   prefer.py  the Prefer header
routes.py       the Flask blueprint (HTTP only);   errors.py  errors -> OperationOutcome
"""

from app.sandbox.fhir.routes import create_fhir_blueprint
from app.sandbox.fhir.store import FhirStore

__all__ = ["FhirStore", "create_fhir_blueprint"]
