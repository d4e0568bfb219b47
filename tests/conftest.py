"""Real servers for the integration tiers, found or started, never faked and never skipped.

Order of preference (DESIGN.md 6): KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL when set; else
testcontainers when a Docker engine answers; else the local broker and PostgreSQL that infra/
runs. When none works the fixture fails the test with the reason: an integration test that
silently skips proves nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import Phase, Verbosity
from hypothesis import settings as hypothesis_settings

from devinfra.local_kafka import wait_until_ready
from devinfra.local_postgres import LocalPostgres
from service.bootstrap import BackOffice, open_back_office
from service.settings import Settings
from tests.shared_broker import run_wide_broker, shared_root
from tests.support import HOLDER_ID_KEY, Clock

TEST_DATABASE = "sscard_test"

# Hypothesis profiles (pick one with --hypothesis-profile):
# - "suite" (`make test`): the same examples every time, no hill-climbing on target() scores and
#   no shrinking: a failure reports the whole sequence and the command the model disagreed with,
#   at once, rather than after minutes of shrinking a 60-step history;
# - "deep" (`make test-deep`): many more examples, freshly drawn, targeted and shrunk;
# - "mutation" (`make mutation`): fewer examples, since only "does a test fail" matters.
hypothesis_settings.register_profile(
    "suite",
    derandomize=True,
    max_examples=100,
    stateful_step_count=60,
    database=None,
    phases=[Phase.explicit, Phase.generate],
)
hypothesis_settings.register_profile(
    "deep", max_examples=2_000, stateful_step_count=100, verbosity=Verbosity.normal
)
hypothesis_settings.register_profile(
    "mutation",
    derandomize=True,
    max_examples=20,
    stateful_step_count=50,
    database=None,
    phases=[Phase.explicit, Phase.generate],
)
hypothesis_settings.load_profile("suite")


def _docker_engine_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
    except Exception:
        return False
    return True


# ---- real servers, and which tests really used one ---------------------------------------------


def used_real_server(request: pytest.FixtureRequest, kind: str) -> None:
    """Record on the test item that it ran against a real server (``kafka`` or ``postgres``).

    The closing counts and the CI checks read this record, not markers or keywords: a test
    counts only when a server fixture was actually set up for it."""
    if ("real_server", kind) not in request.node.user_properties:
        request.node.user_properties.append(("real_server", kind))


@pytest.fixture(scope="session")
def shared_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
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
    # One broker for all of the run's workers (tests.shared_broker), not one per worker.
    with run_wide_broker(shared_root(tmp_path_factory)) as bootstrap_servers:
        yield bootstrap_servers


@pytest.fixture
def kafka_bootstrap(shared_kafka: str, request: pytest.FixtureRequest) -> str:
    """The shared broker's bootstrap servers, for one test that uses it."""
    used_real_server(request, "kafka")
    return shared_kafka


@pytest.fixture(scope="session")
def shared_postgres() -> Iterator[str]:
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
def postgres_url(shared_postgres: str, request: pytest.FixtureRequest) -> str:
    """The shared database's URL, for one test that uses it."""
    used_real_server(request, "postgres")
    return shared_postgres


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
    with open_back_office(settings, clock=clock) as wired:
        yield wired


# ---- which tests share a worker under pytest-xdist (make test) ---------------------------------

# Modules whose tests run one after another on one worker, by group. "faults": the tests that
# stop, kill or pause a broker, a database or `sscard run` and bound how long the rest may take;
# they run one at a time, as in a serial run, while the other worker runs the rest. The others
# share a broker of the module's own: one worker starts it once.
# (xdist's own xdist_group mark does not group on pytest 9.2: pytest-xdist issue 1386.)
_WORKER_GROUPS = {
    "tests/integration/test_back_office_faults.py": "faults",
    "tests/integration/test_chaos_run.py": "faults",
    "tests/integration/test_consumer_crash.py": "faults",
    "tests/integration/test_java_settlement_client.py": "faults",
    "tests/integration/test_relay_crash.py": "faults",
    "tests/integration/test_settlement_subscriber.py": "faults",
    "tests/integration/test_status_in_faults.py": "faults",
    "tests/integration/test_kafka_security.py": "kafka-security",
    "tests/integration/test_local_infra.py": "local-infra",
    # Its last test judges what the module's other tests recorded in one module fixture.
    "tests/e2e/test_api_schemathesis.py": "api-schemathesis",
    # Benches measure; one at a time. test_bench_commands checks no bench schema is left.
    "tests/integration/test_bench_commands.py": "bench",
    "tests/integration/test_bench_http.py": "bench",
    "tests/integration/test_bench_relay.py": "bench",
    "tests/integration/test_bench_replay.py": "bench",
    "tests/integration/test_bench_views.py": "bench",
}


def worker_group(nodeid: str) -> str:
    """The unit of work a test is sent to a worker in: its module's group, or the test alone."""
    return _WORKER_GROUPS.get(nodeid.split("::", 1)[0], nodeid)


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadgroup`` with the groups above; the groups go out first, largest first."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class _GroupScheduling(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return worker_group(nodeid)

    return _GroupScheduling(config, log)


# ---- what ran against real servers; CI fails a run that proved less than the suite holds -------

