"""marshmallow schemas for the configurator API: request bodies in, domain results out.

Inputs only check shape and JSON types; whether an attribute or value exists is the
engine's call (it knows the model), so those errors come from `SelectionError`. Outputs dump
the domain's immutable results directly; decimals leave as strings so no precision is lost.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timezone
from decimal import Decimal

from marshmallow import Schema, ValidationError, fields, pre_dump, validate
from marshmallow.utils import missing as missing_

from catalog.model import ProductModel
from core.locales import DEFAULT, LANGUAGES
from core.serialize import InCurrency, UnitAmount, decimal_string  # noqa: F401  (decimal_string: re-exported for the API modules)
from configurator.results import ConfigureResult, Conflict, Correction, RuleRef
from core.validation import DECIMAL, MAX_INTEGER

SCALAR_REASON = "expected a single value (text, number, true/false or null)"
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(2999, 12, 31)
UNSIGNED = f"^{DECIMAL}$"
SIGNED = f"^-?{DECIMAL}$"


class Bounds(validate.Validator):
    """A decimal's range. Unlike marshmallow's Range it is not rendered as a numeric minimum
    in the OpenAPI document, where decimals are strings (the pattern documents them)."""

    def __init__(self, low: Decimal | None = None, high: Decimal | None = None, *, above: bool = False):
        self.low, self.high, self.above = low, high, above

    def __call__(self, value):
        if self.low is not None and (value <= self.low if self.above else value < self.low):
            raise ValidationError(f"must be {'greater than' if self.above else 'at least'} {self.low}")
        if self.high is not None and value > self.high:
            raise ValidationError(f"must be at most {self.high}")
        return value


class DecimalText(fields.Decimal):
    """An exact decimal read only in its documented pattern, checked on the text before Decimal
    reads it (a JSON number by its repr): Decimal alone would take "1_0", Arabic-Indic digits,
    spaces and exponents, and 1e999999999 would then break the arithmetic."""

    def __init__(self, *, signed: bool, **kwargs):
        self.pattern = SIGNED if signed else UNSIGNED
        metadata = {"type": "string", "format": "decimal", "pattern": self.pattern} | kwargs.pop("metadata", {})
        super().__init__(allow_nan=False, metadata=metadata, **kwargs)

    def _validated(self, value):
        text = str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value
        if not isinstance(text, str) or not re.fullmatch(self.pattern, text):
            sign = "an optional minus, " if self.pattern == SIGNED else ""
            raise ValidationError(f"expected a decimal such as 12.50: {sign}up to 15 digits, a point and up to 9 more")
        return super()._validated(text)


def decimal_in(low=None, high=None, *, above: bool = False, description: str = "", **kwargs) -> DecimalText:
    """An exact decimal input, sent as a string (a JSON number is accepted too)."""
    bounds = ("greater than " if above else "from ") + str(low) if low is not None else ""
    if high is not None:
        bounds += f" to {high}" if low is not None and not above else f", at most {high}"
    text = "; ".join(t for t in (description, bounds) if t)
    validators = [Bounds(low, high, above=above)] + list(kwargs.pop("validate", []) or [])
    return DecimalText(signed=low is None or low < 0, metadata={"description": text} if text else {},
                       validate=validators, **kwargs)


class Day(fields.Date):
    """A calendar date a request sends, from FIRST_DAY to LAST_DAY: terms, periods and days
    are added to it and taken from it, and date arithmetic past the years 1 and 9999 fails."""

    def __init__(self, **kwargs):
        metadata = {"x-minimum": FIRST_DAY.isoformat(), "x-maximum": LAST_DAY.isoformat()} | kwargs.pop("metadata", {})
        super().__init__(metadata=metadata, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        day = super()._deserialize(value, attr, data, **kwargs)
        if not FIRST_DAY <= day <= LAST_DAY:
            raise ValidationError(f"must be from {FIRST_DAY} to {LAST_DAY}")
        return day


class ErrorDetailSchema(Schema):
    code = fields.String(required=True, metadata={"description": "stable and machine-readable, e.g. not_found"})
    message = fields.String(required=True)
    field_errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()), data_key="fields",
                               metadata={"description": "reasons by field name (dotted path)"})
    state = fields.String(metadata={"description": "the current state, for a refused transition (409)"})
    conflicts = fields.List(fields.Dict())
    undecided = fields.List(fields.String())


class ErrorSchema(Schema):
    """Every error the API answers: {"error": {"code", "message", ...}}."""
    error = fields.Nested(ErrorDetailSchema, required=True)


class ChangeSchema(Schema):
    """The body of a partial update (PATCH): a field left out is unchanged, so no field may
    fill itself in with a default. `CONTROLS` name the fields that steer the update (the
    lock_version read, a reason) rather than change a value; they may have one."""

    CONTROLS: tuple[str, ...] = ()

    def on_bind_field(self, field_name: str, field_obj: fields.Field) -> None:
        super().on_bind_field(field_name, field_obj)
        if field_name not in self.CONTROLS and field_obj.load_default is not missing_:
            raise TypeError(f"{type(self).__name__}.{field_name} has a default: in a partial update, "
                            "a field left out must mean unchanged")


def document_status() -> fields.String:
    """The status of an object's document (core/docstore.py), shown beside its SHA-256."""
    return fields.String(allow_none=True, metadata={
        "enum": ["pending", "ready", "failed"], "description": "its document: rendered after the change that asked for it"})


