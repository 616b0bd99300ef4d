"""The shipped demo catalog (catalog/demo/*.yaml): every model loads, its defaults are a valid
configuration, no value is dead, and the default configuration explodes into a 3-level BOM
with a positive cost."""
from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from catalog.loader import load_model_file
from configurator.engine import Configurator

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
