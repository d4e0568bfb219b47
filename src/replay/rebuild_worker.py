"""One share of a rebuild split across processes (``replay.rebuilds``): run by the rebuild as
``python -m replay.rebuild_worker``, its share pickled on stdin by the parent process; prints
the store position it reached after each batch and, at the end, its peak memory; its error's
one line goes to stderr, and its exit code says what kind it is: 2 for a configuration error
(``domain.errors.ConfigurationError``: the line starts with the setting's name), 1 for any
other."""

from __future__ import annotations

import contextlib
import pickle
import resource
import sys
from pathlib import Path

from domain.errors import ConfigurationError
from replay.rebuilds import EXIT_CONFIGURATION, WorkerShare


def main() -> int:
    share = pickle.load(sys.stdin.buffer)
    assert isinstance(share, WorkerShare)

    def report(done: int, total: int) -> None:
        del total
        print(done, flush=True)

    try:
        share.run(report)
    except ConfigurationError as exc:  # the parent raises it again: exit 2, not 3
        print(str(exc).splitlines()[0], file=sys.stderr)
        return EXIT_CONFIGURATION
    except Exception as exc:
        print(f"{type(exc).__name__}: {exc}".splitlines()[0], file=sys.stderr)
        return 1
    print(f"peak_rss_kb {peak_rss_kb()}", flush=True)
    return 0


def peak_rss_kb() -> int:
    """This process's peak resident memory (KiB), for the bench. Linux's ``VmHWM`` belongs to
    the program since its exec; ``ru_maxrss`` would also count the parent's memory at the
    fork that started it."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


if __name__ == "__main__":
    sys.exit(main())