class Stored(fields.Nested):
    """Data stored as `schema` dumped it (a quote's price): documented by that schema and
    passed through as stored, so the API shows exactly what was stored."""

    def _serialize(self, value, attr, obj, **kwargs):
        return value


class Flag(fields.Boolean):
    """A JSON true or false in a request body, nothing else (marshmallow's Boolean also takes
    0, 1, "yes"...). Query strings are text: they keep fields.Boolean."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool):
            return value
        raise self.make_error("invalid", input=value)


class Scalar(fields.Raw):
    """One attribute value as JSON: text, number, bool or null (never a list or object)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("metadata", {"anyOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}],
                                       "nullable": True})
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, (list, dict)):
            raise ValidationError(SCALAR_REASON)
        return value


class Selections(fields.Dict):
    """``{attribute: value}``; a bad value is reported under its attribute's name."""

    def __init__(self, **kwargs):
        super().__init__(keys=fields.String(), values=Scalar(), **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, dict):
            raise ValidationError("expected an object of attribute: value")
        errors = {k: [SCALAR_REASON] for k, v in value.items() if isinstance(v, (list, dict))}
        if errors:
            raise ValidationError(errors)
        return dict(value)


class Timestamp(fields.DateTime):
    """ISO 8601 with offset; SQLite hands back naive datetimes, which are stored as UTC."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return super()._serialize(value, attr, obj, **kwargs)


def _version():
    return fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_INTEGER), load_default=None,
                          allow_none=True, metadata={"description": "model version; latest if omitted"})


def _lang():
    return fields.String(load_default="en", validate=validate.OneOf(LANGUAGES), metadata={
        "description": "language of the model's labels and rules' messages (English where the model has none in it)"})


# ---- requests -----------------------------------------------------------------------------

class ConfigureRequest(Schema):
    selections = Selections(load_default=dict)
    version = _version()
    explain = Flag(load_default=False,
                             metadata={"description": "say why each excluded value is excluded"})
    lang = _lang()


class SwitchRequest(Schema):
    """Pick `attribute` = `value` whatever the selections: the answer says what it removes."""
    selections = Selections(load_default=dict)
    attribute = fields.String(required=True)
    value = Scalar(required=True, allow_none=True)
    version = _version()
    lang = _lang()


class ExplainRequest(SwitchRequest):
    """Why `attribute` cannot take `value` given the other selections."""


class CompleteRequest(Schema):
    selections = Selections(load_default=dict)
    minimize = fields.String(load_default=None, allow_none=True,
                             metadata={"description": "enum value property to minimise, e.g. cost"})
    version = _version()


class BomRequest(Schema):
    selections = Selections(load_default=dict)
    version = _version()


class ConfigurationRequest(Schema):
    product = fields.String(required=True)
    version = _version()
    selections = Selections(load_default=dict)


class ModelQuery(Schema):
    lang = _lang()


class BomQuery(Schema):
    format = fields.String(load_default="json", validate=validate.OneOf(["json", "csv"]))


# ---- product models -----------------------------------------------------------------------

class ProductSummarySchema(Schema):
    product = fields.String()
    name = fields.String()
    description = fields.String()
    latest_version = fields.Integer(allow_none=True)
    versions = fields.List(fields.Integer())


class GroupSchema(Schema):
    id = fields.String()
    label = fields.String()


class EnumValueSchema(Schema):
    code = fields.String()
    label = fields.String()
    description = fields.String()
    properties = fields.Dict(keys=fields.String(), values=decimal_string())
    image = fields.String(metadata={"description": "URL of a picture of the value; empty if none"})


class AttributeSchema(Schema):
    id = fields.String()
    type = fields.String()
    label = fields.String()
    group = fields.String(allow_none=True)
    description = fields.String()
    optional = Flag()
    default = fields.Raw(allow_none=True)
    values = fields.List(fields.Nested(EnumValueSchema))
    min = fields.Integer(allow_none=True)
    max = fields.Integer(allow_none=True)
    step = fields.Integer()
    domain = fields.List(fields.Raw())


class RuleSchema(Schema):
    id = fields.String()
    message = fields.String()
    messages = fields.Function(lambda rule: rule.message.translations,
                               metadata={"description": "the message per language, when translated"})
    kind = fields.String()
    source = fields.String()


class ProductModelSchema(Schema):
    product = fields.String()
    name = fields.String()
    version = fields.Integer()
    description = fields.String()
    cost_currency = fields.String()
    digest = fields.String()
    image = fields.String(metadata={"description": "URL of a picture of the product; empty if none"})
    groups = fields.List(fields.Nested(GroupSchema))
    attributes = fields.List(fields.Nested(AttributeSchema))
    rules = fields.List(fields.Nested(RuleSchema))


# ---- configurator results -----------------------------------------------------------------

class RuleRefSchema(Schema):
    id = fields.String()
    message = fields.String()


class ConflictSchema(Schema):
    message = fields.String()
    selections = fields.Dict(keys=fields.String(), values=fields.Raw())
    rules = fields.Nested(RuleRefSchema, many=True)


class FromDict(Schema):
    """A schema dumping the dicts its parent's pre_dump made: it reads their keys directly, where
    marshmallow's accessor first looks for dotted paths, then items, then attributes (a fifth of
    dumping a configure answer, whose attributes make about 250 fields)."""

    def get_attribute(self, obj: dict, attr: str, default):
        return obj.get(attr, default)


class ExcludedSchema(FromDict):
    value = fields.Raw()
    reason = fields.Nested(ConflictSchema, allow_none=True,
                           metadata={"description": "filled when explain is true"})


class AttributeStateSchema(FromDict):
    id = fields.String()
    label = fields.String()
    group = fields.String(allow_none=True)
    selected = fields.Raw(allow_none=True)
    value = fields.Raw(allow_none=True)
    decided = Flag()
    domain = fields.List(fields.Raw(), metadata={"description": "values still possible"})
    excluded = fields.Nested(ExcludedSchema, many=True)


def worded(conflict: Conflict | None, model: ProductModel) -> Conflict | None:
    """The conflict with its rules' messages in the model's language (the engine, the same in
    every language, names rules in English)."""
    if conflict is None or model.language == DEFAULT:
        return conflict
    return Conflict(conflict.selections, tuple(RuleRef(r.id, model.rule(r.id).message) for r in conflict.rules))


@dataclass(frozen=True)
class Configured:
    """A configure result with the model it was computed on, in the answer's language (for
    labels, groups and messages)."""
    model: ProductModel
    result: ConfigureResult


class ConfigureResponse(FromDict):
    product = fields.String()
    version = fields.Integer()
    valid = Flag()
    complete = Flag()
    selections = fields.Dict(keys=fields.String(), values=fields.Raw())
    applied = fields.List(fields.String(), metadata={
        "description": "the selections the domains were computed from (a consistent prefix)"})
    attributes = fields.Nested(AttributeStateSchema, many=True)
    conflicts = fields.Nested(ConflictSchema, many=True)

    @pre_dump
    def _with_labels(self, data: Configured, **_kwargs) -> dict:
        result, model = data.result, data.model
        states = []
        for state in result.attributes:
            attribute = model.attribute(state.id)
            states.append({
                "id": state.id, "label": attribute.label, "group": attribute.group,
                "selected": state.selected, "value": state.value, "decided": state.decided,
                "domain": state.domain,
                "excluded": [{"value": v, "reason": worded(state.reasons.get(v), model)}
                             for v in state.excluded],
            })
        return {"product": result.product, "version": result.version, "valid": result.valid,
                "complete": result.complete, "selections": result.selections,
                "applied": result.applied, "attributes": states,
                "conflicts": [worded(c, model) for c in result.conflicts]}


class PickSchema(Schema):
    attribute = fields.String()
    label = fields.String(metadata={"description": "the attribute's label"})
    value = fields.Raw()
    value_label = fields.String()


@dataclass(frozen=True)
class Switched:
    """A correction with the model it was computed on, in the answer's language (for labels)."""
    model: ProductModel
    correction: Correction


