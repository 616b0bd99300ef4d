"""Immutable product model: attributes, rules, components.

A model is built once by `catalog.loader` and never changes; engines compiled from it can
therefore be cached per (product, version, digest). Its labels and rule messages are texts
in several languages (`core.locales.Text`); `ProductModel.in_language` is the same model
worded in one of them, for a customer's page or document.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from decimal import Decimal
from typing import Iterator, Mapping, Union

from catalog import expr as ex
from core.locales import DEFAULT, N_, Text, translations

Value = Union[str, int, bool]
NONE = "none"          # the explicit "not chosen" value of optional attributes
ANY = "*"              # table cell that matches any value

ENUM, INT, BOOL = "enum", "int", "bool"


@dataclass(frozen=True)
class EnumValue:
    code: str
    label: Text
    description: Text = Text("")
    properties: Mapping[str, Decimal] = field(default_factory=dict)
    image: str = ""                # URL of a picture of the value, for the configurator page


@dataclass(frozen=True)
class Attribute:
    id: str
    type: str
    label: Text
    group: str | None = None
    description: Text = Text("")
    optional: bool = False
    default: Value | None = None
    values: tuple[EnumValue, ...] = ()
    min: int | None = None
    max: int | None = None
    step: int = 1
    language: str = DEFAULT        # the language its labels are worded in

    @cached_property
    def domain(self) -> tuple[Value, ...]:
        """Every value the attribute can take, in display order (`none` first if optional)."""
        if self.type == ENUM:
            base: tuple[Value, ...] = tuple(v.code for v in self.values)
        elif self.type == INT:
            base = tuple(range(self.min, self.max + 1, self.step))
        else:
            base = (False, True)
        return ((NONE,) + base) if self.optional else base

    def value_info(self, value: Value) -> EnumValue | None:
        for v in self.values:
            if v.code == value:
                return v
        return None

    def label_of(self, value: Value) -> str:
        """How a value reads in the attribute's language: its label, or None, Yes or No."""
        info = self.value_info(value)
        if info is not None:
            return info.label
        if value == NONE:
            word = N_("None")
        elif isinstance(value, bool):
            word = N_("Yes") if value else N_("No")
        else:
            return str(value)
        return translations(self.language).gettext(word)

    def in_language(self, language: str) -> "Attribute":
        return replace(self, label=self.label.in_language(language),
                       description=self.description.in_language(language), language=language,
                       values=tuple(replace(v, label=v.label.in_language(language),
                                            description=v.description.in_language(language))
                                    for v in self.values))

    def property(self, value: Value, name: str) -> Decimal:
        """Numeric property of an enum value; `none` has every property equal to 0."""
        if value == NONE:
            return Decimal(0)
        info = self.value_info(value)
        if info is None or name not in info.properties:
            raise KeyError(f"{self.id}={value} has no property {name!r}")
        return info.properties[name]

    def coerce(self, raw: object) -> Value:
        """Turn user input (JSON value or CLI text) into a domain value, or raise ValueError."""
        if self.optional and (raw is None or raw == NONE):
            return NONE
        if self.type == BOOL:
            if isinstance(raw, bool):
                return raw
            if isinstance(raw, str) and raw.lower() in ("true", "false", "yes", "no"):
                return raw.lower() in ("true", "yes")
            raise ValueError("expected true or false")
        if self.type == INT:
            if isinstance(raw, bool):
                raise ValueError("expected an integer")
            try:
                number = int(raw) if isinstance(raw, (int, str)) else None
            except ValueError:
                number = None
            if number is None:
                raise ValueError("expected an integer")
            if number not in range(self.min, self.max + 1, self.step):
                raise ValueError(f"{number} is outside {self.min}..{self.max}"
                                 + (f" step {self.step}" if self.step != 1 else ""))
            return number
        if isinstance(raw, str) and raw in self.domain:
            return raw
        raise ValueError(f"unknown value {raw!r}; expected one of {', '.join(map(str, self.domain))}")


@dataclass(frozen=True)
class Table:
    attributes: tuple[str, ...]
    allowed: bool
    rows: tuple[tuple[Value, ...], ...]


@dataclass(frozen=True)
class Rule:
    id: str
    message: Text
    kind: str                      # requires | excludes | constraint | table
    expr: ex.Node | None = None    # the rule as one boolean expression (not for tables)
    table: Table | None = None
    source: str = ""               # the rule as written, for display


