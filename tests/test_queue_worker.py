"""With a real queue (make run's local transport) the answer never waits for a document: it
says `pending`, the PDF is a 202 and the customer cannot accept yet; a real `cpq worker`
process renders it, and stops gracefully on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from api.app import create_app
from core import queue
from core.settings import Settings
from quote_flow import customer, env, error_of, get, sent  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def app(engine, database_url, tmp_path):
    """The tests' app, with a local queue instead of tasks run in-process."""
    app = create_app(Settings(database_url=database_url, queue_url=f"filesystem://{tmp_path / 'queue'}"),
                     TESTING=True)
    yield app
    app.extensions["cpq_engine"].dispose()
    queue.bind(Settings(database_url=database_url))           # later tests in this process run tasks in-process


def worker(settings: Settings) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "cli.main", "worker", "--concurrency", "1"], cwd=ROOT,
        env={**os.environ, "DATABASE_URL": settings.database_url, "SECRET_KEY": settings.secret_key,
             "CPQ_QUEUE_URL": settings.queue_url}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_a_sent_quote_waits_for_its_document_and_a_worker_renders_it(env):
    number, token = sent(env)
    assert get(env, number)["document_status"] == "pending"                 # nothing rendered in a request
    pdf = env.client.get(f"/q/{token}/pdf")
    assert pdf.status_code == 202 and pdf.headers["Retry-After"] == "2"
    assert pdf.get_json()["document"]["status"] == "pending"
    refused = error_of(customer(env, token, "accept"), 409)
    assert refused["code"] == "document_pending"
    page = env.client.get(f"/q/{token}").get_data(as_text=True)
    assert "being prepared" in page and "Accept and sign" not in page

    process = worker(env.settings)
    try:
        deadline = time.monotonic() + 90
        while get(env, number)["document_status"] != "ready" and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.25)
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
    assert get(env, number)["document_status"] == "ready", output
    assert process.returncode == 0, output                                   # a warm shutdown
    pdf = env.client.get(f"/q/{token}/pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    assert customer(env, token, "accept").status_code == 200
