"""Usage through the API and the CLI: POST /api/v1/usage in JSON (one record or a batch), NDJSON
and CSV; who may report and read usage; an account's usage so far; rating by hand; `cpq usage`."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from click.testing import CliRunner
from sqlmodel import select

from api import usage as usage_api
from billing.models import Invoice
from billing.usage_models import UsagePeriod, UsageRecord, period_label, period_of
from cli.main import cli
from core.apikeys import create_key
from core.db import session_scope
from core.users import create_user
from usage_flow import NUMBER, record, setup_usage

pytestmark = pytest.mark.postgres

API = "/api/v1"
NOW = datetime.now(timezone.utc)
RECENT = (NOW - timedelta(minutes=1)).isoformat(timespec="seconds")
THIS = period_label(period_of(NOW))


@pytest.fixture
def env(app, client):
    tokens = {}
    with session_scope(app.extensions["cpq_engine"]) as session:
        setup_usage(session)
        for role in ("rep", "finance", "approver"):
            _user, tokens[role] = create_user(session, f"{role}@usage.example", role.title(), role)
        admin, tokens["admin"] = create_user(session, "admin@usage.example", "Admin", "admin")
        _key, tokens["meter"] = create_key(session, admin, "metering", ["usage:write"])
    return app, client, tokens


def post(env, body=None, who="meter", data=None, content_type=None):
    _app, client, tokens = env
    headers = {"Authorization": f"Bearer {tokens[who]}"}
    if data is not None:
        return client.post(f"{API}/usage", data=data, content_type=content_type, headers=headers)
    return client.post(f"{API}/usage", json=body, headers=headers)


def get(env, path, who="rep"):
    _app, client, tokens = env
    return client.get(f"{API}{path}", headers={"Authorization": f"Bearer {tokens[who]}"})


def now_record(key, quantity="1", **more):
    return record(key, quantity, event_time=RECENT, **more)


def count(env) -> int:
    with session_scope(env[0].extensions["cpq_engine"]) as session:
        return len(session.exec(select(UsageRecord)).all())


def test_one_record_then_the_same_again(env):
    first = post(env, now_record("evt-1", "2.5"))
    assert first.status_code == 201, first.get_json()
    assert first.get_json() == {"received": 1, "accepted": 1, "duplicates": 0, "duplicate_records": []}
    again = post(env, now_record("evt-1", "2.5"))
    assert again.status_code == 200
    assert again.get_json() == {"received": 1, "accepted": 0, "duplicates": 1,
                                "duplicate_records": [{"account": "ACME", "idempotency_key": "evt-1"}]}
    assert count(env) == 1


def test_a_batch_is_all_or_nothing_and_names_every_bad_record(env):
    good = post(env, {"records": [now_record("a"), now_record("b", 4, meter="sms")]})
    assert good.status_code == 201 and good.get_json()["accepted"] == 2
    bad = post(env, {"records": [now_record("c"), now_record("d", "-2"), now_record("e", account="NOBODY"),
                                 record("f", event_time="2020-01-15T00:00:00Z")]})
    assert bad.status_code == 422
    assert bad.get_json()["error"]["fields"] == {
        "records[1].quantity": [NUMBER],
        "records[2].account": ["unknown account 'NOBODY'"],
        "records[3].event_time": ["usage period 2020-01 is closed: it took late records until 2020-02-04 00:00 UTC "
                                  "(3 days after its end)"]}
    assert count(env) == 2
    edge = post(env, {"records": [record("h", event_time="0001-01-01T00:00:00+01:00"),
                                  record("i", event_time="9999-12-31T23:59:59-05:00"), record("j", quantity=10**15)]})
    assert edge.get_json()["error"]["fields"] == {
        "records[0].event_time": ["expected an ISO 8601 time with its UTC offset, such as 2026-03-14T09:30:00Z"],
        "records[1].event_time": ["expected an ISO 8601 time with its UTC offset, such as 2026-03-14T09:30:00Z"],
        "records[2].quantity": [NUMBER]}
    assert post(env, {"records": []}).get_json()["error"]["fields"] == {
        "records": ["expected a list of records, at least one"]}
    assert post(env, {"records": [now_record("g")], "extra": 1}).get_json()["error"]["fields"] == {
        "extra": ["unknown field; a bulk body has only records"]}


def test_ndjson_and_csv_uploads(env):
    lines = "\n".join(['{"account": "ACME", "meter": "api_calls", "quantity": 3, "event_time": "%s", '
                       '"idempotency_key": "n-%d"}' % (RECENT, i) for i in range(3)]) + "\n\n"
    answer = post(env, data=lines, content_type="application/x-ndjson")
    assert answer.status_code == 201 and answer.get_json()["accepted"] == 3
    bad = post(env, data=lines.replace('"quantity": 3, "event_time"', '"quantity": "x", "event_time"', 1)
               + "{not json\n", content_type="application/x-ndjson")
    assert bad.status_code == 422
    assert bad.get_json()["error"]["fields"] == {"line 1.quantity": [NUMBER],
                                                 "line 5": ["not valid JSON: Expecting property name enclosed in "
                                                            "double quotes"]}
    table = f"account,meter,quantity,event_time,idempotency_key\r\nACME,storage_gb,12.25,{RECENT},c-1\r\n" \
            f"ACME,storage_gb,0.75,{RECENT},c-2\r\n"
    assert post(env, data=table, content_type="text/csv").get_json()["accepted"] == 2
    wrong = post(env, data="account,meter,amount\r\nACME,sms,1\r\n", content_type="text/csv")
    assert wrong.get_json()["error"]["fields"] == {"line 1": [
        "the header names the fields (account, meter, quantity, event_time, idempotency_key, subscription_id); "
        "unknown: amount"]}
    long = post(env, data=table + f"ACME,sms,1,{RECENT},c-3,,extra\r\n", content_type="text/csv")
    assert long.get_json()["error"]["fields"] == {"line 4": ["7 values for 5 columns"]}
    latin = post(env, data="account\r\nAC\xc9ME\r\n".encode("latin-1"), content_type="text/csv")
    assert latin.status_code == 400
    assert post(env, data=b"  ", content_type="text/csv").status_code == 400
    assert count(env) == 5


def test_a_request_takes_at_most_so_many_records(env, monkeypatch):
    monkeypatch.setattr(usage_api, "MAX_RECORDS", 2)
    too_many = post(env, {"records": [now_record(k) for k in "abc"]})
    assert too_many.status_code == 422
    assert too_many.get_json()["error"]["fields"] == {"body": ["at most 2 records per request; send the rest in another"]}
    assert count(env) == 0


def test_who_reports_and_who_reads_usage(env):
    assert post(env, now_record("k"), who="rep").status_code == 403
    assert post(env, now_record("k"), who="finance").status_code == 201
    assert get(env, "/accounts/ACME/usage", who="meter").status_code == 403
    assert get(env, "/accounts/ACME/usage", who="approver").status_code == 403
    assert get(env, "/accounts/ACME/usage", who="rep").status_code == 200
    _app, client, tokens = env
    assert client.post(f"{API}/usage/rate", headers={"Authorization": f"Bearer {tokens['rep']}"}).status_code == 403


def test_usage_so_far(env):
    post(env, {"records": [now_record("a", 12), now_record("b", 250, meter="storage_gb")]})
    shown = get(env, f"/accounts/ACME/usage?period={THIS}")
    assert shown.status_code == 200
    body = shown.get_json()
    assert (body["account"], body["period"], body["state"], body["invoice"], body["currency"]) == (
        "ACME", THIS, "open", None, "USD")
    assert body["total"] == "50.23"                      # 41.60 raised to the 50.00 minimum; 150 GB-day x 0.0015
    api_calls, storage = body["meters"]
    assert {k: api_calls[k] for k in ("meter", "product", "name", "unit", "records", "quantity", "amount", "minimum",
                                      "true_up", "total", "problem")} == {
        "meter": "api_calls", "product": "API-CALLS", "name": "API calls", "unit": "call", "records": 1,
        "quantity": "12", "amount": "41.60", "minimum": "50.00", "true_up": "8.40", "total": "50.00", "problem": None}
    assert api_calls["tiers"] == [
        {"above": "0", "up_to": "10", "quantity": "10", "unit_price": "1.00", "flat_fee": "10.00", "amount": "20.00"},
        {"above": "10", "up_to": None, "quantity": "2", "unit_price": "0.80", "flat_fee": "20.00", "amount": "21.60"}]
    assert (storage["allowance_used"], storage["billable"], storage["amount"]) == ("100", "150", "0.23")
    assert get(env, "/accounts/ACME/usage").get_json()["period"] == THIS
    for period in ("2026-13", "0000-01", "9999-12"):
        assert get(env, f"/accounts/ACME/usage?period={period}").status_code == 422
    assert get(env, "/accounts/NOBODY/usage").status_code == 404


def test_rating_by_hand(env):
    app = env[0]
    last = period_of(NOW.replace(day=1) - timedelta(days=40))         # a period whose grace has ended
    with session_scope(app.extensions["cpq_engine"]) as session:
        session.add(UsagePeriod(period=last))
        session.add(UsageRecord(account_id=1, meter="api_calls", quantity=Decimal(3),
                                event_time=datetime.combine(last, datetime.min.time(), timezone.utc),
                                period=last, idempotency_key="old"))
    _app, client, tokens = env
    finance = {"Authorization": f"Bearer {tokens['finance']}"}
    still_open = client.post(f"{API}/usage/rate?period={THIS}", headers=finance)
    assert still_open.status_code == 409 and "takes late records until" in still_open.get_json()["error"]["message"]
    [run] = client.post(f"{API}/usage/rate", headers=finance).get_json()
    assert (run["period"], run["charges"], run["failed"], len(run["invoices"])) == (period_label(last), 1, [], 1)
    assert client.post(f"{API}/usage/rate", headers=finance).get_json() == []
    again = client.post(f"{API}/usage/rate?period={period_label(last)}", headers=finance).get_json()
    assert again == [{"period": period_label(last), "invoices": [], "charges": 0, "failed": []}]
    with session_scope(app.extensions["cpq_engine"]) as session:
        assert session.get(Invoice, run["invoices"][0]).net_total == Decimal("50.00")
    rated = get(env, f"/accounts/ACME/usage?period={period_label(last)}").get_json()
    assert (rated["state"], rated["invoice"], rated["total"]) == ("rated", run["invoices"][0], "50.00")


# the command line ------------------------------------------------------------------------------------

def cpq(database_url, *args):
    result = CliRunner().invoke(cli, [str(a) for a in args], env={"DATABASE_URL": database_url},
                                catch_exceptions=False)
    assert "Traceback" not in result.output
    return result


def test_cpq_usage_import_show_and_rate(env, database_url, tmp_path):
    ndjson = tmp_path / "usage.ndjson"
    ndjson.write_text("\n".join('{"account": "ACME", "meter": "api_calls", "quantity": 5, "event_time": "%s", '
                                '"idempotency_key": "f-%d"}' % (RECENT, i) for i in range(4)))
    assert cpq(database_url, "usage", "import", ndjson).stdout == "4 received, 4 stored, 0 duplicates\n"
    assert cpq(database_url, "usage", "import", ndjson).stdout == "4 received, 0 stored, 4 duplicates\n"
    table = tmp_path / "usage.csv"
    table.write_text(f"account,meter,quantity,event_time,idempotency_key\nACME,sms,x,{RECENT},s-1\n"
                     f"ACME,sms,3,{RECENT},s-2\nNOBODY,sms,3,{RECENT},s-3\n")
    bad = cpq(database_url, "usage", "import", table)
    assert bad.exit_code == 1
    assert bad.stderr.splitlines() == [f"{table}: line 2.quantity: {NUMBER}",
                                       f"{table}: line 4.account: unknown account 'NOBODY'"]
    shown = cpq(database_url, "usage", "show", "ACME")
    assert shown.stdout.splitlines()[1].split() == ["api_calls", "20", "call", "50.00", "USD"]   # 48.00: the minimum
    assert cpq(database_url, "usage", "rate").stdout == "no period to rate\n"
    refused = cpq(database_url, "usage", "rate", "--period", THIS)
    assert refused.exit_code == 1 and "takes late records until" in refused.stderr
    assert "expected YYYY-MM" in cpq(database_url, "usage", "rate", "--period", "March").stderr