@dataclass(frozen=True)
class Component:
    part: str
    description: str
    uom: str
    quantity: ex.Node
    when: ex.Node | None
    properties: Mapping[str, Decimal]
    children: tuple["Component", ...] = ()


@dataclass(frozen=True)
class Group:
    id: str
    label: Text


@dataclass(frozen=True)
class ProductModel:
    product: str
    name: Text
    version: int
    description: Text
    cost_currency: str
    groups: tuple[Group, ...]
    attributes: tuple[Attribute, ...]
    rules: tuple[Rule, ...]
    components: tuple[Component, ...]
    digest: str                    # sha256 of the canonical source; identifies the content
    source: Mapping = field(default_factory=dict, repr=False, compare=False)
    """The model as a plain dict with table files inlined: what the database stores."""
    image: str = ""                # URL of a picture of the product
    language: str = DEFAULT        # the language its labels and messages are worded in

    def __post_init__(self):
        object.__setattr__(self, "_by_id", {a.id: a for a in self.attributes})
        object.__setattr__(self, "_rules_by_id", {r.id: r for r in self.rules})
        object.__setattr__(self, "_worded", {self.language: self})

    def in_language(self, language: str) -> "ProductModel":
        """The model with its labels and messages in `language`, English where it has none in
        it (made once per language). Its digest is the model's: engines and saved
        configurations are the same in every language."""
        if language not in self._worded:
            self._worded[language] = replace(
                self, name=self.name.in_language(language), description=self.description.in_language(language),
                language=language, groups=tuple(replace(g, label=g.label.in_language(language)) for g in self.groups),
                attributes=tuple(a.in_language(language) for a in self.attributes),
                rules=tuple(replace(r, message=r.message.in_language(language)) for r in self.rules))
        return self._worded[language]

    def attribute(self, attr_id: str) -> Attribute:
        return self._by_id[attr_id]

    def has_attribute(self, attr_id: str) -> bool:
        return attr_id in self._by_id

    def rule(self, rule_id: str) -> Rule:
        return self._rules_by_id[rule_id]

    def objective(self, prop: str) -> ex.Node:
        """`prop` summed over the BOM and over the chosen enum values that define it."""
        total = rollup(self.components, prop)
        for a in self.attributes:
            if a.values and all(prop in v.properties for v in a.values):
                total = ex.Arith("+", total, ex.Prop(a.id, prop))
        return total

    def every_component(self) -> Iterator[Component]:
        """Every component of the BOM tree, children after their parent."""
        stack = list(reversed(self.components))
        while stack:
            component = stack.pop()
            yield component
            stack.extend(reversed(component.children))

    @cached_property
    def parts(self) -> frozenset[str]:
        """Every part number its BOM can hold."""
        return frozenset(c.part for c in self.every_component())

    def property_names(self) -> frozenset[str]:
        """Every property a roll-up can sum: those of enum values and of components."""
        return frozenset({n for a in self.attributes for v in a.values for n in v.properties}
                         | {n for c in self.every_component() for n in c.properties})

    def defaults(self) -> dict[str, Value]:
        return {a.id: a.default for a in self.attributes if a.default is not None}


def rollup(components: tuple[Component, ...] | list[Component], prop: str) -> ex.Node:
    """The BOM roll-up of a component property as an expression of the attributes: the sum
    over included components of extended quantity x property (what `total(prop)` means)."""
    terms: list[ex.Node] = []

    def walk(items, conds, qty):
        for c in items:
            here_conds = conds + ([c.when] if c.when is not None else [])
            here_qty = c.quantity if qty is None else ex.Arith("*", qty, c.quantity)
            if c.properties.get(prop, 0) != 0:
                term: ex.Node = ex.Arith("*", here_qty, ex.Num(c.properties[prop]))
                if here_conds:
                    cond = here_conds[0] if len(here_conds) == 1 else ex.And(tuple(here_conds))
                    term = ex.If(cond, term, ex.Num(Decimal(0)))
                terms.append(term)
            walk(c.children, here_conds, here_qty)

    walk(components, [], None)
    total: ex.Node = terms[0] if terms else ex.Num(Decimal(0))
    for term in terms[1:]:
        total = ex.Arith("+", total, term)
    return total
