"""One share of a rebuild split across processes (``service.rebuilds``): run by the rebuild as
``python -m service.rebuild_worker``, its share pickled on stdin by the parent process; prints
the store position it reached after each batch and, at the end, its peak memory; its error's
one line goes to stderr."""

from __future__ import annotations

import pickle
import resource
import sys

from service.rebuilds import WorkerShare


def main() -> int:
    share = pickle.load(sys.stdin.buffer)
    assert isinstance(share, WorkerShare)

    def report(done: int, total: int) -> None:
        del total
        print(done, flush=True)

    try:
        share.run(report)
    except Exception as exc:
        print(f"{type(exc).__name__}: {exc}".splitlines()[0], file=sys.stderr)
        return 1
    # Its peak memory, for the bench (kilobytes on Linux).
    print(f"peak_rss_kb {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
