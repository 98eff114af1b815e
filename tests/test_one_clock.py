"""One clock: the current UTC instant comes from app.domain.clock (``utc_now``, or a ``Clock``
handed in), never from a helper of a module's own — found here, not when two of them disagree
about time zones. The sandbox imports nothing of the app and keeps its own."""

from __future__ import annotations

import ast
from pathlib import Path

APP = Path(__file__).resolve().parent.parent / "app"
THE_CLOCK = APP / "domain" / "clock.py"
OWN_CLOCKS = (APP / "sandbox",)


def second_clocks(source: str, where: str) -> list[str]:
    """``datetime.now(<zone>)`` / ``datetime.utcnow()`` calls and functions named like a clock.
    ``datetime.now()`` without a zone (the computer's local time, for display) is allowed."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef) and node.name.lstrip("_") in ("utc_now", "now"):
            found.append(f"{where}:{node.lineno}: def {node.name}")
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        owner = node.func.value
        if not (isinstance(owner, ast.Name) and owner.id == "datetime"):
            continue
        if node.func.attr == "utcnow" or (node.func.attr == "now" and (node.args or node.keywords)):
            found.append(f"{where}:{node.lineno}: datetime.{node.func.attr}(…)")
    return sorted(found, key=lambda f: int(f.split(":")[1]))


def test_the_app_reads_the_time_from_one_clock() -> None:
    problems = []
    for path in sorted(APP.rglob("*.py")):
        if path == THE_CLOCK or any(path.is_relative_to(own) for own in OWN_CLOCKS):
            continue
        problems += second_clocks(path.read_text(encoding="utf-8"), str(path.relative_to(APP)))
    assert not problems, "use app.domain.clock.utc_now (or the Clock given):\n" + "\n".join(
        problems
    )


def test_the_check_can_fail() -> None:
    source = (
        "from datetime import UTC, datetime\n"
        "def _utc_now():\n    return datetime.now(UTC)\n"
        "local = datetime.now()\n"
        "old = datetime.utcnow()\n"
    )
    assert second_clocks(source, "probe.py") == [
        "probe.py:2: def _utc_now",
        "probe.py:3: datetime.now(…)",
        "probe.py:5: datetime.utcnow(…)",
    ]
