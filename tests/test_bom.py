"""BOM structure and roll-ups, checked by hand-computed figures."""
from __future__ import annotations

from decimal import Decimal

import pytest

from catalog.loader import load_model_dict
from configurator.engine import Configurator, IncompleteConfiguration, InvalidConfiguration

MODEL = {
    "product": "kit", "name": "Kit", "version": 2, "cost_currency": "EUR",
    "attributes": [
        {"id": "frame", "type": "enum", "values": [{"code": "small", "properties": {"slots": 2}},
                                                  {"code": "large", "properties": {"slots": 4}}]},
        {"id": "modules", "type": "int", "min": 1, "max": 4},
        {"id": "cover", "type": "bool"},
    ],
    "rules": [{"id": "fit", "message": "Too many modules for the frame.", "constraint": "modules <= frame.slots"}],
    "components": [
        {"part": "FR-S", "when": "frame = small", "properties": {"cost": "100.00", "weight": "5.0"},
         "children": [{"part": "SCREW", "quantity": 8, "uom": "PC", "properties": {"cost": "0.05", "weight": "0.01"}}]},
        {"part": "FR-L", "when": "frame = large", "properties": {"cost": "160.00", "weight": "8.0"},
         "children": [{"part": "SCREW", "quantity": 12, "uom": "PC", "properties": {"cost": "0.05", "weight": "0.01"}}]},
        {"part": "MOD", "quantity": "modules", "properties": {"cost": "40.00", "weight": "1.5"},
         "children": [{"part": "CARD", "quantity": 2, "properties": {"cost": "12.50", "weight": "0.2"},
                       "children": [{"part": "SCREW2", "quantity": 3, "properties": {"cost": "0.10"}}]}]},
        {"part": "COVER", "when": "cover", "properties": {"cost": "20", "weight": "2"}},
    ],
}


def test_bom_tree_quantities_and_rollups():
    engine = Configurator(load_model_dict({**MODEL, "attributes": MODEL["attributes"]}))
    bom = engine.bom({"frame": "large", "modules": 3, "cover": True})
    assert [line.part for line in bom.lines] == ["FR-L", "MOD", "COVER"]
    mod = bom.lines[1]
    card = mod.children[0]
    screw2 = card.children[0]
    assert (mod.level, card.level, screw2.level) == (1, 2, 3)
    assert (mod.quantity, card.quantity, screw2.quantity) == (3, 2, 3)
    assert (mod.extended_quantity, card.extended_quantity, screw2.extended_quantity) == (3, 6, 18)
    # card: 12.50 + 3 x 0.10 = 12.80; module: 40 + 2 x 12.80 = 65.60; x3 = 196.80
    assert card.unit_cost == Decimal("12.80") and mod.unit_cost == Decimal("65.60")
    assert mod.extended_cost == Decimal("196.80")
    # frame 160 + 12 x 0.05 = 160.60; cover 20 -> total 377.40
    assert bom.total_cost == Decimal("377.40")
    assert bom.total_weight == Decimal("8.12") + Decimal("3") * (Decimal("1.5") + 2 * Decimal("0.2")) + 2
    flat = {f.part: f for f in bom.flat}
    assert flat["SCREW2"].quantity == 18 and flat["SCREW2"].extended_cost == Decimal("1.80")
    assert flat["SCREW"].quantity == 12 and flat["SCREW"].uom == "PC"
    assert sum(f.extended_cost for f in bom.flat) == bom.total_cost
    assert bom.cost_currency == "EUR" and bom.version == 2


def test_bom_accepts_values_decided_by_rules():
    engine = Configurator(load_model_dict(MODEL))
    bom = engine.bom({"modules": 4, "cover": False})       # 4 modules force the large frame
    assert bom.assignment["frame"] == "large"


def test_bom_refuses_incomplete_and_invalid_configurations():
    engine = Configurator(load_model_dict(MODEL))
    with pytest.raises(IncompleteConfiguration) as info:
        engine.bom({"frame": "small"})
    assert set(info.value.undecided) == {"modules", "cover"}
    with pytest.raises(InvalidConfiguration) as info:
        engine.bom({"frame": "small", "modules": 3, "cover": True})
    assert info.value.conflicts[0].rules[0].id == "fit"


def test_complete_minimises_rolled_up_cost_exactly():
    from configurator import reference
    from configurator.bom import build
    model = load_model_dict(MODEL)
    engine = Configurator(model)
    best = engine.complete({"modules": 2}, minimize="cost")
    assert best.valid and best.assignment["modules"] == 2
    costs = [build(model, s).total_cost for s in reference.solutions(model, {"modules": 2})]
    assert build(model, best.assignment).total_cost == min(costs)
    assert best.assignment == {"frame": "small", "modules": 2, "cover": False}
    # defaults win ties and apply when nothing is minimised
    with_default = load_model_dict({**MODEL, "attributes": MODEL["attributes"][:2] + [
        {"id": "cover", "type": "bool", "default": True}]})
    assert Configurator(with_default).complete({}).assignment["cover"] is True
