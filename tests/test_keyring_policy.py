"""The keyring policy is an allow-list of the OS keyrings the ``keyring`` package ships.

Each OS keyring class is accepted; file keyrings (``keyrings.alt``), the null and fail
backends, a chainer of non-OS backends and any third-party class are refused, also when the
class copies the module and class name of an OS keyring. Without an OS keyring a real site
keeps neither its sign-in nor its store key anywhere (one plain sentence says so), while the
sandbox demo still opens its store with the demo-only key file.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import SecretService, Windows, chainer, fail, kwallet, libsecret, macOS, null
from keyring.compat import properties
from keyrings.alt import Gnome
from keyrings.alt import Windows as AltWindows
from keyrings.alt.file import EncryptedKeyring, PlaintextKeyring

from app.bootstrap import open_site_store
from app.keyring_policy import (
    NO_OS_KEYRING,
    DemoFileKeyring,
    enforce_os_keyring,
    is_secure,
    os_keyring_in,
)
from app.smart.errors import KeyringError
from app.smart.keyring_store import RefreshTokenStore, StoredSession
from app.store.crypto_errors import StoreKeyUnavailable

OS_CLASSES = [
    Windows.WinVaultKeyring,
    macOS.Keyring,
    SecretService.Keyring,
    libsecret.Keyring,
    kwallet.DBusKeyring,
    kwallet.DBusKeyringKWallet4,
]


def bare(cls: type[KeyringBackend]) -> KeyringBackend:
    """An instance without running the backend's set-up (no D-Bus, no Windows API needed)."""
    return cls.__new__(cls)


class NeverViable:
    """Defined here, these backends register with ``keyring``: they must never be chosen as a
    process default, so they are not viable (like a real backend that is not installed)."""

    @properties.classproperty
    def priority(cls) -> float:
        raise RuntimeError("a test double: never chosen")


class SpoofedWinVault(NeverViable, KeyringBackend):
    """A third-party backend that copies the name of Windows Credential Manager."""

    def get_password(self, service: str, username: str) -> str | None:
        return None

    def set_password(self, service: str, username: str, password: str) -> None:
        raise AssertionError("a secret was handed to a third-party keyring")

    def delete_password(self, service: str, username: str) -> None:
        pass


SpoofedWinVault.__module__ = "keyring.backends.Windows"
SpoofedWinVault.__qualname__ = SpoofedWinVault.__name__ = "WinVaultKeyring"


class SubclassedWinVault(NeverViable, Windows.WinVaultKeyring):
    """A subclass of an OS keyring can override where the secret goes: refused as well."""


@pytest.mark.parametrize("cls", OS_CLASSES, ids=lambda c: f"{c.__module__}.{c.__qualname__}")
def test_each_os_keyring_of_the_keyring_package_is_accepted(cls: type[KeyringBackend]) -> None:
    backend = bare(cls)
    assert is_secure(backend)
    assert os_keyring_in(backend) is backend


@pytest.mark.parametrize(
    "cls",
    [
        PlaintextKeyring,
        EncryptedKeyring,
        AltWindows.RegistryKeyring,
        AltWindows.EncryptedKeyring,
        Gnome.Keyring,
        null.Keyring,
        fail.Keyring,
        SpoofedWinVault,
        SubclassedWinVault,
        DemoFileKeyring,
    ],
    ids=lambda c: c.__qualname__ if c is not SpoofedWinVault else "spoofed-name",
)
def test_file_null_fail_and_third_party_keyrings_are_refused(cls: type[KeyringBackend]) -> None:
    backend = bare(cls)
    assert not is_secure(backend)
    assert os_keyring_in(backend) is None


def test_the_spoofed_class_really_carries_the_os_keyring_name() -> None:
    kind = type(bare(SpoofedWinVault))
    assert (kind.__module__, kind.__qualname__) == ("keyring.backends.Windows", "WinVaultKeyring")


def chain_of(monkeypatch: pytest.MonkeyPatch, *members: KeyringBackend) -> KeyringBackend:
    monkeypatch.setattr(chainer.ChainerBackend, "backends", list(members))
    return chainer.ChainerBackend()


