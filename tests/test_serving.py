"""Serving like production: gunicorn as `make run` starts it (bench/server.py), the checks that
refuse a wrong start, slow clients, rate limits shared by worker processes, and what
operators see (health, readiness, request ids, metrics)."""

from __future__ import annotations

import gc
import importlib
import logging
import re
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Iterator

import httpx
import pytest
from click.testing import CliRunner

from api.app import create_app
from bench.server import ROOT, free_port, gunicorn
from catalog.store import get_model, load_demo_catalog
from configurator.engine import MAX_MODELS
from cli.main import cli
from core.apikeys import create_key
from core.cache import LruCache
from core.crypto import MissingKey, SecretBox
from core.db import session_scope
from core.settings import MissingSecretKey, Settings
from core.users import create_user
from live_server import forget_redis_keys, load_demo

pytestmark = pytest.mark.postgres


# ---- starting ---------------------------------------------------------------------------------

def test_the_web_app_from_the_environment_needs_a_secret_key(database_url, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("DATABASE_URL", database_url)
    with pytest.raises(MissingSecretKey, match="SECRET_KEY is not set"):
        create_app()
    monkeypatch.setenv("SECRET_KEY", "from-the-environment")
    assert create_app().config["SECRET_KEY"] == "from-the-environment"


def test_settings_built_in_code_get_a_random_key_of_their_own():
    assert Settings().secret_key != Settings().secret_key
    assert Settings.from_env({}).secret_key == ""


def test_the_cli_needs_no_secret_key(tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    result = CliRunner().invoke(cli, ["db", "upgrade"], env={"DATABASE_URL": url, "SECRET_KEY": None})
    assert result.exit_code == 0, result.output


def test_stored_secrets_are_never_encrypted_without_a_secret_key():
    """A key derived from an empty SECRET_KEY would be everyone's: the worker and re-encryption refuse."""
    with pytest.raises(MissingKey, match="SECRET_KEY"):
        SecretBox.from_settings(Settings.from_env({}))
    result = CliRunner().invoke(cli, ["worker", "--once"], env={"SECRET_KEY": None, "DATABASE_URL": "sqlite://"})
    assert result.exit_code == 1 and "SECRET_KEY" in result.output


@contextmanager
def _worker_start(monkeypatch, tmp_path, app) -> Iterator[LruCache]:
    """Run the gunicorn worker hook on `app` with an empty configurator cache; the cache."""
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))    # importing the config sets it otherwise
    cache = LruCache(MAX_MODELS)
    monkeypatch.setattr("configurator.engine._CONFIGURATORS", cache)
    config = importlib.import_module("api.gunicorn_config")
    before = gc.get_freeze_count()
    try:
        config.post_worker_init(SimpleNamespace(wsgi=app, log=logging.getLogger("test")))
        assert gc.get_freeze_count() > before
        yield cache
    finally:
        gc.unfreeze()


def test_a_worker_compiles_the_models_then_hides_them_and_the_app_from_the_garbage_collector(
        monkeypatch, tmp_path, app, engine):
    with session_scope(engine) as session:
        load_demo_catalog(session)
        model = get_model(session, "rack-server")
    with _worker_start(monkeypatch, tmp_path, app) as cache:
        compiled = cache.get(model.digest, lambda: pytest.fail("the worker did not compile the model"))
        clause = compiled.enc.structure[0]
        assert gc.is_tracked(clause) and not any(o is clause for o in gc.get_objects())


@pytest.mark.parametrize("workers, recycled", [("1", 0), ("3", 10000)])
def test_only_one_of_several_workers_is_recycled(monkeypatch, tmp_path, workers, recycled):
    """Nothing answers while a lone worker's replacement starts."""
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    monkeypatch.setenv("WEB_CONCURRENCY", workers)
    config = importlib.reload(importlib.import_module("api.gunicorn_config"))
    assert config.max_requests == recycled
    monkeypatch.undo()
    importlib.reload(config)                        # as the other tests import it


def test_a_worker_starts_on_a_database_it_cannot_read_yet(monkeypatch, tmp_path, caplog):
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'unmigrated.db'}"), TESTING=True)
    with _worker_start(monkeypatch, tmp_path, app):
        assert "product models not compiled before serving" in caplog.text


