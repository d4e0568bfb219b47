"""``sscard chaos`` for one minute with a fixed seed: real kill -9 and SIGTERM of ``sscard run``,
a real broker of its own killed and paused, and every invariant held afterwards.

The seed's first minute holds a kill -9 of ``sscard run``, a poison message parked and
discarded, a broker stopped for 7.3 s (longer than the settlement subscriber's bound and its
sampling's tolerance), a kill -9 of one of the two ``sscard serve`` processes (whose clients send
commands with an Idempotency-Key and read after their writes) and a fresh start on a new topic
set (a SIGTERM, the relay rewound, a new topic prefix); the run checks the store, the topics (old
and new), the views, the subscriber, the chain, the logs, the workers' status and the dead
letters, and prints ``faults=<n> commands=<m> violations=<v>`` last.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from chaos.schedule import by_kind, draw_schedule
from tests.conftest import used_real_server

pytestmark = [pytest.mark.integration, pytest.mark.kafka]

SSCARD = str(Path(sys.executable).parent / "sscard")
SEED = 391  # drawn again each time a fault kind is added: the kinds change every seed's draws


def test_a_minute_of_faults_breaks_no_invariant(tmp_path: Path, request: pytest.FixtureRequest):
    used_real_server(request, "kafka")  # a broker of the run's own, started by the harness
    schedule = draw_schedule(SEED, 1)
    assert {
        "run-kill-9",
        "broker-stop",
        "poison-message",
        "serve-kill-9",
        "fresh-topics",
    } <= set(by_kind(schedule))
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SSCARD_", "KAFKA_", "POSTGRES_", "DATABASE_URL"))
    }
    env["SSCARD_STATE_DIR"] = str(tmp_path / "state")
    env["TMPDIR"] = str(tmp_path)
    done = subprocess.run(
        [SSCARD, "chaos", "--seed", str(SEED), "--minutes", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    output = done.stdout + done.stderr
    # The schedule printed is the seed's, fault for fault.
    for fault in schedule:
        assert fault.describe() in output, output
    last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    figures = re.fullmatch(r"faults=(\d+) commands=(\d+) violations=(\d+)", last)
    assert figures, output[-4000:]
    faults, commands, violations = (int(n) for n in figures.groups())
    assert violations == 0, output[-4000:]
    assert done.returncode == 0, output[-4000:]
    assert faults == len(schedule)
    assert commands > 100, output[-4000:]
    # Some of them through the run's own `sscard serve` processes, one of which was killed.
    http = re.search(r"^HTTP commands acknowledged: (\d+)", output, re.MULTILINE)
    assert http, output[-4000:]
    assert int(http.group(1)) > 0, output[-4000:]
    # The outage outlasts the subscriber's bound and tolerance, so it was checked.
    assert "ok   settlement subscriber stale in every long outage: 1 checked" in output, output
    assert "fresh topics: 1 switch (chaos391 -> chaos391-t1)" in output, output
