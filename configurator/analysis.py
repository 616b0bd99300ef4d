"""Whole-model checks an author wants before loading a model: can it be configured at all,
do its defaults agree with its rules, and which values can never be chosen."""

from __future__ import annotations

from dataclasses import dataclass

from catalog.model import ProductModel, Value
from configurator.engine import get_configurator
from configurator.results import Conflict


@dataclass(frozen=True)
class ModelReport:
    satisfiable: bool
    conflict: Conflict | None                 # why no configuration is valid
    defaults_consistent: bool | None          # None when the model has no defaults
    defaults_conflict: Conflict | None
    dead_values: tuple[tuple[str, Value], ...]   # (attribute, value) in no valid configuration


def analyse(model: ProductModel) -> ModelReport:
    """Compile the model (raises EncodingError for a rule it cannot compile) and check it."""
    configurator = get_configurator(model)
    if configurator.root is None:
        return ModelReport(False, configurator.conflict({}), None, None, ())
    defaults = model.defaults()
    consistent = configurator.consistent(defaults) if defaults else None
    dead = tuple(configurator.enc.value_of[x] for x in configurator.enc.value_vars
                 if x not in configurator.root)
    return ModelReport(True, None, consistent,
                       configurator.conflict(defaults) if consistent is False else None, dead)
