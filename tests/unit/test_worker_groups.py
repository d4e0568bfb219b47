"""The groups of modules that `make test` keeps on one xdist worker (tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import _WORKER_GROUPS, worker_group

ROOT = Path(__file__).resolve().parents[2]


def test_every_grouped_module_exists() -> None:
    """A renamed module would silently leave its group and run alongside the fault tests."""
    missing = [module for module in _WORKER_GROUPS if not (ROOT / module).is_file()]
    assert not missing


def test_a_fault_test_goes_with_its_group_and_any_other_test_alone() -> None:
    relay = "tests/integration/test_relay_crash.py::test_twenty_kill_9s_of_the_relay[x]"
    chaos = "tests/integration/test_chaos_run.py::test_a_minute_of_chaos"
    assert worker_group(relay) == worker_group(chaos) == "faults"
    other = "tests/integration/test_relay.py::test_a_running_relay_is_woken_by_new_events[sqlite]"
    assert worker_group(other) == other
