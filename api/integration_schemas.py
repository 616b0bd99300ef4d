"""marshmallow schemas for signing in, users, API keys and webhook subscriptions.

Secrets (tokens, API keys, webhook secrets) appear in a response once, when they are made;
every later read shows only what identifies them.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from api.schemas import ChangeSchema, Flag, Selections, Timestamp
from core.serialize import InCurrency, Money
from core.locales import DEFAULT as DEFAULT_LANGUAGE, LANGUAGES
from core.permissions import KEY_SCOPES
from core.users import MIN_PASSWORD, ROLES
from core.webhooks import EVENT_TYPES, WILDCARD
from sales import inbound
from sales.transfer import SECTIONS

NAME = validate.Length(min=1, max=200)
PASSWORD = validate.Length(min=MIN_PASSWORD, max=500)
LEVEL = fields.String(validate=validate.Length(min=1, max=64))


class SignInSchema(Schema):
    email = fields.Email(required=True)
    password = fields.String(required=True, validate=validate.Length(min=1, max=500), load_only=True)


class UserSchema(Schema):
    id = fields.String(dump_only=True)
    email = fields.String()
    name = fields.String()
    role = fields.String()
    team = fields.String(allow_none=True)
    approval_levels = fields.List(fields.String())
    active = Flag()
    has_password = fields.Function(lambda u: bool(u.password_hash))
    created_at = Timestamp()


class WhoAmISchema(Schema):
    user = fields.Nested(UserSchema)
    via = fields.String(metadata={"description": "token, key or session"})
    permissions = fields.List(fields.String())
    csrf_token = fields.String(allow_none=True, metadata={"description": "echo it in X-CSRF-Token (sessions)"})


class UserCreateSchema(Schema):
    email = fields.Email(required=True)
    name = fields.String(required=True, validate=NAME)
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    team = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=64))
    approval_levels = fields.List(LEVEL, load_default=list)
    password = fields.String(load_default=None, allow_none=True, validate=PASSWORD, load_only=True)


class UserChangeSchema(ChangeSchema):
    name = fields.String(validate=NAME)
    role = fields.String(validate=validate.OneOf(ROLES))
    team = fields.String(allow_none=True, validate=validate.Length(max=64))
    approval_levels = fields.List(LEVEL)
    active = Flag()
    password = fields.String(validate=PASSWORD, load_only=True)


class NewUserSchema(Schema):
    user = fields.Nested(UserSchema)
    token = fields.String(metadata={"description": "the user's API token, shown this once"})


class ApiKeyInSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    scopes = fields.List(fields.String(validate=validate.OneOf(KEY_SCOPES)), required=True,
                         validate=validate.Length(min=1))
    rate_limit = fields.String(load_default="600/minute", validate=validate.Length(min=3, max=32),
                               metadata={"description": "requests per second, minute, hour or day"})


class ApiKeySchema(Schema):
    id = fields.Integer()
    name = fields.String()
    display = fields.String(metadata={"description": "the first characters of the secret"})
    owner_id = fields.String()
    scopes = fields.List(fields.String())
    rate_limit = fields.String()
    created_at = Timestamp()
    last_used_at = Timestamp(allow_none=True)
    revoked_at = Timestamp(allow_none=True)


class NewApiKeySchema(Schema):
    key = fields.Nested(ApiKeySchema)
    secret = fields.String(metadata={"description": "send as 'Authorization: Bearer <secret>'; shown this once"})


_EVENT = fields.String(validate=validate.OneOf((*EVENT_TYPES, WILDCARD)))


class WebhookInSchema(Schema):
    url = fields.Url(required=True, schemes={"http", "https"}, require_tld=False)
    events = fields.List(_EVENT, required=True, validate=validate.Length(min=1))
    description = fields.String(load_default="", validate=validate.Length(max=200))


class WebhookChangeSchema(ChangeSchema):
    url = fields.Url(schemes={"http", "https"}, require_tld=False)
    events = fields.List(_EVENT, validate=validate.Length(min=1))
    description = fields.String(validate=validate.Length(max=200))
    active = Flag()


class WebhookSchema(Schema):
    id = fields.Integer()
    url = fields.String()
    events = fields.List(fields.String())
    description = fields.String()
    active = Flag()
    created_by = fields.String()
    created_at = Timestamp()
    previous_secret_until = Timestamp(allow_none=True, metadata={
        "description": "until then deliveries carry a second signature with the previous secret"})


class NewWebhookSecretSchema(Schema):
    subscription = fields.Nested(WebhookSchema)
    secret = fields.String(metadata={"description": "the signing secret (whsec_…), shown this once"})


class EventTypeSchema(Schema):
    type = fields.String()
    description = fields.String()


class AttemptSchema(Schema):
    at = Timestamp()
    status_code = fields.Integer(allow_none=True)
    error = fields.String()
    duration_ms = fields.Integer()
    response_excerpt = fields.String()


class DeliverySchema(Schema):
    delivery_id = fields.String(metadata={"description": "sent as webhook-id; the same on every retry"})
    event_id = fields.String()
    event_type = fields.String()
    status = fields.String(metadata={"description": "pending, delivered or failed"})
    attempts = fields.Integer()
    next_attempt_at = Timestamp(allow_none=True)
    last_status_code = fields.Integer(allow_none=True)
    last_error = fields.String()
    delivered_at = Timestamp(allow_none=True)
    created_at = Timestamp()
    log = fields.List(fields.Nested(AttemptSchema))


class PingSchema(Schema):
    event_id = fields.String()


class ExportQuery(Schema):
    only = fields.List(fields.String(validate=validate.OneOf(SECTIONS)), load_default=list)
    format = fields.String(load_default="json", validate=validate.OneOf(("json", "yaml")))


class ImportQuery(Schema):
    dry_run = fields.Boolean(load_default=False)


class BundleSchema(Schema):
    """The bundle's documents as stored (see docs/integration.md for its layout)."""
    kind = fields.String()
    exported_at = fields.String()
    models = fields.List(fields.Dict())
    price_books = fields.List(fields.Dict())
    rule_sets = fields.List(fields.Dict())
    active = fields.Dict()
    accounts = fields.List(fields.Dict())


