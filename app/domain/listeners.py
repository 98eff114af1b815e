"""Who listens to one kind of change, and the call that stops each of them listening.

listeners: Listeners[Callable[[int], None]] = Listeners()
stop = listeners.add(print)    # stop() removes it again (a second call does nothing)
for listener in listeners:     # a snapshot: a listener may stop listening while told
    listener(42)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

L = TypeVar("L")


class Listeners(Generic[L]):
    def __init__(self) -> None:
        self._items: list[L] = []

    def add(self, listener: L) -> Callable[[], None]:
        """Listen from now on; the call returned removes ``listener`` again."""
        self._items.append(listener)

        def remove() -> None:
            if listener in self._items:
                self._items.remove(listener)

        return remove

    def __iter__(self) -> Iterator[L]:
        return iter(list(self._items))
