"""A PostgreSQL cluster of a test's own (``devinfra.pg_cluster``, which the fault-injection
harness shares)."""

from __future__ import annotations

from devinfra.pg_cluster import PrivateCluster

__all__ = ["PrivateCluster"]
