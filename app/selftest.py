"""Headless self-test: ``fhir-writeback --self-test`` (also the smoke test of the frozen bundle).

It answers one question for clinic IT and for the build: can this installation do the job, with
no display and no EHR? Every step prints one line, ``PASS``, ``FAIL`` or ``SKIP``:

    version     the distribution metadata is bundled, so ``--version`` tells the truth
    imports     every layer imports (a bundle that missed a module fails here)
    resources   the read-only resources (sandbox seed data, client registrations) are found
    tls         the CA certificates used for TLS verification load
    keyring     an OS keyring backend is available (nothing is written to it)
    qt          a QApplication starts (the Qt platform plugins are bundled)
    store       a store is created, migrated and reopened in a temporary folder
    sandbox     the embedded sandbox EHR starts and answers SMART discovery and /metadata
    sign-in     the app's SMART client signs in to it with a scripted browser (PKCE, loopback
                redirect), reads the practitioner with the token, and signs out
    write-back  one approved note goes through the outbox to the sandbox
                                                           (hook: app.sync.self_test_write_back)

A step whose layer does not provide its hook yet is SKIPPED and says which hook is missing; so is
a step whose prerequisite did not pass. The exit status is 0 only when no step failed, and, when
``FHIR_WRITEBACK_SELFTEST_STRICT=1`` is set (or ``strict=True``), none was skipped either.

Hook contract (plain arguments, so the layer need not import this module):

    app.sync.self_test_write_back(fhir_base: str, client_id: str,
                                  open_browser: Callable[[str], None], workdir: Path) -> str
        sign in (``open_browser`` is a scripted browser that follows the sandbox's auto-login;
        keep token storage inside ``workdir``, never the user's real keyring), approve one
        note and sync it through a store in ``workdir``; return one line such as
        "DocumentReference/123 written once". May be a coroutine function.

Nothing is written outside a temporary folder, which is removed at the end, and nothing goes
to the user's keyring (the sign-in keeps its refresh token in memory).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import inspect
import os
import ssl
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import Enum
from importlib import metadata
from pathlib import Path
from typing import Any, TextIO, cast

DISTRIBUTION = "fhir-writeback"
CLIENT_ID = "fhir-writeback"
SANDBOX_USER = "prac-1"
LAYERS = (
    "app.domain",
    "app.smart",
    "app.fhir",
    "app.store",
    "app.sync",
    "app.services",
    "app.ui",
    "app.sandbox",
)
STRICT_ENV = "FHIR_WRITEBACK_SELFTEST_STRICT"
HTTP_TIMEOUT = 30.0


class Outcome(Enum):
    PASS = "PASS"
    FAIL = "FAIL"
    SKIP = "SKIP"


@dataclass(frozen=True)
class StepResult:
    name: str
    outcome: Outcome
    detail: str


class StepSkipped(Exception):
    """Raised by a step that cannot run yet; the message says why."""


@dataclass
class SelfTestContext:
    """What the steps share: a temporary folder, cleanups, and what earlier steps produced."""

    workdir: Path
    cleanups: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    fhir_base: str | None = None


@dataclass(frozen=True)
class Step:
    name: str
    run: Callable[[SelfTestContext], str]  # returns a one-line detail; raises on failure
    needs: tuple[str, ...] = ()  # steps that must have passed first


def hook(module_name: str, attribute: str) -> Callable[..., Any]:
    """The layer's self-test hook, or StepSkipped when the layer does not provide it yet.

    Only a module that does not exist at all counts as "not yet implemented"; a module that
    exists but fails to import is a failure (that is what a broken bundle looks like).
    """
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            raise StepSkipped(f"not yet implemented: {module_name}.{attribute}") from None
        raise
    function = getattr(module, attribute, None)
    if not callable(function):
        raise StepSkipped(f"not yet implemented: {module_name}.{attribute}")
    return function  # type: ignore[no-any-return]


def call(function: Callable[..., Any], *args: Any) -> Any:
    """Call a hook that may be a plain function or a coroutine function."""
    result = function(*args)
    if inspect.isawaitable(result):
        return asyncio.run(_await(result))
    return result


async def _await(awaitable: Any) -> Any:
    return await awaitable


# --- steps -----------------------------------------------------------------------------------


def check_version(ctx: SelfTestContext) -> str:
    import app

    version = metadata.version(DISTRIBUTION)  # PackageNotFoundError: metadata not bundled
    if app.__version__ != version:
        raise RuntimeError(f"app.__version__ is {app.__version__!r}, metadata says {version!r}")
    return f"{DISTRIBUTION} {version}"


def check_imports(ctx: SelfTestContext) -> str:
    failed: list[str] = []
    for name in (*LAYERS, "app.sandbox.server", "app.ui.application"):
        try:
            importlib.import_module(name)
        except Exception as exc:
            failed.append(f"{name} ({type(exc).__name__}: {exc})")
    if failed:
        raise RuntimeError("cannot import " + "; ".join(failed))
    return ", ".join(layer.removeprefix("app.") for layer in LAYERS)


def check_resources(ctx: SelfTestContext) -> str:
    from app._resources import resources_dir
    from app.sandbox.options import DEFAULT_CLIENTS, DEFAULT_SEED

    missing = [str(p) for p in (DEFAULT_SEED, DEFAULT_CLIENTS) if not p.is_file()]
    if missing:
        raise FileNotFoundError("missing resources: " + ", ".join(missing))
    return f"found in {resources_dir()}"


def check_tls(ctx: SelfTestContext) -> str:
    import certifi

    context = ssl.create_default_context(cafile=certifi.where())
    count = len(context.get_ca_certs())
    if count == 0:
        raise RuntimeError(f"no CA certificates in {certifi.where()}")
    return f"{count} CA certificates loaded; verification on"


def check_keyring(ctx: SelfTestContext) -> str:
    import keyring
    from keyring.backends import fail

    backend = keyring.get_keyring()
    name = f"{type(backend).__module__}.{type(backend).__name__}"
    if isinstance(backend, fail.Keyring):
        if sys.platform == "win32":
            raise RuntimeError("no keyring backend: Windows Credential Manager support is missing")
        raise StepSkipped("no OS keyring backend on this machine (normal on a headless Linux host)")
    from app.keyring_policy import is_secure

    if not is_secure(backend):
        if sys.platform == "win32":
            raise RuntimeError(f"{name} is not an OS keyring; refresh tokens would not be kept")
        raise StepSkipped(f"{name} is not an OS keyring: the app keeps sessions in memory only")
    return f"backend {name} (nothing written)"


def check_qt(ctx: SelfTestContext) -> str:
    if (
        sys.platform.startswith("linux")
        and not os.environ.get("DISPLAY")
        and not os.environ.get("WAYLAND_DISPLAY")
    ):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from app.ui.application import ensure_qapplication

    qt_app = ensure_qapplication()
    return f"QApplication started on the {qt_app.platformName()!r} platform plugin"


def check_store(ctx: SelfTestContext) -> str:
    from app.store.store import open_store

    path = ctx.workdir / "store" / "fhir-writeback.db"
    path.parent.mkdir(parents=True)
    store = open_store(path)  # creates the file and runs every migration
    try:
        created = store.schema_revision()
    finally:
        store.close()
    if created is None:
        raise RuntimeError("the new store has no schema revision: migrations did not run")
    store = open_store(path)  # an up-to-date store opens without migrating
    try:
        reopened = store.schema_revision()
    finally:
        store.close()
    if reopened != created:
        raise RuntimeError(f"schema revision changed on reopen: {created} -> {reopened}")
    return f"created and migrated a store in a temporary folder (schema revision {created})"


def check_sandbox(ctx: SelfTestContext) -> str:
    import httpx

    from app.sandbox.options import SandboxOptions
    from app.sandbox.server import SandboxServer

    server = SandboxServer(
        SandboxOptions(db_path=ctx.workdir / "sandbox" / "sandbox.db", auto_login=SANDBOX_USER)
    )
    ctx.cleanups.callback(server.stop)
    fhir_base = server.start()
    with httpx.Client(timeout=HTTP_TIMEOUT) as client:
        discovery = client.get(f"{fhir_base}/.well-known/smart-configuration")
        discovery.raise_for_status()
        if "authorization_endpoint" not in discovery.json():
            raise RuntimeError("smart-configuration has no authorization_endpoint")
        capability = client.get(
            f"{fhir_base}/metadata", headers={"Accept": "application/fhir+json"}
        )
        capability.raise_for_status()
        if capability.json().get("resourceType") != "CapabilityStatement":
            raise RuntimeError("/metadata did not return a CapabilityStatement")
    ctx.fhir_base = fhir_base
    return f"serving {fhir_base} (SMART discovery and CapabilityStatement answered)"


def scripted_browser(url: str) -> None:
    """Stands in for the system browser: opens ``url`` and follows the redirects.

    The sandbox runs with auto-login, so the authorize URL redirects straight to the app's
    loopback callback. Runs in a thread, like a real browser, so the caller never blocks.
    """
    import httpx

    def visit() -> None:
        with contextlib.suppress(httpx.HTTPError), httpx.Client(timeout=HTTP_TIMEOUT) as client:
            client.get(url, follow_redirects=True)

    threading.Thread(target=visit, name="self-test-browser", daemon=True).start()


class ScriptedBrowser:
    """The app's ``BrowserLauncher`` seam, filled with :func:`scripted_browser`."""

    async def open(self, url: str) -> None:
        scripted_browser(url)


