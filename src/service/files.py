"""The data directory and its database files are private to the user the back office runs as:
the directory 0700, every file 0600 (the SQLite store and views, their -wal and -shm files, lock
files). SQLite gives a database's -wal and -shm files the database file's own mode, so the
database file is created 0600 before SQLite first opens it."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_data_dir(path: Path) -> None:
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o777 != DIR_MODE:
        path.chmod(DIR_MODE)  # made by an older release, or by hand


def private_files(database: Path) -> None:
    """Create ``database`` empty and private if missing (an empty file is an empty SQLite
    database); make it and every file SQLite or the back office keeps beside it private."""
    if not database.exists():
        with contextlib.suppress(FileExistsError):  # another process made it first
            os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    for path in (database, *database.parent.glob(f"{database.name}-*"),
                 *database.parent.glob(f"{database.name}.*")):  # fmt: skip
        try:
            if path.is_file() and path.stat().st_mode & 0o777 != FILE_MODE:
                path.chmod(FILE_MODE)
        except FileNotFoundError:
            continue  # a -shm or lock file removed meanwhile
