"""Issue 12, item 7: the README's "Working with cards" block runs verbatim, in order, on a fresh
data directory, the way a new user pastes it into a shell."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.support import HOLDER_ID_KEY

README = Path(__file__).resolve().parents[2] / "README.md"


def working_with_cards_block() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Working with cards", 1)[1]
    match = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert match, "the section has a sh block"
    return match.group(1)


def test_the_block_uses_real_looking_valid_ids_and_no_placeholders():
    block = working_with_cards_block()
    assert not re.search(r"<[^>]+>|\[--", block), "a placeholder cannot be pasted"
    from domain.identifiers import validate_resident_id

    ids = set(re.findall(r"\b\d{17}[\dX]\b", block))
    assert len(ids) >= 3
    for rid in ids:
        validate_resident_id(rid)


def test_the_working_with_cards_block_runs_in_order_on_a_fresh_data_dir(tmp_path: Path):
    block = working_with_cards_block()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SSCARD_", "POSTGRES_")) and k != "DATABASE_URL"
    }
    env |= {
        "PATH": f"{Path(sys.executable).parent}:{env.get('PATH', '')}",
        "SSCARD_DATA_DIR": str(tmp_path / "data"),
        "SSCARD_STATE_DIR": str(tmp_path / "state"),
        "SSCARD_HOLDER_ID_KEY": HOLDER_ID_KEY,
    }
    # -e: the first failing line stops the run; -x: the log says which line it was.
    script = "set -euxo pipefail\n" + block
    result = subprocess.run(
        ["bash", "-c", script], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "already recorded" in out  # the production retry
    assert "CardActivated" in out
    assert "DamagedCardReplacementApplied" in out
    assert "+08:00" in out
    assert "Traceback" not in result.stderr
