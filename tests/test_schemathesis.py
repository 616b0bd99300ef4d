"""Schemathesis, with its default checks and a pinned seed, against a real server of the app:
no operation may answer a server error or a response that breaks its documented schema,
status code, content type or headers (ST1xx), accept a request that breaks the description
(ST201), refuse one that keeps it (ST202; schemathesis.toml beside this file says which 422s
the description cannot rule out), or answer a method or header check wrongly (ST203-ST205).
It runs on SQLite in `make test` and on PostgreSQL in .ci/run (marked postgres).

The JSON report is kept in the test's tmp directory; set SCHEMATHESIS_EXAMPLES for a longer run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from auth_helpers import sign_as
from core.db import session_scope
from live_server import load_demo, serve

pytestmark = pytest.mark.postgres

CONFIG = Path(__file__).with_name("schemathesis.toml")


@pytest.fixture
def server(app, client):
    with session_scope(app.extensions["cpq_engine"]) as session:
        load_demo(session)
    token = sign_as(app, client)
    app.extensions["cpq_rate_limits"].default = "1000000/minute"     # the fuzzer is no abuser
    with serve(app) as url:
        yield url, token


def test_no_server_error_and_requests_and_responses_keep_the_description(server, tmp_path):
    url, token = server
    command = [str(Path(sys.executable).with_name("schemathesis")), "--config-file", str(CONFIG),
               "run", f"{url}/api/openapi.json",
               "-H", f"Authorization: Bearer {token}", "-n", os.environ.get("SCHEMATHESIS_EXAMPLES", "10"),
               "--seed", "20261123", "--workers", "2", "--no-color", "--report", "json",
               "--report-dir", str(tmp_path)]
    finished = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=tmp_path)  # its cache too
    [report_file] = tmp_path.glob("*.json")
    report = json.loads(report_file.read_text())
    assert report["operations"]["tested"] == report["operations"]["total"] > 100
    assert report["errors"] == [], finished.stdout[-4000:]
    broken = [f"{f['code']} {f['title']}: {', '.join(map(str, f.get('operations', [])))}"
              for f in report["failures"] if f["code"].startswith(("ST1", "ST2"))]
    assert broken == [], finished.stdout[-8000:]