def _start(env: dict, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "gunicorn", "-c", "python:api.gunicorn_config",
               "--bind", f"127.0.0.1:{free_port()}", *args, "api.wsgi:app"]
    return subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_gunicorn_refuses_to_start_without_a_secret_key(database_url):
    started = _start({"DATABASE_URL": database_url, "PATH": "/usr/bin:/bin"})
    assert started.returncode == 1
    assert "SECRET_KEY is not set" in started.stderr


def test_gunicorn_refuses_several_workers_counting_rate_limits_each_on_its_own(database_url):
    started = _start({"DATABASE_URL": database_url, "SECRET_KEY": "s", "PATH": "/usr/bin:/bin"}, "--workers", "2")
    assert started.returncode == 1
    assert "2 workers with CPQ_RATE_LIMIT_STORAGE=memory://" in started.stderr


def test_gunicorn_refuses_to_render_documents_inside_requests(database_url):
    started = _start({"DATABASE_URL": database_url, "SECRET_KEY": "s", "PATH": "/usr/bin:/bin"})
    assert started.returncode == 1
    assert "CPQ_QUEUE_URL is not set" in started.stderr


# ---- slow clients -----------------------------------------------------------------------------

def test_idle_and_half_sent_connections_hold_no_worker(database_url, engine, tmp_path):
    """500 connections that send nothing and 100 that send half a request head, against one worker
    as `make run` starts it: a normal request still answers within a second (stock gthread
    answered nothing within 30 s)."""
    with session_scope(engine) as session:
        load_demo(session)
    env = {"DATABASE_URL": database_url, "SECRET_KEY": "s"}
    with gunicorn(env, log=tmp_path / "gunicorn.log") as served:
        url = served.url
        port = int(url.rsplit(":", 1)[1])
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(500)]
        half = [socket.create_connection(("127.0.0.1", port)) for _ in range(100)]
        for sock in half:
            sock.sendall(b"GET /api/v1/products HTTP/1.1\r\nHost: localhost\r\n")
        try:
            time.sleep(0.5)
            for _ in range(3):
                started = time.perf_counter()
                answer = httpx.get(f"{url}/api/v1/products", timeout=10)
                assert answer.status_code == 200
                assert time.perf_counter() - started < 1
        finally:
            for sock in idle + half:
                sock.close()


# ---- several worker processes -----------------------------------------------------------------

def _caller(engine, email: str, *scopes: str) -> tuple[str, str]:
    """(the scope its requests are counted under, its bearer token): a user, or their API key."""
    with session_scope(engine) as session:
        user, token = create_user(session, email, "Caller", "admin")
        if not scopes:
            return f"user:{user.id}", token
        key, secret = create_key(session, user, "prometheus", list(scopes))
        return f"key:{key.id}", secret


def test_a_rate_limit_holds_across_two_worker_processes(database_url, engine, redis_url, tmp_path):
    """40/minute through two workers sharing Redis: exactly 40 answered, the rest 429 (with counts
    per process, each worker would let 40 through). /metrics adds up both workers' requests."""
    user_scope, token = _caller(engine, "limited@example.com")
    key_scope, metrics_key = _caller(engine, "prometheus@example.com", "metrics:read")
    env = {"DATABASE_URL": database_url, "SECRET_KEY": "s", "CPQ_RATE_LIMIT": "40/minute",
           "CPQ_RATE_LIMIT_STORAGE": redis_url}
    try:
        with gunicorn(env, workers=2, log=tmp_path / "gunicorn.log") as served:
            url = served.url
            statuses = [httpx.get(f"{url}/api/v1/session", headers={"Authorization": f"Bearer {token}"}).status_code
                        for _ in range(80)]                     # a new connection each: both workers answer
            metrics = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {metrics_key}"})
    finally:
        forget_redis_keys(redis_url, user_scope, key_scope)
    assert (statuses.count(200), statuses.count(429)) == (40, 40)
    assert metrics.status_code == 200
    counted = {status: float(n) for status, n in re.findall(
        r'cpq_http_request_duration_seconds_count\{endpoint="identity.whoami",method="GET",status="(\d+)"\} (\S+)',
        metrics.text)}
    assert counted == {"200": 40.0, "429": 40.0}
    assert "cpq_webhook_deliveries_due 0.0" in metrics.text and "cpq_mail_messages_due 0.0" in metrics.text
    log = (tmp_path / "gunicorn.log").read_text()
    assert len(set(re.findall(r" (\d+) INFO cpq\.access .* GET /api/v1/session ", log))) == 2   # two pids answered


