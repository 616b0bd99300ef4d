"""The `cpq` command line through click's CliRunner: messages and exit codes, no tracebacks."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from cli.main import cli
from sample_models import LARGE, LARGE_TOTAL, write_lamp

LARGE_SETS = [arg for a, v in LARGE.items() for arg in ("--set", f"{a}={str(v).lower()}")]


def run(*args, env=None):
    result = CliRunner().invoke(cli, [str(a) for a in args], env=env, catch_exceptions=False)
    assert "Traceback" not in result.output
    return result


@pytest.fixture
def lamp_file(tmp_path):
    return write_lamp(tmp_path)


def test_check_a_good_file_reports_dead_values(lamp_file):
    result = run("models", "check", lamp_file)
    assert result.exit_code == 0, result.output
    assert "lamp version 1: 4 attributes, 3 rules, 5 components" in result.stdout
    assert "satisfiable: yes" in result.stdout and "defaults: consistent" in result.stdout
    assert result.stderr.strip() == "warning: dead value: shade=ghost is in no valid configuration"


def test_check_a_bad_file_lists_every_error_and_exits_1(tmp_path):
    path = write_lamp(tmp_path, version=0, attributes=[{"id": "Bad", "type": "enum", "values": []}])
    result = run("models", "check", path)
    assert result.exit_code == 1
    assert f"{path}: version: must be an integer from 1 to 2147483647" in result.stderr
    assert f"{path}: attributes[0].id: 'Bad' must match" in result.stderr
    assert run("models", "check", tmp_path / "missing.yaml").exit_code == 1


def test_check_reports_unsatisfiable_models_and_inconsistent_defaults(tmp_path):
    never = {"id": "never", "message": "Nothing goes.", "constraint": "bulbs > 5"}
    result = run("models", "check", write_lamp(tmp_path, "a.yaml", rules=[never]))
    assert result.exit_code == 1 and "satisfiable: no: Nothing goes. [never]" in result.stdout
    odd = {"id": "odd", "message": "A small base needs two bulbs.", "constraint": "base = small implies bulbs = 2"}
    result = run("models", "check", write_lamp(tmp_path, "b.yaml", rules=[odd]))
    assert result.exit_code == 0 and "defaults: INCONSISTENT" in result.stdout
    assert "the defaults conflict: base=small, bulbs=1: A small base needs two bulbs. [odd]" in result.stderr


def test_configure_a_file_as_json(lamp_file):
    result = run("configure", lamp_file, "--set", "base=large", "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["valid"] is True and body["selections"] == {"base": "large"}
    assert next(a for a in body["attributes"] if a["id"] == "dimmer")["domain"] == [True]


def test_configure_human_output_with_explanations(lamp_file):
    result = run("configure", lamp_file, "--set", "base=small", "--set", "bulbs=3", "--explain")
    assert result.exit_code == 1  # invalid selections
    out = result.stdout
    assert "Desk Lamp (lamp version 1): INVALID" in out
    assert "bulbs  = 3  (selected; conflicts with the rules)" in out
    assert "not ghost: The ghost shade is discontinued. [no_ghost]" in out
    assert "Conflicts:\n  - base=small, bulbs=3: A small base holds at most 2 bulbs. [small_bulbs]" in out


def test_complete_and_explain(lamp_file):
    result = run("complete", lamp_file, "--set", "dimmer=true", "--minimize", "cost", "--json")
    assert json.loads(result.stdout)["assignment"] == {"base": "small", "bulbs": 1, "dimmer": True, "shade": "none"}
    result = run("explain", lamp_file, "dimmer", "false", "--set", "base=large")
    assert result.stdout.strip() == ("dimmer=false is excluded: base=large: A large base needs a dimmer."
                                     " [large_needs_dimmer]")


def test_bom_as_text_json_and_csv(lamp_file):
    text = run("bom", lamp_file, *LARGE_SETS).stdout
    assert "Bill of materials: lamp version 1 (costs in EUR, weights in kg)" in text
    assert "      4    FOOT" in text  # a child, indented under its parent
    assert text.splitlines()[-1].split()[-2:] == ["47.30", "2.790"]
    assert json.loads(run("bom", lamp_file, *LARGE_SETS, "--json").stdout)["total_cost"] == LARGE_TOTAL
    csv_lines = run("bom", lamp_file, *LARGE_SETS, "--csv").stdout.splitlines()
    assert csv_lines[0].startswith("part,description") and "DIM,Dimmer,EA,1,7.00,7.00,EUR" in csv_lines


@pytest.mark.parametrize(("args", "message"), [
    (["--set", "colour=red"], "Error: --set colour: unknown attribute"),
    (["--set", "base=huge"], "Error: --set base: unknown value 'huge'; expected one of small, large"),
    (["--set", "base"], "'base' is not ATTR=VALUE"),
    (["--version", "2"], "holds version 1, not 2"),
])
def test_bad_selections_exit_non_zero_with_a_message(lamp_file, args, message):
    result = run("configure", lamp_file, *args)
    assert result.exit_code != 0 and message in result.stderr


def test_minimising_an_unknown_property_is_an_error(lamp_file):
    result = run("complete", lamp_file, "--minimize", "price")
    assert result.exit_code == 1
    assert "Error: --minimize: unknown property 'price'; expected one of cost, watts, weight" in result.stderr


def test_bom_of_an_incomplete_configuration_is_an_error(lamp_file):
    result = run("bom", lamp_file, "--set", "base=large")
    assert result.exit_code == 1
    assert "Error: not every attribute is decided: bulbs, shade" in result.stderr


def test_upgrade_and_load_demo_on_a_fresh_sqlite_file(tmp_path):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'var' / 'cpq.db'}"}
    assert run("db", "upgrade", env=env).exit_code == 0
    first = run("models", "load-demo", env=env)
    assert first.exit_code == 0, first.output
    assert "rack-server version" in first.stdout
    assert run("models", "load-demo", env=env).exit_code == 0  # idempotent
    assert "rack-server" in run("models", "list", env=env).stdout


def test_an_unmigrated_database_is_a_clear_error(tmp_path):
    result = run("models", "list", env={"DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}"})
    assert result.exit_code == 1
    assert "database error" in result.stderr and "cpq db upgrade" in result.stderr


@pytest.mark.postgres
def test_load_then_configure_from_the_database(engine, database_url, lamp_file):
    env = {"DATABASE_URL": database_url}
    assert "lamp version 1: loaded" in run("models", "load", lamp_file, env=env).stdout
    assert "already loaded, unchanged" in run("models", "load", lamp_file, env=env).stdout
    changed = write_lamp(lamp_file.parent, "changed.yaml", name="Other lamp")
    conflict = run("models", "load", changed, env=env)
    assert conflict.exit_code == 1 and "already loaded with different content" in conflict.stderr
    listing = json.loads(run("models", "list", "--json", env=env).stdout)
    assert listing == [{"product": "lamp", "name": "Desk Lamp", "description": "A lamp for tests.",
                        "latest_version": 1, "versions": [1]}]
    result = run("configure", "lamp", "--set", "base=large", "--version", "1", env=env)
    assert result.exit_code == 0 and "dimmer = true  (decided by the rules)" in result.stdout
    assert "47.30" in run("bom", "lamp", *LARGE_SETS, env=env).stdout
    missing = run("configure", "nope", env=env)
    assert missing.exit_code == 1 and "Error: unknown product 'nope'" in missing.stderr


@pytest.mark.postgres
def test_users_add_takes_only_the_approval_levels_the_rule_sets_define(engine, database_url):
    """Issue 16: `cpq users add --level` stored any text; it goes through the same check as the API."""
    env = {"DATABASE_URL": database_url}
    before = run("users", "add", "vp@example.com", "--name", "Vera", "--role", "approver", "--level", "vp_sales", env=env)
    assert before.exit_code == 1 and "the rule sets define none yet" in before.stderr
    assert run("models", "load-demo", env=env).exit_code == 0
    typo = run("users", "add", "vp@example.com", "--name", "Vera", "--role", "approver", "--level", "vp_sale", env=env)
    assert typo.exit_code == 1 and "approval_levels[0]" in typo.stderr and "vp_sales" in typo.stderr
    made = run("users", "add", "vp@example.com", "--name", "Vera", "--role", "approver", "--level", "vp_sales",
               "--level", "finance", env=env)
    assert made.exit_code == 0, made.output
    assert "[finance, vp_sales]" in run("users", "list", env=env).stdout


@pytest.mark.postgres
@pytest.mark.parametrize("password", ["aaaaaaaaaaaa", "password1234", "123456789012"])
def test_users_add_refuses_a_guessable_password(engine, database_url, password):
    env = {"DATABASE_URL": database_url}
    result = CliRunner().invoke(cli, ["users", "add", "pat@example.com", "--name", "Pat", "--role", "rep",
                                      "--password"], input=f"{password}\n{password}\n", env=env)
    assert result.exit_code == 1 and "Error: password: is too easy to guess" in result.stderr
    good = CliRunner().invoke(cli, ["users", "add", "pat@example.com", "--name", "Pat", "--role", "rep",
                                    "--password"], input="correct horse battery\ncorrect horse battery\n", env=env)
    assert good.exit_code == 0, good.output