_INTEGRATION_HELD = pytest.StashKey[set[str]]()
_INTEGRATION_DESELECTED = pytest.StashKey[set[str]]()
# Integration tests whose body ran (passed or failed); module level because the report hook
# is given no config.
_INTEGRATION_RAN: set[str] = set()
# Set in the child run that counts the suite's integration tests, so it does not count again.
_COUNTING = "SSCARD_COUNTING_INTEGRATION_TESTS"
# Under pytest-xdist the workers collect and run the tests, and the controller decides the
# run's outcome: each worker hands these three lists to the controller in its workeroutput.
_HELD, _DESELECTED, _RAN = "sscard_integration_held", "sscard_deselected", "sscard_ran"


def ci_enabled() -> bool:
    """CI is on for a true value only: CI=false or CI=0 is a developer saying it is off."""
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def _is_integration(item: pytest.Item) -> bool:
    """By marker, never by keyword: every test under tests/integration has the keyword."""
    return item.get_closest_marker("integration") is not None


def _worker_output(config: pytest.Config) -> dict[str, Any] | None:
    """What an xdist worker sends its controller when it ends; None outside a worker."""
    output: dict[str, Any] | None = getattr(config, "workeroutput", None)
    return output


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_INTEGRATION_HELD] = set()
    config.stash[_INTEGRATION_DESELECTED] = set()
    _INTEGRATION_RAN.clear()
    output = _worker_output(config)
    if output is not None:
        output[_RAN] = []


def pytest_deselected(items: list[pytest.Item]) -> None:
    for item in items:
        if _is_integration(item):
            item.config.stash[_INTEGRATION_DESELECTED].add(item.nodeid)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under mutmut (which names the active mutant in MUTANT_UNDER_TEST) the state machine runs
    last: most mutants fall to a millisecond test first, and the run stops at the first failure."""
    if os.environ.get("MUTANT_UNDER_TEST"):
        items.sort(key=lambda item: "test_lifecycle_properties" in item.nodeid)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Every integration test this run collected, selected or not."""
    config = session.config
    held = config.stash[_INTEGRATION_HELD]
    held.update(item.nodeid for item in session.items if _is_integration(item))
    held.update(config.stash[_INTEGRATION_DESELECTED])
    output = _worker_output(config)
    if output is not None:
        output[_HELD] = sorted(held)
        output[_DESELECTED] = sorted(config.stash[_INTEGRATION_DESELECTED])


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if call.when == "call" and _is_integration(item):
        _INTEGRATION_RAN.add(item.nodeid)
        output = _worker_output(item.config)
        if output is not None:
            output[_RAN].append(item.nodeid)
    return report


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """In the xdist controller: gather what a worker collected, deselected and ran. Every
    worker collects the whole suite, so the held and deselected sets are unions, not sums."""
    output: dict[str, Any] = getattr(node, "workeroutput", None) or {}
    config: pytest.Config = node.config
    config.stash[_INTEGRATION_HELD].update(output.get(_HELD, []))
    config.stash[_INTEGRATION_DESELECTED].update(output.get(_DESELECTED, []))
    _INTEGRATION_RAN.update(output.get(_RAN, []))


def _passed_against(terminalreporter: Any, kind: str | None) -> int:
    return sum(
        1
        for report in terminalreporter.stats.get("passed", [])
        if any(
            name == "real_server" and (kind is None or value == kind)
            for name, value in report.user_properties
        )
    )


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """How many tests passed against the real servers: the proof that they were not skipped.
    Counted from what each test's fixtures recorded (``used_real_server``)."""
    for kind in ("postgres", "kafka"):
        count = _passed_against(terminalreporter, kind)
        terminalreporter.write_line(f"{kind} tests passed against real servers: {count}")
    count = _passed_against(terminalreporter, None)
    terminalreporter.write_line(f"integration tests passed against real servers: {count}")


def _integration_tests_in_the_suite(config: pytest.Config) -> int:
    """How many integration tests the suite holds. A run given no paths collected the whole
    suite (under xdist: its workers did, and told the controller); otherwise, or when no worker
    told, a child pytest collects it (marker selection, nothing run)."""
    held = config.stash[_INTEGRATION_HELD]
    if config.args_source is pytest.Config.ArgsSource.TESTPATHS and held:
        return len(held)
    collect = ["--collect-only", "-q", "-m", "integration", "-p", "no:cacheprovider"]
    child = subprocess.run(
        [sys.executable, "-m", "pytest", *collect],
        cwd=config.rootpath,
        env=os.environ | {_COUNTING: "1"},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    if child.returncode != 0:
        raise RuntimeError(f"could not collect the suite's integration tests:\n{child.stdout}")
    return sum(1 for line in child.stdout.splitlines() if "::" in line)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI a run fails unless it proved everything the suite holds: no test skipped, no
    integration test deselected (-m, -k, --deselect) or left out, every one of them run."""
    # A worker's part is only part of the run: its controller judges the whole.
    if not ci_enabled() or os.environ.get(_COUNTING) or _worker_output(session.config) is not None:
        return
    config = session.config
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    problems = []
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if skipped:
        problems.append(f"{skipped} tests were skipped")
    deselected = config.stash[_INTEGRATION_DESELECTED]
    if deselected:
        problems.append(f"{len(deselected)} integration tests were deselected")
    ran = len(_INTEGRATION_RAN)
    held = _integration_tests_in_the_suite(config)
    if ran < held:
        problems.append(f"{ran} of the suite's {held} integration tests ran")
    if problems:
        if reporter:
            reporter.ensure_newline()
            reporter.write_line(f"CI: {'; '.join(problems)}: failing the run", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
