"""One share of a rebuild split across processes (``service.rebuilds``): run by the rebuild as
``python -m service.rebuild_worker``, its share pickled on stdin by the parent process; prints
the store position it reached after each batch, and its error's one line on stderr."""

from __future__ import annotations

import pickle
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
