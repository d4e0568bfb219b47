"""Fixtures shared by the integration modules."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2] / "clients" / "java"
JAR = PROJECT / "target" / "settlement-client-1.0.0.jar"
CLASSPATH = PROJECT / "target" / "classpath.txt"


@pytest.fixture(scope="session")
def java_client() -> list[str]:
    """The command that runs the client's main class, after building it once."""
    missing = [tool for tool in ("java", "mvn") if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"the Java client needs {' and '.join(missing)} (apt-get install maven)")
    # Two workers building into one target/ at once break each other's jar: one at a time.
    PROJECT.joinpath("target").mkdir(exist_ok=True)
    with PROJECT.joinpath("target", ".build.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
        _build()
    classpath = CLASSPATH.read_text().strip()
    return ["java", "-cp", f"{JAR}{os.pathsep}{classpath}", "sscard.settlement.Main"]


def _build() -> None:
    """``mvn package``, offline first (the jars are in ~/.m2 after the first build)."""
    offline = subprocess.run(
        ["mvn", "-q", "-B", "-o", "package"],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if offline.returncode != 0:  # a jar not in ~/.m2 yet: fetch it from Maven Central
        online = subprocess.run(
            ["mvn", "-q", "-B", "package"],
            cwd=PROJECT,
            capture_output=True,
            text=True,
            check=False,
            timeout=900,
        )
        assert online.returncode == 0, online.stdout[-3000:] + online.stderr[-3000:]
