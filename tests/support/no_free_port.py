"""Run a command on a computer whose loopback ports are all taken: a private network namespace
(``unshare -rn``, made by the caller) whose range of ports the system hands out is one port, held
by a listening socket this process passes on to the command.

    unshare -rn python tests/support/no_free_port.py -- python -m app ...

A bind to port 0 there fails as it does on a real computer that has run out of ports (or one
whose firewall refuses it): ``OSError: [Errno 98] Address already in use``. Nothing outside the
namespace is touched: the port range and the socket are its own.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

PORT = 40000
PORT_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def main(argv: list[str]) -> None:
    if argv[:1] != ["--"] or len(argv) < 2:
        raise SystemExit("usage: no_free_port.py -- COMMAND [ARG ...]")
    PORT_RANGE.write_text(f"{PORT} {PORT}\n")
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.bind(("127.0.0.1", PORT))
    holder.listen()
    holder.set_inheritable(True)  # the command holds it: the port stays taken while it runs
    os.execvp(argv[1], argv[1:])


if __name__ == "__main__":
    main(sys.argv[1:])