def test_a_chainer_of_non_os_keyrings_only_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    chain = chain_of(monkeypatch, bare(PlaintextKeyring), bare(EncryptedKeyring))
    assert not is_secure(chain) and os_keyring_in(chain) is None
    assert not is_secure(chain_of(monkeypatch))  # an empty chain stores nothing useful


def test_a_chainer_of_os_keyrings_only_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    chain = chain_of(monkeypatch, bare(SecretService.Keyring), bare(kwallet.DBusKeyring))
    assert is_secure(chain) and os_keyring_in(chain) is chain


def test_a_mixed_chainer_is_narrowed_to_its_best_os_keyring(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A chainer falls through to the next backend (a plain file) when the first refuses."""
    secret_service = bare(SecretService.Keyring)
    chain = chain_of(monkeypatch, bare(PlaintextKeyring), secret_service, bare(null.Keyring))
    assert not is_secure(chain)
    keyring.set_keyring(chain)
    assert enforce_os_keyring() is None
    assert keyring.get_keyring() is secret_service


def one_plain_sentence(text: str) -> bool:
    return bool(re.fullmatch(r"[A-Z][^.!?\n]*[.]", text))


def test_without_an_os_keyring_a_real_site_keeps_no_token_and_no_key(
    tmp_path: Path, file_keyring: KeyringBackend
) -> None:
    """The tests' file keyring is the process default here, as keyrings.alt would be."""
    keyring_file = Path(str(file_keyring.file_path))  # type: ignore[attr-defined]
    message = enforce_os_keyring()
    assert message == NO_OS_KEYRING and one_plain_sentence(message), message
    assert "keyring" in message and "clinic IT" in message
    assert isinstance(keyring.get_keyring(), fail.Keyring)

    tokens = RefreshTokenStore("clinic")
    with pytest.raises(KeyringError):
        tokens.save(StoredSession("user-1", refresh_token="rt-NEVER-ON-DISK"))
    with pytest.raises(StoreKeyUnavailable):
        open_site_store(tmp_path / "sites" / "clinic", is_sandbox=False)
    assert not keyring_file.exists() or "rt-NEVER-ON-DISK" not in keyring_file.read_text()
    assert not any(p.name.startswith("demo-only") for p in tmp_path.rglob("*"))


def test_the_sandbox_still_works_without_an_os_keyring(tmp_path: Path) -> None:
    assert enforce_os_keyring() is not None
    folder = tmp_path / "sites" / "sandbox"
    protected = open_site_store(folder, is_sandbox=True)
    try:
        assert protected.store.outbox.summary().pending == 0
    finally:
        protected.store.close()
    assert (folder / "demo-only-store-key.json").is_file()
    reopened = open_site_store(folder, is_sandbox=True)  # the same key opens it again
    reopened.store.close()


def test_the_command_line_applies_the_policy_too(tmp_path: Path) -> None:
    """``outbox list`` of a real site whose key sits in a file keyring (as keyrings.alt would
    keep it): the one sentence, then the store's own refusal; the file is not used."""
    from app.cli import main

    sites = tmp_path / "sites.toml"
    sites.write_text(
        '[sites.clinic]\ndisplay_name = "Clinic"\nfhir_base = "https://ehr.clinic.example/fhir"\n'
        'client_id = "fhir-writeback"\n',
        encoding="utf-8",
    )
    data = tmp_path / "data"
    open_site_store(data / "sites" / "clinic", is_sandbox=False).store.close()  # file keyring
    out, err = io.StringIO(), io.StringIO()
    code = main(
        ["outbox", "list", "--sites-file", str(sites), "--data-dir", str(data)], out=out, err=err
    )
    assert code == 3, out.getvalue()  # the store cannot be used
    assert err.getvalue().startswith(f"Note: {NO_OS_KEYRING}\n"), err.getvalue()
    assert "keyring" in err.getvalue().splitlines()[1]  # the store cannot get its key
    assert isinstance(keyring.get_keyring(), fail.Keyring)
    assert not any(p.name.startswith("demo-only") for p in tmp_path.rglob("*"))
