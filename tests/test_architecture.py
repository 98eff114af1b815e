"""The layering is executable: these tests fail when an import crosses a layer the wrong way.

    app.domain (0) < app.smart (1) < app.fhir | app.store (2, independent siblings)
    < app.sync (3) < app.ui (4) < composition root: app.main, app.cli, app.selftest (5)

PySide6, shiboken6 and qasync may only be imported under app/ui. app.sandbox is a separate
program: it imports nothing from the other layers, and only the composition root imports it.
app._resources, app._user_files and the app package itself (for __version__) are leaves anyone
may import.
"""

from __future__ import annotations

import ast
from pathlib import Path

APP = Path(__file__).resolve().parents[1] / "app"

RANK = {
    "domain": 0,
    "smart": 1,
    "fhir": 2,
    "store": 2,
    "sync": 3,
    "ui": 4,
    "main": 5,
    "cli": 5,
    "selftest": 5,
    "bootstrap": 5,
    "cli_outbox": 5,
    "cli_audit": 5,
    "cli_store": 5,
    "cli_sites": 5,
    "paths": 5,
    "logging_setup": 5,
    "keyring_policy": 5,
    "support_bundle": 5,
    "__main__": 5,
}
QT_MODULES = ("PySide6", "shiboken6", "qasync")
LEAVES = {"app", "app._resources", "app._user_files"}


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "app" or len(parts) < 2:
        return None
    return parts[1]


def module_name(path: Path) -> str:
    rel = path.relative_to(APP.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports_of(path: Path) -> list[str]:
    return imports_in(
        path.read_text(encoding="utf-8"), module_name(path), path.name == "__init__.py"
    )


def imports_in(source: str, module: str, is_package: bool = False) -> list[str]:
    tree = ast.parse(source)
    package = module if is_package else module.rpartition(".")[0]
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.append(target)
            # "from app import ui" imports the package app.ui
            found.extend(
                f"{target}.{alias.name}"
                for alias in node.names
                if target == "app" and alias.name in RANK | {"sandbox": 0}
            )
    return found


def violations(source_module: str, imported: list[str]) -> list[str]:
    src_layer = layer_of(source_module)
    problems: list[str] = []
    for target in imported:
        top = target.split(".")[0]
        if top in QT_MODULES and src_layer != "ui":
            problems.append(f"{source_module} imports {target}: Qt only in app/ui")
        if top != "app" or target in LEAVES:
            continue
        dst_layer = layer_of(target)
        if dst_layer is None or dst_layer == "_resources" or dst_layer == src_layer:
            continue
        if src_layer == "sandbox":
            problems.append(f"{source_module} imports {target}: the sandbox imports no app layer")
            continue
        if dst_layer == "sandbox":
            if RANK.get(src_layer or "", 0) < 5:
                problems.append(
                    f"{source_module} imports {target}: only the composition root starts the sandbox"
                )
            continue
        src_rank, dst_rank = RANK.get(src_layer or "", 0), RANK.get(dst_layer, 99)
        if dst_rank > src_rank:
            problems.append(f"{source_module} imports {target}: {src_layer} is below {dst_layer}")
        elif dst_rank == src_rank and src_rank != 5:
            problems.append(
                f"{source_module} imports {target}: {src_layer} and {dst_layer} are independent"
            )
    return problems


def test_every_module_respects_the_layers() -> None:
    problems: list[str] = []
    files = sorted(APP.rglob("*.py"))
    assert len(files) > 10
    for path in files:
        if "migrations" in path.parts and "versions" in path.parts:
            continue
        problems.extend(violations(module_name(path), imports_of(path)))
    assert not problems, "\n".join(problems)


def test_checker_catches_upward_imports() -> None:
    assert violations("app.domain.note", ["app.ui.main_window"])
    assert violations("app.store.drafts", ["app.fhir.client"])
    assert violations("app.fhir.client", ["app.store.drafts"])
    assert violations("app.sync.runner", ["PySide6.QtCore"])
    assert violations("app.sandbox.fhir.routes", ["app.domain.note"])
    assert violations("app.smart.session", ["app.sandbox.server"])
    assert not violations("app.ui.main_window", ["app.domain.note", "PySide6.QtWidgets"])
    assert not violations("app.main", ["app.sandbox.server", "app.ui.application"])
    assert not violations("app.sandbox.server", ["app._resources", "flask"])


def test_relative_imports_are_resolved() -> None:
    assert imports_in("from ..ui import window\n", "app.domain.probe") == ["app.ui"]
    assert violations(
        "app.domain.probe", imports_in("from ..ui import window\n", "app.domain.probe")
    )
    assert imports_in("from . import x\n", "app.fhir", is_package=True) == ["app.fhir"]
