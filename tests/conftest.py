"""Real servers for the integration tiers, found or started, never faked and never skipped.

Order of preference (DESIGN.md 6): KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL when set; else
testcontainers when a Docker engine answers; else the local broker and PostgreSQL that infra/
runs. When none works the fixture fails the test with the reason: an integration test that
silently skips proves nothing.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from devinfra.local_kafka import LocalKafka, wait_until_ready
from devinfra.local_postgres import LocalPostgres
from service.bootstrap import BackOffice, build
from service.settings import Settings
from tests.ports import free_ports
from tests.support import HOLDER_ID_KEY, Clock

TEST_DATABASE = "sscard_test"


def _docker_engine_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
    except Exception:
        return False
    return True


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Kafka broker for the whole run."""
    given = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if given:
        wait_until_ready(given, timeout=60)
        yield given
        return
    if _docker_engine_answers():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer("apache/kafka:4.1.1").with_kraft() as container:
            yield container.get_bootstrap_server()
        return
    port, controller_port = free_ports(2)
    broker = LocalKafka(
        port=port,
        controller_port=controller_port,
        state_dir=tmp_path_factory.mktemp("kafka-state") / f"kafka-{port}",
    )
    broker.start(timeout=120)
    yield broker.bootstrap_servers
    broker.stop()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A real PostgreSQL database for the whole run; each test gets its own schema in it."""
    given = os.environ.get("DATABASE_URL")
    if given:
        yield given
        return
    if _docker_engine_answers():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:15", driver=None) as container:
            yield container.get_connection_url()
        return
    local = LocalPostgres()
    local.ensure_server()
    local.ensure_role()
    local.ensure_database(TEST_DATABASE)
    yield f"postgresql://{local.user}:{local.password}@{local.host}:{local.port}/{TEST_DATABASE}"


@pytest.fixture
def postgres_schema(postgres_url: str) -> Iterator[str]:
    """A fresh schema per test: isolation without a database per test."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    yield schema
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "env": "test",
        "data_dir": tmp_path / "data",
        "state_dir": tmp_path / "state",
        "database_url": None,
        "persistence_module": None,
        "postgres_schema": None,
        "kafka_bootstrap_servers": None,
        "holder_id_key": HOLDER_ID_KEY,
        "region_policies": None,
        "topic_prefix": f"t{uuid.uuid4().hex[:10]}",
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres", marks=[pytest.mark.integration, pytest.mark.postgres]),
    ]
)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    """Settings for one test on one backend (parametrised: the same test runs on both)."""
    if backend == "sqlite":
        return make_settings(tmp_path)
    url = request.getfixturevalue("postgres_url")
    schema = request.getfixturevalue("postgres_schema")
    return make_settings(tmp_path, database_url=url, postgres_schema=schema)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def backoffice(settings: Settings, clock: Clock) -> Iterator[BackOffice]:
    with build(settings, clock=clock) as wired:
        yield wired


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Say how many tests ran against the real servers: the proof that they were not skipped."""
    passed = terminalreporter.stats.get("passed", [])
    for marker in ("postgres", "kafka", "integration"):
        count = sum(1 for report in passed if marker in report.keywords)
        terminalreporter.write_line(f"{marker} tests passed against real servers: {count}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI a skipped test is a failure: it means a server was missing and nothing was proved."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if os.environ.get("CI") and skipped:
        if reporter:
            reporter.write_line(f"CI: {skipped} tests were skipped; failing the run", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
