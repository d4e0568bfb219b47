"""``sscard infra``: start, stop and inspect the local Kafka broker and PostgreSQL server.

Loaded by the CLI only when ``sscard infra`` is asked for (see ``cli.main``).
"""

from __future__ import annotations

import argparse

from devinfra.kafka_security import apply_access_table
from devinfra.local_kafka import LocalKafka
from devinfra.local_postgres import LocalPostgres
from domain.errors import InvalidInput
from relay.access import BACKOFFICE, PRINCIPALS
from relay.topics import Topics
from service.settings import Settings


def add_actions(infra: argparse.ArgumentParser) -> None:
    infra_commands = infra.add_subparsers(dest="infra_command", required=True, metavar="ACTION")
    up = infra_commands.add_parser(
        "up", help="start what the settings need (Kafka; PostgreSQL when DATABASE_URL is set)"
    )
    up.add_argument("--kafka", action="store_true", help="only/also the Kafka broker")
    up.add_argument("--postgres", action="store_true", help="only/also PostgreSQL")
    _secure_option(up)
    up.set_defaults(handler=_infra_up)
    down = infra_commands.add_parser("down", help="stop the local Kafka broker")
    down.add_argument("--postgres", action="store_true", help="also stop PostgreSQL")
    _secure_option(down)
    down.set_defaults(handler=_infra_down)
    status = infra_commands.add_parser("status", help="is each service running and answering?")
    _secure_option(status)
    status.set_defaults(handler=_infra_status)


def _secure_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--secure",
        action="store_true",
        help="the broker with TLS, SASL/SCRAM and the access table's ACLs (a state folder of "
        "its own; `up` writes <principal>.env files to source)",
    )


def local_kafka(settings: Settings, secure: bool = False) -> LocalKafka:
    """The developer's broker; the secured one when asked, or when the settings already speak
    SASL_SSL (a sourced <principal>.env) and would fail against a plaintext broker."""
    secure = secure or settings.kafka_security_protocol == "SASL_SSL"
    folder = f"kafka-{settings.kafka_port}{'-secure' if secure else ''}"
    return LocalKafka.default(
        port=settings.kafka_port,
        controller_port=settings.kafka_controller_port,
        state_dir=settings.state_dir / folder,
        secure=secure,
    )


def local_postgres(settings: Settings) -> LocalPostgres:
    if settings.uses_postgres:
        pg = settings.postgres()
        return LocalPostgres(
            host=pg.host, port=pg.port, user=pg.user, password=pg.password.get_secret_value()
        )
    return LocalPostgres()


def _infra_up(args: argparse.Namespace, settings: Settings) -> int:
    want_kafka = args.kafka or not args.postgres
    want_postgres = args.postgres or (settings.uses_postgres and not args.kafka)
    if want_postgres:
        postgres = local_postgres(settings)
        postgres.ensure_server()
        postgres.ensure_role()
        dbname = settings.postgres().dbname if settings.uses_postgres else "sscard"
        postgres.ensure_database(dbname)
        print(f"PostgreSQL ready: database {dbname} on {postgres.host}:{postgres.port}")
    if want_kafka:
        if not settings.uses_local_kafka:
            raise InvalidInput(
                f"KAFKA_BOOTSTRAP_SERVERS={settings.kafka_bootstrap_servers} points at an existing "
                "broker; unset it to run the local one"
            )
        kafka = local_kafka(settings, args.secure)
        kafka.start()
        print(f"Kafka ready on {kafka.bootstrap_servers} (log: {kafka.log_file})")
        if kafka.secure:
            _grant(kafka, settings)
    return 0


def _grant(kafka: LocalKafka, settings: Settings) -> None:
    """Apply the access table for the settings' topic prefix; say how each principal connects."""
    acls = apply_access_table(
        kafka.bootstrap_servers, kafka.security, Topics(settings.topic_prefix)
    )
    print(f"ACLs applied for topics {settings.topic_prefix}.*: {len(acls)} (relay.access)")
    for principal in PRINCIPALS:
        path = kafka.security.write_environment(principal)
        if principal == BACKOFFICE:
            print(f"the back office connects with: source {path}")
        else:
            print(f"  {principal}: {path}")


def _infra_down(args: argparse.Namespace, settings: Settings) -> int:
    kafka = local_kafka(settings, args.secure)
    kafka.stop()
    print(f"Kafka on {kafka.bootstrap_servers} stopped")
    if args.postgres:
        local_postgres(settings).stop()
        print("PostgreSQL stopped")
    return 0


def _infra_status(args: argparse.Namespace, settings: Settings) -> int:
    kafka = local_kafka(settings, args.secure).status()
    print(
        f"kafka     {kafka.bootstrap_servers}: "
        f"{'running' if kafka.running else 'stopped'}, "
        f"{'answering' if kafka.answering else 'not answering'}"
        f"{f', pid {kafka.pid}' if kafka.pid else ''}; log {kafka.log_file}"
    )
    pg = local_postgres(settings).status()
    print(
        f"postgres  {'installed' if pg.installed else 'not installed'}, "
        f"{'running' if pg.running else 'stopped'}, "
        f"{'answering' if pg.answering else 'not answering'}"
        f"{f', version {pg.version}' if pg.version else ''}"
    )
    return 0 if kafka.answering else 1
