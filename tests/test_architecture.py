"""The layering is executable: these tests fail when an import crosses a layer the wrong way.

    app.domain (0) < app.smart (1) < app.fhir | app.store | app.hl7 (2, independent siblings)
    < app.sync (3) < app.services (4) < app.ui (5)
    < composition root: app.main, app.cli, app.selftest, app.bootstrap (6)

PySide6, shiboken6 and qasync may only be imported under app/ui. app.ui imports only app.domain
and app.services (the facade). app.domain imports the standard library only. app.sandbox is a
separate program: it imports nothing from the other layers, and only the composition root
imports it. app._resources, app._user_files and the app package itself (for __version__) are
leaves anyone may import. The same rules are import-linter contracts (pyproject.toml), run here
too.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

APP = Path(__file__).resolve().parents[1] / "app"
ROOT = 6  # the composition root

RANK = {
    "domain": 0,
    "smart": 1,
    "fhir": 2,
    "store": 2,
    "hl7": 2,
    "sync": 3,
    "services": 4,
    "ui": 5,
    "main": ROOT,
    "cli": ROOT,
    "selftest": ROOT,
    "bootstrap": ROOT,
    "embedded_sandbox": ROOT,
    "cli_outbox": ROOT,
    "cli_errors": ROOT,
    "cli_audit": ROOT,
    "cli_store": ROOT,
    "cli_sites": ROOT,
    "cli_kpi": ROOT,
    "kpi_output": ROOT,
    "kpi_html": ROOT,
    "cli_check": ROOT,
    "paths": ROOT,
    "logging_setup": ROOT,
    "keyring_policy": ROOT,
    "support_bundle": ROOT,
    "__main__": ROOT,
}
UI_MAY_IMPORT = ("domain", "services", "ui")
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
            if RANK.get(src_layer or "", 0) < ROOT:
                problems.append(
                    f"{source_module} imports {target}: only the composition root starts the sandbox"
                )
            continue
        src_rank, dst_rank = RANK.get(src_layer or "", 0), RANK.get(dst_layer, 99)
        if src_layer == "ui" and dst_layer not in UI_MAY_IMPORT:
            problems.append(
                f"{source_module} imports {target}: the UI uses app.domain and app.services only"
            )
        elif dst_rank > src_rank:
            problems.append(f"{source_module} imports {target}: {src_layer} is below {dst_layer}")
        elif dst_rank == src_rank and src_rank != ROOT:
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


def test_checker_keeps_the_ui_to_the_facade() -> None:
    assert violations("app.ui.outbox_panel", ["app.store.outbox"])
    assert violations("app.ui.signin_model", ["app.smart.session"])
    assert violations("app.ui.approval", ["app.sync.approval"])
    assert not violations("app.ui.outbox_panel", ["app.services.outbox", "app.domain.outbox"])
    assert violations("app.services.outbox", ["app.ui.tasks"])
    assert not violations("app.services.outbox", ["app.sync.runner", "app.store.outbox"])


def third_party_imports(path: Path) -> list[str]:
    """Imports of ``path`` that are neither the standard library nor the app."""
    stdlib = sys.stdlib_module_names | {"__future__"}
    return [
        name
        for name in imports_of(path)
        if name and name.split(".")[0] not in stdlib and name.split(".")[0] != "app"
    ]


def test_domain_imports_the_standard_library_only() -> None:
    files = sorted((APP / "domain").rglob("*.py"))
    assert len(files) > 10
    problems = [f"{p.relative_to(APP)}: {name}" for p in files for name in third_party_imports(p)]
    assert not problems, "\n".join(problems)


def test_the_domain_check_can_fail(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("import httpx\nfrom datetime import UTC\n", encoding="utf-8")
    assert [n for n in imports_in(probe.read_text(), "app.domain.probe")] == ["httpx", "datetime"]
    stdlib = sys.stdlib_module_names
    assert [n for n in ["httpx", "datetime"] if n not in stdlib] == ["httpx"]


def lint_imports(config: Path) -> subprocess.CompletedProcess[str]:
    """import-linter on ``config``, in its own process: it configures logging as a command
    does (and would switch the app's loggers off for the tests that follow)."""
    code = (
        "import sys; from importlinter.cli import lint_imports; "
        f"sys.exit(lint_imports({str(config)!r}, no_cache=True, no_logo=True))"
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=APP.parent, capture_output=True, text=True, timeout=120
    )


def test_import_linter_contracts_are_kept() -> None:
    """The contracts in pyproject.toml ([tool.importlinter]): ui -> {domain, services};
    services -> {domain, smart, fhir, store, sync}; domain -> standard library; sandbox -> nothing
    of the app; and the layers in order."""
    result = lint_imports(APP.parent / "pyproject.toml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_import_linter_reports_a_broken_contract(tmp_path: Path) -> None:
    """The contracts can fail: forbidding what app.ui really imports is reported."""
    config = tmp_path / "contracts.toml"
    config.write_text(
        '[tool.importlinter]\nroot_package = "app"\n\n'
        "[[tool.importlinter.contracts]]\n"
        'name = "probe"\ntype = "forbidden"\n'
        'source_modules = ["app.ui"]\nforbidden_modules = ["app.services"]\n',
        encoding="utf-8",
    )
    result = lint_imports(config)
    assert result.returncode != 0 and "BROKEN" in result.stdout, result.stdout


# ---------------------------------------------------------------------------- sizes

MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80
# The sandbox's FHIR route table: one function that registers every route of the test EHR; its
# length is the number of routes, each a few lines (splitting it scatters the table).
LONG_FUNCTIONS_ALLOWED = {("app.sandbox.fhir.routes", "create_fhir_blueprint")}


def long_functions(source: str, module: str) -> list[str]:
    """Functions (and methods, nested ones too) longer than MAX_FUNCTION_LINES, with their
    decorators, as ``module.name (N lines)``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            length = (node.end_lineno or node.lineno) - first + 1
            if length > MAX_FUNCTION_LINES and (module, node.name) not in LONG_FUNCTIONS_ALLOWED:
                found.append(f"{module}.{node.name} ({length} lines)")
    return found


def test_modules_and_functions_stay_small() -> None:
    """No module over 600 lines, no function over 80 (STYLE.md: a file that grows past that is
    asking to be split — along its responsibilities)."""
    problems: list[str] = []
    for path in sorted(APP.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        lines = len(source.splitlines())
        if lines > MAX_MODULE_LINES:
            problems.append(f"{path.relative_to(APP.parent)} ({lines} lines)")
        problems.extend(long_functions(source, module_name(path)))
    assert not problems, "too long:\n" + "\n".join(problems)


def test_the_size_check_can_fail() -> None:
    """80 lines pass; the 81st (a decorator counts) fails; the route table is the exception."""
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES - 1))
    source = f"def short():\n    pass\n\n\n@decorated\ndef long():\n{body}\n"
    assert long_functions(source, "app.probe") == [
        f"app.probe.long ({MAX_FUNCTION_LINES + 1} lines)"
    ]
    assert long_functions(source.replace("@decorated\n", ""), "app.probe") == []
    table = source.replace("def long", "def create_fhir_blueprint")
    assert long_functions(table, "app.sandbox.fhir.routes") == []
