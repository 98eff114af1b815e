"""The loopback receiver: one request on the callback path, the result page, timeout, cancel."""

from __future__ import annotations

import asyncio
import logging
import time

import httpx
import pytest

from app.smart.errors import SignInCancelled, SignInTimedOut
from app.smart.redirect import LoopbackRedirectReceiver, ResultPage


async def test_one_request_then_the_port_is_closed() -> None:
    receiver = LoopbackRedirectReceiver("/callback/site-a")
    redirect_uri = await receiver.start()
    assert redirect_uri.startswith("http://127.0.0.1:") and redirect_uri.endswith(
        "/callback/site-a"
    )
    async with httpx.AsyncClient() as http:
        stray = await http.get(redirect_uri.replace("/callback/site-a", "/favicon.ico"))
        assert stray.status_code == 404
        browser = asyncio.create_task(http.get(f"{redirect_uri}?code=abc&state=xyz"))
        callback = await receiver.wait_for_callback(5)
        assert dict(callback.params) == {"code": "abc", "state": "xyz"}
        await asyncio.sleep(0.05)
        assert not browser.done()  # the tab waits for the real outcome
        callback.finish(ResultPage.signed_in())
        page = await browser
        assert page.status_code == 200
        assert "You are signed in; return to FHIR Write-back." in page.text
        assert page.headers["cache-control"] == "no-store"
        with pytest.raises(httpx.ConnectError):
            await http.get(f"{redirect_uri}?code=again&state=xyz")
    await receiver.aclose()


async def test_error_page_escapes_the_message() -> None:
    page = ResultPage.failed("<script>x</script> went wrong.").render().decode()
    assert (
        "<script>" not in page and "&lt;script&gt;" in page and "Return to FHIR Write-back" in page
    )


async def test_timeout() -> None:
    receiver = LoopbackRedirectReceiver()
    await receiver.start()
    with pytest.raises(SignInTimedOut):
        await receiver.wait_for_callback(0.2)
    await receiver.aclose()


async def test_cancel_from_another_task() -> None:
    receiver = LoopbackRedirectReceiver()
    await receiver.start()
    waiting = asyncio.create_task(receiver.wait_for_callback(30))
    await asyncio.sleep(0.05)
    receiver.cancel()
    with pytest.raises(SignInCancelled):
        await waiting
    await receiver.aclose()


async def test_a_browsers_spare_connection_is_closed_at_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Chromium opens a connection ahead that asks nothing. Closing the receiver after the
    sign-in closes it at once (it once waited 5 s for it, then cancelled its handler, which
    asyncio logged as an error, and left the socket for the collector)."""
    receiver = LoopbackRedirectReceiver()
    redirect_uri = await receiver.start()
    port = int(redirect_uri.rsplit(":", 1)[1].split("/", 1)[0])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)  # sends nothing
    try:
        async with httpx.AsyncClient() as http:
            browser = asyncio.create_task(http.get(f"{redirect_uri}?code=abc&state=xyz"))
            callback = await receiver.wait_for_callback(5)
            callback.finish(ResultPage.signed_in())
            began = time.monotonic()
            await receiver.aclose()
            assert time.monotonic() - began < 2.5  # measured: milliseconds
            assert (await browser).status_code == 200  # the tab still got its page
        assert await asyncio.wait_for(reader.read(1), 2) == b""  # the spare one: closed
    finally:
        writer.close()
        await writer.wait_closed()
    assert not [r for r in caplog.records if r.name == "asyncio" and r.levelno >= logging.ERROR]


def test_callback_path_must_be_a_path() -> None:
    with pytest.raises(ValueError):
        LoopbackRedirectReceiver("callback")
