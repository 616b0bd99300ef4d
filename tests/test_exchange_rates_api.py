"""Exchange rates through the API (/api/v1/exchange-rates) and the CLI (`cpq rates`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from auth_helpers import sign_as
from cli.main import cli

pytestmark = pytest.mark.postgres

FILES = Path(__file__).parent / "ecb"
DAILY = (FILES / "eurofxref.csv").read_bytes()
HISTORY = (FILES / "eurofxref-hist.csv").read_bytes()


def send(client, body: bytes, content_type: str = "text/csv"):
    return client.post("/api/v1/exchange-rates/import", data=body, content_type=content_type)


def test_finance_imports_the_ecbs_files_once(app, client):
    sign_as(app, client, "finance")
    first = send(client, HISTORY)
    assert first.status_code == 200, first.get_json()
    body = first.get_json()
    assert body["unchanged"] == 0 and body["first"] == "2025-12-31" and body["last"] == "2026-12-05"
    assert "BGN" in body["skipped"] and "USD" not in body["skipped"]
    again = send(client, HISTORY).get_json()
    assert (again["created"], again["unchanged"]) == (0, body["created"])
    assert send(client, DAILY).get_json()["created"] == 0


def test_reading_the_table_and_a_cross_rate(app, client):
    sign_as(app, client, "finance")
    send(client, HISTORY)
    sign_as(app, client, "rep", email="rep@example.com")
    table = client.get("/api/v1/exchange-rates?on=2026-12-03").get_json()
    usd = next(r for r in table if r["quote"] == "USD")
    assert usd == {"base": "EUR", "quote": "USD", "rate": "1.0498", "on": "2026-12-03", "source": "ECB"}
    assert next(r for r in table if r["quote"] == "JPY")["on"] == "2025-12-31"
    cross = client.get("/api/v1/exchange-rates/USD/GBP?on=2026-12-06").get_json()
    assert cross == {"from": "USD", "to": "GBP", "rate": "0.80945971563981", "on": "2026-12-05",
                     "source": "ECB via EUR", "requested": "2026-12-06"}


def test_bad_requests_are_4xx_naming_the_field(app, client):
    sign_as(app, client, "finance")
    bad = send(client, b"Date,USD,\n2026-12-05,1.05x,\n")
    assert bad.status_code == 422
    assert bad.get_json()["error"]["fields"] == {"line 2, column 2 (USD)": ["expected a rate such as 1.0550 or N/A, not '1.05x'"]}
    assert client.get("/api/v1/exchange-rates?on=2026-12-03").get_json() == []            # nothing stored
    assert send(client, b"").status_code == 400
    assert send(client, b"\xff\xfe", "text/csv").status_code == 400
    missing = client.get("/api/v1/exchange-rates/USD/GBP?on=2026-12-06")
    assert missing.status_code == 422 and "no exchange rate from USD to GBP" in missing.get_json()["error"]["fields"]["to"][0]
    assert "on" in client.get("/api/v1/exchange-rates?on=12/05/2026").get_json()["error"]["fields"]
    assert client.get("/api/v1/exchange-rates/USD/XYZ").status_code == 422


def test_only_finance_and_admins_import(app, client):
    sign_as(app, client, "rep", email="rep@example.com")
    assert send(client, DAILY).status_code == 403
    assert client.get("/api/v1/exchange-rates").status_code == 200


# ---- the CLI ----------------------------------------------------------------------------------

def run(*args, env):
    result = CliRunner().invoke(cli, [str(a) for a in args], env=env, catch_exceptions=False)
    assert "Traceback" not in result.output
    return result


@pytest.fixture
def cli_env(tmp_path):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}
    assert run("db", "upgrade", env=env).exit_code == 0
    return env


def test_cpq_rates_import_list_and_show(cli_env):
    imported = run("rates", "import", FILES / "eurofxref-hist.csv", env=cli_env)
    assert imported.exit_code == 0, imported.output
    assert "rates stored, 0 unchanged from 2025-12-31 to 2026-12-05" in imported.stdout
    assert "skipped (no current ISO 4217 currency): BGN, CYP" in imported.stdout
    again = json.loads(run("rates", "import", FILES / "eurofxref.csv", "--json", env=cli_env).stdout)
    assert (again["created"], again["unchanged"]) == (0, 29)
    listing = run("rates", "list", "--on", "2026-12-04", env=cli_env).stdout
    assert "1 EUR = 1.0512 USD  (ECB, 2026-12-04)" in listing
    shown = run("rates", "show", "gbp", "usd", "--on", "2026-12-05", env=cli_env).stdout
    assert shown.strip() == "1 GBP = 1.23539192955339 USD  (ECB via EUR, effective 2026-12-05)"
    assert json.loads(run("rates", "list", "--on", "2026-12-04", "--json", env=cli_env).stdout)[0]["base"] == "EUR"


def test_cpq_rates_errors_are_one_line_each(cli_env, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("Date,USD,\n2026-12-05,N/A,\n2026-12-04,abc,\n")
    result = run("rates", "import", bad, env=cli_env)
    assert result.exit_code == 1
    assert result.stderr.strip() == f"{bad}: line 3, column 2 (USD): expected a rate such as 1.0550 or N/A, not 'abc'"
    missing = run("rates", "show", "USD", "GBP", env=cli_env)
    assert missing.exit_code == 1 and "no exchange rate from USD to GBP" in missing.stderr
    assert run("rates", "import", tmp_path / "nope.csv", env=cli_env).exit_code == 1
