"""The shipped demo catalog (catalog/demo/*.yaml): every model loads, its defaults are a valid
configuration, no value is dead, and the default configuration explodes into a 3-level BOM
with a positive cost."""
from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from catalog.loader import load_model_file
from configurator.engine import Configurator
from core.locales import LANGUAGES

DEMO = Path(__file__).resolve().parent.parent / "catalog" / "demo"
FILES = ["rack-server.yaml", "solar-installation.yaml"]


@pytest.fixture(scope="module", params=FILES)
def demo(request):
    model = load_model_file(DEMO / request.param)       # raises DocumentValidationError on any error
    return model, Configurator(model)


def _depth(lines) -> int:
    return max((max(line.level, _depth(line.children)) for line in lines), default=0)


def _defaults(model) -> dict:
    return {a.id: a.default for a in model.attributes}


def test_the_demo_models_are_shipped():
    assert set(FILES) <= {p.name for p in DEMO.glob("*.yaml")}


def test_every_attribute_has_a_default_and_the_defaults_are_valid(demo):
    model, configurator = demo
    defaults = _defaults(model)
    assert None not in defaults.values()
    result = configurator.configure(defaults)
    assert result.valid, [c.message for c in result.conflicts]
    assert result.complete


def test_no_value_is_dead(demo):
    model, configurator = demo
    result = configurator.configure({})
    assert result.valid
    dead = {a.id: a.excluded for a in result.attributes if a.excluded}
    assert dead == {}
    for state in result.attributes:
        assert state.domain == model.attribute(state.id).domain


def test_every_rule_kind_is_demonstrated(demo):
    model, _ = demo
    kinds = {r.kind for r in model.rules}
    assert kinds == {"requires", "excludes", "constraint", "table"}
    assert all(r.message for r in model.rules)


def test_every_text_a_customer_reads_is_written_in_every_language(demo):
    model, _ = demo
    texts = {"name": model.name, "description": model.description}
    texts |= {f"group {g.id}": g.label for g in model.groups}
    for a in model.attributes:
        texts |= {f"{a.id}.label": a.label, f"{a.id}.description": a.description}
        texts |= {f"{a.id}={v.code}": v.label for v in a.values}
        texts |= {f"{a.id}={v.code} description": v.description for v in a.values if v.description}
    texts |= {f"rule {r.id}": r.message for r in model.rules}
    untranslated = [where for where, text in texts.items() if text and set(text.translations) != set(LANGUAGES)]
    assert untranslated == []
    french = model.in_language("fr")
    assert french.name != model.name and all(r.message != french.rule(r.id).message for r in model.rules)


def test_default_completion_has_a_three_level_bom_with_positive_cost(demo):
    model, configurator = demo
    completion = configurator.complete({})
    assert completion.valid
    assert completion.assignment == _defaults(model)
    bom = configurator.bom(completion.assignment)
    assert _depth(bom.lines) == 3
    assert bom.total_cost > 0 and bom.total_weight > 0
    assert bom.cost_currency == "USD"
    flat_cost = sum((line.extended_cost for line in bom.flat), Decimal(0))
    assert flat_cost == bom.total_cost


# ---- a few behaviours the demos are meant to show off ----------------------------------------

@pytest.fixture(scope="module")
def server():
    model = load_model_file(DEMO / "rack-server.yaml")
    return model, Configurator(model)


@pytest.fixture(scope="module")
def solar():
    model = load_model_file(DEMO / "solar-installation.yaml")
    return model, Configurator(model)


def _domain(result, attr):
    return next(a.domain for a in result.attributes if a.id == attr)


def test_server_default_fits_its_power_budget(server):
    model, configurator = server
    bom = configurator.bom(_defaults(model))

    def power(lines):
        return sum((line.extended_quantity * line.properties.get("power", Decimal(0)) + power(line.children)
                    for line in lines), Decimal(0))
    psu_watts = model.attribute("psu").property(model.attribute("psu").default, "watts")
    assert 0 < power(bom.lines) <= psu_watts


def test_server_gpus_need_2u_and_a_big_psu(server):
    _, configurator = server
    result = configurator.configure({"gpu": "l40s"})
    assert set(_domain(result, "chassis")) == {"c2u12lff", "c2u24sff"}
    assert all(p in ("psu1400", "psu1800", "psu2400") for p in _domain(result, "psu"))
    assert not configurator.configure({"gpu": "l4", "chassis": "c1u10sff"}).valid


def test_server_power_budget_limits_the_biggest_builds(server):
    _, configurator = server
    result = configurator.configure({"gpu": "h100nvl", "gpu_count": 3, "cpu": "e9554",
                                     "drive_type": "nvme_ssd"})
    assert result.valid
    assert _domain(result, "psu") == ("psu2400",)
    assert max(_domain(result, "drive_count")) < 24