class SwitchSchema(Schema):
    attribute = fields.String()
    label = fields.String()
    value = fields.Raw()
    value_label = fields.String()
    possible = Flag(metadata={"description": "false: no configuration has this value at all"})
    removes = fields.List(fields.Nested(PickSchema), metadata={
        "description": "the fewest earlier selections to drop so that the pick holds (none when it fits)"})
    selections = fields.Dict(keys=fields.String(), values=fields.Raw(), metadata={
        "description": "the selections after the switch (empty when not possible)"})

    @pre_dump
    def _with_labels(self, data: Switched, **_kwargs) -> dict:
        model, found = data.model, data.correction

        def pick(attr, value):
            attribute = model.attribute(attr)
            return {"attribute": attr, "label": attribute.label, "value": value,
                    "value_label": attribute.label_of(value)}

        return {**pick(found.attribute, found.value), "possible": found.possible,
                "removes": [pick(a, v) for a, v in found.removes.items()], "selections": found.selections}


class ExplanationSchema(Schema):
    attribute = fields.String()
    value = fields.Raw()
    possible = Flag()
    conflict = fields.Nested(ConflictSchema, allow_none=True)


class CompletionSchema(Schema):
    valid = Flag()
    assignment = fields.Dict(keys=fields.String(), values=fields.Raw())
    conflicts = fields.List(fields.Nested(ConflictSchema))


