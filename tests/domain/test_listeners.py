"""app.domain.listeners: who listens, and the call that stops each of them listening."""

from __future__ import annotations

from collections.abc import Callable

from app.domain.listeners import Listeners


def test_each_listener_is_told_until_it_stops_listening() -> None:
    heard: list[str] = []
    listeners: Listeners[Callable[[str], None]] = Listeners()
    stop_first = listeners.add(lambda what: heard.append(f"first {what}"))
    listeners.add(lambda what: heard.append(f"second {what}"))
    for listener in listeners:
        listener("a")
    stop_first()
    stop_first()  # a second stop does nothing
    for listener in listeners:
        listener("b")
    assert heard == ["first a", "second a", "second b"]


def test_a_listener_may_stop_listening_while_it_is_told() -> None:
    heard: list[int] = []
    listeners: Listeners[Callable[[], None]] = Listeners()

    def once() -> None:
        heard.append(1)
        stop()

    stop = listeners.add(once)
    listeners.add(lambda: heard.append(2))
    for listener in listeners:
        listener()
    for listener in listeners:
        listener()
    assert heard == [1, 2, 2]
