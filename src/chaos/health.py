"""What ``sscard status`` must say of a settled run: every worker of the live ``sscard run``
healthy (each consumer holding its partitions, none failed), every worker name the board has
ever shown also running in the live run (none left dead), and no worker of a process that is
gone still shown as running (none lingering)."""

from __future__ import annotations

from application.status_results import WorkerState

STOPPED = "stopped"  # tracking.board.STOPPED, as status prints it


def worker_name(worker: WorkerState) -> str:
    """The board's ``name@host:pid``: the worker's name."""
    return worker.worker.rsplit("@", 1)[0]


def worker_pid(worker: WorkerState) -> int | None:
    try:
        return int(worker.worker.rsplit(":", 1)[1])
    except (IndexError, ValueError):
        return None


def worker_findings(workers: list[WorkerState], live_pid: int) -> list[str]:
    """Each worker unhealthy, left dead or lingering, given the live run's process id."""
    problems: list[str] = []
    live = {worker_name(w) for w in workers if worker_pid(w) == live_pid}
    for worker in workers:
        if not worker.healthy:
            problems.append(f"{worker.worker} is {worker.state}: {worker.detail}".rstrip(": "))
        elif worker_pid(worker) != live_pid and not worker.silent and worker.state != STOPPED:
            problems.append(
                f"{worker.worker} still shown {worker.state}, although its process is not the "
                f"live sscard run"
            )
    for name in sorted({worker_name(w) for w in workers} - live):
        problems.append(f"{name}: no worker of that name in the live sscard run (pid {live_pid})")
    return problems
