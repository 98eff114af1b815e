"""app.selftest: the step runner (unit) and the whole self-test run from the source tree."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from app import selftest
from app.selftest import Outcome, SelfTestContext, Step, StepSkipped
from tests.support.http_thread import ClosingHTTPServer, serving

REPO = Path(__file__).resolve().parents[2]


def passing(ctx: SelfTestContext) -> str:
    return "fine"


def failing(ctx: SelfTestContext) -> str:
    raise OSError("disk on fire")


def skipping(ctx: SelfTestContext) -> str:
    raise StepSkipped("not yet implemented: app.store.open_store")


def run(steps: list[Step], strict: bool = False) -> tuple[int, str]:
    out = io.StringIO()
    code = selftest.run_self_test(strict=strict, steps=steps, out=out)
    return code, out.getvalue()


def test_all_passing_steps_exit_zero_with_one_line_each() -> None:
    code, text = run([Step("one", passing), Step("two", passing)])
    assert code == 0
    lines = text.splitlines()
    assert lines[0].startswith("PASS  one") and lines[0].endswith("fine")
    assert lines[1].startswith("PASS  two")
    assert lines[2] == "self-test: healthy: 2 of 2 steps passed"


def test_a_failing_step_says_what_happened_and_exits_one() -> None:
    code, text = run([Step("disk", failing), Step("after", passing)])
    assert code == 1
    assert "FAIL  disk   OSError: disk on fire" in text
    assert "PASS  after" in text, "a failure must not stop the other checks"
    assert text.splitlines()[-1] == "self-test: NOT healthy: 1 of 2 steps passed; failed: disk"


def test_skips_are_named_and_tolerated_unless_strict() -> None:
    steps = [Step("store", skipping), Step("ok", passing)]
    code, text = run(steps)
    assert code == 0
    assert "SKIP  store  not yet implemented: app.store.open_store" in text
    assert "skipped: store" in text.splitlines()[-1]
    strict_code, strict_text = run(steps, strict=True)
    assert strict_code == 1
    assert "strict mode" in strict_text


def test_strict_mode_can_be_switched_on_by_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(selftest.STRICT_ENV, "1")
    assert selftest.run_self_test(steps=[Step("store", skipping)], out=io.StringIO()) == 1
    monkeypatch.setenv(selftest.STRICT_ENV, "0")
    assert selftest.run_self_test(steps=[Step("store", skipping)], out=io.StringIO()) == 0


def test_a_step_whose_prerequisite_did_not_pass_is_skipped_with_the_reason() -> None:
    ran: list[str] = []

    def dependent(ctx: SelfTestContext) -> str:
        ran.append("dependent")
        return "ran"

    code, text = run([Step("sandbox", failing), Step("sign-in", dependent, needs=("sandbox",))])
    assert code == 1
    assert ran == []
    assert "SKIP  sign-in  needs sandbox" in text


def test_cleanups_run_even_when_a_step_fails() -> None:
    cleaned: list[str] = []

    def with_cleanup(ctx: SelfTestContext) -> str:
        ctx.cleanups.callback(cleaned.append, "stopped")
        assert ctx.workdir.is_dir()
        return "started"

    code, _ = run([Step("server", with_cleanup), Step("boom", failing)])
    assert code == 1
    assert cleaned == ["stopped"]


@pytest.fixture
def probe_modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "selftest_probe_broken.py").write_text("import selftest_probe_missing_dep\n")
    (tmp_path / "selftest_probe_partial.py").write_text("VALUE = 1\n")
    (tmp_path / "selftest_probe_ready.py").write_text(
        "async def open_store(path):\n    return f'opened {path}'\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_hook_of_a_layer_that_does_not_exist_yet_is_a_skip(probe_modules: Path) -> None:
    with pytest.raises(
        StepSkipped, match=re.escape("not yet implemented: selftest_probe_absent.open_store")
    ):
        selftest.hook("selftest_probe_absent", "open_store")
    with pytest.raises(
        StepSkipped, match=re.escape("not yet implemented: selftest_probe_partial.open_store")
    ):
        selftest.hook("selftest_probe_partial", "open_store")


def test_hook_of_a_module_that_fails_to_import_is_a_failure(probe_modules: Path) -> None:
    # This is what a bundle that missed a dependency looks like: it must not pass as a skip.
    with pytest.raises(ModuleNotFoundError, match="selftest_probe_missing_dep"):
        selftest.hook("selftest_probe_broken", "open_store")


def test_hooks_may_be_coroutine_functions(probe_modules: Path) -> None:
    open_store = selftest.hook("selftest_probe_ready", "open_store")
    assert selftest.call(open_store, "x.db") == "opened x.db"


class _FakeAuthorizationServer(BaseHTTPRequestHandler):
    """/authorize redirects to /callback, as the sandbox does with auto-login."""

    callbacks: list[str] = []  # noqa: RUF012 - shared with the test on purpose
    hit = threading.Event()

    def do_GET(self) -> None:
        if self.path.startswith("/authorize"):
            self.send_response(302)
            self.send_header("Location", "/callback?code=abc&state=xyz")
            self.end_headers()
        else:
            type(self).callbacks.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"return to the app")
            type(self).hit.set()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def authorization_server() -> Iterator[str]:
    with serving(ClosingHTTPServer(("127.0.0.1", 0), _FakeAuthorizationServer)) as server:
        yield f"http://127.0.0.1:{server.port}"


def test_scripted_browser_follows_the_login_redirect_to_the_callback(
    authorization_server: str,
) -> None:
    selftest.scripted_browser(f"{authorization_server}/authorize?client_id=fhir-writeback")
    assert _FakeAuthorizationServer.hit.wait(10), "the callback was never reached"
    assert _FakeAuthorizationServer.callbacks == ["/callback?code=abc&state=xyz"]


def test_self_test_from_the_source_tree_is_healthy(tmp_path: Path) -> None:
    """The real thing, in a child process (it starts a QApplication and the sandbox)."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path)}
    env.pop(selftest.STRICT_ENV, None)
    proc = subprocess.run(
        [sys.executable, "-m", "app", "--self-test"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    lines = proc.stdout.splitlines()
    assert [line.split()[1] for line in lines[:-1]] == [step.name for step in selftest.STEPS]
    for name in ("version", "imports", "resources", "tls", "qt", "sandbox"):
        assert f"PASS  {name}" in proc.stdout, proc.stdout + proc.stderr
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not list(tmp_path.iterdir()), "the self-test must not write into the user's home"
    assert Outcome.FAIL.value not in proc.stdout
