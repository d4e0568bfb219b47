"""The local infrastructure against the real thing: a Kafka broker from Maven's jars, Debian's
PostgreSQL. No mocks and no skips: on a machine where these cannot run, the tests must fail.

The broker runs on free ports with a temporary state folder, so a developer's own broker (and its
data) and the suite's shared broker are never touched.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient

from devinfra.local_kafka import LocalKafka, LocalKafkaError, wait_until_ready
from devinfra.local_postgres import LocalPostgres, runuser
from tests.conftest import used_real_server
from tests.ports import free_ports

pytestmark = pytest.mark.integration


# -- Kafka -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def module_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    """One broker of this module's own, on free ports."""
    port, controller_port = free_ports(2)
    kafka = LocalKafka(
        port=port, controller_port=controller_port, state_dir=tmp_path_factory.mktemp("kafka")
    )
    kafka.start(timeout=120)
    yield kafka
    kafka.stop()


@pytest.fixture
def broker(module_broker: LocalKafka, request: pytest.FixtureRequest) -> LocalKafka:
    used_real_server(request, "kafka")
    return module_broker


def _create_topic(bootstrap: str) -> str:
    topic = f"test-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics(
            {topic: {"num_partitions": 3, "replication_factor": 1}}, wait_for_metadata=True
        )
    finally:
        admin.close()
    return topic


def _produce(bootstrap: str, topic: str, key: bytes, value: bytes) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    try:
        producer.send(topic, key=key, value=value).get(timeout=30)
    finally:
        producer.close()


def _read_all(bootstrap: str, topic: str, group: str, until: bytes) -> list[tuple[int, int, bytes]]:
    """Read (partition, offset, value) in a consumer group until ``until`` shows up, then commit."""
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    seen: list[tuple[int, int, bytes]] = []
    try:
        deadline = time.monotonic() + 60
        while not any(value == until for _, _, value in seen):
            assert time.monotonic() < deadline, f"{until!r} not read from {topic}; got {seen}"
            for records in consumer.poll(timeout_ms=1000).values():
                seen += [(r.partition, r.offset, r.value) for r in records]
        consumer.commit()
        for partition, offset, _ in seen:
            committed = consumer.committed(TopicPartition(topic, partition))
            assert committed is not None
            assert committed >= offset + 1
    finally:
        consumer.close()
    return seen


@pytest.mark.kafka
def test_started_broker_answers_metadata(broker: LocalKafka) -> None:
    wait_until_ready(broker.bootstrap_servers, timeout=10)
    status = broker.status()
    assert status.running
    assert status.answering
    assert status.pid == int(broker.pid_file.read_text())
    assert status.bootstrap_servers == f"127.0.0.1:{broker.port}"
    assert status.log_file == broker.state_dir / "kafka.log"
    assert "Kafka Server started" in broker.log_file.read_text()
    cluster_id = (broker.state_dir / "cluster.id").read_text().strip()
    assert len(cluster_id) == 22


@pytest.mark.kafka
def test_start_when_running_keeps_the_running_broker(broker: LocalKafka) -> None:
    # What "returns at once" means, checked by what happened rather than by a stopwatch: no
    # second JVM, no second start in the log, nothing fetched or formatted.
    pid = broker.status().pid
    starts = broker.log_file.read_text().count("Kafka Server started")
    said: list[str] = []
    broker.start(progress=said.append)
    assert broker.status().pid == pid
    assert broker.log_file.read_text().count("Kafka Server started") == starts
    assert said == []


