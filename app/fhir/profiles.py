"""Vendor profiles: what a kind of EHR accepts on writes, declared in resources/profiles/*.json.

A profile narrows what the CapabilityStatement declares; it never widens it. The sync planner
uses a write feature (transaction, conditional create, PUT to a client id) only when both the
server declares it and the profile allows it. Which profile applies:

1. the site configuration names one (``Site.vendor_profile``) — IT knows best;
2. else the CapabilityStatement's ``software.name`` (or ``publisher``) contains one of a
   profile's ``match_software`` words (case-insensitive);
3. else ``generic-r4``.

Dependency-free on purpose (json, app._resources and the domain's catalogue of item kinds,
which says what the app can write at all): the rest of app.fhir builds on it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeVar

from app._resources import resource_path, vendor_profile_names
from app.domain.items import NOTE, write_types

_E = TypeVar("_E", bound=Enum)

DEFAULT_PROFILE = "generic-r4"
FORMAT_VERSION = 1


class ProfileError(ValueError):
    """A vendor profile is unknown or its file is malformed (names the profile and the key)."""


class CreateResponse(Enum):
    """What a create answers. The app asks for that (``Prefer``): a representation saves the
    read-back request; location-only servers are asked for ``return=minimal`` and read back."""

    REPRESENTATION = "representation"  # 201 with the created resource in the body
    LOCATION_ONLY = "location-only"  # 201 with an empty body: id/version from Location and ETag


@dataclass(frozen=True)
class NoteSettings:
    type_loinc: str
    category: str
    attachment_content_type: str  # "text/plain" (base64 data) or "application/xhtml+xml"
    doc_status: str


@dataclass(frozen=True)
class VendorProfile:
    name: str
    display_name: str
    description: str
    match_software: tuple[str, ...]
    note: NoteSettings
    writable_types: frozenset[str]
    transaction: bool  # transaction Bundles allowed (still only when the server declares them)
    conditional_create: bool  # If-None-Exist / ifNoneExist allowed (ditto)
    client_assigned_ids: bool  # PUT to a client-chosen id allowed
    if_match_update: bool  # version-aware update (If-Match) allowed
    identifier_search: bool  # search by identifier is reliable (reconciliation depends on it)
    create_response: CreateResponse

    def may_write(self, resource_type: str) -> bool:
        return resource_type in self.writable_types

    @property
    def provenance_write(self) -> bool:
        return self.may_write("Provenance")

    @property
    def composition_write(self) -> bool:
        return self.may_write("Composition")


_KEYS = {
    "format",
    "name",
    "display_name",
    "description",
    "match_software",
    "note",
    "writable_types",
    "transaction",
    "conditional_create",
    "client_assigned_ids",
    "if_match_update",
    "identifier_search",
    "create_response",
}
_NOTE_KEYS = {
    "type_loinc",
    "category",
    "attachment_content_type",
    "doc_status",
}
_ATTACHMENT_TYPES = {"text/plain", "application/xhtml+xml"}
_DOC_STATUSES = {"preliminary", "final", "amended"}


def available_profiles() -> tuple[str, ...]:
    """Names of the bundled profiles, sorted."""
    return vendor_profile_names()


def load_profile(name: str) -> VendorProfile:
    """Load and validate ``resources/profiles/<name>.json``."""
    if name not in available_profiles():
        known = ", ".join(available_profiles())
        raise ProfileError(f"unknown vendor profile {name!r} (known: {known})")
    path = resource_path("profiles", f"{name}.json")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProfileError(f"vendor profile {name!r} cannot be read: {exc}") from exc
    return parse_profile(data, source=name)


def parse_profile(data: Any, *, source: str) -> VendorProfile:
    """Validate one profile document (a dict from JSON)."""
    if not isinstance(data, dict):
        raise ProfileError(f"vendor profile {source!r}: not a JSON object")
    _exact_keys(data, _KEYS, source, "")
    if data["format"] != FORMAT_VERSION:
        raise ProfileError(f"vendor profile {source!r}: format {data['format']!r} is not supported")
    if data["name"] != source:
        raise ProfileError(f"vendor profile {source!r}: 'name' says {data['name']!r}")
    note = data["note"]
    if not isinstance(note, dict):
        raise ProfileError(f"vendor profile {source!r}: 'note' must be an object")
    _exact_keys(note, _NOTE_KEYS, source, "note.")
    content_type = _str(note, "attachment_content_type", source)
    if content_type not in _ATTACHMENT_TYPES:
        raise ProfileError(
            f"vendor profile {source!r}: note.attachment_content_type {content_type!r}"
        )
    doc_status = _str(note, "doc_status", source)
    if doc_status not in _DOC_STATUSES:
        raise ProfileError(f"vendor profile {source!r}: note.doc_status {doc_status!r}")
    writable = _str_list(data, "writable_types", source)
    if NOTE.resource_type not in writable:
        raise ProfileError(
            f"vendor profile {source!r}: the note (DocumentReference) must be writable"
        )
    unknown = sorted(set(writable) - set(write_types()))
    if unknown:
        raise ProfileError(
            f"vendor profile {source!r}: writable_types lists {', '.join(unknown)}, which the "
            f"app never writes (it writes {', '.join(write_types())})"
        )
    return VendorProfile(
        name=source,
        display_name=_str(data, "display_name", source),
        description=_str(data, "description", source),
        match_software=tuple(w.lower() for w in _str_list(data, "match_software", source)),
        note=NoteSettings(
            type_loinc=_str(note, "type_loinc", source),
            category=_str(note, "category", source),
            attachment_content_type=content_type,
            doc_status=doc_status,
        ),
        writable_types=frozenset(writable),
        transaction=_bool(data, "transaction", source),
        conditional_create=_bool(data, "conditional_create", source),
        client_assigned_ids=_bool(data, "client_assigned_ids", source),
        if_match_update=_bool(data, "if_match_update", source),
        identifier_search=_bool(data, "identifier_search", source),
        create_response=_enum(CreateResponse, data, "create_response", source),
    )


def choose_profile(
    site_profile_name: str | None, capability_statement: dict[str, Any]
) -> VendorProfile:
    """The profile for a site: configured name, else software match, else generic-r4."""
    if site_profile_name:
        return load_profile(site_profile_name)
    name = profile_name_for_software(capability_statement)
    return load_profile(name or DEFAULT_PROFILE)


def profile_name_for_software(capability_statement: dict[str, Any]) -> str | None:
    """The profile whose ``match_software`` words occur in software.name/publisher, if any."""
    software = capability_statement.get("software")
    haystack = " ".join(
        str(v)
        for v in (
            software.get("name") if isinstance(software, dict) else None,
            capability_statement.get("publisher"),
        )
        if isinstance(v, str)
    ).lower()
    if not haystack:
        return None
    for name in available_profiles():
        profile = load_profile(name)
        if any(word and word in haystack for word in profile.match_software):
            return name
    return None


def _exact_keys(data: dict[str, Any], keys: set[str], source: str, prefix: str) -> None:
    missing = sorted(keys - data.keys())
    unknown = sorted(data.keys() - keys)
    if missing:
        raise ProfileError(
            f"vendor profile {source!r}: missing {', '.join(prefix + k for k in missing)}"
        )
    if unknown:
        raise ProfileError(
            f"vendor profile {source!r}: unknown {', '.join(prefix + k for k in unknown)}"
        )


def _str(data: dict[str, Any], key: str, source: str) -> str:
    value = data[key]
    if not isinstance(value, str) or not value:
        raise ProfileError(f"vendor profile {source!r}: {key!r} must be a non-empty string")
    return value


def _bool(data: dict[str, Any], key: str, source: str) -> bool:
    value = data[key]
    if not isinstance(value, bool):
        raise ProfileError(f"vendor profile {source!r}: {key!r} must be true or false")
    return value


def _str_list(data: dict[str, Any], key: str, source: str) -> list[str]:
    value = data[key]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ProfileError(f"vendor profile {source!r}: {key!r} must be a list of strings")
    return list(value)


def _enum(kind: type[_E], data: dict[str, Any], key: str, source: str) -> _E:
    try:
        return kind(data[key])
    except ValueError:
        allowed = ", ".join(str(m.value) for m in kind)
        raise ProfileError(f"vendor profile {source!r}: {key!r} must be one of {allowed}") from None
