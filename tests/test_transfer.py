"""Master data bundles (sales/transfer.py): `cpq export` / `cpq import` and /api/v1/export,
/api/v1/import. A bundle rebuilds the same models, price books (with the active versions),
rule sets and accounts elsewhere; an import is validated first (every problem at once), is
idempotent, and is all or nothing (a version conflict late in the bundle rolls back the rest)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from click.testing import CliRunner

from cli.main import cli
from auth_helpers import sign_as
from catalog.pricebook import KIND as PRICE_BOOK
from catalog.pricebook import load_price_book_dict
from catalog.store import find_version, get_price_book, load_demo_catalog, load_demo_price_books, save_price_book
from core import versioned
from core.db import create_engine, session_scope, upgrade_database
from core.settings import DEFAULT_DEMO_DIR
from core.validation import DocumentValidationError
from quote_flow import error_of, ok
from rules.store import load_demo_rule_sets
from sales import transfer
from sales.accounts import load_demo_accounts

pytestmark = pytest.mark.postgres

API = "/api/v1"
#: every table an import writes to
TABLES = ("product", "model_version", "document_version", "active_document", "account", "contact")
#: what the demo directory holds, plus the second (inactive) partner-eur version load_demo adds
DEMO_COUNTS = {"models": 2, "price_books": 4, "rule_sets": 1, "accounts": 3}
NOTHING = dict.fromkeys(transfer.SECTIONS, 0)


# ---- helpers --------------------------------------------------------------------------------

def migrated_engine(tmp_path, name: str):
    """Another fresh database beside the one the `engine` fixture gives."""
    url = f"sqlite:///{tmp_path / name}"
    upgrade_database(url)
    return create_engine(url)


def partner_v2():
    """A second version of the partner price book, with one price changed."""
    data = yaml.safe_load((Path(DEFAULT_DEMO_DIR) / "pricebooks" / "partner-eur.yaml").read_text())
    data["version"] = 2
    data["products"]["TRAINING-DAY"]["price"] = 899.00
    return load_price_book_dict(data, "partner-eur version 2")


def load_demo(engine) -> None:
    """The demo models, price books, rule sets and accounts, and partner-eur version 2
    loaded but not activated (version 1 stays active)."""
    with session_scope(engine) as session:
        load_demo_catalog(session)
        load_demo_price_books(session)
        load_demo_rule_sets(session)
        load_demo_accounts(session, DEFAULT_DEMO_DIR)
        save_price_book(session, partner_v2())


def export(engine, sections=transfer.SECTIONS) -> dict:
    with session_scope(engine) as session:
        return transfer.export_bundle(session, sections)


def timeless(bundle: dict) -> dict:
    return {k: v for k, v in bundle.items() if k != "exported_at"}


def counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TABLES}


def state(engine):
    """Everything an import could change: row counts and the full export."""
    return counts(engine), timeless(export(engine))


def active(engine, kind: str, name: str):
    with session_scope(engine) as session:
        return versioned.active_version(session, kind, name)


def find(bundle: dict, section: str, key: str, name: str, version: int) -> dict:
    return next(d for d in bundle[section] if d[key] == name and d["version"] == version)


def run(*args, env=None):
    result = CliRunner().invoke(cli, [str(a) for a in args], env=env, catch_exceptions=False)
    assert "Traceback" not in result.output
    return result


@pytest.fixture
def demo_bundle(tmp_path):
    """The export of another database holding the demo data."""
    source = migrated_engine(tmp_path, "source.db")
    try:
        load_demo(source)
        yield export(source)
    finally:
        source.dispose()


@pytest.fixture
def conflicting_bundle(engine):
    """With the demo loaded into the test database: a bundle whose models and first price book
    are new, but whose last item is partner-eur version 1 with other content."""
    load_demo(engine)
    stored = export(engine)
    model = copy.deepcopy(find(stored, "models", "product", "rack-server", 2))
    model["version"] = 3
    new_book = copy.deepcopy(find(stored, "price_books", "pricebook", "list-eur", 2))
    new_book["version"] = 3
    changed = copy.deepcopy(find(stored, "price_books", "pricebook", "partner-eur", 1))
    changed["products"]["TRAINING-DAY"]["price"] = 1.00
    return {"kind": transfer.BUNDLE_KIND, "models": [model], "price_books": [new_book, changed],
            "active": {"price_books": {"list-eur": 3}}}


def assert_conflict_wrote_nothing(engine, before) -> None:
    assert state(engine) == before
    with session_scope(engine) as session:
        assert find_version(session, "rack-server", 3) is None
        assert versioned.find_document(session, PRICE_BOOK, "list-eur", 3) is None
        assert get_price_book(session, "list-eur").version == 2


# ---- the domain: round trip, idempotence, validation ----------------------------------------

def test_round_trip_into_a_fresh_database_keeps_every_version_and_the_active_ones(engine, tmp_path):
    load_demo(engine)
    first = export(engine)
    assert first["kind"] == "cpq-bundle" and first["exported_at"]
    assert {s: len(first[s]) for s in transfer.SECTIONS} == DEMO_COUNTS
    assert [b["version"] for b in first["price_books"] if b["pricebook"] == "partner-eur"] == [1, 2]
    assert first["active"]["price_books"]["partner-eur"] == 1
    assert transfer.count(first) == sum(DEMO_COUNTS.values())

    other = migrated_engine(tmp_path, "other.db")
    try:
        with session_scope(other) as session:
            report = transfer.import_bundle(session, first)
        assert report.new == DEMO_COUNTS and report.existing == NOTHING and report.activated == []
        second = export(other)
        assert timeless(second) == timeless(first)
        assert active(other, PRICE_BOOK, "partner-eur") == 1          # version 2 came along, inactive
        with session_scope(other) as session:
            assert get_price_book(session, "partner-eur").version == 1
            assert get_price_book(session, "partner-eur", 2).digest == partner_v2().digest
        assert counts(other) == counts(engine)
    finally:
        other.dispose()


def test_an_active_later_version_stays_active_and_is_reported(engine, tmp_path):
    load_demo(engine)
    with session_scope(engine) as session:
        versioned.activate_document(session, PRICE_BOOK, "partner-eur", 2)
    bundle = export(engine)
    assert bundle["active"]["price_books"]["partner-eur"] == 2

    other = migrated_engine(tmp_path, "other.db")
    try:
        with session_scope(other) as session:
            report = transfer.import_bundle(session, bundle)
        # version 1 was activated on load (a name's first version); the bundle's choice then wins
        assert report.activated == ["price book partner-eur version 2"]
        assert active(other, PRICE_BOOK, "partner-eur") == 2
        assert timeless(export(other)) == timeless(bundle)
    finally:
        other.dispose()


def test_importing_the_same_bundle_twice_changes_nothing(engine, demo_bundle):
    with session_scope(engine) as session:
        first = transfer.import_bundle(session, demo_bundle)
    assert first.new == DEMO_COUNTS and first.existing == NOTHING
    before = state(engine)

    with session_scope(engine) as session:
        again = transfer.import_bundle(session, demo_bundle)
    assert again.new == NOTHING
    assert again.existing == DEMO_COUNTS          # versions already there; accounts updated to themselves
    assert again.activated == []
    assert state(engine) == before
    assert before[1] == timeless(demo_bundle)


def test_a_database_imports_its_own_export_as_all_existing(engine):
    """Versions loaded from the demo files compare equal (by digest) to their exported sources."""
    load_demo(engine)
    before = state(engine)
    with session_scope(engine) as session:
        report = transfer.import_bundle(session, export(engine))
    assert report.new == NOTHING and report.existing == DEMO_COUNTS and report.activated == []
    assert state(engine) == before


def test_every_problem_is_reported_at_once_and_nothing_is_written(engine, demo_bundle):
    load_demo(engine)
    bundle = copy.deepcopy(demo_bundle)
    good_new = copy.deepcopy(find(bundle, "models", "product", "rack-server", 2))
    good_new["version"] = 3                                        # valid, and new: must not be written
    bad_model = copy.deepcopy(find(bundle, "models", "product", "solar-installation", 2))
    bad_model["version"] = 3
    bad_model["attributes"][0]["label"] = 17
    bundle["models"] = [good_new, bad_model]
    bundle["price_books"][0]["currency"] = "XXX"
    bundle["accounts"][0]["currency"] = "ZZZ"
    bundle["accounts"].append({"code": "NEWCO", "name": "New Co", "currency": "EUR"})   # valid and new
    before = state(engine)

    with session_scope(engine) as session:
        with pytest.raises(DocumentValidationError) as caught:
            transfer.import_bundle(session, bundle, "bundle.yaml")
        assert not session.new and not session.dirty and not session.deleted   # validated before writing
    errors = caught.value.errors
    paths = [e.path for e in errors]
    assert caught.value.kind == "bundle"
    assert "models[1].attributes[0].label" in paths
    assert "price_books[0].currency" in paths
    assert "accounts[0].currency" in paths
    assert not any(p.startswith(("models[0]", "accounts[1]", "accounts[3]")) for p in paths)
    assert {e.file for e in errors} == {"bundle.yaml"}
    assert "bundle.yaml: accounts[0].currency: 'ZZZ' is not an ISO 4217 currency code" in str(caught.value)
    assert state(engine) == before


def test_the_bundle_itself_is_checked(engine):
    with session_scope(engine) as session:
        for bundle in (None, [], "text"):
            with pytest.raises(DocumentValidationError, match="expected a bundle"):
                transfer.import_bundle(session, bundle)
        with pytest.raises(DocumentValidationError) as caught:
            transfer.import_bundle(session, {"kind": "other", "models": {}, "widgets": [],
                                             "active": {"models": {"x": 1}}})
        assert {e.path for e in caught.value.errors} == {"kind", "models", "widgets", "active.models"}
        with pytest.raises(DocumentValidationError) as caught:       # empty but of the wrong type
            transfer.import_bundle(session, {"price_books": "", "accounts": {}, "active": []})
        assert {e.path for e in caught.value.errors} == {"price_books", "accounts", "active"}
        empty = transfer.import_bundle(session, {"models": None, "accounts": []})   # `models:` left empty
        assert empty.new == NOTHING and empty.existing == NOTHING
    assert transfer.count(None) == 0 and transfer.count({"models": [1, 2], "accounts": [3]}) == 3
    assert counts(engine) == dict.fromkeys(TABLES, 0)


# ---- the API --------------------------------------------------------------------------------

def test_export_and_import_need_their_permissions(app, client, engine, demo_bundle):
    for method, path in (("get", f"{API}/export"), ("post", f"{API}/import")):
        assert error_of(getattr(client, method)(path, json=demo_bundle if method == "post" else None),
                        401)["code"] == "unauthorized"
    sign_as(app, client, "rep", email="rep@example.com")
    error_of(client.get(f"{API}/export"), 403)
    error_of(client.post(f"{API}/import", json=demo_bundle), 403)
    sign_as(app, client, "finance", email="finance@example.com")
    assert ok(client.get(f"{API}/export"))["kind"] == "cpq-bundle"
    error_of(client.post(f"{API}/import", json=demo_bundle), 403)
    assert counts(engine)["model_version"] == 0
    sign_as(app, client, "admin", email="admin@example.com")
    report = ok(client.post(f"{API}/import", json=demo_bundle))
    assert report == {"new": DEMO_COUNTS, "existing": NOTHING, "activated": [], "dry_run": False}
    assert timeless(ok(client.get(f"{API}/export"))) == timeless(demo_bundle)


def test_export_sections_and_yaml(app, client, engine, demo_bundle):
    load_demo(engine)
    sign_as(app, client, "finance")
    response = client.get(f"{API}/export", query_string={"only": "models", "format": "yaml"})
    assert response.status_code == 200 and response.mimetype == "application/yaml"
    data = yaml.safe_load(response.get_data(as_text=True))
    assert set(data) == {"kind", "exported_at", "models"}
    assert data["models"] == demo_bundle["models"]
    two = ok(client.get(f"{API}/export?only=price_books&only=accounts"))
    assert set(two) == {"kind", "exported_at", "price_books", "active", "accounts"}
    assert two["active"] == {"price_books": {"list-eur": 2, "list-usd": 2, "partner-eur": 1}}
    bad = error_of(client.get(f"{API}/export?only=widgets"), 422)
    assert any(name.startswith("only") for name in bad["fields"])
    error_of(client.get(f"{API}/export?format=xml"), 422)


def test_import_yaml_and_dry_run(app, client, engine, demo_bundle):
    sign_as(app, client, "admin")
    text = yaml.safe_dump(demo_bundle, sort_keys=False)
    before = state(engine)
    dry = ok(client.post(f"{API}/import?dry_run=true", data=text, content_type="application/yaml"))
    assert dry == {"new": DEMO_COUNTS, "existing": NOTHING, "activated": [], "dry_run": True}
    assert state(engine) == before

    report = ok(client.post(f"{API}/import", data=text, content_type="application/yaml"))
    assert report["new"] == DEMO_COUNTS and report["dry_run"] is False
    assert timeless(export(engine)) == timeless(demo_bundle)
    after = state(engine)
    dry = ok(client.post(f"{API}/import", json=demo_bundle, query_string={"dry_run": "true"}))
    assert dry["new"] == NOTHING and dry["existing"] == DEMO_COUNTS
    assert state(engine) == after


def test_a_version_conflict_in_the_last_section_rolls_back_the_api_import(app, client, engine, conflicting_bundle):
    sign_as(app, client, "admin")
    before = state(engine)
    error = error_of(client.post(f"{API}/import", json=conflicting_bundle), 409)
    assert error["code"] == "version_conflict"
    assert "partner-eur version 1 is already loaded with different content" in error["message"]
    assert_conflict_wrote_nothing(engine, before)
    # a dry run finds the conflict too
    error_of(client.post(f"{API}/import?dry_run=true", json=conflicting_bundle), 409)
    assert_conflict_wrote_nothing(engine, before)


def test_an_invalid_bundle_is_422_naming_every_problem(app, client, engine, demo_bundle):
    sign_as(app, client, "admin")
    bundle = copy.deepcopy(demo_bundle)
    bundle["models"][1]["attributes"][0]["label"] = 17
    bundle["price_books"][0]["currency"] = "XXX"
    bundle["accounts"][0]["currency"] = "ZZZ"
    error = error_of(client.post(f"{API}/import", json=bundle), 422)
    assert error["code"] == "invalid_bundle"
    assert {"models[1].attributes[0].label", "price_books[0].currency", "accounts[0].currency"} <= set(error["fields"])
    assert counts(engine) == dict.fromkeys(TABLES, 0)


@pytest.mark.parametrize(("body", "content_type", "status", "field"), [
    ("", "application/json", 400, "body"),
    ("   ", "application/yaml", 400, "body"),
    ('{"models": [', "application/json", 400, "body"),
    ("models: [", "application/yaml", 422, None),
    ('["not", "a", "bundle"]', "application/json", 422, "bundle"),
    ('{"widgets": []}', "application/json", 422, "widgets"),
    ('{"price_books": [], "active": {"price_books": {"list-eur": 1}}}', "application/json", 422,
     "active.price_books.list-eur"),
])
def test_bad_import_bodies(app, client, engine, body, content_type, status, field):
    sign_as(app, client, "admin")
    error = error_of(client.post(f"{API}/import", data=body, content_type=content_type), status)
    if field is not None:
        assert field in error["fields"], error
    assert counts(engine) == dict.fromkeys(TABLES, 0)


def test_active_must_name_a_version_in_the_bundle_even_if_stored(app, client, engine, demo_bundle):
    load_demo(engine)
    sign_as(app, client, "admin")
    bundle = {"price_books": [find(demo_bundle, "price_books", "pricebook", "list-eur", 2)],
              "active": {"price_books": {"partner-eur": 2}}}
    error = error_of(client.post(f"{API}/import", json=bundle), 422)
    assert error["fields"] == {"active.price_books.partner-eur": ["version 2 is not in the bundle's price_books"]}
    assert active(engine, PRICE_BOOK, "partner-eur") == 1


# ---- the command line -----------------------------------------------------------------------

def test_cli_export_json_yaml_and_only(engine, database_url, tmp_path):
    load_demo(engine)
    env = {"DATABASE_URL": database_url}
    result = run("export", tmp_path / "all.json", env=env)
    assert result.exit_code == 0, result.output
    assert "2 models, 4 price_books, 1 rule_sets, 3 accounts" in result.stdout
    everything = json.loads((tmp_path / "all.json").read_text())
    assert timeless(everything) == timeless(export(engine))

    assert run("export", tmp_path / "all.yaml", env=env).exit_code == 0
    assert timeless(yaml.safe_load((tmp_path / "all.yaml").read_text())) == timeless(everything)

    result = run("export", tmp_path / "accounts.json", "--only", "accounts", env=env)
    assert result.exit_code == 0, result.output
    only = json.loads((tmp_path / "accounts.json").read_text())
    assert set(only) == {"kind", "exported_at", "accounts"}
    assert only["accounts"] == everything["accounts"]
    assert run("export", tmp_path / "x.yaml", "--only", "widgets", env=env).exit_code == 2


def test_cli_import_dry_run_then_for_real_with_a_progress_bar(engine, database_url, tmp_path, demo_bundle):
    env = {"DATABASE_URL": database_url}
    path = tmp_path / "bundle.yaml"
    path.write_text(yaml.safe_dump(demo_bundle, sort_keys=False))
    before = state(engine)

    dry = run("import", path, "--dry-run", env=env)
    assert dry.exit_code == 0, dry.output
    assert "models: 2 new, 0 already there" in dry.stdout
    assert "accounts: 3 new, 0 already there" in dry.stdout
    assert "dry run: nothing was written" in dry.stdout
    assert "importing" in dry.stderr
    assert state(engine) == before

    real = run("import", path, env=env)
    assert real.exit_code == 0, real.output
    assert "importing" in real.stderr and "importing" not in real.stdout
    assert "price_books: 4 new, 0 already there" in real.stdout and "dry run" not in real.stdout
    assert timeless(export(engine)) == timeless(demo_bundle)

    again = run("import", path, env=env)
    assert again.exit_code == 0 and "rule_sets: 0 new, 1 already there" in again.stdout


def test_cli_import_of_an_invalid_bundle_lists_every_problem(engine, database_url, tmp_path, demo_bundle):
    bundle = copy.deepcopy(demo_bundle)
    bundle["models"][1]["attributes"][0]["label"] = 17
    bundle["accounts"][0]["currency"] = "ZZZ"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bundle))
    result = run("import", path, env={"DATABASE_URL": database_url})
    assert result.exit_code == 1
    assert f"{path}: models[1].attributes[0].label:" in result.stderr
    assert f"{path}: accounts[0].currency: 'ZZZ' is not an ISO 4217 currency code" in result.stderr
    assert counts(engine) == dict.fromkeys(TABLES, 0)
    broken = tmp_path / "broken.yaml"
    broken.write_text("models: [")
    result = run("import", broken, env={"DATABASE_URL": database_url})
    assert result.exit_code == 1 and "invalid YAML" in result.stderr


def test_a_version_conflict_in_the_last_section_rolls_back_the_cli_import(engine, database_url, tmp_path,
                                                                          conflicting_bundle):
    path = tmp_path / "conflict.json"
    path.write_text(json.dumps(conflicting_bundle))
    before = state(engine)
    for args in ((), ("--dry-run",)):
        result = run("import", path, *args, env={"DATABASE_URL": database_url})
        assert result.exit_code == 1
        assert "partner-eur version 1 is already loaded with different content" in result.stderr
        assert_conflict_wrote_nothing(engine, before)
