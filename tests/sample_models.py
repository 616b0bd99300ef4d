"""A tiny product model for API, store and CLI tests, small enough to reason about by hand.

lamp: base small|large, bulbs 1..3, dimmer bool, optional shade. Large lamps need a dimmer,
small ones take at most 2 bulbs, and the `ghost` shade is never possible (a dead value).
"""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

from catalog.loader import load_model_dict
from catalog.model import ProductModel

LAMP = {
    "product": "lamp",
    "name": "Desk Lamp",
    "version": 1,
    "description": "A lamp for tests.",
    "cost_currency": "EUR",
    "groups": [{"id": "body", "label": "Body"}, {"id": "light", "label": "Light"}],
    "attributes": [
        {"id": "base", "type": "enum", "group": "body", "label": "Base", "default": "small",
         "values": [{"code": "small", "label": "Small base", "properties": {"cost": "10", "watts": "40"}},
                    {"code": "large", "label": "Large base", "properties": {"cost": "25", "watts": "90"}}]},
        {"id": "bulbs", "type": "int", "group": "light", "min": 1, "max": 3, "default": 1},
        {"id": "dimmer", "type": "bool", "group": "light"},
        {"id": "shade", "type": "enum", "optional": True, "values": ["linen", "glass", "ghost"]},
    ],
    "rules": [
        {"id": "large_needs_dimmer", "message": "A large base needs a dimmer.",
         "requires": {"if": "base = large", "then": "dimmer"}},
        {"id": "small_bulbs", "message": "A small base holds at most 2 bulbs.",
         "constraint": "base = small implies bulbs <= 2"},
        {"id": "no_ghost", "message": "The ghost shade is discontinued.", "constraint": "shade != ghost"},
    ],
    "components": [
        {"part": "BASE-S", "description": "Small base", "when": "base = small",
         "properties": {"cost": "12.50", "weight": "1.2"}},
        {"part": "BASE-L", "description": "Large base", "when": "base = large",
         "properties": {"cost": "30.00", "weight": "2.5"},
         "children": [{"part": "FOOT", "description": "Rubber foot", "quantity": 4,
                       "properties": {"cost": "0.25", "weight": "0.01"}}]},
        {"part": "BULB", "description": "LED bulb", "quantity": "bulbs",
         "properties": {"cost": "3.10", "weight": "0.05"}},
        {"part": "DIM", "description": "Dimmer", "when": "dimmer", "properties": {"cost": "7", "weight": "0.1"}},
    ],
}

# A complete, valid configuration and its BOM total: 30 + 4 x 0.25 + 3 x 3.10 + 7 = 47.30
LARGE = {"base": "large", "bulbs": 3, "dimmer": True, "shade": "none"}
LARGE_TOTAL = "47.30"


def lamp_source(**changes) -> dict:
    return {**copy.deepcopy(LAMP), **changes}


def lamp(**changes) -> ProductModel:
    return load_model_dict(lamp_source(**changes))


def write_lamp(directory: Path, filename: str = "lamp.yaml", **changes) -> Path:
    path = Path(directory) / filename
    path.write_text(yaml.safe_dump(lamp_source(**changes), sort_keys=False), encoding="utf-8")
    return path
