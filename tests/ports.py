"""Ports the suite's own servers take: free ones, asked of the kernel, never fixed numbers
(``devinfra.ports``, which the fault-injection harness shares)."""

from __future__ import annotations

from devinfra.ports import free_ports

__all__ = ["free_ports"]
