"""The facade on its own: errors become words, store work leaves the calling thread, the
Workbench is frozen, a site's services are built once and closed in reverse order."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.domain.errors import DomainError, words_for
from app.domain.outbox import SyncEvent
from app.domain.site import Site
from app.paths import AppPaths
from app.services.drafts import DraftService
from app.services.errors import ServiceError, SignInCancelled, user_errors
from app.services.outbox import OutboxService
from app.services.workbench import SiteDirectory, StartupReport, Workbench
from app.smart.errors import NetworkError
from app.smart.errors import SignInCancelled as SmartSignInCancelled
from app.store.errors import StoreDiskFull
from app.store.store import Store, open_store
from app.sync.store_thread import StoreThread
from tests.domain.conftest import make_context
from tests.sync.commits import clinical_commit
from tests.ui.outbox_states import enqueue


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(tmp_path / "store.db")
    yield s
    s.close()


@pytest.fixture
def worker() -> Iterator[StoreThread]:
    thread = StoreThread()
    yield thread
    thread.close()


def test_words_for_takes_each_layers_words_else_the_fallback() -> None:
    assert words_for(ServiceError("Try again."), "x") == "Try again."
    assert words_for(DomainError("Fix the date."), "x") == "Fix the date."
    assert (
        words_for(NetworkError("The EHR cannot be reached."), "x") == "The EHR cannot be reached."
    )
    assert words_for(RuntimeError("a bug"), "Something went wrong.") == "Something went wrong."


def test_layer_errors_become_service_errors_with_their_words() -> None:
    with pytest.raises(ServiceError) as caught, user_errors("fallback"):
        raise StoreDiskFull("full")
    assert caught.value.words == StoreDiskFull("full").user_message
    assert isinstance(caught.value.__cause__, StoreDiskFull)
    with pytest.raises(SignInCancelled), user_errors("fallback"):
        raise SmartSignInCancelled()
    with pytest.raises(KeyError), user_errors("fallback"):  # a bug stays a bug
        raise KeyError("x")


async def test_drafts_are_saved_on_the_store_thread_not_the_callers(
    store: Store, worker: StoreThread
) -> None:
    seen: list[str] = []
    original = store.drafts.save

    def save(*args: object, **kwargs: object) -> object:
        seen.append(threading.current_thread().name)
        return original(*args, **kwargs)  # type: ignore[arg-type]

    store.drafts.save = save  # type: ignore[method-assign]
    service = DraftService(store.drafts, worker)
    from app.domain.prefill import prefill_draft
    from app.store.templates import load_templates

    context = make_context()
    draft = prefill_draft(context, load_templates().default, now=context.encounter.period_start)
    saved = await service.save(draft)
    assert saved.revision == 1
    assert (
        seen and seen[0].startswith("outbox-store") and seen[0] != threading.current_thread().name
    )
    listed = await service.list_for_encounter(context.patient.id, context.encounter.id)
    assert [d.id for d in listed] == [draft.id]


async def test_an_outbox_action_that_the_state_machine_refuses_says_which_move(
    store: Store, worker: StoreThread
) -> None:
    commit = enqueue(store.outbox, clinical_commit(observations=0))
    store.outbox.apply(commit.commit_id, SyncEvent.SEND_STARTED)
    service = OutboxService(store.outbox, worker, user_label=lambda: "Dr. Who")
    with pytest.raises(ServiceError) as caught:
        await service.discard(commit.commit_id, "Not needed")
    assert "SENDING" in caught.value.words  # the refused move, not a traceback


def test_the_workbench_is_frozen(tmp_path: Path) -> None:
    async def open_site(_session: object) -> object:
        raise AssertionError("not opened")

    workbench = Workbench(
        sites=(Site(id="a", display_name="A", fhir_base="https://a/fhir", client_id="c"),),
        templates=(),
        startup=StartupReport(),
        directory=SiteDirectory(lambda site: object(), open_site),  # type: ignore[arg-type,return-value]
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        workbench.sites = ()  # type: ignore[misc]
    assert workbench.single_site is workbench.sites[0]


async def test_a_sites_services_are_built_once_and_closed(tmp_path: Path) -> None:
    from app.bootstrap import build_workbench

    site = Site(
        id="clinic", display_name="Clinic", fhir_base="https://ehr.test/fhir", client_id="c"
    )
    paths = AppPaths(tmp_path / "d", tmp_path / "l", tmp_path / "c", tmp_path / "s").ensure()
    workbench = build_workbench(paths, [site])
    session = workbench.directory.session(site)
    assert workbench.directory.session(site) is session  # one per site
    assert workbench.directory.opened(site) is None  # nothing opened before it is used
    services = await workbench.directory.open(session)
    assert await workbench.directory.open(session) is services
    assert services.site == site and services.session is session
    assert (paths.data_dir / "sites" / "clinic" / "store.db").exists()
    await workbench.aclose()
    assert workbench.directory.opened(site) is None
