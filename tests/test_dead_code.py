"""No dead code in app/: vulture finds functions, methods, classes and properties nothing uses,
and code that can never run.

Usage is looked for in app/, the tests, the benchmarks and the scripts (docs/, packaging/): code
only a test uses is kept — tests reach the app through public seams. Methods a framework calls
by name are listed, with who calls them, in tests/dead_code_whitelist.py; Flask view functions
are used by their route decorators. Unused variables and attributes are not reported: vulture
counts dataclass fields, enum members, table columns and protocol attributes among them, which
are read by name (JSON, SQL, ``Enum(value)``) where it cannot see.
"""

from __future__ import annotations

from pathlib import Path

from vulture import Vulture

ROOT = Path(__file__).resolve().parents[1]
WHITELIST = Path(__file__).with_name("dead_code_whitelist.py")
SCANNED = ("app", "tests", "benchmarks", "docs", "packaging")
REPORTED = ("function", "method", "class", "property", "unreachable_code")
ROUTE_DECORATORS = ["@*.route", "@*.errorhandler", "@*.get", "@*.post", "@fhir_route"]
MIN_CONFIDENCE = 60


def dead_code(paths: list[Path], reported_under: Path) -> list[str]:
    vulture = Vulture(ignore_decorators=ROUTE_DECORATORS)
    vulture.scavenge([str(p) for p in paths])
    found = []
    for item in vulture.get_unused_code(min_confidence=MIN_CONFIDENCE):
        path = Path(item.filename).resolve()
        if item.typ in REPORTED and path.is_relative_to(reported_under):
            where = path.relative_to(reported_under.parent)
            found.append(f"{where}:{item.first_lineno}: {item.message}")
    return sorted(found)


def test_app_has_no_dead_code() -> None:
    found = dead_code([*(ROOT / p for p in SCANNED), WHITELIST], ROOT / "app")
    assert not found, "dead code (remove it, or whitelist a framework hook):\n" + "\n".join(found)


def test_the_dead_code_check_can_fail(tmp_path: Path) -> None:
    package = tmp_path / "app"
    package.mkdir()
    (package / "probe.py").write_text(
        "def used():\n    return 1\n\n\ndef forgotten():\n    return used()\n\n\n"
        "def early():\n    return 2\n    print('never')\n",
        encoding="utf-8",
    )
    (tmp_path / "caller.py").write_text("from app.probe import early\nearly()\n")
    found = dead_code([package, tmp_path / "caller.py"], package)
    assert {line.split(": ", 1)[1] for line in found} == {
        "unused function 'forgotten'",
        "unreachable code after 'return'",
    }