class BomLineSchema(Schema):
    part = fields.String()
    description = fields.String()
    uom = fields.String()
    level = fields.Integer()
    quantity = decimal_string()
    extended_quantity = decimal_string()
    unit_cost = UnitAmount()
    extended_cost = UnitAmount()
    unit_weight = decimal_string()
    extended_weight = decimal_string()
    children = fields.List(InCurrency(lambda: BomLineSchema()))


class FlatLineSchema(Schema):
    part = fields.String()
    description = fields.String()
    uom = fields.String()
    quantity = decimal_string()
    unit_cost = UnitAmount()
    extended_cost = UnitAmount()


class BomSchema(Schema):
    """A bill of materials; its costs are in the model's cost currency (per-unit costs keep
    their precision: a BOM rolls up costs, it bills nothing)."""
    product = fields.String()
    version = fields.Integer()
    assignment = fields.Dict(keys=fields.String(), values=fields.Raw())
    cost_currency = fields.String()
    lines = fields.List(InCurrency(BomLineSchema, currency_field="cost_currency"), metadata={"description": "the tree"})
    flat = fields.List(InCurrency(FlatLineSchema, currency_field="cost_currency"), metadata={"description": "exploded"})
    total_cost = UnitAmount(currency_field="cost_currency")
    total_weight = decimal_string()


class SavedConfigurationSchema(Schema):
    id = fields.String()
    product = fields.String()
    version = fields.Integer(attribute="model_version")
    selections = fields.Dict(keys=fields.String(), values=fields.Raw())
    assignment = fields.Dict(keys=fields.String(), values=fields.Raw(), allow_none=True)
    complete = Flag()
    created_at = Timestamp()
