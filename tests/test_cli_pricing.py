"""`cpq pricebooks|rulesets ...` and `cpq price` through click's CliRunner."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from cli.main import cli
from core.settings import DEFAULT_DEMO_DIR

RULES_FILE = DEFAULT_DEMO_DIR / "rulesets" / "standard.yaml"


def run(*args, env):
    result = CliRunner().invoke(cli, [str(a) for a in args], env=env, catch_exceptions=False)
    assert "Traceback" not in result.output
    return result


@pytest.fixture
def env(tmp_path):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}
    assert run("db", "upgrade", env=env).exit_code == 0
    loaded = run("models", "load-demo", env=env)
    assert "rule set standard version 1: loaded" in loaded.stdout
    assert "price book list-usd version 2: loaded" in loaded.stdout
    return env


def test_price_prints_the_waterfall_totals_and_approvals(env):
    result = run("price", "--book", "list-usd", "--date", "2026-12-01", "--tier", "gold",
                 "--promo", "EPYC300", "--terms", "net60",
                 "--line", "rack-server:12 cpu=e9354", "--line", "SUP-MC-Y:12 term=36",
                 "--line", "TRAINING-DAY:3 discount=5%", "--discount", "500", env=env)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "promo EPYC300: accepted" in out
    assert "[1] RS7 Configurable Rack Server x 12  (defaults filled in)" in out
    assert "Gold customer discount" in out and "manual discount 5%" in out
    assert "per year x 3" in out and "recurring:" in out
    assert "approval stage 2: Finance" in out and "net60 are not standard" in out


def test_price_json_is_the_api_answer(env):
    result = run("price", "--book", "list-usd", "--line", "SUP-PRO-M:20", "--json", env=env)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["lines"][0]["charge"] == "monthly"
    assert data["totals"]["recurring"]["monthly"] == data["lines"][0]["net_total"]


@pytest.mark.parametrize("args, message", [
    (["--book", "nope", "--line", "SUP-MC-Y"], "price_book: unknown price book 'nope'"),
    (["--book", "list-usd", "--line", "NOPE"], "lines[0].product: 'NOPE' has no price"),
    (["--book", "list-usd", "--line", "rack-server cpu=x9"], "lines[0].selections.cpu: unknown value"),
    (["--book", "list-usd", "--line", "rack-server:x"], "the quantity after ':' must be a whole number"),
    (["--book", "list-usd", "--line", "rack-server cpu"], "'cpu' is not ATTR=VALUE"),
    (["--book", "list-usd", "--line", "SUP-MC-Y", "--discount", "lots"], "is not a discount"),
])
def test_price_errors_are_one_line(env, args, message):
    result = run("price", *args, env=env)
    assert result.exit_code != 0
    assert message in result.output


def test_rule_sets_check_load_list_activate(env, tmp_path):
    assert "rule set standard version 1 is valid" in run("rulesets", "check", RULES_FILE, env=env).stdout
    v2 = tmp_path / "v2.yaml"
    v2.write_text(RULES_FILE.read_text().replace("version: 1", "version: 2", 1))
    assert "loaded; version 1 stays active" in run("rulesets", "load", v2, env=env).stdout
    assert "active v1" in run("rulesets", "list", env=env).stdout
    assert "version 2: active" in run("rulesets", "activate", "standard", "2", env=env).stdout
    listed = json.loads(run("rulesets", "list", "--json", env=env).stdout)
    assert listed == [{"name": "standard", "versions": [1, 2], "active": 2}]
    missing = run("rulesets", "activate", "standard", "7", env=env)
    assert missing.exit_code == 1 and "has no version 7" in missing.output


def test_a_bad_price_book_file_lists_its_errors(env, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("pricebook: x\nversion: 1\ncurrency: USD\nproducts: {A: 1.001}\n")
    result = run("pricebooks", "check", bad, env=env)
    assert result.exit_code == 1
    assert f"{bad}: products.A: 1.001 has more decimals than USD allows (2)" in result.stderr
