"""Ports for servers of a process's own: free ones, asked of the kernel, never fixed numbers.

A fixed port collides with a developer's broker, a second checkout's suite, or another run on a
shared host.
"""

from __future__ import annotations

import socket


def free_ports(count: int = 1) -> list[int]:
    """``count`` distinct ports free on 127.0.0.1 right now (all held open until all are found,
    so the kernel cannot hand out the same one twice)."""
    held: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            held.append(sock)
        return [sock.getsockname()[1] for sock in held]
    finally:
        for sock in held:
            sock.close()
