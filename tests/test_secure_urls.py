"""Redis with a password over TLS (``rediss://``) and Postgres with a password in its URL: the whole stack
runs on them, and the passwords appear in no log."""

from __future__ import annotations

import secrets
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from redis import Redis
from sqlalchemy import make_url, text

from store.db import make_engine
from tests.conftest import Prospect, Stack, free_port, fresh_database, make_playbook, wait_for

REDIS_PASSWORD = "redis-" + secrets.token_hex(8)
PG_PASSWORD = "pg-" + secrets.token_hex(8)


def make_certificates(tmp: Path) -> dict[str, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1 signed by it (openssl)."""
    ca_key, ca, key, csr, cert = (tmp / n for n in ("ca.key", "ca.crt", "server.key", "server.csr", "server.crt"))
    run = lambda *args: subprocess.run(["openssl", *args], check=True, capture_output=True)  # noqa: E731
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key), "-out", str(ca), "-days", "1",
        "-subj", "/CN=Leadline test CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr), "-subj", "/CN=127.0.0.1")
    ext = tmp / "san.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1\n")
    run("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial", "-out", str(cert),
        "-days", "1", "-extfile", str(ext))
    return {"ca": ca, "cert": cert, "key": key}


@pytest.fixture
def tls_redis(tmp_path) -> Any:
    """A redis-server that speaks only TLS and wants a password; yields its ``rediss://`` URL."""
    server = shutil.which("redis-server")
    if server is None or shutil.which("openssl") is None:
        pytest.skip("needs redis-server and openssl (Debian: apt-get install redis-server openssl)")
    certs = make_certificates(tmp_path)
    port = free_port()
    log = (tmp_path / "redis.log").open("wb")
    proc = subprocess.Popen([server, "--port", "0", "--tls-port", str(port), "--tls-cert-file", str(certs["cert"]),
                             "--tls-key-file", str(certs["key"]), "--tls-ca-cert-file", str(certs["ca"]),
                             "--tls-auth-clients", "no", "--requirepass", REDIS_PASSWORD, "--save", "",
                             "--appendonly", "no", "--bind", "127.0.0.1", "--dir", str(tmp_path)],
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"rediss://:{REDIS_PASSWORD}@127.0.0.1:{port}/0?ssl_ca_certs={certs['ca']}&ssl_cert_reqs=required"

    def up() -> bool:
        if proc.poll() is not None:
            pytest.skip(f"this redis-server has no TLS: {(tmp_path / 'redis.log').read_text()[-300:]}")
        try:
            return Redis.from_url(url, socket_timeout=1).ping()
        except Exception:
            return False

    wait_for(up, timeout=15, what="the TLS Redis")
    yield url
    proc.terminate()
    proc.wait(timeout=10)
    log.close()


def database_with_password(tmp: Path) -> str:
    """On Postgres: a login role with a password owning a fresh database, and its URL. On SQLite: a fresh file."""
    url = fresh_database(tmp, "_secure")
    if url.startswith("sqlite"):
        return url
    admin = make_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("DROP ROLE IF EXISTS leadline_app"))
        conn.execute(text(f"CREATE ROLE leadline_app LOGIN PASSWORD '{PG_PASSWORD}'"))
        conn.execute(text("GRANT ALL ON SCHEMA public TO leadline_app"))
        conn.execute(text("GRANT ALL ON ALL TABLES IN SCHEMA public TO leadline_app"))
        conn.execute(text("GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO leadline_app"))
    admin.dispose()
    return make_url(url).set(username="leadline_app", password=PG_PASSWORD).render_as_string(hide_password=False)


def test_the_stack_runs_on_redis_over_tls_with_a_password_and_logs_no_secret(tmp_path, tls_redis, phone, capfd):
    database_url = database_with_password(tmp_path)
    stack = Stack(tmp_path, database_url=database_url, redis_url=tls_redis, playbook=make_playbook(tmp_path),
                  queue_name="secure-tests")
    try:
        assert requests.get(f"{stack.url}/healthz", timeout=10).json()["redis"] == "ok"
        p = Prospect(stack.sandbox, phone())
        p.say("hi")
        assert p.wait_for_replies(2)[1].startswith("What do you need?")  # through the TLS Redis and the worker
        # A wrong password is a clear failure of the health check, not a hang or a crash.
        wrong = Redis.from_url(tls_redis.replace(REDIS_PASSWORD, "not-the-password"), socket_timeout=2)
        with pytest.raises(Exception, match="(?i)invalid username-password|invalid password|WRONGPASS"):
            wrong.ping()
    finally:
        stack.close()
    time.sleep(0.2)
    logs = stack.log_path.read_text() + "".join(capfd.readouterr())
    for secret in (REDIS_PASSWORD, PG_PASSWORD):
        assert secret not in logs, "a password reached the logs"
