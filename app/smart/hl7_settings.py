"""``[sites.<id>.hl7]``: the site's HL7 v2 listener, validated as strictly as the rest of
sites.toml (app.smart.sites): unknown keys, wrong types, a port out of range, an address that
is not one, a wider bind without an allow-list, TLS files missing or unreadable all raise
``SiteConfigError`` naming the file and the key. See docs/worklist.md and docs/sign-in.md.

    [sites.clinic.hl7]
    port = 2575                     # required
    listen = "127.0.0.1"            # default; another address needs `allow`
    allow = ["10.20.0.15", "10.20.1.0/24"]
    tls_cert = "hl7-listener.pem"   # MLLP over TLS (with tls_key); relative to this file
    tls_key = "hl7-listener.key"
    tls_client_ca = "clinic-ca.pem" # senders must present a certificate from this CA
    max_message_kb = 1024
    frame_timeout_seconds = 10
    idle_timeout_seconds = 3600
"""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import Mapping
from pathlib import Path

from app.domain.site import Hl7Listener
from app.smart.errors import SiteConfigError

_KEYS: dict[str, tuple[type, ...]] = {
    "port": (int,),
    "listen": (str,),
    "allow": (list,),
    "tls_cert": (str,),
    "tls_key": (str,),
    "tls_client_ca": (str,),
    "max_message_kb": (int,),
    "frame_timeout_seconds": (int, float),
    "idle_timeout_seconds": (int, float),
}
_WORDS = {int: "a whole number", str: "a string", list: "a list of strings", float: "a number"}
_RANGES: dict[str, tuple[float, float]] = {
    "port": (1, 65535),
    "max_message_kb": (1, 64 * 1024),
    "frame_timeout_seconds": (0.1, 600),
    "idle_timeout_seconds": (1, 7 * 24 * 3600),
}


def read_hl7_table(file: Path, where: str, table: object) -> Hl7Listener:
    """The listener ``table`` describes (paths resolved against ``file``'s folder)."""
    if not isinstance(table, dict):
        raise SiteConfigError(str(file), where, "must be a table: [sites.<id>.hl7]")
    for key, value in table.items():
        _check(file, f"{where}.{key}", key, value)
    if "port" not in table:
        raise SiteConfigError(str(file), f"{where}.port", "is required but missing")
    listen = table.get("listen", "127.0.0.1").strip()
    allow = tuple(_network(file, f"{where}.allow", a) for a in table.get("allow", []))
    if not ipaddress.ip_address(listen).is_loopback and not allow:
        raise SiteConfigError(
            str(file),
            f"{where}.allow",
            f"is required when listening on {listen}: list the addresses of the senders "
            "(the integration engine) allowed to connect",
        )
    paths = {
        k: _path(file, table[k]) for k in ("tls_cert", "tls_key", "tls_client_ca") if k in table
    }
    _check_tls(file, where, paths)
    return Hl7Listener(
        port=table["port"],
        listen=listen,
        allow=allow,
        tls_cert=paths.get("tls_cert"),
        tls_key=paths.get("tls_key"),
        tls_client_ca=paths.get("tls_client_ca"),
        max_message_kb=table.get("max_message_kb", 1024),
        frame_timeout_seconds=float(table.get("frame_timeout_seconds", 10.0)),
        idle_timeout_seconds=float(table.get("idle_timeout_seconds", 3600.0)),
    )


def _check(file: Path, where: str, key: str, value: object) -> None:
    expected = _KEYS.get(key)
    if expected is None:
        allowed = ", ".join(sorted(_KEYS))
        raise SiteConfigError(str(file), where, f"unknown key '{key}' (allowed: {allowed})")
    if isinstance(value, bool) or not isinstance(value, expected):
        raise SiteConfigError(str(file), where, f"must be {_WORDS[expected[-1]]}, not {value!r}")
    if isinstance(value, str) and not value.strip():
        raise SiteConfigError(str(file), where, "must not be empty")
    if key in _RANGES:
        low, high = _RANGES[key]
        assert isinstance(value, int | float)
        if not low <= value <= high:
            raise SiteConfigError(str(file), where, f"must be between {low:g} and {high:g}")
    if key == "listen":
        assert isinstance(value, str)
        try:
            ipaddress.ip_address(value.strip())
        except ValueError:
            raise SiteConfigError(
                str(file), where, f'must be an IP address such as "127.0.0.1", not {value!r}'
            ) from None
    if key == "allow":
        assert isinstance(value, list)
        if not all(isinstance(a, str) and a.strip() for a in value):
            raise SiteConfigError(str(file), where, "must be a list of addresses (strings)")


def _network(file: Path, where: str, text: str) -> str:
    try:
        return str(ipaddress.ip_network(text.strip(), strict=False))
    except ValueError:
        raise SiteConfigError(
            str(file), where, f'{text!r} is not an address or network ("10.1.2.3", "10.1.2.0/24")'
        ) from None


def _path(file: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else (file.parent / path).resolve()


def _check_tls(file: Path, where: str, paths: Mapping[str, Path]) -> None:
    if ("tls_cert" in paths) != ("tls_key" in paths):
        raise SiteConfigError(
            str(file), f"{where}.tls_key", "tls_cert and tls_key go together (MLLP over TLS)"
        )
    if "tls_client_ca" in paths and "tls_cert" not in paths:
        raise SiteConfigError(
            str(file), f"{where}.tls_client_ca", "needs tls_cert and tls_key (MLLP over TLS)"
        )
    for key, path in paths.items():
        if not path.is_file():
            raise SiteConfigError(str(file), f"{where}.{key}", f"the file {path} does not exist")
    if "tls_cert" in paths:
        try:
            server_context(paths["tls_cert"], paths["tls_key"], paths.get("tls_client_ca"))
        except (ssl.SSLError, OSError, ValueError) as exc:
            raise SiteConfigError(
                str(file), f"{where}.tls_cert", f"the certificate or key cannot be used ({exc})"
            ) from None


def server_context(cert: Path, key: Path | None, client_ca: Path | None) -> ssl.SSLContext:
    """The TLS context of an MLLP-over-TLS listener (TLS 1.2 at least; client certificates
    required when ``client_ca`` is given)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    if client_ca is not None:
        context.load_verify_locations(cafile=client_ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context
