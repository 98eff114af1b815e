"""Refresh tokens in a real keyring backend (keyrings.alt file backend in a temp folder)."""

from __future__ import annotations

from pathlib import Path

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail

from app.smart.errors import KeyringError
from app.smart.keyring_store import RefreshTokenStore, StoredSession


def test_one_entry_per_site_and_user(file_keyring: KeyringBackend, tmp_path: Path) -> None:
    a = RefreshTokenStore("clinic-a", backend=file_keyring)
    b = RefreshTokenStore("clinic-b", backend=file_keyring)
    a.save(
        StoredSession(
            "prac-1", "rt-a1", fhir_user="https://a/fhir/Practitioner/prac-1", subject="prac-1"
        )
    )
    a.save(StoredSession("prac-2", "rt-a2"))
    b.save(StoredSession("prac-1", "rt-b1"))

    assert a.service == "fhir-writeback:clinic-a"
    assert file_keyring.get_password("fhir-writeback:clinic-a", "prac-1") is not None
    loaded = a.load()
    assert loaded is not None and loaded.user_key == "prac-2" and loaded.refresh_token == "rt-a2"
    first = a.load("prac-1")
    assert first is not None and first.refresh_token == "rt-a1" and first.subject == "prac-1"
    assert "rt-a1" not in repr(first)
    b_loaded = b.load()
    assert b_loaded is not None and b_loaded.refresh_token == "rt-b1"
    # the backend really wrote its file in the temp folder
    assert Path(file_keyring.file_path).is_file()  # type: ignore[attr-defined]
    assert str(tmp_path) in file_keyring.file_path  # type: ignore[attr-defined]


def test_rotation_overwrites_and_delete_removes(file_keyring: KeyringBackend) -> None:
    store = RefreshTokenStore("site", backend=file_keyring)
    store.save(StoredSession("u", "old"))
    store.save(StoredSession("u", "new"))
    loaded = store.load()
    assert loaded is not None and loaded.refresh_token == "new"
    store.delete("u")
    assert store.load() is None and store.load("u") is None
    store.delete("u")  # twice is fine


def test_default_backend_is_the_process_keyring(file_keyring: KeyringBackend) -> None:
    assert keyring.get_keyring() is file_keyring
    store = RefreshTokenStore("site")
    store.save(StoredSession("u", "tok"))
    assert file_keyring.get_password("fhir-writeback:site", "u") is not None


def test_unavailable_keyring_is_a_plain_words_error() -> None:
    store = RefreshTokenStore("site", backend=fail.Keyring())
    with pytest.raises(KeyringError) as info:
        store.save(StoredSession("u", "tok"))
    assert "keyring" in info.value.message and "sign in each time" in info.value.message
    with pytest.raises(KeyringError):
        store.load()
