"""The local broker as production runs it: TLS, SASL/SCRAM and ACLs.

- TLS: a CA of the broker's own and a certificate for 127.0.0.1/localhost signed by it, written
  into the state folder (never the repository) as PEM files, which the JDK reads as key and
  trust stores (``ssl.keystore.type=PEM``). Generated with ``cryptography`` in milliseconds, where
  keytool would start a JVM for every step. Clients trust ``ca.pem`` (KAFKA_SSL_CAFILE).
- SASL/SCRAM on the clients' listener: every principal of ``relay.access`` gets a random password
  (``credentials.json``, mode 0600) and SCRAM-SHA-256/512 credentials added when the storage is
  formatted (``StorageTool format --add-scram``): a KRaft cluster keeps them in its metadata.
- The controller listener, loopback only, takes SASL/PLAIN with the broker's own password: SCRAM
  cannot authenticate to a KRaft controller, and an unauthenticated controller listener would
  make every anonymous client that finds it a super user.
- ACLs: ``StandardAuthorizer`` with ``allow.everyone.if.no.acl.found=false``; the broker's own
  principal is the only super user and applies ``relay.access``'s table with the admin API.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from kafka.admin import (
    ACL,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    KafkaAdminClient,
    ResourcePattern,
    ResourceType,
)

from relay.access import BROKER, PRINCIPALS, Grant, access_table
from relay.topics import Topics

MECHANISM = "SCRAM-SHA-512"
_MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512")
_VALID_DAYS = 825  # what browsers and the JDK accept for a leaf certificate

_OPERATIONS = {
    "read": ACLOperation.READ,
    "write": ACLOperation.WRITE,
    "create": ACLOperation.CREATE,
    "describe": ACLOperation.DESCRIBE,
    "describe_configs": ACLOperation.DESCRIBE_CONFIGS,
}
_RESOURCES = {"topic": ResourceType.TOPIC, "group": ResourceType.GROUP}
_PATTERNS = {"literal": ACLResourcePatternType.LITERAL, "prefixed": ACLResourcePatternType.PREFIXED}


@dataclass(frozen=True)
class BrokerSecurity:
    """The security material of one broker, kept in its state folder."""

    state_dir: Path

    @property
    def folder(self) -> Path:
        return self.state_dir / "security"

    @property
    def ca_file(self) -> Path:
        """The CA certificate clients trust (KAFKA_SSL_CAFILE)."""
        return self.folder / "ca.pem"

    @property
    def keystore_file(self) -> Path:
        return self.folder / "broker-keystore.pem"

    @property
    def credentials_file(self) -> Path:
        return self.folder / "credentials.json"

    # -- material ------------------------------------------------------------------------------

    def ensure(self) -> None:
        """Create the CA, the broker's certificate and the passwords once; keep them after."""
        self.folder.mkdir(parents=True, exist_ok=True)
        os.chmod(self.folder, 0o700)
        if not self.credentials_file.exists():
            passwords = {name: secrets.token_urlsafe(24) for name in PRINCIPALS}
            _write_private(self.credentials_file, json.dumps(passwords, indent=2) + "\n")
        if not (self.ca_file.exists() and self.keystore_file.exists()):
            ca_pem, keystore_pem = _ca_and_broker_certificate()
            _write_private(self.keystore_file, keystore_pem)
            self.ca_file.write_text(ca_pem)

    def password(self, principal: str) -> str:
        passwords: dict[str, str] = json.loads(self.credentials_file.read_text())
        return passwords[principal]

    # -- broker configuration ------------------------------------------------------------------

    def listener_properties(self, port: int, controller_port: int) -> dict[str, str]:
        broker_password = self.password(BROKER)
        scram_login = (
            "org.apache.kafka.common.security.scram.ScramLoginModule required "
            f'username="{BROKER}" password="{broker_password}";'
        )
        plain_login = (
            "org.apache.kafka.common.security.plain.PlainLoginModule required "
            f'username="{BROKER}" password="{broker_password}" '
            f'user_{BROKER}="{broker_password}";'
        )
        listeners = f"SASL_SSL://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}"
        return {
            "listeners": listeners,
            "advertised.listeners": listeners,
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "SASL_SSL",
            "listener.security.protocol.map": "CONTROLLER:SASL_PLAINTEXT,SASL_SSL:SASL_SSL",
            "sasl.enabled.mechanisms": ",".join(_MECHANISMS),
            "sasl.mechanism.inter.broker.protocol": MECHANISM,
            "listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config": scram_login,
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": scram_login,
            "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
            "listener.name.controller.plain.sasl.jaas.config": plain_login,
            "sasl.mechanism.controller.protocol": "PLAIN",
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(self.keystore_file),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(self.ca_file),
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "super.users": f"User:{BROKER}",
            "allow.everyone.if.no.acl.found": "false",
        }

    def format_arguments(self) -> list[str]:
        """``--add-scram`` for every principal and mechanism, for ``StorageTool format``."""
        arguments = []
        for name in PRINCIPALS:
            for mechanism in _MECHANISMS:
                arguments += [
                    "--add-scram",
                    f"{mechanism}=[name={name},password={self.password(name)}]",
                ]
        return arguments

    # -- clients -------------------------------------------------------------------------------

    def client_config(self, principal: str = BROKER) -> dict[str, Any]:
        """kafka-python's arguments to connect as ``principal``."""
        return {
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": MECHANISM,
            "sasl_plain_username": principal,
            "sasl_plain_password": self.password(principal),
            "ssl_cafile": str(self.ca_file),
            "ssl_check_hostname": True,
        }

    def environment(self, principal: str) -> dict[str, str]:
        """The variables that make the back office's clients connect as ``principal``."""
        return {
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKA_SASL_MECHANISM": MECHANISM,
            "KAFKA_SASL_USERNAME": principal,
            "KAFKA_SASL_PASSWORD": self.password(principal),
            "KAFKA_SSL_CAFILE": str(self.ca_file),
        }

    def write_environment(self, principal: str) -> Path:
        """``<principal>.env`` (mode 0600) to ``source`` before running the back office."""
        path = self.folder / f"{principal}.env"
        lines = [f"export {key}={value}" for key, value in self.environment(principal).items()]
        _write_private(path, "\n".join(lines) + "\n")
        return path


