"""The async FHIR client (one shared httpx.AsyncClient) and the FHIR <-> domain mapping."""
