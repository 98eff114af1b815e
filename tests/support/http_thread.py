"""``http.server`` for the tests' small servers, stopped without leaving a connection open.

``ThreadingHTTPServer.server_close()`` closes the listening socket only: a connection it
accepted stays open in its handler thread (a keep-alive client, or one that connected and sent
nothing yet, blocks that thread in a read with no timeout), so the client never reads the end
and the socket outlives the test. ``ClosingHTTPServer`` remembers each connection it accepts
and, on ``server_close()``, shuts every one that is still open down (its handler reads the end
and finishes, its client reads the end), then waits for the handler threads.

    with serving(ClosingHTTPServer(("127.0.0.1", 0), Handler)) as server: ...
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from typing import Any, TypeVar

_Server = TypeVar("_Server", bound="ClosingHTTPServer")


class ClosingHTTPServer(ThreadingHTTPServer):
    daemon_threads = False  # server_close() joins the handler threads (block_on_close)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def server_close(self) -> None:
        with self._open_lock:
            still_open = list(self._open)
        for connection in still_open:
            with contextlib.suppress(OSError):  # closed meanwhile by its handler
                connection.shutdown(socket.SHUT_RDWR)
        super().server_close()  # the listener, then the handler threads


@contextlib.contextmanager
def serving(server: _Server) -> Iterator[_Server]:
    """Serve on a daemon thread; on exit stop serving and close every connection."""
    thread = threading.Thread(target=server.serve_forever, name="test-http", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