@pytest.mark.kafka
def test_jars_are_cached(broker: LocalKafka) -> None:
    jar = broker.jars_dir / "kafka_2.13-4.3.1.jar"
    before = jar.stat()
    said: list[str] = []
    libs = broker.ensure_jars(progress=said.append)
    assert said == [], "the jars were fetched again"
    assert (libs / "kafka_2.13-4.3.1.jar").is_file()
    assert (jar.stat().st_ino, jar.stat().st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert not list(libs.parent.glob("libs.tmp-*"))


@pytest.mark.kafka
def test_idempotent_producer_and_group_consumer_with_manual_commit(broker: LocalKafka) -> None:
    topic = _create_topic(broker.bootstrap_servers)
    _produce(broker.bootstrap_servers, topic, b"card-1", b"reported-lost")
    seen = _read_all(broker.bootstrap_servers, topic, group=f"g-{topic}", until=b"reported-lost")
    assert [value for _, _, value in seen] == [b"reported-lost"]


@pytest.mark.kafka
def test_message_survives_kill_and_restart(broker: LocalKafka) -> None:
    topic = _create_topic(broker.bootstrap_servers)
    _produce(broker.bootstrap_servers, topic, b"card-2", b"before-crash")
    old_pid = broker.status().pid

    broker.kill()
    status = broker.status()
    assert not status.running
    assert not status.answering
    assert status.pid is None
    assert broker.pid_file.exists()  # left behind, as after a real crash

    broker.start(timeout=120)
    assert broker.status().pid not in (None, old_pid)
    seen = _read_all(broker.bootstrap_servers, topic, group=f"g-{topic}", until=b"before-crash")
    assert b"before-crash" in [value for _, _, value in seen]


@pytest.mark.kafka
def test_stop_is_reflected_in_status_and_idempotent(broker: LocalKafka) -> None:
    broker.stop()
    status = broker.status()
    assert (status.running, status.answering, status.pid) == (False, False, None)
    assert not broker.pid_file.exists()
    broker.stop()  # nothing to stop: no error

    broker.start(timeout=120)
    status = broker.status()
    assert status.running
    assert status.answering


@pytest.mark.kafka
def test_refuses_a_port_taken_by_another_process(tmp_path: Path) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        [controller_port] = free_ports(1)
        kafka = LocalKafka(port=port, controller_port=controller_port, state_dir=tmp_path)
        with pytest.raises(LocalKafkaError, match=f"port {port} .* taken"):
            kafka.start(timeout=10)


@pytest.mark.kafka
def test_a_broker_that_dies_at_startup_fails_with_its_log(tmp_path: Path) -> None:
    # 1 MB of heap: the JVM itself refuses to start, which is quick and certain.
    port, controller_port = free_ports(2)
    kafka = LocalKafka(port=port, controller_port=controller_port, state_dir=tmp_path, heap_mb=1)
    with pytest.raises(LocalKafkaError, match="exited during startup") as error:
        kafka.start(timeout=60)
    assert "heap" in str(error.value).lower()
    assert not kafka.status().running


@pytest.mark.kafka
def test_reset_gives_a_fresh_cluster(broker: LocalKafka) -> None:
    old_cluster_id = (broker.state_dir / "cluster.id").read_text()
    broker.reset()
    assert not broker.state_dir.exists()
    broker.start(timeout=120)
    assert (broker.state_dir / "cluster.id").read_text() != old_cluster_id
    assert broker.status().answering


# -- PostgreSQL --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def module_postgres() -> LocalPostgres:
    local = LocalPostgres()
    local.ensure_server()
    local.ensure_role()
    return local


@pytest.fixture
def postgres(module_postgres: LocalPostgres, request: pytest.FixtureRequest) -> LocalPostgres:
    used_real_server(request, "postgres")
    return module_postgres


def _superuser_sql(statement: str) -> None:
    subprocess.run(
        [runuser(), "-u", "postgres", "--", "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1"],
        input=statement,
        text=True,
        check=True,
    )


@pytest.mark.postgres
def test_postgres_status(postgres: LocalPostgres) -> None:
    status = postgres.status()
    assert status.installed
    assert status.running
    assert status.answering
    assert status.version is not None
    assert status.version.isdigit()


@pytest.mark.postgres
def test_database_lifecycle(postgres: LocalPostgres) -> None:
    name = f"sscard_test_{uuid.uuid4().hex[:12]}"
    dsn = postgres.ensure_database(name)
    assert dsn == f"postgresql://sscard:sscard@{postgres.host}:{postgres.port}/{name}"
    assert postgres.ensure_database(name) == dsn  # idempotent

    lingering = psycopg.connect(dsn)  # e.g. a pool a crashed test left open
    try:
        with psycopg.connect(dsn) as conn:
            conn.execute("CREATE TABLE cards (id text PRIMARY KEY, status text NOT NULL)")
            conn.execute("INSERT INTO cards VALUES ('c-1', 'lost')")
            row = conn.execute("SELECT status FROM cards WHERE id = 'c-1'").fetchone()
            assert row == ("lost",)

        postgres.drop_database(name)
        postgres.drop_database(name)  # idempotent
    finally:
        lingering.close()

    with psycopg.connect(postgres.dsn("postgres")) as conn:
        row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    assert row is None


@pytest.mark.postgres
@pytest.mark.parametrize(
    "name",
    ["", "1db", "a-b", 'x"; DROP DATABASE postgres; --', "a" * 64],
    ids=["empty", "digit-first", "dash", "injection", "too-long"],
)
def test_database_names_are_validated(postgres: LocalPostgres, name: str) -> None:
    with pytest.raises(ValueError, match="invalid database name"):
        postgres.ensure_database(name)
    with pytest.raises(ValueError, match="invalid database name"):
        postgres.drop_database(name)


@pytest.mark.postgres
def test_ensure_role_creates_and_repairs_a_role(postgres: LocalPostgres) -> None:
    # A role of its own, so the shared sscard role is never disturbed while other tests use it.
    role = f"sscard_role_{uuid.uuid4().hex[:8]}"
    local = LocalPostgres(user=role, password=uuid.uuid4().hex)
    try:
        local.ensure_role()  # as on a fresh machine: the role does not exist
        dsn = local.ensure_database(role)
        _superuser_sql(f"ALTER ROLE {role} PASSWORD 'changed-by-someone'")
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(dsn).close()
        local.ensure_role()  # brings the configured password back
        with psycopg.connect(dsn) as conn:
            assert conn.execute("SELECT current_user").fetchone() == (role,)
        local.drop_database(role)
    finally:
        _superuser_sql(f"DROP DATABASE IF EXISTS {role} WITH (FORCE); DROP ROLE IF EXISTS {role};")


@pytest.mark.kafka
def test_a_tests_broker_ends_with_the_process_that_started_it(tmp_path: Path) -> None:
    """A pytest killed with SIGKILL must not leave its brokers running."""
    port, controller_port = free_ports(2)
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from devinfra.local_kafka import LocalKafka\n"
        f"b = LocalKafka(port={port}, controller_port={controller_port}, "
        f"state_dir=Path({str(tmp_path)!r}), die_with_parent=True)\n"
        "b.start(timeout=120, progress=lambda _: None)\n"
        "print('ready', flush=True)\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, cwd=Path(__file__).parents[2]
    )
    kafka = LocalKafka(port=port, controller_port=controller_port, state_dir=tmp_path)
    try:
        assert parent.stdout is not None
        assert parent.stdout.readline() == b"ready\n"
        assert kafka.status().running
        parent.kill()
        parent.wait(timeout=10)
        deadline = time.monotonic() + 30
        while kafka.status().running:
            assert time.monotonic() < deadline, "the broker outlived its parent"
            time.sleep(0.2)
    finally:
        parent.kill()
        kafka.stop()
