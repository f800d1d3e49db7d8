"""Finish the secured local stack once its broker answers: Kafka ACLs and Vigil's configuration file.

Run by ``scripts/stack.sh secure-up`` with the project's venv python::

    secure_setup.py kafka-acls SECURE_DIR --bootstrap 127.0.0.1:9094 --timeout 120
    secure_setup.py write-config SECURE_DIR --bootstrap 127.0.0.1:9094 --redis-port 6380

``kafka-acls`` connects as the broker's admin (SCRAM over TLS) and grants the service user
``vigil`` exactly what the services need: every operation on topics and consumer groups whose
names start with ``vigil`` and the cluster-level idempotent write of its producers; nothing else
(the broker denies what no ACL allows). ``write-config`` writes ``SECURE_DIR/vigil.yaml``: the
configuration of a Vigil deployment on this stack, with every secret read from a file.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

SERVICE_USER = "vigil"  # Kafka and Redis user of the services
ADMIN_USER = "admin"  # Kafka: the broker's own user (and the one that grants ACLs)
SUBSCRIBER_USER = "subscriber"  # Redis: read the alert stream and its groups, nothing else
NAME_PREFIX = "vigil"  # topics and consumer groups the service user may use


def _admin(secure: Path, bootstrap: str, timeout_s: float):  # type: ignore[no-untyped-def]
    from kafka import KafkaAdminClient

    password = (secure / "secrets" / "kafka-admin.password").read_text().strip()
    deadline = time.monotonic() + timeout_s
    last = "not tried"
    while time.monotonic() < deadline:
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=bootstrap,
                security_protocol="SASL_SSL",
                sasl_mechanism="SCRAM-SHA-512",
                sasl_plain_username=ADMIN_USER,
                sasl_plain_password=password,
                ssl_cafile=str(secure / "tls" / "ca.pem"),
                request_timeout_ms=5000,
                bootstrap_timeout_ms=3000,
                client_id="vigil-stack-setup",
            )
            if admin.describe_cluster()["brokers"]:
                return admin
            admin.close()
            last = "no broker registered yet"
        except Exception as exc:  # not ready yet
            last = f"{type(exc).__name__}: {exc}"
        time.sleep(1.0)
    raise SystemExit(f"secured kafka {bootstrap} not ready after {timeout_s:.0f} s: {last}")


def kafka_acls(secure: Path, bootstrap: str, timeout_s: float) -> None:
    """Grant the service user its ACLs (idempotent: Kafka keeps one copy of an identical ACL)."""
    from kafka.admin import (
        ACL,
        ACLOperation,
        ACLPermissionType,
        ACLResourcePatternType,
        ResourcePattern,
        ResourceType,
    )

    admin = _admin(secure, bootstrap, timeout_s)
    principal = f"User:{SERVICE_USER}"

    def allow(kind: ResourceType, name: str, op: ACLOperation, pattern: ACLResourcePatternType) -> ACL:
        return ACL(principal, "*", op, ACLPermissionType.ALLOW, ResourcePattern(kind, name, pattern))

    prefixed = ACLResourcePatternType.PREFIXED
    acls = [
        allow(ResourceType.TOPIC, NAME_PREFIX, ACLOperation.ALL, prefixed),
        allow(ResourceType.GROUP, NAME_PREFIX, ACLOperation.ALL, prefixed),
        allow(
            ResourceType.CLUSTER,
            "kafka-cluster",
            ACLOperation.IDEMPOTENT_WRITE,
            ACLResourcePatternType.LITERAL,
        ),
        allow(ResourceType.CLUSTER, "kafka-cluster", ACLOperation.DESCRIBE, ACLResourcePatternType.LITERAL),
    ]
    try:
        result = admin.create_acls(acls)
    finally:
        admin.close()
    failed = result.get("failed", [])
    if failed:
        raise SystemExit(f"secured kafka: could not create ACLs: {failed}")
    print(f"kafka {bootstrap}: ACLs for {principal} on '{NAME_PREFIX}*' topics and groups")


CONFIG = """\
# Vigil on the secured local stack (written by scripts/stack.sh secure-up). Every secret comes
# from a file; the files are readable by their owner only.
kafka:
  bootstrap_servers: "{bootstrap}"
  security_protocol: SASL_SSL
  sasl_mechanism: SCRAM-SHA-512
  sasl_username: {service_user}
  sasl_password_file: {secure}/secrets/kafka-vigil.password
  ssl_cafile: {secure}/tls/ca.pem
redis:
  url: "rediss://127.0.0.1:{redis_port}/0"
  username: {service_user}
  password_file: {secure}/secrets/redis-vigil.password
  ssl_cafile: {secure}/tls/ca.pem
"""


def write_config(secure: Path, bootstrap: str, redis_port: int) -> None:
    """Write ``secure/vigil.yaml`` (see the module doc)."""
    text = CONFIG.format(bootstrap=bootstrap, redis_port=redis_port, secure=secure, service_user=SERVICE_USER)
    (secure / "vigil.yaml").write_text(text)
    print(f"wrote {secure / 'vigil.yaml'}")


def main(argv: list[str] | None = None) -> int:
    """Command line (see the module doc)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("command", choices=["kafka-acls", "write-config"])
    parser.add_argument("secure_dir", type=Path)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--redis-port", type=int, default=6380)
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args(argv)
    secure = args.secure_dir.resolve()
    if args.command == "kafka-acls":
        kafka_acls(secure, args.bootstrap, args.timeout)
    else:
        write_config(secure, args.bootstrap, args.redis_port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
