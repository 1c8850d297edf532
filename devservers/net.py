"""Loopback helpers for test servers."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_accepts(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_for_ports(ports: list[int], timeout: float, alive: Callable[[], bool]) -> None:
    """Wait until every port accepts; raise if ``alive()`` turns False or time runs out."""
    deadline = time.monotonic() + timeout
    pending = list(ports)
    while pending:
        if not alive():
            raise RuntimeError("server process exited before listening")
        pending = [p for p in pending if not port_accepts(p)]
        if pending and time.monotonic() > deadline:
            raise RuntimeError(f"ports {pending} not listening after {timeout} s")
        if pending:
            time.sleep(0.01)
