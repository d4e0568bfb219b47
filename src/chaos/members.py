"""A consumer instance joining a view's group and leaving it: ``sscard consumers run --view V``
beside the consumers of ``sscard run``, for a while, then killed -9 (its partitions come back
after the session timeout) or stopped with SIGTERM (it leaves the group at once, exit 0). Which
view and which way are drawn from the fault, so a seed replays them."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

from chaos.processes import RunProcess
from chaos.schedule import Fault
from projections.catalogue import VIEW_NAMES
from service.settings import Settings

Hold = Callable[[float], None]


def drawn(seed: int, fault: Fault) -> tuple[str, bool]:
    """The view whose group is joined, and whether the member leaves by kill -9."""
    rng = random.Random(f"{seed}:{fault.at}:{fault.kind.value}")
    return rng.choice(VIEW_NAMES), rng.random() < 0.5


def join_and_leave(
    settings: Settings, log: Path, seed: int, fault: Fault, hold: Hold, say: Callable[[str], None]
) -> list[str]:
    """The member's life; returns what went wrong with it (a stop that was not clean)."""
    view, killed = drawn(seed, fault)
    member = RunProcess(settings, log, ("consumers", "run", "--view", view))
    member.start()
    hold(fault.hold)
    if killed:
        member.kill()
    else:
        member.terminate()
    how = "killed -9" if killed else "stopped"
    say(f"  a second {view} consumer joined for {fault.hold:.1f} s, then {how}")
    return [f"{view}'s second consumer: {finding}" for finding in member.findings]
