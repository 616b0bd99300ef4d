"""What the configurator answers: plain immutable values, serialised by the API's schemas."""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from catalog.model import Value


class SelectionError(ValueError):
    """A selection that names an unknown attribute or a value outside its domain."""

    def __init__(self, field_name: str, reason: str):
        super().__init__(f"{field_name}: {reason}")
        self.field = field_name
        self.reason = reason


@dataclass(frozen=True)
class RuleRef:
    id: str
    message: str


@dataclass(frozen=True)
class Conflict:
    """A minimal set of selections and rules that cannot hold together."""
    selections: dict[str, Value]
    rules: tuple[RuleRef, ...]

    @property
    def message(self) -> str:
        picks = ", ".join(f"{a}={_text(v)}" for a, v in self.selections.items())
        reasons = " ".join(r.message for r in self.rules)
        if not self.rules:
            return f"{picks} is selected"
        return f"{picks}: {reasons}" if picks else reasons


@dataclass(frozen=True)
class Explanation:
    attribute: str
    value: Value
    possible: bool
    conflict: Conflict | None = None     # why the value is excluded (None when possible)


@dataclass(frozen=True)
class Correction:
    """What picking `attribute` = `value` takes: the fewest earlier selections to drop (`removes`)
    so that it holds, and the selections after the switch. `possible` is False when no
    configuration has the value at all (then nothing is proposed)."""
    attribute: str
    value: Value
    possible: bool
    removes: dict[str, Value] = field(default_factory=dict)
    selections: dict[str, Value] = field(default_factory=dict)


@dataclass(frozen=True)
class AttributeState:
    id: str
    selected: Value | None               # what the user chose, if anything
    domain: tuple[Value, ...]            # values still possible
    excluded: tuple[Value, ...]          # values no longer possible
    reasons: dict = field(default_factory=dict)   # excluded value -> Conflict (when asked)

    @property
    def decided(self) -> bool:
        return len(self.domain) == 1

    @property
    def value(self) -> Value | None:
        return self.selected if self.selected is not None else (self.domain[0] if self.decided else None)


@dataclass(frozen=True)
class ConfigureResult:
    product: str
    version: int
    selections: dict[str, Value]
    valid: bool
    attributes: tuple[AttributeState, ...]
    conflicts: tuple[Conflict, ...] = ()
    applied: tuple[str, ...] = ()        # selections the domains were computed from

    @property
    def complete(self) -> bool:
        return self.valid and all(a.decided for a in self.attributes)

    def assignment(self) -> dict[str, Value]:
        return {a.id: a.value for a in self.attributes if a.value is not None}


@dataclass(frozen=True)
class Completion:
    valid: bool
    assignment: dict[str, Value]
    conflicts: tuple[Conflict, ...] = ()


@dataclass(frozen=True)
class BomLine:
    part: str
    description: str
    uom: str
    level: int
    quantity: Decimal                    # per parent assembly
    extended_quantity: Decimal           # per configured product
    unit_cost: Decimal                   # own cost plus children, per unit of this line
    extended_cost: Decimal
    unit_weight: Decimal
    extended_weight: Decimal
    properties: dict[str, Decimal]
    children: tuple["BomLine", ...] = ()


@dataclass(frozen=True)
class FlatLine:
    part: str
    description: str
    uom: str
    quantity: Decimal
    unit_cost: Decimal                   # the part's own cost, without children
    extended_cost: Decimal
    unit_weight: Decimal                 # the part's own weight, without children
    extended_weight: Decimal


@dataclass(frozen=True)
class Bom:
    product: str
    version: int
    assignment: dict[str, Value]
    cost_currency: str
    lines: tuple[BomLine, ...]
    flat: tuple[FlatLine, ...]
    total_cost: Decimal
    total_weight: Decimal


def _text(value: Value) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)