class MemoryKeyring:
    """Keeps the self-test's refresh token in memory: the user's real keyring is never touched.

    Duck-typed rather than a ``KeyringBackend`` subclass, because every subclass registers
    itself as a candidate for ``keyring.get_keyring()``.
    """

    def __init__(self) -> None:
        self._secrets: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self._secrets.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self._secrets[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        import keyring.errors

        if self._secrets.pop((service, username), None) is None:
            raise keyring.errors.PasswordDeleteError(f"no entry for {service}")


def check_sign_in(ctx: SelfTestContext) -> str:
    assert ctx.fhir_base is not None
    return asyncio.run(_sign_in(ctx.fhir_base))


async def _sign_in(fhir_base: str) -> str:
    """A standalone launch through the app's own SMART client, then one authorized read."""
    from app.smart.http import create_http_client
    from app.smart.keyring_store import RefreshTokenStore
    from app.smart.session import SmartSession
    from app.smart.sites import sandbox_site

    site = sandbox_site(fhir_base)
    http = create_http_client(site)
    tokens = RefreshTokenStore(site.id, backend=cast(Any, MemoryKeyring()))
    session = SmartSession(
        site, http, token_store=tokens, browser=ScriptedBrowser(), sign_in_timeout=HTTP_TIMEOUT
    )
    try:
        user = await session.sign_in()
        expected = f"Practitioner/{SANDBOX_USER}"
        who = user.fhir_user.reference if user is not None and user.fhir_user else None
        if user is None or who != expected:
            raise RuntimeError(f"signed in as {who!r}, expected {expected!r}")
        response = await http.get(f"{fhir_base}/{expected}", auth=session.auth)
        response.raise_for_status()
        await session.sign_out()
    finally:
        await session.aclose()
        await http.aclose()
    return (
        f"signed in as {user.display_name} ({expected}) through the loopback redirect"
        f" (PKCE S256); read {expected} with the token; signed out"
    )


def check_write_back(ctx: SelfTestContext) -> str:
    assert ctx.fhir_base is not None
    workdir = ctx.workdir / "write-back"
    workdir.mkdir()
    return asyncio.run(_write_back(ctx.fhir_base, workdir))


async def _write_back(fhir_base: str, workdir: Path) -> str:
    """Sign in, open the chart in context, approve a note with a vital sign, deliver it through
    the outbox, and check the EHR holds exactly one copy (searched by its identifier).

    Built through the app's own composition root (``app.bootstrap``): the same site services
    the window uses, over a store in ``workdir`` whose key is kept in a file there."""
    from datetime import timedelta
    from decimal import Decimal

    from app.bootstrap import create_session, fhir_client, site_services, sync_runner
    from app.domain.clock import utc_now
    from app.domain.draft import ObservationItem
    from app.domain.outbox import OutboxState
    from app.domain.prefill import prefill_draft
    from app.keyring_policy import DemoFileKeyring
    from app.smart.http import create_http_client
    from app.smart.keyring_store import RefreshTokenStore
    from app.smart.sites import sandbox_site
    from app.store.crypto import StoreKeyring
    from app.store.protected import open_protected_store
    from app.store.templates import load_templates

    site = sandbox_site(fhir_base)
    http = create_http_client(site)
    tokens = RefreshTokenStore(site.id, backend=cast(Any, MemoryKeyring()))
    smart = create_session(
        site, http, token_store=tokens, browser=ScriptedBrowser(), sign_in_timeout=HTTP_TIMEOUT
    )
    keys = StoreKeyring(DemoFileKeyring(workdir / "store-key.json"))
    protected = open_protected_store(workdir / "store.db", keys)
    services = site_services(site, smart, http, protected, workdir)
    try:
        await services.session.sign_in()
        patient, encounter = (
            services.session.launch_patient_id,
            services.session.launch_encounter_id,
        )
        if not patient or not encounter:
            raise RuntimeError("the sandbox put no patient and encounter in context")
        chart = await services.chart.open(patient, encounter)
        now = utc_now()
        template = load_templates().default
        draft = prefill_draft(chart.context, template, now=now)
        draft = draft.with_section_text("plan", "Self-test note: no action.")
        draft = draft.with_item(
            ObservationItem(
                "selftest-hr",
                "8867-4",
                "Heart rate",
                Decimal(70),
                "/min",
                effective=now - timedelta(minutes=1),
            )
        )
        draft = await services.drafts.save(draft)
        report = services.review.check(draft, chart, template)
        if not report.can_approve:
            raise RuntimeError(f"the self-test note does not validate: {report.blocking_reason}")
        commit = await services.review.queue(services.review.propose(draft, report, chart))
        fhir = fhir_client(site, http, smart)
        runner = await sync_runner(
            site, protected.store.outbox, fhir, lock_path=workdir / "sync.lock"
        )
        async with runner:
            await runner.drain(timeout=HTTP_TIMEOUT)
        state = protected.store.outbox.item(commit.commit_id).state
        if state is not OutboxState.CONFIRMED:
            raise RuntimeError(f"the commit ended {state.value}, not confirmed")
        note = next(w for w in commit.writes if w.resource_type == "DocumentReference")
        found = await fhir.search("DocumentReference", [note.search_param])
        if len(found.resources) != 1:
            raise RuntimeError(f"{len(found.resources)} copies of the note in the EHR, not 1")
        await services.session.sign_out()
    finally:
        await services.close()
        protected.store.close()
        await services.session.aclose()
        await http.aclose()
    types = ", ".join(w.resource_type for w in commit.writes)
    return f"approved and delivered one commit ({types}); exactly one copy in the EHR"


STEPS: tuple[Step, ...] = (
    Step("version", check_version),
    Step("imports", check_imports),
    Step("resources", check_resources),
    Step("tls", check_tls),
    Step("keyring", check_keyring),
    Step("qt", check_qt),
    Step("store", check_store),
    Step("sandbox", check_sandbox, needs=("resources",)),
    Step("sign-in", check_sign_in, needs=("sandbox",)),
    Step("write-back", check_write_back, needs=("sandbox", "store", "sign-in")),
)


# --- runner ----------------------------------------------------------------------------------


def run_steps(steps: Sequence[Step], ctx: SelfTestContext) -> Iterator[StepResult]:
    passed: set[str] = set()
    for step in steps:
        blocked = [name for name in step.needs if name not in passed]
        if blocked:
            yield StepResult(step.name, Outcome.SKIP, f"needs {', '.join(blocked)}")
            continue
        try:
            detail = step.run(ctx)
        except StepSkipped as exc:
            yield StepResult(step.name, Outcome.SKIP, str(exc))
        except Exception as exc:
            yield StepResult(step.name, Outcome.FAIL, f"{type(exc).__name__}: {exc}")
        else:
            passed.add(step.name)
            yield StepResult(step.name, Outcome.PASS, detail)


def run_self_test(
    strict: bool | None = None,
    steps: Sequence[Step] = STEPS,
    out: TextIO | None = None,
) -> int:
    """Run every step, print one line each and a summary; 0 when healthy, 1 otherwise."""
    stream = out or sys.stdout
    if strict is None:
        strict = os.environ.get(STRICT_ENV, "") not in ("", "0")
    results: list[StepResult] = []
    width = max(len(step.name) for step in steps)
    with tempfile.TemporaryDirectory(prefix="fhir-writeback-selftest-") as tmp:
        ctx = SelfTestContext(workdir=Path(tmp))
        with ctx.cleanups:
            for result in run_steps(steps, ctx):
                results.append(result)
                print(
                    f"{result.outcome.value}  {result.name:<{width}}  {result.detail}",
                    file=stream,
                    flush=True,
                )
    return summarize(results, strict, stream)


def summarize(results: Sequence[StepResult], strict: bool, stream: TextIO) -> int:
    failed = [r.name for r in results if r.outcome is Outcome.FAIL]
    skipped = [r.name for r in results if r.outcome is Outcome.SKIP]
    passed = len(results) - len(failed) - len(skipped)
    healthy = not failed and not (strict and skipped)
    verdict = "healthy" if healthy else "NOT healthy"
    line = f"self-test: {verdict}: {passed} of {len(results)} steps passed"
    if failed:
        line += f"; failed: {', '.join(failed)}"
    if skipped:
        line += f"; skipped: {', '.join(skipped)}" + (
            " (strict mode: skips fail)" if strict else ""
        )
    print(line, file=stream, flush=True)
    return 0 if healthy else 1