class ImportReportSchema(Schema):
    new = fields.Dict(keys=fields.String(), values=fields.Integer())
    existing = fields.Dict(keys=fields.String(), values=fields.Integer(),
                           metadata={"description": "versions already stored, or accounts updated"})
    activated = fields.List(fields.String())
    dry_run = fields.Boolean()


class OptionPricesInSchema(Schema):
    selections = Selections(load_default=dict)
    quantity = fields.Integer(load_default=1, strict=True, validate=validate.Range(min=1, max=10000))
    price_book = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=100),
                               metadata={"description": "default: the storefront's (CPQ_STOREFRONT_PRICE_BOOKS)"})


class StorefrontPriceInSchema(OptionPricesInSchema):
    promo_codes = fields.List(fields.String(validate=validate.Length(min=1, max=64)), load_default=list,
                              validate=validate.Length(max=5))


class ValuePriceSchema(Schema):
    """`difference`: the list price with this value picked minus the current one."""
    attribute = fields.String()
    value = fields.Raw()
    difference = Money()


class OptionPricesSchema(Schema):
    """`total`: the current configuration's list price, for the quantity."""
    currency = fields.String()
    price_book = fields.String()
    total = Money()
    values = fields.List(InCurrency(ValuePriceSchema), metadata={
        "description": "each value that fits the other selections and is not the current one"})


class QuoteRequestSchema(Schema):
    product = fields.String(required=True, validate=validate.Length(min=1, max=100))
    selections = Selections(load_default=dict)
    quantity = fields.Integer(load_default=1, strict=True, validate=validate.Range(min=1, max=10000))
    price_book = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=100),
                               metadata={"description": "default: the storefront's (CPQ_STOREFRONT_PRICE_BOOKS)"})
    company = fields.String(required=True, validate=validate.Length(min=1, max=200))
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    email = fields.Email(required=True)
    country = fields.String(required=True, validate=validate.Length(equal=2),
                            metadata={"description": "ISO 3166 alpha-2"})
    message = fields.String(load_default="", validate=validate.Length(max=2000))
    language = fields.String(load_default=DEFAULT_LANGUAGE, validate=validate.OneOf(LANGUAGES),
                             metadata={"description": "the requester's (the configurator page's): a converted "
                                                      "account's documents and pages are in it"})


class QuoteRequestedSchema(Schema):
    reference = fields.String(metadata={"description": "the request's reference, for the customer to quote back"})


class QuoteRequestQuery(Schema):
    state = fields.String(load_default=None, validate=validate.OneOf(inbound.STATES))


class QuoteRequestViewSchema(Schema):
    reference = fields.String()
    state = fields.String(metadata={"enum": list(inbound.STATES)})
    company = fields.String()
    name = fields.String()
    email = fields.String()
    country = fields.String()
    language = fields.String()
    message = fields.String()
    product = fields.String()
    selections = fields.Dict()
    quantity = fields.Integer()
    price_book = fields.String()
    account_code = fields.String(allow_none=True, metadata={"description": "the account the quote was made on"})
    quote_number = fields.String(allow_none=True)
    handled_by = fields.String(allow_none=True, metadata={"description": "the user id of the rep who handled it"})
    handled_at = Timestamp(allow_none=True)
    reason = fields.String(metadata={"description": "why it was dismissed"})
    created_at = Timestamp()


class QuoteRequestMatchSchema(Schema):
    account = fields.String(required=True, validate=validate.Length(min=1, max=40),
                            metadata={"description": "the code of the account the requester belongs to"})


class QuoteRequestDismissSchema(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))
