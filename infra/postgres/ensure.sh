#!/usr/bin/env bash
# Install (if missing) and start the local PostgreSQL, and create the sscard role (CREATEDB).
# Usage: infra/postgres/ensure.sh [--port 5432] [--database NAME]     (as root on a fresh machine)
#
# The logic lives in src/service/local_postgres.py, so the tests' fixtures and this script cannot
# drift apart; this wrapper only finds a Python that has psycopg (the project's .venv, from
# `make venv`).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
python="$repo/.venv/bin/python"
if [[ ! -x "$python" ]]; then
    echo "error: $python not found; run 'make venv' in $repo first" >&2
    exit 1
fi
PYTHONPATH="$repo/src${PYTHONPATH:+:$PYTHONPATH}" exec "$python" -m devinfra.local_postgres ensure "$@"
