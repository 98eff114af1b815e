"""Closing an asyncio server without leaking a connection it was accepting at that moment.

On Python 3.11 a connection accepted in the same turn of the loop as ``Server.close()`` is lost:
asyncio accepts it, then sets it up in a task of its own, which on the next turn finds the
server closed (an assertion in ``Server._attach``), swallows the error and drops the socket
without closing it. The garbage collector closes it later, with a ResourceWarning, in whatever
runs then (under ``filterwarnings = error`` an unrelated test fails). Stopping the accepts
first and closing the server on the next turn lets such a connection be set up (and then
closed by its owner, who knows the server is stopping).
"""

from __future__ import annotations

import asyncio


def stop_listening(server: asyncio.Server) -> None:
    """Accept nothing more now; close the server once connections accepted already are set
    up (on the loop's next turn). ``await asyncio.sleep(0)`` after it to have it closed."""
    loop = server.get_loop()
    for listening in server.sockets:
        loop.remove_reader(listening.fileno())
    loop.call_soon(server.close)


async def end_what_is_under_way(timeout: float = 2.0) -> None:
    """On a server's own loop, after ``stop_listening`` and before the loop closes: a
    connection accepted just before may still be being set up (in a task of its own, a TLS
    handshake included), or its handler not begun. Left to a closed loop, its socket is closed
    by the garbage collector, with a ResourceWarning, in whatever runs then. Waits for every
    other task of the loop, up to ``timeout``, then cancels the rest."""
    me = asyncio.current_task()
    rest = [task for task in asyncio.all_tasks() if task is not me]
    if rest:
        _, late = await asyncio.wait(rest, timeout=timeout)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)
    await asyncio.sleep(0)  # a transport closed just now closes its socket on the next turn
