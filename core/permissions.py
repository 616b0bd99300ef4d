"""What each role may do, as named permissions; API keys carry a subset of them as scopes.

Every endpoint names the one permission it needs (api/auth.py), so a role or a key grants
exactly the endpoints listed here and nothing else (deny by default). Which *objects* a
permission reaches (a rep's own and team's quotes) is decided by sales/access.py.
"""

from __future__ import annotations

PERMISSIONS: dict[str, str] = {
    "catalog:read": "read price books and rule sets, price arbitrary lines",
    "catalog:write": "load, import and activate models, price books and rule sets",
    "bom:read": "read bills of materials of configurations and orders",
    "accounts:read": "read accounts and contacts",
    "accounts:write": "create, change and import accounts",
    "accounts:credit": "set and change accounts' credit limits",
    "accounts:pricing": "set and change accounts' sales channel and the price books they are entitled to",
    "quotes:read": "read quotes, their history and documents",
    "quotes:write": "build, revise, submit and send quotes",
    "quotes:approve": "approve or reject quotes for the approval levels held",
    "quotes:any-price-book": "quote an account on a price book or channel it is not entitled to",
    "contracts:read": "read contracts",
    "contracts:write": "create and send contracts, record notice",
    "contracts:terminate": "terminate contracts",
    "orders:read": "read orders, their history and the ERP change feed",
    "orders:write": "create orders from quotes or contracts",
    "orders:cancel": "cancel orders",
    "orders:release": "release orders held by the credit check",
    "orders:write-status": "write back ERP order numbers, line status, shipments and deliveries",
    "invoices:read": "read invoices and their documents",
    "invoices:write": "create, issue, credit, void and write off invoices; run billing",
    "usage:read": "read accounts' metered usage and its price so far",
    "usage:write": "report metered usage (give a metering system an API key with only this)",
    "payments:read": "read payments and account ledgers",
    "payments:write": "record, apply and refund payments",
    "portal:invite": "send an account's contacts links to its billing portal, and revoke them",
    "collections:read": "read aging and DSO",
    "collections:write": "run dunning",
    "revenue:read": "read revenue schedules and reports",
    "revenue:write": "create revenue schedules",
    "rates:read": "read exchange rates",
    "rates:write": "import exchange rates (the ECB's reference rates)",
    "webhooks:manage": "manage webhook subscriptions and read their delivery logs",
    "mail:manage": "read the e-mail outbox and send failed messages again",
    "users:manage": "manage users and API keys",
    "data:export": "export catalog, price books, rule sets and accounts",
    "data:import": "import catalog, price books, rule sets and accounts (all or nothing)",
    "metrics:read": "read the Prometheus metrics at /metrics (give Prometheus an API key with only this)",
}

# reps approve only for the approval levels they hold (a selling manager); others get a 403
_REP = {"catalog:read", "bom:read", "accounts:read", "accounts:write", "quotes:read", "quotes:write",
        "quotes:approve", "contracts:read", "contracts:write", "orders:read", "orders:write", "orders:cancel",
        "invoices:read", "rates:read", "usage:read"}
_APPROVER = {"catalog:read", "rates:read", "accounts:read", "quotes:read", "quotes:approve", "contracts:read", "orders:read"}
_FINANCE = {"catalog:read", "bom:read", "accounts:read", "accounts:write", "accounts:credit", "quotes:read", "contracts:read",
            "contracts:write", "contracts:terminate", "orders:read", "orders:cancel", "orders:release", "quotes:approve",
            "invoices:read", "invoices:write", "usage:read", "usage:write", "payments:read", "payments:write",
            "portal:invite", "collections:read", "collections:write", "revenue:read", "revenue:write", "rates:read",
            "rates:write", "data:export", "mail:manage"}

#: Permissions only a person may use: an API key can never carry them, so a leaked key cannot
#: read or manage users, or mint more keys.
PERSON_ONLY = frozenset({"users:manage"})
#: What an API key may be scoped to.
KEY_SCOPES = tuple(p for p in PERMISSIONS if p not in PERSON_ONLY)

#: A customer signs in to nothing here: what they see is opened by share links (public).
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "customer": frozenset(),
    "rep": frozenset(_REP),
    "approver": frozenset(_APPROVER),
    "finance": frozenset(_FINANCE),
    "admin": frozenset(PERMISSIONS),
}

#: Endpoints anyone may call (the configurator, share links, docs) name this instead.
PUBLIC = "public"
#: Endpoints every signed-in caller may use (who am I, my keys) name this.
SIGNED_IN = "signed-in"


def permissions_of(role: str) -> frozenset[str]:
    return ROLE_PERMISSIONS.get(role, frozenset())