def acls_of(grants: tuple[Grant, ...]) -> list[ACL]:
    """The table's grants as kafka-python ACLs: one ALLOW per operation, from any host."""
    return [
        ACL(
            principal=f"User:{grant.principal}",
            host="*",
            operation=_OPERATIONS[operation],
            permission_type=ACLPermissionType.ALLOW,
            resource_pattern=ResourcePattern(
                _RESOURCES[grant.resource], grant.name, _PATTERNS[grant.pattern]
            ),
        )
        for grant in grants
        for operation in grant.operations
    ]


def apply_access_table(
    bootstrap_servers: str, security: BrokerSecurity, topics: Topics
) -> list[ACL]:
    """Create the table's ACLs for ``topics`` (as the broker's own principal). Creating an ACL
    that exists is a no-op, so this runs on every start and for every topic prefix."""
    acls = acls_of(access_table(topics))
    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap_servers,
        client_id="sscard-acl-setup",
        request_timeout_ms=10_000,
        **security.client_config(BROKER),
    )
    try:
        result = admin.create_acls(acls)
    finally:
        admin.close()
    failed = result["failed"]
    if failed:
        raise RuntimeError(f"the broker refused {len(failed)} ACLs: {failed[0]!r}")
    return acls


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(text)


def _ca_and_broker_certificate() -> tuple[str, str]:
    """(the CA certificate, the broker's unencrypted PKCS#8 key + certificate chain), PEM."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sscard local Kafka CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=_VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=_VALID_DAYS))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    ca_pem = ca_cert.public_bytes(pem).decode()
    key_pem = key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return ca_pem, key_pem + cert.public_bytes(pem).decode() + ca_pem