def test_server_drive_bays_and_dimm_slots(server):
    _, configurator = server
    assert max(_domain(configurator.configure({"chassis": "c1u10sff"}), "drive_count")) == 10
    assert max(_domain(configurator.configure({"cpu_count": 1}), "dimm_count")) == 16
    assert max(_domain(configurator.configure({"cpu": "e9354", "cpu_count": 2}), "dimm_count")) == 24


def test_solar_roof_type_decides_the_mounting(solar):
    _, configurator = solar
    assert _domain(configurator.configure({"roof_type": "clay_tile"}), "mounting") == ("tile_hook",)
    assert not configurator.configure({"roof_type": "shingle", "panel": "p550bf"}).valid


def test_solar_array_must_fit_the_inverter(solar):
    _, configurator = solar
    result = configurator.configure({"inverter": "inv_gt3", "panel": "p410"})
    assert max(_domain(result, "panel_count")) == 10          # 10 x 410 W <= 4.5 kW DC input
    assert min(_domain(result, "panel_count")) == 6


def test_solar_battery_quantities_follow_the_model(solar):
    _, configurator = solar
    result = configurator.configure({"inverter": "inv_hy5", "battery": "bat_hv51"})
    assert _domain(result, "battery_count") == (2, 3)        # 2 modules minimum, 15.36 kWh inverter limit
    assert _domain(configurator.configure({"battery": "none"}), "battery_count") == (0,)


# Every (kind, name, version) of the demo that was ever shipped, with its content digest. An
# installation that loaded a version refuses the same version with other content, so `make run`
# over an existing database fails if a shipped file changes without a new version number.
SHIPPED = {
    ("model", "rack-server", 1): "0302b0603953c50774cadd8d64b057e6be3c09e735ed6bccba6ebd2b7dc665c4",
    ("model", "rack-server", 2): "61777b934347c1dd0bec2a9fbeebd04496fa7ce872ca3eda384a0a563f2048b7",
    ("model", "solar-installation", 1): "4dddb35ddcc26beecedced57e5f2d1574889bf42e2ce9bd62f3273f18d876583",
    ("model", "solar-installation", 2): "ac638c779f3efd85e9e88a73a8e591246f3ba70b7c563ce4b92d1057dd6a983c",
    ("pricebook", "list-eur", 1): "02e135abf08635e2c25fd33da46586908ed5d11fec89f71359baceabaedf1822",
    ("pricebook", "list-eur", 2): "642508116b89a6bea6e3eebc40e7832f7077a56b0b162fd48b8f7a4c2d7e3991",
    ("pricebook", "list-usd", 1): "afb89a2a835af6732ad48ab65c22259232482f3bd3bbb2012a49b88d48063fcf",
    ("pricebook", "list-usd", 2): "bf5258d71864641970d5edf5a7be29ca21ee0d7a7d8bb850753eb7ce550356dc",
    ("pricebook", "partner-eur", 1): "22a02fe7324fc70d2b5fd90d6a5da68d6f760d76389a96f682e6302ddc908938",
    ("ruleset", "standard", 1): "36d756c7edd7990d6e799d521f611cdda2a82754a77a299b722309b7efde94b5",
}


def _shipped_files():
    from catalog.pricebook import load_price_book_file
    from rules.loader import load_rule_set_file
    for path in sorted(DEMO.glob("*.yaml")):
        model = load_model_file(path)
        yield ("model", model.product, model.version), model.digest
    for path in sorted((DEMO / "pricebooks").glob("*.yaml")):
        book = load_price_book_file(path)
        yield ("pricebook", book.name, book.version), book.digest
    for path in sorted((DEMO / "rulesets").glob("*.yaml")):
        rules = load_rule_set_file(path)
        yield ("ruleset", rules.name, rules.version), rules.digest


def test_a_changed_demo_file_carries_a_new_version_number():
    for key, digest in _shipped_files():
        assert SHIPPED.get(key, digest) == digest, (
            f"{key} changed after it was shipped: give the file a new version number and add it to SHIPPED")
        assert key in SHIPPED, f"{key} is new: add its digest to SHIPPED"


def test_loading_the_demo_over_an_older_one_activates_the_new_versions(tmp_path, engine):
    """An installation upgraded from version 1 of the demo books loads and prices with 2."""
    import shutil

    from sqlmodel import Session

    from catalog.pricebook import KIND
    from catalog.store import load_demo_price_books
    from core.versioned import active_version
    old = tmp_path / "pricebooks"
    old.mkdir()
    shutil.copy(DEMO / "pricebooks" / "list-usd.yaml", old / "list-usd.yaml")
    text = (old / "list-usd.yaml").read_text()
    (old / "list-usd.yaml").write_text(text.replace("version: 2", "version: 1").replace("SOLAR-API:", "SOLAR-APX:"))
    with Session(engine) as session:
        load_demo_price_books(session, tmp_path)
        assert active_version(session, KIND, "list-usd") == 1
        load_demo_price_books(session, DEMO)
        assert active_version(session, KIND, "list-usd") == 2
        load_demo_price_books(session, tmp_path)                # an older file never wins back
        assert active_version(session, KIND, "list-usd") == 2