# ---- what operators see -----------------------------------------------------------------------

def test_healthz_and_readyz_check_the_database(app, client, engine):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    assert client.get("/readyz").get_json() == {"status": "ready"}
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = 'older'")
    not_ready = client.get("/readyz")
    assert (not_ready.status_code, not_ready.get_json()["error"]["code"]) == (503, "not_ready")
    assert "cpq db upgrade" in not_ready.get_json()["error"]["message"]
    broken = create_app(Settings(database_url="postgresql://nobody@127.0.0.1:1/none"), TESTING=True).test_client()
    for path in ("/healthz", "/readyz"):
        down = broken.get(path)
        assert (down.status_code, down.get_json()["error"]["code"]) == (503, "unavailable")


def test_readyz_says_when_the_rate_limit_store_does_not_answer(database_url, engine):
    app = create_app(Settings(database_url=database_url, rate_limit_storage="redis://127.0.0.1:1/0"), TESTING=True)
    answer = app.test_client().get("/readyz")
    assert (answer.status_code, answer.get_json()["error"]["code"]) == (503, "unavailable")


def test_every_answer_carries_a_request_id(client, caplog):
    given = client.get("/healthz", headers={"X-Request-ID": "lb-7f3a.1"})
    assert given.headers["X-Request-ID"] == "lb-7f3a.1"
    with caplog.at_level("INFO", logger="cpq.access"):
        made = client.get("/no/such/thing", headers={"X-Request-ID": "not <plain> at all"})
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["X-Request-ID"])
    assert made.status_code == 404
    [line] = [r for r in caplog.records if r.name == "cpq.access"]
    assert line.getMessage().startswith("GET /no/such/thing 404 ")


def test_request_lines_leave_out_link_tokens(client, caplog):
    with caplog.at_level("INFO", logger="cpq.access"):
        client.get("/api/v1/shared/s3cr3t-link-token-value")
    [line] = [r.getMessage() for r in caplog.records if r.name == "cpq.access"]
    assert line.startswith("GET /api/v1/shared/<token> 404 ") and "s3cr3t" not in line


def test_metrics_need_their_permission(client, engine):
    assert client.get("/metrics").status_code == 401
    with session_scope(engine) as session:
        _user, rep = create_user(session, "a-rep@example.com", "Rep", "rep")
    assert client.get("/metrics", headers={"Authorization": f"Bearer {rep}"}).status_code == 403
    client.get("/healthz")
    _scope, key = _caller(engine, "scraper@example.com", "metrics:read")
    answer = client.get("/metrics", headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 200 and answer.mimetype == "text/plain"
    assert 'cpq_http_request_duration_seconds_count{endpoint="healthz",method="GET",status="200"}' \
        in answer.get_data(as_text=True)


def test_forwarded_headers_count_only_behind_the_configured_proxies(database_url, engine):
    headers = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
    for hops, seen in ((0, "127.0.0.1"), (1, "203.0.113.9")):
        app = create_app(Settings(database_url=database_url, proxy_hops=hops), TESTING=True)
        app.extensions["cpq_rate_limits"].anonymous = "1/minute"
        client = app.test_client()
        client.get("/healthz", headers=headers, environ_base={"REMOTE_ADDR": "127.0.0.1"})
        # counted per address: behind a trusted proxy the client's, else the proxy's own
        second = client.get("/healthz", headers={**headers, "X-Forwarded-For": "198.51.100.1"},
                            environ_base={"REMOTE_ADDR": "127.0.0.1"})
        assert second.status_code == (429 if hops == 0 else 200), seen
